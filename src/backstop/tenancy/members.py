"""Use-cases of user management (A-USERS): add, change, remove members and their confirmation."""

from __future__ import annotations

from collections.abc import Callable

from allauth.account.models import EmailAddress
from django.db import transaction
from django.http import HttpRequest

from backstop.accounts.models import User
from backstop.tenancy.models import Account, Membership, Partner


class MemberError(Exception):
    """A change that would leave the account unmanageable, with a message for the person."""


def add_member(
    request: HttpRequest,
    tenant: Account | Partner,
    email: str,
    password: str | None,
    first_name: str,
    last_name: str,
    configure: Callable[[Membership], None],
    saved: Callable[[Membership], None] | None = None,
) -> Membership:
    """Creates the user and their membership of an account or a partner, and e-mails a
    confirmation link valid 24 hours; `saved` finishes the membership once it has its id (a
    partner user's accessible accounts), in the same transaction.

    The user cannot sign in before the link is opened (allauth's mandatory verification). With
    no password, they sign in with Google or Microsoft for this address (linked on first use)."""
    with transaction.atomic():
        user = User.objects.create_user(
            email=email, password=password, first_name=first_name, last_name=last_name
        )
        address = EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
        where = {"partner": tenant} if isinstance(tenant, Partner) else {"account": tenant}
        membership = Membership(user=user, created_by=request.user, **where)  # type: ignore[misc]
        configure(membership)
        membership.save()
        if saved is not None:
            saved(membership)
    address.send_confirmation(request, signup=False)
    return membership


def _guard_last_admin(membership: Membership, new_role: str | None) -> None:
    """An account keeps at least one administrator who can sign in: active, address confirmed.

    Call inside a transaction: the account row is locked so that two administrators demoting
    each other at once cannot both succeed."""
    if membership.account_id is None or not membership.is_admin or new_role == Membership.Role.ADMIN:
        return
    Account.objects.select_for_update().get(pk=membership.account_id)
    others = (
        Membership.objects.filter(account_id=membership.account_id, role=Membership.Role.ADMIN)
        .exclude(pk=membership.pk)
        .filter(user__is_active=True, user__emailaddress__verified=True)
        .distinct()
    )
    if not others.exists():
        raise MemberError("The account needs at least one administrator who can sign in.")


def update_member(membership: Membership, configure: Callable[[Membership], None], new_role: str) -> None:
    with transaction.atomic():
        _guard_last_admin(membership, new_role)
        configure(membership)
        membership.save()


def remove_member(membership: Membership) -> None:
    with transaction.atomic():
        _guard_last_admin(membership, None)
        user = membership.user
        membership.delete()
        if not user.memberships.exists() and not user.is_staff:
            user.delete()


def resend_confirmation(request: HttpRequest, user: User) -> bool:
    """Sends a fresh confirmation link; False when the address is already confirmed."""
    address, _ = EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"primary": True, "verified": False}
    )
    if address.verified:
        return False
    address.send_confirmation(request, signup=False)
    return True
