"""Use-cases on tenants. Views, the CLI, workers and later the API all call these."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from backstop.accounts.models import User
from backstop.tenancy.models import REMOVAL_GRACE, TRIAL_DAYS, Account, Membership, Partner

log = logging.getLogger(__name__)


def open_customer_account(
    owner: User,
    region: str,
    name: str | None = None,
    partner: Partner | None = None,
    trial_days: int = TRIAL_DAYS,
) -> Account:
    """A new customer account with its owner as administrator and a free trial (A-SIGNUP)."""
    with transaction.atomic():
        account = Account.objects.create(
            name=name or owner.display_name,
            email=owner.email,
            region=region,
            partner=partner,
            trial_ends_on=timezone.now().date() + timedelta(days=trial_days),
        )
        Membership.objects.create(user=owner, account=account, role=Membership.Role.ADMIN)
    log.info("account %s opened for %s in %s", account.pk, owner.email, region)
    return account


def request_removal(account: Account, by: User) -> None:
    """Marks the account for removal; its data is kept for the grace period (A-ACCOUNT)."""
    if account.removal_requested_at is None:
        account.removal_requested_at = timezone.now()
        account.removal_requested_by = by
        account.save(update_fields=["removal_requested_at", "removal_requested_by"])


def cancel_removal(account: Account) -> None:
    account.removal_requested_at = None
    account.removal_requested_by = None
    account.save(update_fields=["removal_requested_at", "removal_requested_by"])


def purge_removed_accounts(now: datetime | None = None) -> list[int]:
    """Deletes accounts whose removal grace has passed, and users left with no membership.

    Backup data in the repository is purged by the engine's purge job once it exists; here the
    tenant's rows go. Returns the ids of the purged accounts.
    """
    cutoff = (now or timezone.now()) - REMOVAL_GRACE
    purged: list[int] = []
    for account in Account.objects.filter(removal_requested_at__lte=cutoff).order_by("pk"):
        account_id = account.pk
        with transaction.atomic():
            member_ids = list(account.memberships.values_list("user_id", flat=True))
            account.delete()
            User.objects.filter(pk__in=member_ids, memberships__isnull=True).delete()
        purged.append(account_id)
        log.info("account %s purged after its removal grace", account.name)
    return purged
