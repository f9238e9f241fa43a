"""Queue tasks of the backups app: thin, they take ids and call the services."""

from __future__ import annotations

import logging

from huey import crontab

from backstop.queue import Priority, huey

log = logging.getLogger(__name__)


@huey.task(priority=Priority.BACKUP)
def run_job(job_id: int) -> None:
    from backstop.backups.runner import run

    run(job_id)


@huey.periodic_task(crontab(minute="*"), priority=Priority.MAINTENANCE)
def sweep_jobs() -> None:
    """Every minute: jobs whose worker vanished are resumed; lost messages are sent again."""
    from backstop.backups.jobs import sweep

    requeued = sweep()
    if requeued:
        log.info("sweep enqueued %d job(s)", len(requeued))


@huey.periodic_task(crontab(minute="*"), priority=Priority.MAINTENANCE)
def schedule_backups() -> None:
    """Every minute: backup jobs for tasks whose backup hour came (once per slot)."""
    from backstop.backups.schedule import schedule_due

    schedule_due()


@huey.periodic_task(crontab(minute="*/15"), priority=Priority.MAINTENANCE)
def purge_deleted() -> None:
    """Tasks and entities past their 7-day deletion grace, and archived entities past their
    retention, are purged from the repository."""
    from backstop.backups.services import purge_due

    purge_due()


@huey.periodic_task(crontab(minute="*/15"), priority=Priority.MAINTENANCE)
def expire_export_files() -> None:
    """Export zips past their 72-hour download window, and partial files of exports that
    ended, are deleted."""
    from backstop.backups.export import expire_exports

    removed = expire_exports()
    if removed:
        log.info("deleted %d expired export file(s)", removed)
