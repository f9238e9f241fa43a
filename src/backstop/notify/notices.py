"""The notices that go out when something happens (A-NOTIFY): exceptions (a backup failed or
partially failed, a task was disconnected), auto-discovery, and recovery.

Exceptions coalesce per task: the first failure is e-mailed at once; failures in the next
`COALESCE` are held and sent together as one digest when the window ends (by `send_digests`,
run periodically) or with the next failure after it. `ExceptionNotice` remembers when the last
e-mail went out; it is claimed with a conditional UPDATE, so two workers finishing at the same
moment send one e-mail.

Each notice goes to the account's recipients and to those of its managing partners; the footer
tells each why it receives the notice and where to change that (the account's or the partner's
Settings > Notifications).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from backstop.backups.models import BackupTask, Entity, Job
from backstop.notify import mailer
from backstop.notify.models import ExceptionNotice
from backstop.notify.recipients import DISCOVERY, EXCEPTIONS, RECOVERY, addressees
from backstop.notify.reports import TROUBLE, job_error
from backstop.tenancy.models import Account

log = logging.getLogger(__name__)

COALESCE = timedelta(hours=1)
DIGEST_LIMIT = 200  # entities listed in one e-mail; the rest are counted


def task_url(task: BackupTask) -> str:
    return mailer.absolute(reverse("backup_task", args=[task.account_id, task.pk]))


def jobs_url(account_id: int) -> str:
    return mailer.absolute(reverse("account_jobs", args=[account_id]))


def recipients_of(account: Account, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(e-mail, name, footer context) of the notice's recipients: a managing partner's recipient
    is told which partner it receives the customer's notice for, and given that partner's
    notification settings; the account's own recipients the account's."""
    own = mailer.absolute(reverse("account_notifications", args=[account.pk]))
    found = []
    for addressee in addressees(account, kind):
        footer: dict[str, Any] = {"settings_url": own}
        if addressee.partner is not None:
            settings_url = reverse("partner_notifications", args=[addressee.partner.pk])
            footer = {"via_partner": addressee.partner, "settings_url": mailer.absolute(settings_url)}
        found.append((addressee.email, addressee.name, footer))
    return found


# -- exceptions -------------------------------------------------------------------------------


def _notice(task: BackupTask, now: datetime) -> tuple[ExceptionNotice, bool]:
    """The task's notice row, and whether it was just made (then this caller sends)."""
    try:
        with transaction.atomic():
            notice, created = ExceptionNotice.objects.get_or_create(
                task=task, defaults={"account_id": task.account_id, "last_sent_at": now}
            )
    except IntegrityError:  # made by another worker a moment ago
        return ExceptionNotice.objects.get(task=task), False
    return notice, created


def _claim(notice: ExceptionNotice, now: datetime) -> datetime | None:
    """Takes the right to send for `notice`'s task; returns the previous send time (the
    digest starts there) or None when the window is still open or another worker claimed."""
    previous = notice.last_sent_at
    if now - previous < COALESCE:
        return None
    taken = ExceptionNotice.objects.filter(pk=notice.pk, last_sent_at=previous).update(
        last_sent_at=now, pending=False
    )
    return previous if taken else None


def failed_jobs(task: BackupTask, since: datetime, until: datetime) -> list[Job]:
    """The task's last failed or partial backup per entity, ended in (since, until]."""
    jobs = (
        Job.objects.filter(
            task=task,
            kind=Job.Kind.BACKUP,
            status__in=TROUBLE,
            ended_at__gt=since,
            ended_at__lte=until,
        )
        .select_related("entity")
        .order_by("ended_at", "pk")
    )
    latest: dict[int | None, Job] = {}
    for job in jobs:
        latest[job.entity_id] = job
    return list(latest.values())


