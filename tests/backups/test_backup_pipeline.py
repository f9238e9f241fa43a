"""The backup pipeline end to end, in process: the Box connector against the Box sandbox over
real HTTP, the engine on local disk, the catalog in the database."""

from __future__ import annotations

import hashlib
import time

import pytest
from django.conf import LazySettings

from backstop.backups import runner
from backstop.backups.models import ActivityEvent, BackupTask, CatalogItem, Entity, Job, Snapshot
from backstop.backups.repos import open_repository
from backstop.backups.services import backup_now, reconnect_task
from backstop.sandbox.box import BoxSandbox
from tests.backups.sandbox import entity_of, seed_tenant
from tests.conftest import Personas

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sandbox_on(settings: LazySettings) -> None:
    settings.BACKSTOP_SANDBOX = True


def run_backup(entity: Entity) -> Job:
    (job,) = backup_now([entity])
    runner.run(job.pk)
    job.refresh_from_db()
    return job


def snapshot_files(entity: Entity) -> dict[str, bytes]:
    repo = open_repository(entity.account)
    snap = repo.snapshot(entity.last_snapshot)
    return {path: repo.open_item(snap, path).read() for path, e in repo.walk(snap) if not e.is_folder}


def current_catalog(entity: Entity) -> dict[str, CatalogItem]:
    return {row.path: row for row in CatalogItem.objects.filter(entity=entity, valid_to__isnull=True)}


def test_first_backup_lands_in_the_engine_catalog_entity_and_activity(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    tenant = seed_tenant(box_sandbox, users=2, files_per_user=12)
    task = tenant.task(personas.a)
    assert Entity.objects.filter(task=task).count() == 3  # the admin and two users
    one = entity_of(task, tenant.users[0])
    job = run_backup(one)
    assert job.status == Job.Status.SUCCEEDED, job.error
    one.refresh_from_db()
    assert one.status == Entity.Status.ACTIVE and one.first_backup_at and one.last_backup_at
    files = snapshot_files(one)
    assert {len(d) for d in files.values()} == {3000}, {p: len(d) for p, d in files.items()}
    assert one.items == 12 and one.size == 12 * 3000 and one.cursor
    files = snapshot_files(one)
    assert len(files) == 12
    assert files["Documents/Projects ü/file-000.txt"].startswith(b"user 0 file 0 ")
    catalog = current_catalog(one)
    assert set(catalog) == set(files)
    row = catalog["Documents/file-001.txt"]
    assert row.kind == "file" and row.size == 3000 and row.modified is not None
    assert row.meta.get("sha1") == hashlib.sha1(files["Documents/file-001.txt"]).hexdigest()
    event = ActivityEvent.objects.get(job=job)
    assert (event.activity, event.service, event.status, event.item) == (
        "backup",
        "box",
        "succeeded",
        one.name,
    )
    assert event.items == 12 and event.bytes == 12 * 3000 and event.duration is not None
    # Only that user: the other user's files are not in this snapshot.
    assert not any(b"user 1" in data for data in files.values())


def test_an_incremental_moves_only_the_change(personas: Personas, box_sandbox: BoxSandbox) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=10)
    task = tenant.task(personas.a)
    entity = entity_of(task, tenant.users[0])
    assert run_backup(entity).status == Job.Status.SUCCEEDED
    entity.refresh_from_db()
    first_snapshot = entity.last_snapshot
    st, files = tenant.state, tenant.files[tenant.users[0].login]
    st.new_version(files[0], b"a brand new version")
    st.rename(files[1], "renamed.txt")
    st.delete(files[2])
    st.file(files[3].parent_id, "added.txt", b"added later")

    job = run_backup(entity)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["downloaded"] == 2, "only the new version and the new file are downloaded"
    # Added: the new file and the previous version of the re-uploaded one (relinked, not read).
    assert (job.result["added"], job.result["changed"], job.result["removed"]) == (2, 2, 1)
    entity.refresh_from_db()
    assert entity.last_snapshot != first_snapshot and entity.items == 11
    now = snapshot_files(entity)
    assert any(path.endswith("/renamed.txt") for path in now)
    assert any(data == b"a brand new version" for data in now.values())
    assert not any(path.endswith("file-002.txt") for path in now)
    # The catalog keeps history: the replaced rows are closed by the second snapshot.
    second = Snapshot.objects.get(entity=entity, snapshot_id=entity.last_snapshot)
    assert CatalogItem.objects.filter(entity=entity, valid_to=second).count() == 3
    assert set(current_catalog(entity)) == set(now)
    assert Snapshot.objects.filter(entity=entity).count() == 2
    assert open_repository(entity.account).check().ok

    # Nothing changed: a run downloads nothing and still makes its daily snapshot.
    quiet = run_backup(entity)
    assert quiet.status == Job.Status.SUCCEEDED and quiet.result["downloaded"] == 0


