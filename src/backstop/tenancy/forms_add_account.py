"""The partner's Add account form (P-ADD): the customer account, where its backups are kept, and
its subscription.

Storage credentials are password inputs that are never rendered back: after an error the
partner types them again. The fields of a storage kind that was not chosen are ignored.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation

from backstop.backups import byos
from backstop.billing.models import Plan, Subscription
from backstop.regions import REGION_CHOICES
from backstop.tenancy.add_account import email_in_use
from backstop.tenancy.models import Partner

WHERE = (("datacenter", "A Backstop data center"), ("own", "The customer's own storage"))
STORAGE_KINDS = (
    ("s3", "Amazon S3"),
    ("s3_compatible", "S3-compatible storage"),
    ("gcs", "Google Cloud Storage"),
    ("azure", "Azure Blob Storage"),
)
KIND_HELP: dict[str, str] = {
    Subscription.Kind.TRIAL: "A free trial; backups stop when it ends unless someone subscribes.",
    Subscription.Kind.TRIAL_AUTO: "A free trial that turns into the plan below when it ends.",
    Subscription.Kind.NO_TRIAL: "Subscribed to the plan below from today; billing starts now.",
}
# The storage fields each kind asks for, and its credentials.
STORAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "s3": ("bucket", "storage_region", "path_prefix"),
    "s3_compatible": ("endpoint", "bucket", "storage_region", "path_prefix"),
    "gcs": ("bucket", "path_prefix"),
    "azure": ("account_name", "bucket", "path_prefix"),
}
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "s3": ("access_key_id", "secret_access_key"),
    "s3_compatible": ("access_key_id", "secret_access_key"),
    "gcs": ("service_account_key",),
    "azure": ("account_key", "connection_string"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "s3": ("bucket", "access_key_id", "secret_access_key"),
    "s3_compatible": ("endpoint", "bucket", "access_key_id", "secret_access_key"),
    "gcs": ("bucket", "service_account_key"),
    "azure": ("bucket",),
}
# A storage check's field (export destination names) -> this form's field.
ERROR_FIELDS = {
    "kind": "storage_kind",
    "storage_kind": "storage_kind",
    "prefix": "path_prefix",
    "region": "storage_region",
    "sas_token": "connection_string",
}


def _secret(label: str, max_length: int, help_text: str = "", textarea: bool = False) -> forms.CharField:
    """A credential: optional (the kind decides), never rendered back."""
    widget: forms.Widget = (
        forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})
        if textarea
        else forms.PasswordInput(render_value=False)
    )
    return forms.CharField(
        label=label, max_length=max_length, required=False, widget=widget, help_text=help_text, strip=True
    )


class AddAccountForm(forms.Form):
    name = forms.CharField(label="Account name", max_length=200)
    email = forms.EmailField(
        label="Account e-mail",
        help_text="Unique: no other account or user may have it.",
    )
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Retype password", strip=False, widget=forms.PasswordInput)

    where = forms.ChoiceField(label="Where backups are kept", choices=WHERE, widget=forms.RadioSelect)
    region = forms.ChoiceField(label="Data center", choices=REGION_CHOICES, required=False)

    storage_kind = forms.ChoiceField(label="Storage", choices=STORAGE_KINDS, required=False)
    endpoint = forms.URLField(
        label="Endpoint URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="The storage's API address, like https://s3.example.com.",
    )
    account_name = forms.CharField(
        label="Storage account name",
        max_length=100,
        required=False,
        help_text="Not needed when the connection string names it.",
    )
    bucket = forms.CharField(label="Bucket", max_length=255, required=False)
    storage_region = forms.CharField(
        label="Region", max_length=64, required=False, help_text="Empty: us-east-1."
    )
    path_prefix = forms.CharField(
        label="Folder (optional)",
        max_length=500,
        required=False,
        help_text="Backups go under this folder of the bucket.",
    )
    access_key_id = _secret("Access key ID", 200)
    secret_access_key = _secret("Secret access key", 500)
    account_key = _secret("Account key", 500, "Or leave it empty and paste a connection string.")
    connection_string = _secret(
        "Connection string", 4000, "DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…"
    )
    service_account_key = _secret(
        "Service account key (JSON)",
        20000,
        "The whole JSON key of a service account that may write and delete objects in the bucket.",
        textarea=True,
    )

    subscription_kind = forms.ChoiceField(
        label="Subscription", choices=Subscription.Kind.choices, widget=forms.RadioSelect
    )
    plan = forms.ChoiceField(label="Plan", choices=Plan.choices, required=False)

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partner = partner
        self.fields["where"].initial = "datacenter"
        self.fields["region"].initial = partner.region
        self.fields["storage_kind"].initial = "s3"
        self.fields["subscription_kind"].initial = partner.default_subscription_kind
        self.fields["plan"].initial = partner.default_subscription_plan or Plan.MONTHLY
        self._storage: dict[str, Any] | None = None
        self._credentials: dict[str, Any] = {}

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if email_in_use(email):
            raise forms.ValidationError("This e-mail address is already used by another account or user.")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self._clean_password(data)
        if data.get("where") == "own":
            self._clean_storage(data)
        elif data.get("where") == "datacenter" and not data.get("region"):
            self.add_error("region", "Choose the data center.")
        kind = data.get("subscription_kind")
        if kind in (Subscription.Kind.TRIAL_AUTO, Subscription.Kind.NO_TRIAL) and not data.get("plan"):
            self.add_error("plan", "Choose monthly or annual.")
        return data

    def _clean_password(self, data: dict[str, Any]) -> None:
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords do not match.")
            return
        if first:
            candidate = get_user_model()(email=data.get("email", ""))
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)

    def _clean_storage(self, data: dict[str, Any]) -> None:
        kind = data.get("storage_kind") or ""
        if kind not in STORAGE_FIELDS:
            self.add_error("storage_kind", "Choose the customer's storage.")
            return
        for name in REQUIRED[kind]:
            if not (data.get(name) or "").strip():
                self.add_error(name, "Required for this storage.")
        destination: dict[str, Any] = {"kind": kind}
        for name in STORAGE_FIELDS[kind]:
            value = (data.get(name) or "").strip()
            if value:
                destination[{"path_prefix": "prefix", "storage_region": "region"}.get(name, name)] = value
        credentials = {
            name: (data.get(name) or "").strip()
            for name in CREDENTIAL_FIELDS[kind]
            if (data.get(name) or "").strip()
        }
        if kind == "azure":
            azure = self._azure_credentials(destination, credentials)
            if azure is None:
                return
            credentials = azure
        self._storage, self._credentials = destination, credentials

    def _azure_credentials(self, destination: dict[str, Any], given: dict[str, str]) -> dict[str, str] | None:
        """The key, or what the connection string holds (its account name and endpoint too)."""
        text = given.get("connection_string", "")
        if given.get("account_key"):
            if not destination.get("account_name"):
                self.add_error("account_name", "Required with an account key.")
                return None
            return {"account_key": given["account_key"]}
        if not text:
            self.add_error("account_key", "Give the account key or a connection string.")
            return None
        try:
            parsed = byos.parse_azure_connection_string(text)
        except byos.DestinationError as exc:
            self.add_error("connection_string", exc.message)
            return None
        named = parsed.pop("account_name", "")
        if destination.get("account_name") and named and named != destination["account_name"]:
            self.add_error(
                "connection_string",
                f"The connection string is for the storage account “{named}”, "
                f"not “{destination['account_name']}”.",
            )
            return None
        destination["account_name"] = destination.get("account_name") or named
        if not destination["account_name"]:
            self.add_error("account_name", "Required: the connection string does not name it.")
            return None
        if parsed.get("endpoint"):
            destination["endpoint"] = parsed.pop("endpoint")
        return parsed

    def storage(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(destination, credentials) of the customer's own storage, or (None, {})."""
        return self._storage, self._credentials

    def add_storage_error(self, field: str, message: str) -> None:
        """An error from checking the storage, on the field it is about (or the whole form)."""
        name = ERROR_FIELDS.get(field, field)
        self.add_error(name if name in self.fields else None, message)

    def kind_fields(self) -> list[tuple[forms.BoundField, str, bool]]:
        """Every storage field once, with the kinds it belongs to and whether it is a credential
        (the template shows the fields of the chosen kind)."""
        rows = []
        for name in ("endpoint", "account_name", "bucket", "storage_region", "path_prefix"):
            kinds = " ".join(k for k, names in STORAGE_FIELDS.items() if name in names)
            rows.append((self[name], kinds, False))
        for name in (
            "access_key_id",
            "secret_access_key",
            "account_key",
            "connection_string",
            "service_account_key",
        ):
            kinds = " ".join(k for k, names in CREDENTIAL_FIELDS.items() if name in names)
            rows.append((self[name], kinds, True))
        return rows

    def kind_choices(self) -> list[tuple[str, str, str]]:
        return [(code, str(label), KIND_HELP[code]) for code, label in Subscription.Kind.choices]
