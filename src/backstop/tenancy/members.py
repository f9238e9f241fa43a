"""Use-cases of user management (A-USERS): add, change, remove members and their confirmation."""

from __future__ import annotations

from collections.abc import Callable

from allauth.account.models import EmailAddress
from django.db import transaction
from django.http import HttpRequest

from backstop.accounts.models import User
from backstop.tenancy.models import Account, Membership


class MemberError(Exception):
    """A change that would leave the account unmanageable, with a message for the person."""


def add_member(
    request: HttpRequest,
    account: Account,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    configure: Callable[[Membership], None],
) -> Membership:
    """Creates the user and their membership, and e-mails a confirmation link valid 24 hours.

    The user cannot sign in before the link is opened (allauth's mandatory verification)."""
    with transaction.atomic():
        user = User.objects.create_user(
            email=email, password=password, first_name=first_name, last_name=last_name
        )
        address = EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
        membership = Membership(user=user, account=account, created_by=request.user)  # type: ignore[misc]
        configure(membership)
        membership.save()
    address.send_confirmation(request, signup=False)
    return membership


def admins_left(account: Account, without: Membership) -> int:
    return account.memberships.filter(role=Membership.Role.ADMIN).exclude(pk=without.pk).count()


def guard_last_admin(membership: Membership, new_role: str | None) -> None:
    """An account keeps at least one administrator."""
    if membership.account is None or not membership.is_admin:
        return
    if new_role == Membership.Role.ADMIN:
        return
    if admins_left(membership.account, membership) == 0:
        raise MemberError("The account needs at least one administrator.")


def remove_member(membership: Membership) -> None:
    guard_last_admin(membership, None)
    with transaction.atomic():
        user = membership.user
        membership.delete()
        if not user.memberships.exists() and not user.is_staff:
            user.delete()


def is_confirmed(user: User) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def resend_confirmation(request: HttpRequest, user: User) -> bool:
    """Sends a fresh confirmation link; False when the address is already confirmed."""
    address, _ = EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"primary": True, "verified": False}
    )
    if address.verified:
        return False
    address.send_confirmation(request, signup=False)
    return True
