"""Jobs (claim, lease, sweep, cancel) and the scheduler of due tasks, on the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from backstop import secrets
from backstop.backups import jobs
from backstop.backups.models import BackupTask, Entity, Job, JobLog
from backstop.backups.schedule import latest_slot, schedule_due
from backstop.backups.services import backup_now, create_task, pause, sync_entities
from backstop.connectors.base import EntityInfo
from tests.conftest import Personas

S = Entity.Status


@pytest.fixture(autouse=True)
def _no_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tasks have no source to discover from (test_backup_pipeline covers discovery)."""
    monkeypatch.setattr("backstop.backups.schedule.refresh_entities", lambda task: None)


def _task(personas: Personas, created: datetime, **fields: object) -> BackupTask:
    task = create_task(personas.a, "imap", "Mail", secrets={"password": "pw"})
    BackupTask.objects.filter(pk=task.pk).update(created_at=created, last_scheduled_at=created, **fields)
    task.refresh_from_db()
    return task


def _entities(task: BackupTask, *statuses: str) -> list[Entity]:
    sync_entities(task, [EntityInfo(f"u{i}", f"User {i}") for i in range(len(statuses))])
    result = []
    for i, status in enumerate(statuses):
        entity = Entity.objects.get(task=task, key=f"u{i}")
        Entity.objects.filter(pk=entity.pk).update(status=status)
        entity.refresh_from_db()
        result.append(entity)
    return result


def test_slots_follow_frequency_and_hour() -> None:
    created = datetime(2026, 11, 1, 12, tzinfo=UTC)
    task = BackupTask(backup_hour=2, frequency="daily", created_at=created)
    at = datetime(2026, 11, 10, 2, tzinfo=UTC)
    assert latest_slot(task, at - timedelta(minutes=1)) == at - timedelta(days=1)
    assert latest_slot(task, at) == at
    task.frequency = "3days"  # Nov 1, 4, 7, 10 ...
    assert latest_slot(task, datetime(2026, 11, 9, 5, tzinfo=UTC)) == datetime(2026, 11, 7, 2, tzinfo=UTC)
    task.frequency = "weekly"  # Nov 1, 8, 15 ...
    assert latest_slot(task, datetime(2026, 11, 14, 23, tzinfo=UTC)) == datetime(2026, 11, 8, 2, tzinfo=UTC)


def test_a_due_task_backs_up_its_active_entities_once_even_after_downtime(personas: Personas) -> None:
    task = _task(personas, datetime(2026, 11, 1, 12, tzinfo=UTC), backup_hour=2)
    active, scheduled, _paused, _inactive = _entities(task, S.ACTIVE, S.SCHEDULED, S.PAUSED, S.NOT_ACTIVE)
    assert schedule_due(datetime(2026, 11, 2, 1, 0, tzinfo=UTC)) == 0  # before the first slot
    # Down for four days: one run now, not four.
    assert schedule_due(datetime(2026, 11, 6, 9, 30, tzinfo=UTC)) == 2
    assert set(Job.objects.values_list("entity_id", flat=True)) == {active.pk, scheduled.pk}
    assert all(job.scheduled and job.initiator is None for job in Job.objects.all())
    assert schedule_due(datetime(2026, 11, 6, 9, 31, tzinfo=UTC)) == 0
    assert schedule_due(datetime(2026, 11, 7, 2, 0, tzinfo=UTC)) == 0, "jobs still open are not doubled"
    assert Job.objects.count() == 2


def test_disconnected_and_deleted_tasks_are_not_scheduled(personas: Personas) -> None:
    gone = _task(personas, datetime(2026, 11, 1, tzinfo=UTC), deleted_at=timezone.now())
    off = _task(personas, datetime(2026, 11, 1, tzinfo=UTC), connected=False)
    _entities(gone, S.ACTIVE)
    _entities(off, S.ACTIVE)
    assert schedule_due(datetime(2026, 11, 5, tzinfo=UTC)) == 0


