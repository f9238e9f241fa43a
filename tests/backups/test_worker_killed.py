"""A worker SIGKILLed in the middle of a backup costs minutes, not the backup: the sweep puts the
job back, the next worker resumes from the checkpoint, and the run leaves one snapshot and a
clean repository. Real `backstop worker` processes, the Box sandbox over HTTP."""

from __future__ import annotations

import json
import time

import pytest

from backstop.engine.stores import open_store
from backstop.sandbox.box import BoxSandbox
from tests.backups.sandbox import seed_tenant
from tests.engine.servers import MotoS3
from tests.test_processes import Installation, _stop

pytestmark = pytest.mark.processes

SETUP = """
import json
from backstop.backups.models import Entity
from backstop.backups.services import backup_now, create_task, discover
from backstop.tenancy.models import Account
account = Account.objects.create(name="Acme", email="acme@example.test")
task = create_task(account, "box", "Box", connector_settings={settings}, secrets={secrets},
                   source_tenant="sandbox")
discover(task)
entity = Entity.objects.get(task=task, key="{user}")
(job,) = backup_now([entity])
print(json.dumps({{"job": job.pk, "account": account.pk, "entity": entity.pk}}))
"""

REPORT = """
import json
from backstop.backups.models import Entity, Job, Snapshot
from backstop.backups.repos import open_repository
job = Job.objects.get(pk={job})
entity = Entity.objects.get(pk={entity})
repo = open_repository(entity.account, create=False)
print(json.dumps({{
    "status": job.status, "attempts": job.attempts, "result": job.result,
    "snapshots": len(repo.snapshots(entity.repo_entity)),
    "catalog_snapshots": Snapshot.objects.filter(entity=entity).count(),
    "check": repo.check().ok, "items": entity.items, "status_entity": entity.status,
}}))
"""


def _job_row(installation: Installation, job_id: int) -> tuple[str, str]:
    rows = installation.query(f"SELECT status, checkpoint FROM backups_job WHERE id = {job_id}")
    status, checkpoint = rows[0]
    return status, checkpoint if isinstance(checkpoint, str) else json.dumps(checkpoint)


def test_a_killed_worker_s_backup_resumes_and_completes_once(installation: Installation) -> None:
    files = 300
    with BoxSandbox() as sb:
        sb.start()
        tenant = seed_tenant(sb, users=1, files_per_user=files, size=2000)
        sb.faults.latency = 0.015  # slow enough that the kill lands mid-backup
        installation.env.update(
            BACKSTOP_SANDBOX="true",
            BACKSTOP_CHECKPOINT_SECONDS="1",
            BACKSTOP_JOB_LEASE_SECONDS="3",
            BACKSTOP_WORKER_THREADS="1",
        )
        installation.manage("migrate", "--noinput", "-v", "0")
        script = SETUP.format(
            settings=repr(tenant.connector_settings()),
            secrets=repr(tenant.secrets()),
            user=tenant.users[0].id,
        )
        ids = json.loads(installation.manage("shell", "-c", script).strip().splitlines()[-1])

        worker = installation.start("worker")
        try:
            deadline = time.monotonic() + 60
            while '"snapshots"' not in _job_row(installation, ids["job"])[1]:
                assert time.monotonic() < deadline, installation.log("worker")
                assert worker.poll() is None, installation.log("worker")
                time.sleep(0.1)
        finally:
            worker.kill()  # SIGKILL: no cleanup of any kind
            worker.wait()
        assert _job_row(installation, ids["job"])[0] == "running"

        time.sleep(3.5)  # the lease runs out
        swept = installation.manage("shell", "-c", "from backstop.backups.jobs import sweep; print(sweep())")
        assert str(ids["job"]) in swept
        worker = installation.start("worker")
        try:
            deadline = time.monotonic() + 120
            while _job_row(installation, ids["job"])[0] not in ("succeeded", "partial", "failed"):
                assert time.monotonic() < deadline, installation.log("worker")
                time.sleep(0.2)
        finally:
            assert _stop(worker) == 0
        report = json.loads(installation.manage("shell", "-c", REPORT.format(**ids)).strip().splitlines()[-1])

    assert report["status"] == "succeeded", installation.log("worker")
    assert report["attempts"] == 2
    assert report["snapshots"] == 1 and report["catalog_snapshots"] == 1
    assert report["check"] is True
    assert report["items"] == files and report["status_entity"] == "active"
    # What the checkpoint held was not downloaded again.
    assert report["result"]["downloaded"] < files


