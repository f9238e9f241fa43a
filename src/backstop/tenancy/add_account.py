"""A partner adds a customer account (P-ADD): the account, its administrator, where its backups
are kept (a data center or the customer's own storage) and its subscription, in one go.

The customer's storage is checked (a test object written and deleted) before anything is
saved; the account, its administrator, its storage and its subscription are then created in one
transaction, audited as "Account created" in the partner's and the account's Security Audit,
and the administrator gets a confirmation link (valid 24 hours) to open before signing in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from allauth.account.models import EmailAddress
from django.db import transaction
from django.http import HttpRequest

from backstop.accounts.models import User
from backstop.audit import events
from backstop.backups import byos
from backstop.billing import subscriptions
from backstop.billing.models import Plan, Subscription
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.services import open_customer_account

log = logging.getLogger(__name__)


class AddAccountError(Exception):
    """The account cannot be added; `message` is for the person, `field` names the form field."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class NewAccount:
    """What the partner filled in. `storage` (an export-shaped destination) and `credentials`
    are given for the customer's own storage; otherwise `region` is the data center."""

    name: str
    email: str
    password: str
    region: str
    kind: str = Subscription.Kind.TRIAL
    plan: str = ""
    storage: Mapping[str, Any] | None = None
    credentials: Mapping[str, Any] = field(default_factory=dict)


def email_in_use(email: str) -> bool:
    """True when any account or any user (by any of their addresses) has this e-mail already,
    whatever its case: an account's e-mail is unique across the whole system."""
    address = email.strip()
    return (
        Account.objects.filter(email__iexact=address).exists()
        or Account.objects.filter(pending_email__iexact=address).exists()
        or User.objects.filter(email__iexact=address).exists()
        or EmailAddress.objects.filter(email__iexact=address).exists()
    )


def add_account(request: HttpRequest, partner: Partner, membership: Membership, new: NewAccount) -> Account:
    """Creates the account for `partner`, or raises AddAccountError and saves nothing."""
    email = new.email.strip().lower()
    if email_in_use(email):
        raise AddAccountError("This e-mail address is already used by another account or user.", "email")
    storage: tuple[dict[str, str], dict[str, Any]] | None = None
    if new.storage is not None:
        try:
            storage = byos.check_storage(new.storage, new.credentials)
        except byos.DestinationError as exc:
            raise AddAccountError(exc.message, exc.field) from exc
    kind = new.kind if new.kind in Subscription.Kind.values else Subscription.Kind.TRIAL
    plan = new.plan if new.plan in Plan.values else Plan.MONTHLY
    with transaction.atomic():
        # Checked again inside the transaction: two partners racing for one address.
        if email_in_use(email):
            raise AddAccountError("This e-mail address is already used by another account or user.", "email")
        user = User.objects.create_user(email=email, password=new.password)
        address = EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
        account = open_customer_account(user, new.region, name=new.name.strip(), partner=partner)
        if storage is not None:
            byos.save_storage(account, *storage)
        subscription = subscriptions.start(account, kind, plan if kind != Subscription.Kind.TRIAL else "")
        if not membership.all_accounts:
            # A partner user limited to some accounts keeps the one they just added.
            membership.accounts.add(account)
        text = describe(account, subscription, storage[0] if storage else None)
        events.account_created(request, account, text, partner=partner)
    address.send_confirmation(request, signup=False)
    log.info("partner %s added account %s", partner.pk, account.pk)
    return account


def describe(account: Account, subscription: Subscription, storage: Mapping[str, Any] | None) -> str:
    """The audit line: who, where, which subscription (never a credential)."""
    from backstop.backups.export import describe_destination

    where = (
        f"the customer's own storage: {describe_destination(storage)}" if storage else account.region_label
    )
    if subscription.kind == Subscription.Kind.TRIAL:
        terms = f"trial until {account.trial_ends_on:%b %-d, %Y}"
    elif subscription.kind == Subscription.Kind.TRIAL_AUTO:
        terms = f"trial until {account.trial_ends_on:%b %-d, %Y}, then {subscription.get_plan_display()}"
    else:
        terms = f"subscribed {subscription.get_plan_display()}, no trial"
    return (
        f"Account created: {account.name} ({account.email}), backups in {where}; {terms}; "
        f"administrator {account.email}"
    )
