"""Forms of the Recovery pages (A-RECOVER): the snapshot date range, the item search, and the
restore and export requests.

Credentials for an export destination are password inputs that are never rendered back with
their values: after an error the person types them again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

MODES = [
    ("new", "Non-destructive"),
    ("replace", "In place: replace"),
    ("bypass", "In place: bypass"),
]
MODE_HELP = {
    "new": "Everything goes into a new folder labelled “Restored <date>”; nothing live is touched.",
    "replace": "Items go back where they were and overwrite the live item of the same name "
    "(where the service keeps versions, the live one becomes an earlier version).",
    "bypass": "Items go back where they were; an item that already exists is left alone and "
    "counted as skipped.",
}

DESTINATIONS = [
    ("download", "Download (zip)"),
    ("s3", "Amazon S3"),
    ("s3_compatible", "S3-compatible storage"),
    ("azure", "Azure Blob Storage"),
    ("gcs", "Google Cloud Storage"),
]
# The destination fields each kind asks for (beside the kind), and its credentials. The form's
# `path_prefix` is the destination's "prefix" (a form cannot have a field named prefix).
DESTINATION_FIELDS: dict[str, tuple[str, ...]] = {
    "download": (),
    "s3": ("bucket", "path_prefix", "region"),
    "s3_compatible": ("bucket", "path_prefix", "region", "endpoint"),
    "azure": ("account_name", "bucket", "path_prefix", "endpoint"),
    "gcs": ("bucket", "path_prefix"),
}
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "download": (),
    "s3": ("access_key_id", "secret_access_key"),
    "s3_compatible": ("access_key_id", "secret_access_key"),
    "azure": ("account_key", "sas_token"),
    "gcs": ("service_account_key",),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "s3": ("bucket", "access_key_id", "secret_access_key"),
    "s3_compatible": ("bucket", "endpoint", "access_key_id", "secret_access_key"),
    "azure": ("account_name", "bucket"),
    "gcs": ("bucket", "service_account_key"),
}


def _date(label: str) -> forms.DateField:
    return forms.DateField(label=label, required=False, widget=forms.DateInput(attrs={"type": "date"}))


class RangeForm(forms.Form):
    """The snapshots between two days (both included)."""

    start = _date("Changed from")
    end = _date("To")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError("The first day is after the last one.")
        return data


class SearchForm(forms.Form):
    """Keyword, or the advanced fields. The labels of `author` and `name` follow the service
    (sender and subject for mail)."""

    text = forms.CharField(label="Keyword", max_length=200, required=False)
    author = forms.CharField(label="Author", max_length=200, required=False)
    name = forms.CharField(label="File name", max_length=200, required=False)
    start = _date("Date from")
    end = _date("Date to")

    def __init__(self, *args: Any, mail: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if mail:
            self.fields["author"].label = "Sender"
            self.fields["name"].label = "Subject"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: date | None = data.get("start")
        end: date | None = data.get("end")
        if start and end and start > end:
            raise forms.ValidationError("“Date from” is after “Date to”.")
        return data

    @property
    def advanced(self) -> bool:
        """True when an advanced field is filled (the advanced fields stay open)."""
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        return any(data.get(key) for key in ("author", "name", "start", "end"))

    @property
    def is_empty(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(data.get(key) for key in ("text", "author", "name", "start", "end"))


class RestoreForm(forms.Form):
    target = forms.TypedChoiceField(label="Restore to", coerce=int)
    target_folder = forms.CharField(
        label="Into folder (optional)",
        max_length=500,
        required=False,
        help_text="A folder path in the target, created when missing, that everything goes into. "
        "Empty: the original places (inside the “Restored” folder for a non-destructive restore).",
    )
    mode = forms.ChoiceField(label="How", choices=MODES, initial="new", widget=forms.RadioSelect)

    def __init__(self, *args: Any, targets: list[tuple[str, list[tuple[int, str]]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["target"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = targets


def _secret(label: str, max_length: int, help_text: str = "") -> forms.CharField:
    """A credential field: optional (the kind decides), never rendered back."""
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=help_text,
    )


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label="Destination", choices=DESTINATIONS, initial="download")
    bucket = forms.CharField(label="Bucket", max_length=255, required=False)
    path_prefix = forms.CharField(
        label="Folder prefix (optional)",
        max_length=500,
        required=False,
    )
    region = forms.CharField(label="Region", max_length=64, required=False, help_text="Empty: us-east-1.")
    endpoint = forms.URLField(
        label="Endpoint URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="The storage's API address, like https://s3.example.com (Azure: only if not Azure's own).",
    )
    account_name = forms.CharField(label="Storage account name", max_length=100, required=False)
    access_key_id = _secret("Access key ID", 200)
    secret_access_key = _secret("Secret access key", 500)
    account_key = _secret("Account key", 500, "Or leave it empty and give a SAS token.")
    sas_token = _secret("SAS token", 2000, "A token with write and delete rights on the container.")
    service_account_key = _secret(
        "Service account key (JSON)",
        20000,
        "Paste the whole JSON key of a service account that may write to the bucket.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind") or "download"
        for name in REQUIRED.get(kind, ()):
            if not (data.get(name) or "").strip():
                self.add_error(name, "Required for this destination.")
        if kind == "azure" and not (data.get("account_key") or data.get("sas_token")):
            self.add_error("account_key", "Give the account key or a SAS token.")
        return data

    def destination(self) -> dict[str, Any]:
        data = self.cleaned_data
        kind = data["kind"]
        fields = {
            "prefix" if name == "path_prefix" else name: (data.get(name) or "").strip()
            for name in DESTINATION_FIELDS[kind]
        }
        return {"kind": kind, **{k: v for k, v in fields.items() if v}}

    def credentials(self) -> dict[str, Any]:
        data = self.cleaned_data
        given = {name: (data.get(name) or "").strip() for name in CREDENTIAL_FIELDS[data["kind"]]}
        return {k: v for k, v in given.items() if v}

    def kind_fields(self) -> list[tuple[forms.BoundField, str, bool]]:
        """Every destination field once, with the kinds it belongs to and whether it is a
        credential (the template shows the fields of the chosen kind)."""
        rows = []
        for name in ("account_name", "bucket", "path_prefix", "region", "endpoint"):
            kinds = " ".join(k for k, names in DESTINATION_FIELDS.items() if name in names)
            rows.append((self[name], kinds, False))
        for name in ("access_key_id", "secret_access_key", "account_key", "sas_token", "service_account_key"):
            kinds = " ".join(k for k, names in CREDENTIAL_FIELDS.items() if name in names)
            rows.append((self[name], kinds, True))
        return rows
