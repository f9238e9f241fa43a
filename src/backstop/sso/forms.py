from __future__ import annotations

from django import forms

from backstop.sso.metadata import MAX_BYTES


class MetadataForm(forms.Form):
    """The identity provider's metadata: a URL we fetch, or the XML file. One of the two."""

    metadata_url = forms.URLField(
        label="Metadata URL",
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="The identity provider's SAML metadata address (https).",
    )
    metadata_file = forms.FileField(
        label="…or upload the metadata XML file",
        required=False,
        help_text="At most 1 MB.",
    )

    def __init__(self, *args: object, require: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.require = require

    def clean_metadata_file(self) -> object:
        upload = self.cleaned_data.get("metadata_file")
        if upload is not None and upload.size > MAX_BYTES:
            raise forms.ValidationError("The metadata file is larger than 1 MB.")
        return upload

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        url, upload = data.get("metadata_url"), data.get("metadata_file")
        if url and upload:
            raise forms.ValidationError("Give the metadata URL or a file, not both.")
        if not url and not upload and self.require:
            raise forms.ValidationError("Give the identity provider's metadata URL or upload its file.")
        return data


class SsoSignInForm(forms.Form):
    email = forms.EmailField(label="Work e-mail address", max_length=254)
