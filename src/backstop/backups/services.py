"""Service functions of the backups app: what views, workers and the CLI call.

Entity statuses (A-ENTITIES): Not Active until activated; Scheduled once activated and waiting
for its first backup; In Process while a backup runs; Active once it has a backup; Paused by a
person (skipped by the scheduler); Archived when it disappeared at the source (kept
`archive_days`, 0 = forever); deleted entities and tasks disappear from the pages at once and
their data is purged from the repository after the 7-day grace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backstop.backups import jobs, signals, summary
from backstop.backups.models import DELETE_GRACE, ActivityEvent, BackupTask, Entity, Job
from backstop.connectors.base import EntityInfo
from backstop.tenancy.models import Account

if TYPE_CHECKING:
    from backstop.backups.pipeline import RunResult

log = logging.getLogger(__name__)

# How many backups may run at once against one source tenant, per service.
ACTIVE_LIMITS = {"box": 8, "imap": 4}
SUB_SERVICES = {"box": "Files", "imap": "Mail"}
S = Entity.Status


def create_task(
    account: Account,
    service: str,
    name: str,
    *,
    user: Any = None,
    connector_settings: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    source_tenant: str = "",
) -> BackupTask:
    """A connected task with its secrets sealed; entities are discovered by the caller."""
    with transaction.atomic():
        task = BackupTask.objects.create(
            account=account,
            service=service,
            name=name,
            connector_settings=dict(connector_settings or {}),
            created_by=user if user is not None and user.is_authenticated else None,
            source_tenant=source_tenant,
        )
        task.last_scheduled_at = task.created_at
        task.set_secrets(dict(secrets or {}))
        task.save(update_fields=["sealed_secrets", "last_scheduled_at"])
    return task


def reconnect_task(
    task: BackupTask, secrets: Mapping[str, Any], settings: Mapping[str, Any] | None = None
) -> None:
    task.set_secrets(dict(secrets))
    task.connected, task.disconnected_reason = True, ""
    fields = ["sealed_secrets", "connected", "disconnected_reason"]
    if settings is not None:
        task.connector_settings = {**task.connector_settings, **settings}
        fields.append("connector_settings")
    task.save(update_fields=fields)


def disconnect_task(task: BackupTask, reason: str) -> None:
    newly = BackupTask.objects.filter(pk=task.pk, connected=True).update(
        connected=False, disconnected_reason=reason[:300]
    )
    task.connected, task.disconnected_reason = False, reason[:300]
    if newly:
        announce(signals.task_disconnected, task, task=task, reason=reason)


def announce(signal: Any, sender: Any, **kwargs: Any) -> None:
    """Sends a backup signal; a receiver that fails is logged and never fails the caller."""
    for receiver, outcome in signal.send_robust(sender=type(sender), **kwargs):
        if isinstance(outcome, Exception):
            log.error(
                "%s failed on %s", getattr(receiver, "__qualname__", receiver), sender, exc_info=outcome
            )


def sync_entities(
    task: BackupTask, found: Iterable[EntityInfo], now: datetime | None = None
) -> dict[str, int]:
    """Brings the task's entities in line with what the source has: new ones appear (activated
    when the task says so, except on the task's first discovery), gone ones are archived, and
    archived ones that came back return. Returns counts."""
    now = now or timezone.now()
    first = task.discovered_at is None
    found_by_key = {info.key: info for info in found}
    counts = {"new": 0, "archived": 0, "returned": 0}
    new: list[Entity] = []
    with transaction.atomic():
        existing = {e.key: e for e in Entity.objects.filter(task=task, deleted_at__isnull=True)}
        for key, info in found_by_key.items():
            entity = existing.get(key)
            if entity is None:
                activate = task.auto_activate and not first
                entity = Entity.objects.create(
                    account_id=task.account_id,
                    task=task,
                    key=key,
                    name=info.name[:300],
                    email=info.email[:300],
                    kind=info.kind,
                    status=S.SCHEDULED if activate else S.NOT_ACTIVE,
                    activated_at=now if activate else None,
                    discovered_at=now,
                )
                new.append(entity)
                counts["new"] += 1
                continue
            changed = []
            if entity.name != info.name[:300] or entity.email != info.email[:300]:
                entity.name, entity.email = info.name[:300], info.email[:300]
                changed += ["name", "email"]
            if entity.status == S.ARCHIVED:
                entity.status = S.ACTIVE if entity.last_snapshot else S.SCHEDULED
                entity.archived_at = None
                changed += ["status", "archived_at"]
                counts["returned"] += 1
            if changed:
                entity.save(update_fields=changed)
        for key, entity in existing.items():
            if key not in found_by_key and entity.status != S.ARCHIVED:
                entity.status, entity.archived_at = S.ARCHIVED, now
                entity.save(update_fields=["status", "archived_at"])
                counts["archived"] += 1
        BackupTask.objects.filter(pk=task.pk).update(discovered_at=now)
        task.discovered_at = now
        if counts["archived"] or counts["returned"]:
            summary.refresh([task.account_id])
    if new and not first:
        announce(signals.entities_discovered, task, task=task, entities=new)
    return counts


def discover(task: BackupTask) -> dict[str, int]:
    from backstop.backups.connections import connector_for

    with connector_for(task) as connector:
        return sync_entities(task, list(connector.discover()))


def activate(entities: Iterable[Entity]) -> int:
    count = 0
    for entity in entities:
        if entity.status in (S.NOT_ACTIVE, S.PAUSED):
            entity.status = S.ACTIVE if entity.last_snapshot else S.SCHEDULED
            entity.activated_at = entity.activated_at or timezone.now()
            entity.save(update_fields=["status", "activated_at"])
            count += 1
    return count


def pause(entities: Iterable[Entity]) -> int:
    count = 0
    for entity in entities:
        if entity.status in (S.SCHEDULED, S.ACTIVE, S.IN_PROCESS):
            Entity.objects.filter(pk=entity.pk).update(status=S.PAUSED)
            count += 1
    return count


def backup_now(entities: Iterable[Entity], user: Any = None, scheduled: bool = False) -> list[Job]:
    """A backup job for each entity that can run one (activating Not Active ones)."""
    created = []
    for entity in entities:
        if entity.deleted_at or entity.status in (S.ARCHIVED, S.OTHER_TASK):
            continue
        if not entity.task.connected or entity.task.deleted_at:
            continue  # it would only be canceled: reconnect (or restore the task) first
        if entity.status in (S.NOT_ACTIVE, S.PAUSED) and not scheduled:
            activate([entity])
        elif entity.status in (S.NOT_ACTIVE, S.PAUSED):
            continue
        job = jobs.create(
            Job.Kind.BACKUP,
            entity.account_id,
            task=entity.task,
            entity=entity,
            initiator=user,
            scheduled=scheduled,
        )
        if job is not None:
            created.append(job)
    return created


def delete_entities(entities: Iterable[Entity], now: datetime | None = None) -> int:
    """Gone from the pages at once; the data is purged after the grace (purge_due)."""
    now = now or timezone.now()
    count = 0
    accounts: set[int] = set()
    for entity in entities:
        if entity.deleted_at is None:
            Entity.objects.filter(pk=entity.pk).update(deleted_at=now)
            _cancel_open_jobs(Job.objects.filter(entity=entity))
            accounts.add(entity.account_id)
            count += 1
    summary.refresh(accounts)
    return count


def delete_task(task: BackupTask, now: datetime | None = None) -> None:
    now = now or timezone.now()
    BackupTask.objects.filter(pk=task.pk).update(deleted_at=now)
    task.deleted_at = now
    _cancel_open_jobs(Job.objects.filter(task=task))
    summary.refresh([task.account_id])


def _cancel_open_jobs(queryset: Any) -> None:
    for job in queryset.filter(status__in=(Job.Status.PENDING, Job.Status.RUNNING)):
        jobs.request_cancel(job)


def settle_entity_status(entity: Entity) -> None:
    """The status after a job ended or was canceled."""
    if entity.status in (S.PAUSED, S.ARCHIVED, S.NOT_ACTIVE, S.OTHER_TASK) or entity.deleted_at:
        return
    running = Job.objects.filter(
        entity=entity, kind=Job.Kind.BACKUP, status__in=(Job.Status.PENDING, Job.Status.RUNNING)
    ).exists()
    status = S.IN_PROCESS if running else (S.ACTIVE if entity.last_snapshot else S.SCHEDULED)
    Entity.objects.filter(pk=entity.pk).exclude(status__in=(S.PAUSED, S.ARCHIVED)).update(status=status)
    entity.status = status


def source_is_busy(task: BackupTask, job: Job, limit: int) -> bool:
    running = Job.objects.filter(
        kind=Job.Kind.BACKUP,
        status=Job.Status.RUNNING,
        task__service=task.service,
        task__source_tenant=task.source_tenant,
    ).exclude(pk=job.pk)
    if not task.source_tenant:
        running = running.filter(task=task)
    return running.count() >= limit


def record_activity(job: Job, status: str, result: RunResult | None, error: str) -> ActivityEvent:
    task, entity = job.task, job.entity
    assert task is not None
    summary = result.summary() if result is not None else error
    return ActivityEvent.objects.create(
        account_id=job.account_id,
        activity=job.kind,
        service=task.service,
        sub_service=SUB_SERVICES.get(task.service, ""),
        status=status,
        task=task,
        task_name=task.name,
        item=entity.name if entity else "",
        duration=job.duration,
        items=result.changes if result else 0,
        bytes=result.bytes_read if result else 0,
        summary=summary[:2000],
        job=job,
    )


# -- retention and purging after the graces (X-RETENTION)


def apply_retention(entity: Entity, now: datetime | None = None) -> int:
    """Snapshots older than the task's retention period leave the repository and the catalog;
    the newest snapshot always stays. Catalog rows that began in a forgotten snapshot and live
    on are re-dated to the oldest snapshot kept. Returns how many snapshots were forgotten."""
    from backstop.backups.models import CatalogItem, Snapshot
    from backstop.backups.repos import open_repository

    days = entity.task.retention_days
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    snapshots = list(Snapshot.objects.filter(entity=entity).order_by("time", "pk"))
    doomed = [s for s in snapshots[:-1] if s.time < cutoff]
    if not doomed:
        return 0
    oldest_kept = snapshots[len(doomed)]
    doomed_ids = [s.pk for s in doomed]
    repo = open_repository(entity.account, create=False)
    wanted = {s.snapshot_id for s in doomed}
    repo.remove_snapshots(s for s in repo.snapshots(entity.repo_entity) if s.id in wanted)
    with transaction.atomic():
        rows = CatalogItem.objects.filter(account_id=entity.account_id, entity=entity)
        # Versions replaced before or by the oldest snapshot kept are in no snapshot any more.
        rows.filter(valid_to__in=[*doomed_ids, oldest_kept.pk]).delete()
        rows.filter(valid_from__in=doomed_ids).update(valid_from=oldest_kept)
        Snapshot.objects.filter(pk__in=doomed_ids).delete()
    request_prune(entity.account)
    return len(doomed)


def request_prune(account: Account, delay: timedelta | None = None) -> Job | None:
    """A prune of the account's repository (the space of forgotten snapshots comes back), unless
    one is already waiting."""
    open_prunes = Job.objects.filter(
        account=account, kind=Job.Kind.PURGE, status__in=(Job.Status.PENDING, Job.Status.RUNNING)
    )
    if open_prunes.exists():
        return None
    job = jobs.create(Job.Kind.PURGE, account.pk, params={"action": "prune"})
    if job is not None and delay is not None:
        Job.objects.filter(pk=job.pk).update(not_before=timezone.now() + delay)
    return job


def purge_entity_data(entity: Entity) -> int:
    """Removes every snapshot of the entity from the repository (a prune frees the space)."""
    from backstop.backups.repos import open_repository

    repo = open_repository(entity.account, create=False)
    snaps = repo.snapshots(entity.repo_entity)
    repo.remove_snapshots(snaps)
    return len(snaps)


def purge_due(now: datetime | None = None) -> dict[str, int]:
    """Entities and tasks past their deletion grace, and archived entities past their task's
    `archive_days`, leave the repository and the database."""
    now = now or timezone.now()
    counts = {"entities": 0, "tasks": 0}
    cutoff = now - DELETE_GRACE
    doomed = list(
        Entity.objects.filter(Q(deleted_at__lt=cutoff) | Q(task__deleted_at__lt=cutoff)).select_related(
            "account"
        )
    )
    archived = Entity.objects.filter(
        status=S.ARCHIVED, task__archive_days__gt=0, deleted_at__isnull=True, task__deleted_at__isnull=True
    ).select_related("task", "account")
    doomed += [
        e for e in archived if e.archived_at and e.archived_at < now - timedelta(days=e.task.archive_days)
    ]
    purged: set[int] = set()
    for entity in doomed:
        try:
            if entity.last_snapshot:
                purge_entity_data(entity)
        except Exception:
            log.exception("could not purge the data of entity %s; trying again later", entity.pk)
            continue
        entity.delete()
        request_prune(entity.account)
        purged.add(entity.account_id)
        counts["entities"] += 1
    summary.refresh(purged)
    for task in BackupTask.objects.filter(deleted_at__lt=now - DELETE_GRACE):
        if not Entity.objects.filter(task=task).exists():
            task.delete()
            counts["tasks"] += 1
    return counts
