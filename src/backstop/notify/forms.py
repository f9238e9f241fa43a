"""Forms of Settings > Notifications: the report settings and one recipient."""

from __future__ import annotations

from typing import Any

from django import forms

from backstop.notify.models import Recipient, ReportSettings
from backstop.notify.recipients import KINDS, LABELS, PARTNER_KINDS
from backstop.tenancy.models import Account, Partner


class ReportSettingsForm(forms.ModelForm):
    class Meta:
        model = ReportSettings
        fields: tuple[str, ...] = ("format", "delivery", "frequency", "only_on_failure")
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


class PartnerReportSettingsForm(ReportSettingsForm):
    """A partner's report on its customers: the account's settings and the file layout."""

    class Meta(ReportSettingsForm.Meta):
        fields = ("format", "delivery", "layout", "frequency", "only_on_failure")
        labels = {**ReportSettingsForm.Meta.labels, "delivery": "Provide as", "layout": "Report layout"}
        widgets = {**ReportSettingsForm.Meta.widgets, "layout": forms.RadioSelect}


class RecipientForm(forms.ModelForm):
    """One recipient of an account (or, as `PartnerRecipientForm`, of a partner)."""

    kind_names: tuple[str, ...] = KINDS
    tenant_word = "account"

    class Meta:
        model = Recipient
        fields = ("email", "name", *KINDS)
        labels = {"email": "E-mail", "name": "Display name", **LABELS}
        help_texts = {"name": "Used to greet the recipient in the e-mails."}
        error_messages = {"email": {"invalid": "Enter a valid e-mail address, like name@example.com."}}

    def __init__(self, *args: Any, account: Account | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["name"].required = False

    def tenant_filter(self) -> dict[str, Any]:
        return {"account": self.account}

    def clean_name(self) -> str:
        name = str(self.cleaned_data.get("name") or "")
        if any(ord(char) < 32 or ord(char) == 127 for char in name):
            raise forms.ValidationError("A display name is one line of text.")
        return name

    def kinds(self) -> list[forms.BoundField]:
        return [self[kind] for kind in self.kind_names]

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        taken = Recipient.objects.filter(**self.tenant_filter(), email__iexact=email)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(
                f"{email} is already a recipient of this {self.tenant_word}. Edit it instead."
            )
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any(data.get(kind) for kind in self.kind_names):
            raise forms.ValidationError("Tick at least one notification type.")
        return data

    def save(self, commit: bool = True) -> Recipient:
        recipient: Recipient = super().save(commit=False)
        for name, tenant in self.tenant_filter().items():
            setattr(recipient, name, tenant)
        if commit:
            recipient.save()
        return recipient

    def ticked(self) -> str:
        ticked = (LABELS[kind].lower() for kind in self.kind_names if self.cleaned_data.get(kind))
        return ", ".join(ticked) or "nothing"

    def describe_changes(self) -> str:
        parts = []
        for name in self.changed_data:
            before, after = self.initial.get(name), self.cleaned_data.get(name)
            if name in self.kind_names:
                parts.append(f"{LABELS[name].lower()} {'on' if after else 'off'}")
            else:
                label = self.fields[name].label
                parts.append(f"{label} “{before or ''}” → “{after or ''}”")
        return "; ".join(parts)


class PartnerRecipientForm(RecipientForm):
    """One recipient of a partner: the partner's kinds, the trial accounts report among them."""

    kind_names = PARTNER_KINDS
    tenant_word = "partner"

    class Meta(RecipientForm.Meta):
        fields = ("email", "name", *PARTNER_KINDS)

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partner = partner

    def tenant_filter(self) -> dict[str, Any]:
        return {"partner": self.partner}
