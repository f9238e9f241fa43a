"""`backstop recovery` for operators: the same reads as the Recovery page, and a restore into a
local folder that keeps the bytes and dates and never leaves the folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import LazySettings

from backstop import cli
from backstop.audit.models import AuditEvent
from backstop.backups.models import CatalogItem, Snapshot
from backstop.sandbox.box import BoxSandbox
from tests.backups.sandbox import backed_up, entity_of, live_files, seed_tenant
from tests.conftest import Personas

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sandbox_on(settings: LazySettings) -> None:
    settings.BACKSTOP_SANDBOX = True


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["recovery", *args])
    return code, capsys.readouterr().out


def test_operator_lists_finds_and_restores_to_a_folder(
    personas: Personas, box_sandbox: BoxSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=6)
    user = tenant.users[0]
    entity = backed_up(entity_of(tenant.task(personas.a), user))
    files = live_files(tenant, user.login)
    tenant.state.delete(files["Documents/file-001.txt"])
    backed_up(entity)
    first = Snapshot.objects.filter(entity=entity).order_by("time").first()
    assert first is not None

    code, out = run(capsys, "entities", "--account", str(personas.a.pk))
    assert code == 0 and user.login in out and str(entity.pk) in out
    code, out = run(capsys, "snapshots", str(entity.pk))
    assert code == 0 and first.snapshot_id[:12] in out and len(out.strip().splitlines()) == 3

    # The folder as it was at the first snapshot still has the file deleted since.
    code, out = run(capsys, "ls", str(entity.pk), first.snapshot_id[:12], "Documents")
    assert code == 0 and "file-001.txt" in out and "Projects ü/" in out
    code, out = run(capsys, "ls", str(entity.pk), "latest", "Documents")
    assert "file-001.txt" not in out

    code, out = run(capsys, "find", str(entity.pk), "file-001")
    row = CatalogItem.objects.get(entity=entity, path="Documents/file-001.txt")
    assert code == 0 and str(row.pk) in out

    target = tmp_path / "restores" / "out"
    code, out = run(capsys, "restore", str(entity.pk), "--to", str(target), "--item", str(row.pk))
    assert code == 0 and "1 items written" in out
    restored = target / "Documents" / "file-001.txt"
    assert restored.read_bytes() == files["Documents/file-001.txt"].current.blob.read()
    assert row.modified is not None and os.stat(restored).st_mtime == row.modified.timestamp()

    # Again, the whole first snapshot: nothing is overwritten, everything lands inside `target`.
    code, out = run(
        capsys,
        "restore",
        str(entity.pk),
        "--to",
        str(target),
        "--snapshot",
        first.snapshot_id[:12],
        "--folder",
        "",
    )
    assert code == 0 and "6 items written" in out
    assert (target / "Documents" / "file-001 (2).txt").read_bytes() == restored.read_bytes()
    every = [p for p in (tmp_path / "restores").rglob("*") if p.is_file()]
    assert len(every) == 7 and all(target in p.parents for p in every)
    assert AuditEvent.objects.filter(account=personas.a, activity="restore_requested").count() == 2

    code, _ = run(capsys, "ls", "999999")
    assert code == 1