def test_backup_now_twice_makes_one_job_and_activates(personas: Personas) -> None:
    task = _task(personas, timezone.now())
    (entity,) = _entities(task, S.NOT_ACTIVE)
    first = backup_now([entity], user=personas.alice)
    again = backup_now([entity], user=personas.alice)
    assert len(first) == 1 and again == []
    entity.refresh_from_db()
    assert entity.status == S.SCHEDULED and first[0].initiator == personas.alice
    assert pause([entity]) == 1
    entity.refresh_from_db()
    assert entity.status == S.PAUSED


def test_a_job_is_claimed_once_and_a_vanished_worker_loses_it_to_the_sweep(personas: Personas) -> None:
    task = _task(personas, timezone.now())
    (entity,) = _entities(task, S.ACTIVE)
    (job,) = backup_now([entity])
    claimed = jobs.claim(job.pk, owner="w1")
    assert claimed is not None and claimed.status == Job.Status.RUNNING and claimed.attempts == 1
    assert jobs.claim(job.pk, owner="w2") is None
    # The lease is still good: nothing to sweep.
    assert job.pk not in jobs.sweep()
    later = timezone.now() + jobs.lease_length() + timedelta(seconds=1)
    assert job.pk in jobs.sweep(later)
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING and job.lease_owner == ""
    assert JobLog.objects.filter(job=job, text__contains="resuming").exists()
    # The first worker's late finish is refused: it no longer holds the job.
    assert jobs.finish(claimed, Job.Status.SUCCEEDED) is False
    second = jobs.claim(job.pk, owner="w2")
    assert second is not None and second.attempts == 2


def test_cancel_ends_a_pending_job_at_once_and_flags_a_running_one(personas: Personas) -> None:
    task = _task(personas, timezone.now())
    one, two = _entities(task, S.ACTIVE, S.ACTIVE)
    pending, running = backup_now([one, two])
    jobs.claim(running.pk)
    jobs.request_cancel(pending)
    jobs.request_cancel(running)
    pending.refresh_from_db()
    running.refresh_from_db()
    assert pending.status == Job.Status.CANCELED and pending.ended_at is not None
    assert running.status == Job.Status.RUNNING and running.cancel_requested


def test_secrets_are_sealed_and_bound_to_their_row(personas: Personas) -> None:
    task = _task(personas, timezone.now())
    assert b"pw" not in bytes(task.sealed_secrets)
    assert task.get_secrets() == {"password": "pw"}
    other = _task(personas, timezone.now())
    other.sealed_secrets = task.sealed_secrets  # copied onto another task: refused
    with pytest.raises(secrets.SecretUnreadable):
        other.get_secrets()


def test_discovery_archives_what_left_and_auto_activates_newcomers(personas: Personas) -> None:
    task = _task(personas, timezone.now())
    sync_entities(task, [EntityInfo("a", "A"), EntityInfo("b", "B")])
    assert set(Entity.objects.filter(task=task).values_list("status", flat=True)) == {S.NOT_ACTIVE}
    counts = sync_entities(task, [EntityInfo("a", "A"), EntityInfo("c", "C")])
    assert counts == {"new": 1, "archived": 1, "returned": 0}
    assert Entity.objects.get(task=task, key="c").status == S.SCHEDULED  # auto-activated
    assert Entity.objects.get(task=task, key="b").status == S.ARCHIVED
    counts = sync_entities(task, [EntityInfo("a", "A"), EntityInfo("b", "B"), EntityInfo("c", "C")])
    assert counts["returned"] == 1


