"""Each account's backup status and stored size follow what happens to its entities: real
backups against the Box sandbox, a partially failed one, deletion, archiving by discovery, a
deleted task. The partner dashboard reads only this summary, so it must never lag behind."""

from __future__ import annotations

import pytest
from django.conf import LazySettings

from backstop.backups import runner
from backstop.backups.models import AccountBackupSummary, BackupTask, Entity, Job
from backstop.backups.services import backup_now, delete_entities, delete_task, sync_entities
from backstop.connectors.base import EntityInfo
from backstop.sandbox.box import BoxSandbox
from backstop.tenancy.models import Account
from tests.backups.sandbox import entity_of, seed_tenant
from tests.conftest import Personas

pytestmark = pytest.mark.django_db(transaction=True)
State = AccountBackupSummary.State


@pytest.fixture(autouse=True)
def _sandbox_on(settings: LazySettings) -> None:
    settings.BACKSTOP_SANDBOX = True


def summary_of(account: Account) -> tuple[str, int]:
    row = AccountBackupSummary.objects.filter(account=account).first()
    return (row.state, row.size) if row else (State.NONE, 0)


def backup(entity: Entity) -> str:
    (job,) = backup_now([entity])
    runner.run(job.pk)
    job.refresh_from_db()
    return job.status


def test_the_summary_follows_backups_deletion_archiving_and_task_removal(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    account = personas.a
    tenant = seed_tenant(box_sandbox, users=2, files_per_user=6, size=1000)
    task = tenant.task(account)
    first, second = (entity_of(task, user) for user in tenant.users)
    assert summary_of(account) == (State.NONE, 0)

    assert backup(first) == Job.Status.SUCCEEDED
    assert summary_of(account) == (State.SUCCESSFUL, 6000)

    BackupTask.objects.filter(pk=task.pk).update(
        connector_settings={**task.connector_settings, "retry": {"max_attempts": 2, "base": 0.05}}
    )
    broken = tenant.files[tenant.users[1].login][0]
    box_sandbox.faults.add("500", path=rf"/2\.0/files/{broken.id}/content")
    assert backup(second) == Job.Status.PARTIAL
    assert summary_of(account) == (State.PARTIAL, 6000 + 5000)

    delete_entities([Entity.objects.get(pk=second.pk)])
    assert summary_of(account) == (State.SUCCESSFUL, 6000)

    # The source no longer lists the first user: archived, out of the status, its data still kept.
    admin = Entity.objects.get(task=task, key=str(tenant.admin.id))
    sync_entities(task, [EntityInfo(key=admin.key, name=admin.name, email=admin.email)])
    assert Entity.objects.get(pk=first.pk).status == Entity.Status.ARCHIVED
    assert summary_of(account) == (State.NONE, 6000)

    # It comes back: successful again.
    infos = [EntityInfo(key=e.key, name=e.name, email=e.email) for e in (admin, first)]
    sync_entities(task, infos)
    assert summary_of(account) == (State.SUCCESSFUL, 6000)

    delete_task(BackupTask.objects.get(pk=task.pk))
    assert summary_of(account) == (State.NONE, 0)


def test_a_failed_backup_makes_the_account_failed_and_other_accounts_keep_theirs(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=2, size=500)
    task = tenant.task(personas.a)
    entity = entity_of(task, tenant.users[0])
    tenant.state.revoke_user_tokens(tenant.admin)  # the grant is gone: the backup fails
    assert backup(entity) == Job.Status.FAILED
    assert summary_of(personas.a) == (State.FAILED, 0)
    assert summary_of(personas.b) == (State.NONE, 0)
