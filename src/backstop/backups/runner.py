"""Runs one job by id: claims it, runs its service, and turns the outcome into statuses.

Error classes come from the connector (`backstop.connectors.errors`):
- Throttled / Unavailable: the job goes back to Pending with a backoff (Retry-After when the
  source gave one), up to `jobs.MAX_ATTEMPTS` attempts; the checkpoint keeps the work done.
- ItemError: handled inside the run: the item is skipped and listed, the run ends Partially
  succeeded, and the item is tried again next run.
- AuthError: the task becomes Disconnected and the job fails; reconnecting restores it.
- Anything else: the job fails with the error in its log.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import close_old_connections

from backstop.backups import jobs, signals, summary
from backstop.backups.models import BackupTask, Entity, Job, JobLog
from backstop.backups.pipeline import EntityBackup, RunResult, Stopped
from backstop.backups.services import (
    ACTIVE_LIMITS,
    announce,
    apply_retention,
    disconnect_task,
    record_activity,
    settle_entity_status,
    source_is_busy,
)
from backstop.connectors.errors import AuthError, Throttled, Unavailable

log = logging.getLogger(__name__)


def run(job_id: int) -> None:
    close_old_connections()
    try:
        job = jobs.claim(job_id)
        if job is None:
            return
        if job.kind == Job.Kind.BACKUP:
            run_backup(job)
        elif job.kind == Job.Kind.PURGE:
            run_prune(job)
        elif job.kind == Job.Kind.RESTORE:
            run_restore(job)
        elif job.kind == Job.Kind.EXPORT:
            run_export(job)
        else:
            jobs.add_log(job, f"No runner for {job.kind} jobs yet.", JobLog.Level.ERROR)
            jobs.finish(job, Job.Status.FAILED, error=f"no runner for {job.kind}")
    finally:
        close_old_connections()


def run_prune(job: Job) -> None:
    """Deletes from the account's repository what no snapshot needs any more. Safe beside
    running backups (the engine's prune never waits for them and never deletes what they may
    reuse); what they block is deferred to a prune an hour or two later."""
    from backstop.backups.repos import open_repository
    from backstop.backups.services import request_prune
    from backstop.engine.errors import RepositoryNotFound

    try:
        with jobs.Control(job):
            report = open_repository(job.account, create=False).prune()
    except RepositoryNotFound:
        jobs.finish(job, Job.Status.SUCCEEDED, result={"note": "no repository"})
        return
    except Exception as exc:
        log.exception("prune job %s failed", job.pk)
        jobs.add_log(job, f"Failed: {type(exc).__name__}: {exc}", JobLog.Level.ERROR)
        jobs.finish(job, Job.Status.FAILED, error=str(exc))
        return
    result = {
        "packs_deleted": report.packs_deleted,
        "packs_repacked": report.packs_repacked,
        "bytes_freed": report.bytes_freed,
        "packs_deferred": report.packs_deferred,
        "packs_too_young": report.packs_too_young,
    }
    jobs.add_log(job, f"Freed {report.bytes_freed} bytes ({report.packs_deleted} packs deleted).")
    jobs.finish(job, Job.Status.SUCCEEDED, result=result)
    if report.packs_deferred or report.packs_too_young:
        request_prune(job.account, delay=timedelta(hours=2))


def _backoff(job: Job, hint: float | None) -> timedelta:
    if hint:
        return timedelta(seconds=min(max(hint, 1), 3600))
    return timedelta(seconds=min(30 * 2 ** max(job.attempts - 1, 0), 3600))


def _disconnected(job: Job, task: BackupTask, exc: AuthError) -> str:
    """The source refused the task's credentials: the task is Disconnected until reconnected."""
    error = f"The service refused our credentials: {exc}"
    disconnect_task(task, str(exc))
    jobs.add_log(job, error + " The task is now Disconnected.", JobLog.Level.ERROR)
    return error


def _retried(job: Job, exc: Throttled | Unavailable) -> bool:
    """Back to Pending after a backoff (the source's Retry-After when it gave one); False when
    the attempts are used up."""
    hint = exc.retry_after if isinstance(exc, Throttled) else None
    return jobs.retry_later(job, _backoff(job, hint), f"The service is not answering: {exc}")


def _gave_up(job: Job, exc: Exception) -> str:
    error = f"The service kept failing: {exc}"
    jobs.add_log(job, error, JobLog.Level.ERROR)
    return error


