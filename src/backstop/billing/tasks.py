"""The daily billing run, enqueued by the scheduler."""

from __future__ import annotations

import logging

from huey import crontab

from backstop.queue import Priority, huey

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="20"), priority=Priority.MAINTENANCE)
def billing_day() -> None:
    """Hourly, cheap when the day is done: runs every billing day not yet run (usage, trials, bills,
    charges, payment status, forecasts). Hourly rather than daily so that a worker down at the
    hour loses nothing."""
    from backstop.billing.cycle import catch_up

    for report in catch_up():
        log.info("billing day %s: %s", report["day"], report)


@huey.periodic_task(crontab(minute="*"), priority=Priority.REPORT)
def billing_mail() -> None:
    """Every minute: invoices, receipts and failed-charge notices the billing noted (one indexed
    query when there are none)."""
    from backstop.billing.notices import flush

    sent = flush()
    if sent:
        log.info("sent %d billing e-mail(s)", sent)
