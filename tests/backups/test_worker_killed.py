"""A worker SIGKILLed in the middle of a backup costs minutes, not the backup: the sweep puts the
job back, the next worker resumes from the checkpoint, and the run leaves one snapshot and a
clean repository. Real `backstop worker` processes, the Box sandbox over HTTP."""

from __future__ import annotations

import json
import time

import pytest

from backstop.sandbox.box import BoxSandbox
from tests.backups.sandbox import seed_tenant
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
