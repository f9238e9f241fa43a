"""Forms of Settings > Notifications: the report settings and one recipient."""

from __future__ import annotations

from typing import Any

from django import forms

from backstop.notify.models import Recipient, ReportSettings
from backstop.notify.recipients import KINDS, LABELS
from backstop.tenancy.models import Account


class ReportSettingsForm(forms.ModelForm):
    class Meta:
        model = ReportSettings
        fields = ("format", "delivery", "frequency", "only_on_failure")
        labels = {
            "format": "Report format",
            "delivery": "Report file",
            "frequency": "Report frequency",
            "only_on_failure": "Send the report only when a backup failed",
        }
        widgets = {"format": forms.RadioSelect, "delivery": forms.RadioSelect}

    def describe_changes(self) -> str:
        """What the save changes, for the audit ("Report format: Task overview → Failure details")."""
        parts = []
        for name in self.changed_data:
            field = self.fields[name]
            before, after = self.initial.get(name), self.cleaned_data.get(name)
            if isinstance(field, forms.BooleanField):
                parts.append(f"{field.label}: {'on' if after else 'off'}")
            else:
                choices = dict(getattr(field, "choices", ()))
                parts.append(f"{field.label}: {choices.get(before, before)} → {choices.get(after, after)}")
        return "; ".join(parts)


class RecipientForm(forms.ModelForm):
    class Meta:
        model = Recipient
        fields = ("email", "name", *KINDS)
        labels = {"email": "E-mail", "name": "Display name", **LABELS}
        help_texts = {"name": "Used to greet the recipient in the e-mails."}
        error_messages = {"email": {"invalid": "Enter a valid e-mail address, like name@example.com."}}

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["name"].required = False

    def clean_name(self) -> str:
        name = str(self.cleaned_data.get("name") or "")
        if any(ord(char) < 32 or ord(char) == 127 for char in name):
            raise forms.ValidationError("A display name is one line of text.")
        return name

    def kinds(self) -> list[forms.BoundField]:
        return [self[kind] for kind in KINDS]

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        taken = Recipient.objects.filter(account=self.account, email__iexact=email)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"{email} is already a recipient of this account. Edit it instead.")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any(data.get(kind) for kind in KINDS):
            raise forms.ValidationError("Tick at least one notification type.")
        return data

    def save(self, commit: bool = True) -> Recipient:
        recipient: Recipient = super().save(commit=False)
        recipient.account = self.account
        if commit:
            recipient.save()
        return recipient

    def ticked(self) -> str:
        return ", ".join(LABELS[kind].lower() for kind in KINDS if self.cleaned_data.get(kind)) or "nothing"

    def describe_changes(self) -> str:
        parts = []
        for name in self.changed_data:
            before, after = self.initial.get(name), self.cleaned_data.get(name)
            if name in KINDS:
                parts.append(f"{LABELS[name].lower()} {'on' if after else 'off'}")
            else:
                label = self.fields[name].label
                parts.append(f"{label} “{before or ''}” → “{after or ''}”")
        return "; ".join(parts)
