"""Use-cases of partner user management (P-SETTINGS): the partner's own users, their role,
operations and accessible accounts.

Built on the account users' use-cases (`members.py`): the same confirmation link valid 24 hours,
the same resend, the same removal; what differs is the tenant (a partner), the accessible
accounts and the last-administrator guard, which counts the partner's administrators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from backstop.tenancy import members
from backstop.tenancy import permissions as perms
from backstop.tenancy.members import MemberError
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import reach_of

__all__ = [
    "MemberError",
    "add_partner_member",
    "describe",
    "partner_reach",
    "remove_partner_member",
    "update_partner_member",
]


def partner_reach(partner: Partner) -> QuerySet[Account]:
    """Every account an administrator of `partner` reaches: what an accessible-accounts picker
    may offer, and nothing else."""
    administrator = Membership(partner=partner, role=Membership.Role.ADMIN, all_accounts=True)
    return Account.objects.filter(reach_of(administrator)).distinct()


def _grant(membership: Membership, accounts: Iterable[Account]) -> None:
    """Sets the accessible accounts, keeping only those the partner reaches."""
    if membership.all_accounts:
        membership.accounts.clear()
        return
    assert membership.partner is not None
    allowed = partner_reach(membership.partner).filter(pk__in=[a.pk for a in accounts])
    membership.accounts.set(list(allowed))


def add_partner_member(
    request: HttpRequest,
    partner: Partner,
    *,
    email: str,
    password: str | None,
    first_name: str,
    last_name: str,
    credential: str,
    configure: Callable[[Membership], None],
    accounts: Iterable[Account] = (),
) -> Membership:
    """Creates the user and their partner membership, and e-mails a confirmation link valid
    24 hours. No password for Google or Microsoft users: they sign in with that provider (allauth
    links the provider to this confirmed address on first use)."""

    def setup(membership: Membership) -> None:
        membership.credential = credential
        configure(membership)

    return members.add_member(
        request, partner, email, password, first_name, last_name, setup, lambda m: _grant(m, accounts)
    )


def _guard_last_admin(membership: Membership, new_role: str | None) -> None:
    """A partner keeps at least one administrator who can sign in: active, address confirmed.

    Call inside a transaction: the partner row is locked so that two administrators demoting
    each other at once cannot both succeed."""
    if membership.partner_id is None or not membership.is_admin or new_role == Membership.Role.ADMIN:
        return
    Partner.objects.select_for_update().get(pk=membership.partner_id)
    others = (
        Membership.objects.filter(partner_id=membership.partner_id, role=Membership.Role.ADMIN)
        .exclude(pk=membership.pk)
        .filter(user__is_active=True, user__emailaddress__verified=True)
        .distinct()
    )
    if not others.exists():
        raise MemberError("The partner portal needs at least one administrator who can sign in.")


def update_partner_member(
    membership: Membership,
    configure: Callable[[Membership], None],
    new_role: str,
    accounts: Iterable[Account] = (),
) -> None:
    with transaction.atomic():
        _guard_last_admin(membership, new_role)
        members.update_member(membership, configure, new_role)
        _grant(membership, accounts)


def remove_partner_member(membership: Membership) -> None:
    with transaction.atomic():
        _guard_last_admin(membership, None)
        members.remove_member(membership)


# -- how a partner user's role reads in the audit --------------------------------------------------


def role_of(membership: Membership) -> dict[str, str]:
    """What a partner membership grants, in words, to compare before and after a change."""
    if membership.is_admin:
        return {"role": "Administrator", "partner": "all", "account": "all", "accounts": "all"}
    granted = set(membership.operations)
    partner_ops = [op.label for op in perms.PARTNER_OPERATIONS if op.code in granted]
    account_ops = [op.label for op in perms.ACCOUNT_OPERATIONS if op.code in granted]
    if membership.all_accounts:
        accounts = "all"
    else:
        names = membership.accounts.order_by("name").values_list("name", flat=True)
        accounts = ", ".join(names) or "none"
    return {
        "role": "Custom",
        "partner": "; ".join(partner_ops) or "none",
        "account": "; ".join(account_ops) or "none",
        "accounts": accounts,
    }


FACETS = (
    ("role", "role"),
    ("partner", "partner operations"),
    ("account", "account operations"),
    ("accounts", "accessible accounts"),
)


def describe(membership: Membership) -> str:
    role = role_of(membership)
    if membership.is_admin:
        return "Administrator"
    return "Custom (" + "; ".join(f"{label}: {role[key]}" for key, label in FACETS[1:]) + ")"


def role_change(before: dict[str, str], after: dict[str, str]) -> str:
    """The differences between two `role_of` readings, in words; "" when nothing changed."""
    return ", ".join(
        f"{label} {before[key]} -> {after[key]}" for key, label in FACETS if before[key] != after[key]
    )
