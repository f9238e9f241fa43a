"""Forms of the partner Settings pages (P-SETTINGS): the partner account and its users.

The user forms extend the account users' forms (`forms.py`): the same role and account
operations, plus the partner operations and the accessible accounts. Partner users are not
limited by service: their account operations hold for every service.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from backstop.tenancy import permissions as perms
from backstop.tenancy.forms import MembershipForm, NewUserForm
from backstop.tenancy.models import SUBSCRIPTION_KINDS, SUBSCRIPTION_PLANS, Account, Membership, Partner

# Account operations mean something only to a user who sees accounts: on the dashboard, or the
# ones they add.
OPENS_ACCOUNTS = frozenset({perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_ADD_ACCOUNTS})


class PartnerAccountForm(forms.ModelForm):
    default_subscription_kind = forms.ChoiceField(
        choices=SUBSCRIPTION_KINDS, widget=forms.RadioSelect, label="Default subscription type"
    )
    default_subscription_plan = forms.ChoiceField(
        choices=SUBSCRIPTION_PLANS, widget=forms.RadioSelect, label="Billed", required=False
    )

    class Meta:
        model = Partner
        fields = (
            "email",
            "name",
            "address",
            "phone",
            "default_subscription_kind",
            "default_subscription_plan",
        )
        labels = {"email": "Partner e-mail", "name": "Partner name", "phone": "Phone number"}

    def clean_default_subscription_plan(self) -> str:
        # A trial with expiration bills nothing: the page sends no plan, the saved one stays.
        return self.cleaned_data.get("default_subscription_plan") or self.instance.default_subscription_plan

    def changes(self, before: dict[str, Any]) -> list[str]:
        """What changed, in words, for the audit: `before` holds the values read before saving."""
        described = []
        for name in self.changed_data:
            field = self.fields[name]
            old, new = before.get(name, ""), self.cleaned_data.get(name, "")
            if old == new:
                continue
            if isinstance(field, forms.ChoiceField):
                labels = dict(field.choices)  # type: ignore[arg-type]
                old, new = labels.get(old, old), labels.get(new, new)
            described.append(f"{field.label}: '{old}' -> '{new}'")
        return described


class PartnerMembershipForm(MembershipForm):
    """Role, partner operations, account operations and accessible accounts of a partner user.

    `reach` is what the accounts picker may offer: the accounts this partner reaches. A partner
    may have thousands, so the page never lists them all: it shows the chosen ones (`chosen`)
    and a search (`views.partner_users.account_search`); the posted ids are checked against
    `reach` here, an id from elsewhere is an error."""

    partner_ops = forms.MultipleChoiceField(
        choices=[(op.code, op.label) for op in perms.PARTNER_OPERATIONS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Partner portal operations",
    )
    all_accounts = forms.BooleanField(required=False, initial=True, label="All accounts")
    # Hidden inputs: rendering the field never reads its choices (every account in reach).
    accounts = forms.ModelMultipleChoiceField(
        queryset=Account.objects.none(), required=False, widget=forms.MultipleHiddenInput
    )

    def __init__(self, *args: Any, reach: QuerySet[Account], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = self.fields["accounts"]
        assert isinstance(accounts, forms.ModelMultipleChoiceField)
        accounts.queryset = reach.order_by("name")

    def chosen(self) -> QuerySet[Account]:
        """The accounts to show as chosen: the posted ones (or the member's), within reach only,
        so an id from elsewhere never shows its name."""
        field = self.fields["accounts"]
        assert isinstance(field, forms.ModelMultipleChoiceField) and field.queryset is not None
        ids = [str(value) for value in self["accounts"].value() or []]
        return field.queryset.filter(pk__in=[v for v in ids if v.isascii() and v.isdigit() and len(v) < 19])

    def clean_all_services(self) -> bool:
        return True  # partner users are not limited by service

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        custom = data.get("role") == Membership.Role.CUSTOM
        if custom and not data.get("all_accounts") and not data.get("accounts"):
            self.add_error("accounts", "Choose at least one account, or tick All accounts.")
        return data

    def operations(self) -> list[str]:
        if self.cleaned_data["role"] == Membership.Role.ADMIN:
            return []
        partner_ops = set(self.cleaned_data["partner_ops"])
        account_ops = set(super().operations()) if partner_ops & OPENS_ACCOUNTS else set()
        return sorted(partner_ops | account_ops)

    def apply(self, membership: Membership) -> None:
        super().apply(membership)
        # An administrator reaches every account of the partner.
        membership.all_accounts = membership.is_admin or bool(self.cleaned_data["all_accounts"])

    def chosen_accounts(self) -> list[Account]:
        if self.cleaned_data["role"] == Membership.Role.ADMIN or self.cleaned_data["all_accounts"]:
            return []
        return list(self.cleaned_data["accounts"])

    @classmethod
    def initial_for(cls, membership: Membership) -> dict[str, Any]:
        ops = set(membership.operations)
        return {
            **super().initial_for(membership),
            "partner_ops": [op.code for op in perms.PARTNER_OPERATIONS if op.code in ops],
            "all_accounts": membership.all_accounts,
            "accounts": []
            if membership.all_accounts
            else list(membership.accounts.values_list("pk", flat=True)),
        }


class PartnerNewUserForm(PartnerMembershipForm, NewUserForm):
    """A new partner user: the account users' e-mail, name, sign-in and password fields, with
    the sign-in choice stored as the membership's credential type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sign_in"].label = "Credential type"