def test_an_expired_cursor_lists_everything_and_downloads_nothing_unchanged(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=8)
    task = tenant.task(personas.a)
    entity = entity_of(task, tenant.users[0])
    run_backup(entity)
    Entity.objects.filter(pk=entity.pk).update(cursor='{"stream_position": "1"}')
    tenant.state.expired_stream_position = "error"
    tenant.state.event_retention = 0
    job = run_backup(entity)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["downloaded"] == 0 and job.result["items"] == 8


def test_a_429_storm_completes_by_waiting_as_told(personas: Personas, box_sandbox: BoxSandbox) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=6)
    task = tenant.task(personas.a)
    entity = entity_of(task, tenant.users[0])
    box_sandbox.faults.add("429", path=r"/2\.0/", times=4, retry_after=1)
    started = time.monotonic()
    job = run_backup(entity)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert time.monotonic() - started >= 4 * 0.9, "Retry-After was not honoured"
    assert job.result["items"] == 6


def test_failing_items_make_a_partial_run_and_are_tried_again_next_time(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=40)
    task = tenant.task(personas.a)
    entity = entity_of(task, tenant.users[0])
    # The HTTP layer retries a 500 with backoff before giving the item up; keep that short here.
    BackupTask.objects.filter(pk=task.pk).update(
        connector_settings={**task.connector_settings, "retry": {"max_attempts": 3, "base": 0.05}}
    )
    bad = tenant.files[tenant.users[0].login][:2]  # 5 % of 40
    for item in bad:
        box_sandbox.faults.add("500", path=rf"/2\.0/files/{item.id}/content")
    job = run_backup(entity)
    assert job.status == Job.Status.PARTIAL, job.error
    assert sorted(f["name"] for f in job.result["failed"]) == sorted(i.name for i in bad)
    assert job.log_lines.filter(level="warning", text__contains=bad[0].name).exists()
    entity.refresh_from_db()
    assert entity.items == 38 and len(entity.retry_items) == 2 and entity.status == Entity.Status.ACTIVE
    assert ActivityEvent.objects.get(job=job).status == ActivityEvent.Status.PARTIAL

    box_sandbox.faults.clear()
    again = run_backup(entity)
    assert again.status == Job.Status.SUCCEEDED, again.error
    assert again.result["downloaded"] == 2
    entity.refresh_from_db()
    assert entity.items == 40 and entity.retry_items == []


def test_a_revoked_grant_disconnects_the_task_until_it_is_reconnected(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=3)
    task = tenant.task(personas.a)
    entity = entity_of(task, tenant.users[0])
    tenant.state.revoke_user_tokens(tenant.admin)
    job = run_backup(entity)
    assert job.status == Job.Status.FAILED
    task.refresh_from_db()
    assert not task.connected and task.disconnected_reason
    # A disconnected task's jobs do not run.
    assert run_backup(entity).status == Job.Status.CANCELED
    reconnect_task(task, tenant.secrets())
    assert run_backup(entity).status == Job.Status.SUCCEEDED


def test_cancel_is_honoured_between_items(personas: Personas, box_sandbox: BoxSandbox) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=30)
    task = tenant.task(personas.a)
    entity = entity_of(task, tenant.users[0])
    (job,) = backup_now([entity])
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)

    # The heartbeat notices the flag; make it beat fast.
    from django.test import override_settings

    with override_settings(BACKSTOP_JOB_LEASE_SECONDS=1):
        box_sandbox.faults.add("latency", latency=0.05)
        runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    entity.refresh_from_db()
    assert entity.status == Entity.Status.SCHEDULED and not entity.last_snapshot
    assert not Snapshot.objects.filter(entity=entity).exists()
    assert BackupTask.objects.get(pk=task.pk).connected


def test_a_scheduled_run_discovers_and_auto_activates_newcomers(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from backstop.backups.schedule import schedule_due

    tenant = seed_tenant(box_sandbox, users=2, files_per_user=2)
    task = tenant.task(personas.a)
    Entity.objects.filter(task=task).update(status=Entity.Status.ACTIVE)
    newcomer = tenant.state.user(tenant.users[0].enterprise_id, "New Hire", login="new@acme.test")
    BackupTask.objects.filter(pk=task.pk).update(last_scheduled_at=timezone.now() - timedelta(days=2))
    created = schedule_due()
    new = entity_of(task, newcomer)
    assert new.status == Entity.Status.SCHEDULED, "auto-activated"
    assert Job.objects.filter(entity=new, scheduled=True).exists()
    assert created == Entity.objects.filter(task=task, status__in=("scheduled", "active")).count()
