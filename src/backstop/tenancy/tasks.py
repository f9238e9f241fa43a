"""Periodic upkeep of tenants, run by the workers when the scheduler enqueues it."""

from __future__ import annotations

import logging

from huey import crontab

from backstop.queue import Priority, huey
from backstop.tenancy import report_tasks  # noqa: F401 - the usage report job, for the workers
from backstop.tenancy.services import purge_removed_accounts

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="*"), priority=Priority.MAINTENANCE)
def purge_accounts_past_grace() -> None:
    """Every minute: accounts whose 7-day removal grace ran out are purged (one indexed query
    when there is nothing to do)."""
    purged = purge_removed_accounts()
    if purged:
        log.info("purged %d account(s) after their removal grace", len(purged))