def run_backup(job: Job) -> None:
    from backstop.backups.connections import connector_for
    from backstop.backups.repos import open_repository

    task, entity = job.task, job.entity
    assert task is not None and entity is not None
    if task.deleted_at or entity.deleted_at or not task.connected:
        why = "the task is disconnected" if not task.connected else "it was deleted"
        jobs.add_log(job, f"Not run: {why}.", JobLog.Level.WARNING)
        jobs.finish(job, Job.Status.CANCELED, error=why)
        settle_entity_status(entity)
        return
    if entity.status == Entity.Status.PAUSED:
        jobs.add_log(job, "Not run: the entity was paused.", JobLog.Level.WARNING)
        jobs.finish(job, Job.Status.CANCELED, error="paused")
        return
    limit = ACTIVE_LIMITS.get(task.service, 4)
    if source_is_busy(task, job, limit):
        # Per source tenant concurrency: wait for a slot instead of being throttled by the source.
        jobs.retry_later(job, timedelta(seconds=20), f"{limit} backups already run against this source")
        return
    Entity.objects.filter(pk=entity.pk).exclude(status=Entity.Status.PAUSED).update(
        status=Entity.Status.IN_PROCESS
    )
    jobs.add_log(job, f"Backup of {entity.name} started (attempt {job.attempts}).")
    result: RunResult | None = None
    status, error = Job.Status.FAILED, ""
    try:
        with jobs.Control(job) as control, connector_for(task) as connector:
            backup = EntityBackup(job, connector, open_repository(job.account), control)
            try:
                result = backup.run()
            except Stopped:
                if control.lost.is_set():
                    return  # another worker has the job now; it will settle everything
                status, error = Job.Status.CANCELED, "canceled"
                jobs.add_log(job, "Canceled.", JobLog.Level.WARNING)
    except AuthError as exc:
        error = _disconnected(job, task, exc)
    except (Throttled, Unavailable) as exc:
        if _retried(job, exc):
            settle_entity_status(entity)
            return
        error = _gave_up(job, exc)
    except Exception as exc:
        log.exception("backup job %s failed", job.pk)
        error = f"{type(exc).__name__}: {exc}"
        jobs.add_log(job, f"Failed: {error}", JobLog.Level.ERROR)
    progress: dict[str, int] = {}
    if result is not None:
        status = Job.Status.PARTIAL if result.failed else Job.Status.SUCCEEDED
        jobs.add_log(job, f"{result.summary()}; {result.items} items, {result.size} bytes in the snapshot")
        progress = {
            "items_done": result.changes,
            "bytes_done": result.bytes_read,
            "items_failed": len(result.failed),
        }
    if not jobs.finish(job, status, result=result.as_dict() if result else None, error=error, **progress):
        return
    Entity.objects.filter(pk=entity.pk).update(last_result=status)
    try:
        summary.refresh([entity.account_id])
    except Exception:  # the summary is recounted on the next change; the job's ending must go on
        log.exception("the backup summary of account %s could not be refreshed", entity.account_id)
    entity.refresh_from_db()
    settle_entity_status(entity)
    # Job and activity statuses of a finished job are the same words.
    record_activity(job, status, result, error)
    announce(signals.backup_finished, job, job=job, entity=entity, status=status, result=result, error=error)
    if result is not None and task.retention_days:
        try:
            forgotten = apply_retention(entity)
        except Exception:
            log.exception("retention of entity %s failed; the next backup tries again", entity.pk)
        else:
            if forgotten:
                jobs.add_log(
                    job, f"Retention: {forgotten} snapshot(s) older than {task.retention_days} days removed."
                )


def run_restore(job: Job) -> None:
    from backstop.backups.connections import connector_for
    from backstop.backups.recovery_jobs import finished
    from backstop.backups.repos import open_repository
    from backstop.backups.restore import RestoreRun

    target = (
        Entity.objects.select_related("task")
        .filter(pk=job.params["target"]["entity"], account=job.account)
        .first()
    )
    if target is None:  # purged since the request
        jobs.add_log(job, "Not run: the target no longer exists.", JobLog.Level.ERROR)
        if jobs.finish(job, Job.Status.FAILED, error="the target no longer exists"):
            finished(job)
        return
    task = target.task
    if task.deleted_at or target.deleted_at or not task.connected:
        why = "the target task is disconnected" if not task.connected else "the target was deleted"
        jobs.add_log(job, f"Not run: {why}.", JobLog.Level.ERROR)
        if jobs.finish(job, Job.Status.FAILED, error=why):
            finished(job)
        return
    if job.attempts == 1:
        jobs.add_log(job, f"Restore of {job.params.get('label', '')} to {target.name} started.")
    else:
        jobs.add_log(job, f"Resumed (attempt {job.attempts}).")
    run: RestoreRun | None = None
    status, error = Job.Status.FAILED, ""
    try:
        with jobs.Control(job) as control, connector_for(task) as connector:
            run = RestoreRun(job, target, connector, open_repository(job.account, create=False), control)
            run.run()
            if control.lost.is_set():
                return  # another worker has the job now
    except AuthError as exc:
        error = _disconnected(job, task, exc)
    except (Throttled, Unavailable) as exc:
        if _retried(job, exc):
            return  # the checkpoint keeps what was done
        error = _gave_up(job, exc)
    except Exception as exc:
        log.exception("restore job %s failed", job.pk)
        error = f"{type(exc).__name__}: {exc}"
        jobs.add_log(job, f"Failed: {error}", JobLog.Level.ERROR)
    result = run.result() if run is not None else {}
    if run is not None and not error:
        if run.stopped:
            status, error = Job.Status.CANCELED, "canceled"
        else:
            status = Job.Status.PARTIAL if result["failed"] else Job.Status.SUCCEEDED
    if result:
        text = f"{result['restored']} restored, {result['skipped']} skipped, {result['failed']} failed"
        jobs.add_log(job, text + ("; canceled." if status == Job.Status.CANCELED else "."))
    progress = run.progress if run is not None else {}
    if jobs.finish(job, status, result=result, error=error, **progress):
        finished(job)


def run_export(job: Job) -> None:
    from backstop.backups.export import run_export as export
    from backstop.backups.recovery_jobs import finished

    if job.attempts > 1:
        jobs.add_log(job, f"Resumed (attempt {job.attempts}).")
    else:
        jobs.add_log(job, f"Export of {job.params.get('label', '')} started.")
    try:
        with jobs.Control(job) as control:
            outcome = export(job, control)
            if outcome.lost or control.lost.is_set():
                return  # another worker has the job now
    except Exception as exc:
        log.exception("export job %s failed", job.pk)
        jobs.add_log(job, f"Failed: {type(exc).__name__}: {exc}", JobLog.Level.ERROR)
        if jobs.finish(job, Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}"):
            finished(job)
        return
    if outcome.retryable and jobs.retry_later(
        job, _backoff(job, None), f"The storage failed: {outcome.error}"
    ):
        return  # the checkpoint keeps what was written
    if jobs.finish(job, outcome.status, result=outcome.result, error=outcome.error, **outcome.progress):
        finished(job)
