"""Which tasks are due for their scheduled backup (A-SETTINGS: frequency and backup hour, UTC).

A task's slots are its backup hour on every day (daily), every third day or every seventh day
counted from the day it was created. Each scheduled run first discovers the task's entities
(new ones auto-activated when the task says so, gone ones archived). A task is due when the
latest slot at or before now is later than its last scheduled run: after downtime that is one
run, not one per missed slot. The decision is one conditional UPDATE per task, so two
schedulers cannot both start it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from backstop.backups.models import BackupTask, Entity
from backstop.backups.services import backup_now, disconnect_task, discover
from backstop.connectors.errors import AuthError

log = logging.getLogger(__name__)


def latest_slot(task: BackupTask, now: datetime) -> datetime:
    now = now.astimezone(UTC)
    slot = now.replace(hour=task.backup_hour, minute=0, second=0, microsecond=0)
    if slot > now:
        slot -= timedelta(days=1)
    every = task.frequency_days
    if every > 1:
        anchor = task.created_at.astimezone(UTC).date()
        offset = (slot.date() - anchor).days % every
        slot -= timedelta(days=offset)
    return slot


def schedule_due(now: datetime | None = None) -> int:
    """Creates the backup jobs of every due task; returns how many jobs were created."""
    now = now or timezone.now()
    created = 0
    tasks = BackupTask.objects.filter(deleted_at__isnull=True, connected=True).only(
        "pk", "backup_hour", "frequency", "created_at", "last_scheduled_at", "account_id"
    )
    for task in tasks.iterator():
        slot = latest_slot(task, now)
        last = task.last_scheduled_at or task.created_at
        if last >= slot:
            continue
        taken = BackupTask.objects.filter(pk=task.pk, last_scheduled_at=task.last_scheduled_at).update(
            last_scheduled_at=now
        )
        if not taken:
            continue
        refresh_entities(task)
        entities = Entity.objects.filter(
            task_id=task.pk,
            deleted_at__isnull=True,
            status__in=(Entity.Status.SCHEDULED, Entity.Status.ACTIVE, Entity.Status.IN_PROCESS),
        ).select_related("task")
        created += len(backup_now(entities, scheduled=True))
    return created


def refresh_entities(task: BackupTask) -> None:
    """Discovery before a scheduled run; a source that refuses us disconnects the task, one that
    is unreachable leaves the entities as they were (their backups report the failure)."""
    full = BackupTask.objects.get(pk=task.pk)
    try:
        counts = discover(full)
    except AuthError as exc:
        disconnect_task(full, str(exc))
    except Exception:
        log.warning("discovery of task %s failed; backing up the known entities", task.pk, exc_info=True)
    else:
        if counts["new"] or counts["archived"]:
            log.info("task %s: %s", task.pk, counts)
