"""Periodic work of notifications, enqueued by `backstop scheduler` like every periodic task."""

from __future__ import annotations

import logging

from huey import crontab

from backstop.queue import Priority, huey

log = logging.getLogger(__name__)


@huey.periodic_task(crontab(minute="*/5"), priority=Priority.REPORT)
def send_summary_reports() -> None:
    """Every 5 minutes: summary reports of accounts whose period ended since their last one
    (decided from the database, so a run missed while the scheduler was down catches up)."""
    from backstop.notify.reports import send_due

    sent = send_due()
    if sent:
        log.info("sent the summary report of %d account(s)", sent)


@huey.periodic_task(crontab(minute="*/5"), priority=Priority.REPORT)
def send_exception_digests() -> None:
    """Every 5 minutes: failures held back by the one-e-mail-per-task-per-hour rule."""
    from backstop.notify.notices import send_digests

    sent = send_digests()
    if sent:
        log.info("sent %d exception digest(s)", sent)


@huey.periodic_task(crontab(minute="*/5"), priority=Priority.REPORT)
def send_partner_reports() -> None:
    """Every 5 minutes: partners' reports on their customers whose period ended, and each
    partner's daily trial accounts report (decided from the database, like the accounts')."""
    from backstop.notify import partner_reports

    sent = partner_reports.send_due()
    trials = partner_reports.send_due_trial_reports()
    if sent or trials:
        log.info("sent the report of %d partner(s) and the trial report of %d", sent, trials)
