"""The backup signals, turned into notices. Connected in `NotifyConfig.ready`.

The signals are sent with `send_robust`, so a receiver that raises is logged and never fails
the job; each receiver still catches and logs, so one notice that could not go out says which.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from backstop.backups import signals
from backstop.backups.models import BackupTask, Entity, Job
from backstop.notify import notices

log = logging.getLogger(__name__)


@receiver(signals.backup_finished, dispatch_uid="notify.backup_finished")
def on_backup_finished(sender: Any, *, job: Job, status: str, **kwargs: Any) -> None:
    if status not in (Job.Status.FAILED, Job.Status.PARTIAL):
        return
    try:
        notices.backup_failed(job)
    except Exception:
        log.exception("the exception notice of job %s could not be sent", job.pk)


@receiver(signals.task_disconnected, dispatch_uid="notify.task_disconnected")
def on_task_disconnected(sender: Any, *, task: BackupTask, reason: str, **kwargs: Any) -> None:
    try:
        notices.task_disconnected(task, reason)
    except Exception:
        log.exception("the disconnection notice of task %s could not be sent", task.pk)


@receiver(signals.entities_discovered, dispatch_uid="notify.entities_discovered")
def on_entities_discovered(sender: Any, *, task: BackupTask, entities: list[Entity], **kwargs: Any) -> None:
    try:
        notices.entities_discovered(task, entities)
    except Exception:
        log.exception("the auto-discovery notice of task %s could not be sent", task.pk)


@receiver(signals.recovery_finished, dispatch_uid="notify.recovery_finished")
def on_recovery_finished(sender: Any, *, job: Job, summary: str, **kwargs: Any) -> None:
    try:
        notices.recovery_finished(job, summary)
    except Exception:
        log.exception("the recovery notice of job %s could not be sent", job.pk)