EXPORT_SETUP = """
import json
from backstop.backups import runner
from backstop.backups.export import seal_credentials, validate_destination
from backstop.backups.jobs import create
from backstop.backups.models import Entity, Job, Snapshot
from backstop.backups.recovery import Selection, selection_totals
from backstop.backups.services import backup_now, create_task, discover
from backstop.tenancy.models import Account
account = Account.objects.create(name="Acme", email="acme@example.test")
task = create_task(account, "box", "Box", connector_settings={settings}, secrets={secrets},
                   source_tenant="sandbox")
discover(task)
entity = Entity.objects.get(task=task, key="{user}")
(backup,) = backup_now([entity])
runner.run(backup.pk)
selection = Selection(entity.pk, Snapshot.objects.get(entity=entity).pk, folders=("",))
items, size = selection_totals(entity, selection)
destination = validate_destination({destination})
params = {{"selection": selection.as_params(), "label": "everything", "destination": destination,
          "sealed": seal_credentials(account.pk, {credentials}), "items_total": items,
          "bytes_total": size}}
job = create(Job.Kind.EXPORT, account.pk, task=task, entity=entity, params=params)
print(json.dumps({{"job": job.pk, "items": items}}))
"""


def test_a_killed_worker_s_export_to_object_storage_resumes_and_completes(
    installation: Installation, moto_s3: MotoS3
) -> None:
    files = 40  # of 4 MB: the worker is killed once the first ones are in the bucket
    bucket = moto_s3.new_bucket()
    with BoxSandbox() as sb:
        sb.start()
        tenant = seed_tenant(sb, users=1, files_per_user=files, size=4_000_000)
        installation.env.update(
            BACKSTOP_SANDBOX="true",
            BACKSTOP_CHECKPOINT_SECONDS="1",
            BACKSTOP_JOB_LEASE_SECONDS="3",
            BACKSTOP_WORKER_THREADS="1",
            BACKSTOP_EXPORT_PRIVATE_ENDPOINTS="true",  # moto listens on 127.0.0.1
        )
        installation.manage("migrate", "--noinput", "-v", "0")
        destination = {
            "kind": "s3_compatible",
            "bucket": bucket,
            "prefix": "exports",
            "endpoint": moto_s3.endpoint,
            "region": moto_s3.region,
        }
        credentials = {"access_key_id": moto_s3.access_key_id, "secret_access_key": moto_s3.secret_access_key}
        script = EXPORT_SETUP.format(
            settings=repr(tenant.connector_settings()),
            secrets=repr(tenant.secrets()),
            user=tenant.users[0].id,
            destination=repr(destination),
            credentials=repr(credentials),
        )
        ids = json.loads(installation.manage("shell", "-c", script).strip().splitlines()[-1])
        assert ids["items"] == files

        store = open_store(
            f"s3://{bucket}",
            {
                "endpoint": moto_s3.endpoint,
                "region": moto_s3.region,
                "access_key_id": moto_s3.access_key_id,
                "secret_access_key": moto_s3.secret_access_key,
            },
        )
        worker = installation.start("worker")
        try:
            deadline = time.monotonic() + 60
            while not [o for o in store.list("exports/") if o.key.endswith(".txt")]:
                assert time.monotonic() < deadline, installation.log("worker")
                assert worker.poll() is None, installation.log("worker")
                time.sleep(0.01)
        finally:
            worker.kill()  # SIGKILL, mid-export: some items are written
            worker.wait()
        assert _job_row(installation, ids["job"])[0] == "running", "the kill landed after the export"

        time.sleep(3.5)
        installation.manage("shell", "-c", "from backstop.backups.jobs import sweep; sweep()")
        worker = installation.start("worker")
        try:
            deadline = time.monotonic() + 120
            while _job_row(installation, ids["job"])[0] not in ("succeeded", "partial", "failed"):
                assert time.monotonic() < deadline, installation.log("worker")
                time.sleep(0.2)
        finally:
            assert _stop(worker) == 0
        rows = installation.query(f"SELECT status, attempts, result FROM backups_job WHERE id = {ids['job']}")
    status, attempts, result = rows[0]
    result = json.loads(result) if isinstance(result, str) else result
    assert status == "succeeded", installation.log("worker")
    assert attempts == 2 and result["items"] == files and result["failed"] == 0
    keys = [info.key for info in store.list("")]
    exported = [k for k in keys if k.startswith("exports/") and k.endswith(".txt")]
    assert len(exported) == files, "every item once, and nothing left of the resume's bookkeeping"
    assert "exports/manifest.csv" in keys and not [k for k in keys if ".backstop-export-" in k]