def _send_exceptions(task: BackupTask, jobs: list[Job]) -> int:
    if not jobs:
        return 0
    failed = sum(1 for job in jobs if job.status == Job.Status.FAILED)
    partial = len(jobs) - failed
    if len(jobs) == 1:
        entity = jobs[0].entity
        what = "failed" if failed else "partially failed"
        subject = f"Backup {what}: {entity.name if entity else ''} in {task.name}"
    else:
        subject = f"Backups with errors in {task.name}: {failed} failed, {partial} partially failed"
    lines = [
        {
            "entity": job.entity,
            "status": job.get_status_display(),
            "failed": job.status == Job.Status.FAILED,
            "error": job_error(job),
            "ended_at": job.ended_at,
        }
        for job in jobs[:DIGEST_LIMIT]
    ]
    context = {
        "account": task.account,
        "task": task,
        "lines": lines,
        "more": max(len(jobs) - DIGEST_LIMIT, 0),
        "task_url": task_url(task),
        "jobs_url": jobs_url(task.account_id),
        "window_minutes": int(COALESCE.total_seconds() // 60),
    }
    return mailer.send(recipients_of(task.account, EXCEPTIONS), subject, "notify/email/exceptions", context)


def backup_failed(job: Job, now: datetime | None = None) -> int:
    """A backup ended failed or partial: e-mail now, or hold it for the digest. Returns the
    number of messages sent."""
    now = now or timezone.now()
    task = job.task
    if task is None or not task.connected:
        return 0  # a disconnected task gets the disconnection notice instead
    notice, created = _notice(task, now)
    since = now - COALESCE if created else _claim(notice, now)
    if since is None:
        ExceptionNotice.objects.filter(pk=notice.pk, pending=False).update(pending=True)
        return 0
    try:
        return _send_exceptions(task, failed_jobs(task, since, now))
    except Exception:
        # Not lost: held for the digest, which tries again once the window has passed.
        ExceptionNotice.objects.filter(pk=notice.pk, last_sent_at=now).update(
            last_sent_at=since, pending=True
        )
        raise


def send_digests(now: datetime | None = None) -> int:
    """Held failures whose window ended go out as one digest per task; returns messages sent."""
    now = now or timezone.now()
    sent = 0
    held = ExceptionNotice.objects.filter(pending=True, last_sent_at__lte=now - COALESCE).select_related(
        "task", "task__account"
    )
    for notice in held:
        since = _claim(notice, now)
        if since is None:
            continue
        try:
            sent += _send_exceptions(notice.task, failed_jobs(notice.task, since, now))
        except Exception:
            log.exception("the exception digest of task %s could not be sent", notice.task_id)
            ExceptionNotice.objects.filter(pk=notice.pk, last_sent_at=now).update(
                last_sent_at=since, pending=True
            )
    return sent


def task_disconnected(task: BackupTask, reason: str) -> int:
    context = {
        "account": task.account,
        "task": task,
        "reason": reason,
        "task_url": task_url(task),
    }
    subject = f"Backup task disconnected: {task.name}"
    return mailer.send(
        recipients_of(task.account, EXCEPTIONS), subject, "notify/email/task_disconnected", context
    )


# -- auto-discovery ---------------------------------------------------------------------------


def entities_discovered(task: BackupTask, entities: list[Entity]) -> int:
    if not entities:
        return 0
    recipients = recipients_of(task.account, DISCOVERY)
    if not recipients:
        return 0
    idle = (Entity.Status.NOT_ACTIVE,)
    lines = [{"entity": e, "activated": e.status not in idle} for e in entities[:DIGEST_LIMIT]]
    activated = sum(1 for e in entities if e.status not in idle)
    context = {
        "account": task.account,
        "task": task,
        "lines": lines,
        "count": len(entities),
        "activated": activated,
        "more": max(len(entities) - DIGEST_LIMIT, 0),
        "task_url": task_url(task),
    }
    subject = f"{len(entities)} new {'entity' if len(entities) == 1 else 'entities'} found in {task.name}"
    return mailer.send(recipients, subject, "notify/email/entities_discovered", context)


# -- recovery ---------------------------------------------------------------------------------


def recovery_finished(job: Job, summary: str) -> int:
    """A restore or export ended: the recovery recipients hear of it, except the person who
    started it (who has their own e-mail from the job)."""
    initiator = (job.initiator.email if job.initiator else "").lower()
    recipients = [found for found in recipients_of(job.account, RECOVERY) if found[0].lower() != initiator]
    if not recipients:
        return 0
    task = job.task
    context = {
        "account": job.account,
        "job": job,
        "task": task,
        "entity": job.entity,
        "label": (job.params or {}).get("label", ""),
        "summary": summary,
        "initiator": job.initiator.email if job.initiator else "",
        "jobs_url": jobs_url(job.account_id),
    }
    status = job.get_status_display().lower()
    subject = f"{job.get_kind_display()} {status}: {context['label'] or (task.name if task else '')}"
    return mailer.send(recipients, subject, "notify/email/recovery_finished", context)
