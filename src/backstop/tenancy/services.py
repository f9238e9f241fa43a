"""Use-cases on tenants. Views, the CLI, workers and later the API all call these."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from backstop.accounts.models import User
from backstop.billing.models import Subscription
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
        Subscription.objects.create(account=account)
    log.info("account %s opened for user %s in %s", account.pk, owner.pk, region)
    return account


def request_removal(account: Account, by: User) -> None:
    """Marks the account for removal; its data is kept for the grace period (A-ACCOUNT)."""
    if account.removal_requested_at is None:
        account.removal_requested_at = timezone.now()
        account.removal_requested_by = by
        account.save(update_fields=["removal_requested_at", "removal_requested_by"])


def cancel_removal(account: Account) -> bool:
    """Keeps the account; False when the grace is over and the purge may already be under way."""
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        purge_after = locked.purge_after
        if purge_after is not None and purge_after <= timezone.now():
            return False
        locked.removal_requested_at = None
        locked.removal_requested_by = None
        locked.save(update_fields=["removal_requested_at", "removal_requested_by"])
    account.removal_requested_at = account.removal_requested_by = None
    return True


def purge_removed_accounts(now: datetime | None = None) -> list[int]:
    """Deletes accounts whose removal grace has passed, and users left with no membership.

    The account's repository goes first (every object under its prefix), then its rows; a
    repository that cannot be deleted now keeps the account for the next run. Returns the ids
    of the purged accounts.
    """
    from backstop.backups.repos import delete_repository

    cutoff = (now or timezone.now()) - REMOVAL_GRACE
    due = Account.objects.filter(removal_requested_at__lte=cutoff)
    purged: list[int] = []
    for account_id in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            # Re-read under a lock: a removal cancelled since the listing must survive.
            account = due.select_for_update().filter(pk=account_id).first()
            if account is None:
                continue
            try:
                delete_repository(account)
            except Exception:
                log.exception(
                    "account %s: its backup data could not be deleted; trying again later", account_id
                )
                continue
            member_ids = list(account.memberships.values_list("user_id", flat=True))
            account.delete()
            orphans = User.objects.filter(pk__in=member_ids, memberships__isnull=True, is_staff=False)
            orphans.delete()
        purged.append(account_id)
        log.info("account %s purged after its removal grace", account_id)
    return purged
