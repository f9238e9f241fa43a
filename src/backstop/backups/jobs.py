"""Jobs: created as rows, carried by the queue as ids, claimed with a lease, kept alive by a
heartbeat, swept when their worker vanished, resumed from their checkpoint.

A worker that is SIGKILLed leaves its job In progress with a lease that runs out; the sweep
(every minute) puts it back to Pending and enqueues it again, and the next worker continues
from the job's checkpoint. Two workers never run one job: claiming is one conditional UPDATE,
and a worker whose heartbeat finds the lease taken stops at the next item.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from backstop.backups.models import BackupTask, Entity, Job, JobLog
from backstop.queue import Priority

log = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# A job whose message was lost (broker restarted) is enqueued again after this long. A job that
# only waits in a long queue gets a duplicate message as often; the claim makes it harmless.
REQUEUE_PENDING_AFTER = timedelta(minutes=30)
MAX_ATTEMPTS = 6

PRIORITIES: dict[str, int] = {
    Job.Kind.RESTORE: Priority.RESTORE,
    Job.Kind.EXPORT: Priority.EXPORT,
    Job.Kind.REPORT: Priority.REPORT,
    Job.Kind.BACKUP: Priority.BACKUP,
    Job.Kind.PURGE: Priority.MAINTENANCE,
}


def lease_length() -> timedelta:
    return timedelta(seconds=settings.BACKSTOP_JOB_LEASE_SECONDS)


def create(
    kind: str,
    account_id: int,
    *,
    task: BackupTask | None = None,
    entity: Entity | None = None,
    initiator: Any = None,
    scheduled: bool = False,
    params: Mapping[str, Any] | None = None,
) -> Job | None:
    """A new pending job, enqueued once the transaction commits. For a backup, None when the
    entity already has one pending or running (the existing one will do)."""
    job = Job(
        account_id=account_id,
        kind=kind,
        task=task,
        entity=entity,
        initiator=initiator if initiator is not None and initiator.is_authenticated else None,
        scheduled=scheduled,
        priority=PRIORITIES.get(kind, Priority.BACKUP),
        params=dict(params or {}),
    )
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:
        return None  # one_open_backup_per_entity
    transaction.on_commit(lambda: enqueue(job.pk, job.priority))
    return job


def enqueue(job_id: int, priority: int) -> None:
    from backstop.backups.tasks import run_job

    Job.objects.filter(pk=job_id).update(queued_at=timezone.now())
    try:
        run_job(job_id, priority=priority)
    except Exception:
        # The broker is away: the sweep finds the pending job again.
        log.exception("could not enqueue job %s", job_id)


def claim(job_id: int, owner: str = WORKER_ID, now: datetime | None = None) -> Job | None:
    """Takes the job if it is pending and due; None when someone else has it or it is done."""
    now = now or timezone.now()
    token = f"{owner}:{uuid.uuid4().hex[:8]}"
    claimed = (
        Job.objects.filter(pk=job_id, status=Job.Status.PENDING)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .update(
            status=Job.Status.RUNNING,
            lease_owner=token,
            lease_until=now + lease_length(),
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", Value(now)),
        )
    )
    if not claimed:
        return None
    return Job.objects.select_related("task", "entity", "account").get(pk=job_id)


def add_log(job: Job, text: str, level: str = JobLog.Level.INFO) -> None:
    JobLog.objects.create(account_id=job.account_id, job=job, level=level, text=text[:4000])


class Control:
    """What a running job checks between items: cancel requested, lease lost. It also carries
    progress to the row, at most every `every` seconds, so the pages can show it live."""

    def __init__(self, job: Job, every: float = 2.0) -> None:
        self.job = job
        self.every = every
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._progress: dict[str, int] = {}
        interval = max(lease_length().total_seconds() / 4, 0.2)
        self._thread = threading.Thread(
            target=self._beat, args=(interval,), name=f"job-{job.pk}-heartbeat", daemon=True
        )

    def __enter__(self) -> Control:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()

    @property
    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.lost.is_set()

    def progress(self, items: int, bytes_: int, failed: int = 0) -> None:
        with self._lock:
            self._progress = {"items_done": items, "bytes_done": bytes_, "items_failed": failed}

    def flush(self) -> None:
        with self._lock:
            update, self._progress = self._progress, {}
        if update:
            Job.objects.filter(pk=self.job.pk, lease_owner=self.job.lease_owner).update(**update)

    def _beat(self, interval: float) -> None:
        """Every `every` seconds: progress and the cancel flag; every `interval`: the lease."""
        from django.db import connection

        last_lease = time.monotonic()
        try:
            while not self._stop.wait(min(self.every, interval)):
                if time.monotonic() - last_lease >= interval:
                    last_lease = time.monotonic()
                    kept = Job.objects.filter(
                        pk=self.job.pk, status=Job.Status.RUNNING, lease_owner=self.job.lease_owner
                    ).update(lease_until=timezone.now() + lease_length())
                    if not kept:
                        log.warning("job %s: lease lost, stopping at the next item", self.job.pk)
                        self.lost.set()
                        return
                if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
                    self.cancelled.set()
                self.flush()
        finally:
            connection.close()


def save_checkpoint(job: Job, checkpoint: dict[str, Any]) -> None:
    job.checkpoint = checkpoint
    Job.objects.filter(pk=job.pk, lease_owner=job.lease_owner).update(checkpoint=checkpoint)


SEALED = "sealed"  # the params key of a job's sealed secrets (an export's destination keys)


def _without_secrets(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != SEALED}


def forget_secrets(job: Job) -> None:
    """Drops the job's sealed secrets; `finish` and a cancel before the start do it."""
    if SEALED in job.params:
        job.params = _without_secrets(job.params)
        Job.objects.filter(pk=job.pk).update(params=job.params)


