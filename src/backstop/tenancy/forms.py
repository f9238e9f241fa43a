"""Forms of the account settings and user management pages (A-ACCOUNT, A-USERS)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation

from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership


class AccountForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ("name", "email")
        labels = {"name": "Account name", "email": "E-mail"}
        help_texts = {"email": "A new address takes effect once its confirmation link is opened."}


class RemoveAccountForm(forms.Form):
    approve = forms.BooleanField(
        label="I approve the removal of my data",
        error_messages={"required": "Tick the approval box to remove the account and its data."},
    )
    confirm = forms.CharField(widget=forms.HiddenInput)

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"] != "yes":
            raise forms.ValidationError("Removal was not confirmed.")
        return "yes"


def _choices(operations: tuple[perms.Operation, ...]) -> list[tuple[str, str]]:
    return [(op.code, op.label) for op in operations]


class MembershipForm(forms.Form):
    """Role, operations and services of a member; the e-mail part is added for new users."""

    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.CUSTOM)
    general = forms.MultipleChoiceField(
        choices=_choices(perms.ACCOUNT_GENERAL), required=False, widget=forms.CheckboxSelectMultiple
    )
    backup = forms.MultipleChoiceField(
        choices=_choices(perms.ACCOUNT_BACKUP), required=False, widget=forms.CheckboxSelectMultiple
    )
    all_services = forms.BooleanField(required=False, initial=True, label="All services")
    services = forms.MultipleChoiceField(
        choices=[(s.code, s.label) for s in perms.SERVICES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        custom = data.get("role") == Membership.Role.CUSTOM
        if custom and not data.get("all_services") and not data.get("services"):
            self.add_error("services", "Choose at least one service, or tick All services.")
        return data

    def operations(self) -> list[str]:
        if self.cleaned_data["role"] == Membership.Role.ADMIN:
            return []
        return sorted(set(self.cleaned_data["general"]) | set(self.cleaned_data["backup"]))

    def apply(self, membership: Membership) -> None:
        membership.role = self.cleaned_data["role"]
        membership.operations = self.operations()
        is_admin = membership.role == Membership.Role.ADMIN
        membership.all_services = is_admin or bool(self.cleaned_data["all_services"])
        membership.services = [] if membership.all_services else sorted(self.cleaned_data["services"])

    @classmethod
    def initial_for(cls, membership: Membership) -> dict[str, Any]:
        ops = set(membership.operations)
        return {
            "role": membership.role,
            "general": [op.code for op in perms.ACCOUNT_GENERAL if op.code in ops],
            "backup": [op.code for op in perms.ACCOUNT_BACKUP if op.code in ops],
            "all_services": membership.all_services,
            "services": membership.services,
        }


SOCIAL_SIGN_IN = (("google", "Google"), ("microsoft", "Microsoft"))


class NewUserForm(MembershipForm):
    email = forms.EmailField(label="E-mail")
    first_name = forms.CharField(max_length=150, required=False, label="First name")
    last_name = forms.CharField(max_length=150, required=False, label="Last name")
    sign_in = forms.ChoiceField(label="Signs in with", initial="email")
    password = forms.CharField(
        widget=forms.PasswordInput,
        label="Password",
        strip=False,
        required=False,
        help_text="Only for users who sign in with e-mail and password.",
    )

    field_order = ("email", "sign_in", "first_name", "last_name", "password", "role")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Google / Microsoft are offered only when this installation has them configured.
        configured = settings.SOCIALACCOUNT_PROVIDERS
        sign_in = self.fields["sign_in"]
        assert isinstance(sign_in, forms.ChoiceField)
        sign_in.choices = [("email", "E-mail and password")] + [
            (code, label) for code, label in SOCIAL_SIGN_IN if configured.get(code, {}).get("APPS")
        ]

    def credential(self) -> str:
        sign_in = self.cleaned_data["sign_in"]
        return Membership.Credential.PASSWORD if sign_in == "email" else sign_in

    def apply(self, membership: Membership) -> None:
        super().apply(membership)
        # Kept on the membership: the invitation e-mail tells a Google or Microsoft user to sign
        # in with that provider instead of a password they do not have.
        membership.credential = self.credential()

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A Backstop user with this e-mail address already exists.")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        password = data.get("password")
        if data.get("sign_in") == "email" and not password:
            self.add_error("password", "A user who signs in with e-mail needs a password.")
        elif data.get("sign_in") != "email":
            data["password"] = None  # they sign in through the provider only
        elif password:
            candidate = get_user_model()(
                email=data.get("email", ""),
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
            )
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return data