@pytest.mark.django_db(transaction=True)  # the runner manages its own connections
def test_graces_end_in_purges_of_entities_and_of_the_whole_account(personas: Personas) -> None:
    from backstop.backups.repos import open_repository, repository_url
    from backstop.backups.services import delete_entities, purge_due
    from backstop.engine.stores import open_store
    from backstop.tenancy.services import purge_removed_accounts

    task = _task(personas, timezone.now())
    kept, doomed = _entities(task, S.ACTIVE, S.ACTIVE)
    repo = open_repository(personas.a)
    for entity in (kept, doomed):
        with repo.writer(entity.repo_entity) as writer:
            writer.add("INBOX/1.eml", {}, b"mail")
            Entity.objects.filter(pk=entity.pk).update(last_snapshot=writer.commit().snapshot_id)
    delete_entities([doomed])
    assert purge_due() == {"entities": 0, "tasks": 0}, "nothing goes during the grace"
    assert purge_due(timezone.now() + timedelta(days=8)) == {"entities": 1, "tasks": 0}
    assert len(repo.snapshots(kept.repo_entity)) == 1 and repo.snapshots(doomed.repo_entity) == []
    assert not Entity.objects.filter(pk=doomed.pk).exists()
    # The space comes back through a prune job of the account's repository.
    from backstop.backups import runner

    (prune,) = Job.objects.filter(kind=Job.Kind.PURGE, account=personas.a)
    runner.run(prune.pk)
    prune.refresh_from_db()
    assert prune.status == Job.Status.SUCCEEDED, prune.error
    assert "bytes_freed" in prune.result

    personas.a.removal_requested_at = timezone.now() - timedelta(days=8)
    personas.a.save()
    assert purge_removed_accounts() == [personas.a.pk]
    assert open_store(repository_url(personas.a)).list("") == []


def test_retention_forgets_old_snapshots_and_keeps_the_catalog_true(personas: Personas) -> None:
    from backstop.backups.models import CatalogItem, Snapshot
    from backstop.backups.repos import open_repository
    from backstop.backups.services import apply_retention

    task = _task(personas, timezone.now(), retention_days=3)
    (entity,) = _entities(task, S.ACTIVE)
    repo = open_repository(personas.a)
    now = timezone.now()
    snaps = []
    for days_ago in (9, 5, 1):
        with repo.writer(entity.repo_entity, time=now - timedelta(days=days_ago)) as writer:
            writer.add(f"f{days_ago}.txt", {}, b"x")
            sid = writer.commit().snapshot_id
        snaps.append(
            Snapshot.objects.create(
                account=personas.a, entity=entity, snapshot_id=sid, time=now - timedelta(days=days_ago)
            )
        )
    s1, s2, s3 = snaps

    def row(key: str, start: Snapshot, end: Snapshot | None) -> None:
        CatalogItem.objects.create(
            account=personas.a,
            entity=entity,
            key=key,
            path=key,
            name=key,
            kind="file",
            version="1",
            content_version="1",
            valid_from=start,
            valid_to=end,
        )

    row("lives-on", s1, None)
    row("replaced-early", s1, s2)
    row("replaced-by-kept", s2, s3)
    row("new", s3, None)
    Entity.objects.filter(pk=entity.pk).update(last_snapshot=s3.snapshot_id)
    entity.refresh_from_db()
    assert apply_retention(entity, now) == 2
    assert [s.id for s in repo.snapshots(entity.repo_entity)] == [s3.snapshot_id]
    assert list(Snapshot.objects.filter(entity=entity)) == [s3]
    left = {r.key: r.valid_from_id for r in CatalogItem.objects.filter(entity=entity)}
    assert left == {"lives-on": s3.pk, "new": s3.pk}
    assert apply_retention(entity, now) == 0


def test_archived_entities_are_kept_their_task_s_days_then_purged(personas: Personas) -> None:
    from backstop.backups.services import purge_due

    forever = _task(personas, timezone.now())
    week = _task(personas, timezone.now(), archive_days=7)
    (kept,) = _entities(forever, S.ARCHIVED)
    (young, old) = _entities(week, S.ARCHIVED, S.ARCHIVED)
    now = timezone.now()
    Entity.objects.filter(pk__in=[kept.pk, old.pk]).update(archived_at=now - timedelta(days=30))
    Entity.objects.filter(pk=young.pk).update(archived_at=now - timedelta(days=2))
    assert purge_due(now) == {"entities": 1, "tasks": 0}
    assert set(Entity.objects.values_list("pk", flat=True)) == {kept.pk, young.pk}