def finish(
    job: Job,
    status: str,
    *,
    result: Mapping[str, Any] | None = None,
    error: str = "",
    **progress: int,
) -> bool:
    """Ends the job if we still hold it; False when the lease was lost meanwhile. `progress`
    sets the final items_done / bytes_done / items_failed."""
    values: dict[str, Any] = {
        "status": status,
        "ended_at": timezone.now(),
        "lease_owner": "",
        "lease_until": None,
        "error": error[:4000],
        **progress,
    }
    if result is not None:
        values["result"] = dict(result)
    if SEALED in job.params:
        values["params"] = _without_secrets(job.params)  # kept no longer than the job needs them
    done = Job.objects.filter(pk=job.pk, lease_owner=job.lease_owner).update(**values)
    if done:
        for name, value in values.items():
            setattr(job, name, value)
    return bool(done)


def retry_later(job: Job, delay: timedelta, why: str) -> bool:
    """Back to pending after a transient failure; False when the attempts are used up."""
    if job.attempts >= MAX_ATTEMPTS:
        return False
    add_log(job, f"{why}; trying again in {int(delay.total_seconds())} s", JobLog.Level.WARNING)
    due = timezone.now() + delay
    Job.objects.filter(pk=job.pk, lease_owner=job.lease_owner).update(
        status=Job.Status.PENDING, lease_owner="", lease_until=None, not_before=due
    )
    try:
        from backstop.backups.tasks import run_job

        run_job.schedule((job.pk,), delay=delay.total_seconds(), priority=job.priority)
    except Exception:
        log.exception("could not schedule job %s again; the sweep will", job.pk)
    else:
        # The message is due with the backoff: the sweep need not send another.
        Job.objects.filter(pk=job.pk).update(queued_at=due)
    return True


def request_cancel(job: Job) -> None:
    """A pending job ends now; a running one stops between items."""
    if Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
        status=Job.Status.CANCELED, ended_at=timezone.now(), cancel_requested=True
    ):
        forget_secrets(job)
        _after_cancel_of_pending(job)
        return
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(cancel_requested=True)


def _after_cancel_of_pending(job: Job) -> None:
    if job.entity_id is not None and job.kind == Job.Kind.BACKUP:
        from backstop.backups.services import settle_entity_status

        entity = Entity.objects.get(pk=job.entity_id)
        settle_entity_status(entity)


def sweep(now: datetime | None = None) -> list[int]:
    """Jobs whose lease ran out go back to pending; pending jobs whose message may be lost, or
    whose backoff ended, are enqueued. Returns the ids enqueued."""
    now = now or timezone.now()
    stale = Job.objects.filter(status=Job.Status.RUNNING, lease_until__lt=now)
    expired = list(stale.only("pk", "account_id"))
    for job in expired:
        if stale.filter(pk=job.pk).update(
            status=Job.Status.PENDING, lease_owner="", lease_until=None, not_before=None
        ):
            add_log(job, "The worker running this job stopped; resuming from the last checkpoint.", "warning")
    due = Job.objects.filter(status=Job.Status.PENDING).filter(
        Q(pk__in=[job.pk for job in expired])
        | Q(queued_at__isnull=True)
        | Q(queued_at__lt=now - REQUEUE_PENDING_AFTER)
        | Q(not_before__lte=now, queued_at__lt=F("not_before"))
    )
    found = list(due.values_list("pk", "priority"))
    for job_id, priority in found:
        enqueue(job_id, priority)
    return [job_id for job_id, _ in found]
