"""IMAP restore: a mailbox of seeded messages backed up by the pipeline, then restored whole into
the same private Dovecot, two ways, each into a folder of its own:

- the connector path: the whole snapshot's `recovery.resolve` rows, turned into `RestoreItem`s
  exactly as `RestoreRun` builds them (content opened from the repository, the same target
  path), given to `ImapConnector.restore` in 10 rounds, each right after an anchor round of
  the same number of messages: both sides see the same moments of the server, whose speed
  drifts on a shared machine (the APPENDs fsync). This ratio is the robust one.
- the job path: `request_restore`, then `runner.run` as a worker runs it (`RestoreRun` with its
  checkpoints and the job's heartbeat), compared with the anchor run whole before the
  connector path and after the job (the mean of the two): noisier.

Anchor: a bare imapclient loop appending the same bytes, one APPEND a message (with the flags, none,
and an internal date, as the restore sends them), into another folder of the same mailbox.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from backup_pipeline import imap_bench

ROUNDS = 10
# What the restore sends for these messages: they were appended without flags (unread), and the
# backup keeps them so. (Unread messages land in the Maildir's new/, which matters to Dovecot.)
FLAGS: tuple[bytes, ...] = ()


@dataclass
class Way:
    """One way of restoring: wall and CPU seconds, messages restored and found in the folder."""

    seconds: float = 0.0
    cpu: float = 0.0
    restored: int = 0
    in_folder: int = 0
    folder: str = ""
    status: str = ""
    error: str = ""

    @property
    def rate(self) -> float:
        return self.restored / self.seconds if self.seconds else 0.0


@dataclass
class RestoreFigures:
    messages: int = 0
    bytes: int = 0
    fill_s: float = 0.0
    backup_s: float = 0.0
    fsync: str = "Dovecot's default (optimized)"
    anchor_runs: list[float] = field(default_factory=list)  # seconds of each anchor run
    anchor_s: float = 0.0  # mean of the runs
    anchor_cpu: float = 0.0
    anchor_in_folder: int = 0
    rounds_anchor_s: float = 0.0  # the anchor's rounds interleaved with the connector path's
    rounds_anchor_cpu: float = 0.0
    connector: Way = field(default_factory=Way)
    job: Way = field(default_factory=Way)
    errors: list[str] = field(default_factory=list)
    snapshot_pk: int = 0  # the backed-up mailbox, exported afterwards

    @property
    def anchor_rate(self) -> float:
        return self.messages / self.anchor_s if self.anchor_s else 0.0


def anchor(host: str, port: int, user: str, password: str, source: list[bytes], folder: str) -> int:
    """One APPEND a message, as bare as imapclient allows."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with imap_bench._client(host, port, user, password) as client:
        client.create_folder(folder)
        for raw in source:
            client.append(folder, raw, flags=FLAGS, msg_time=when)
        return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])


def dovecot_class(fsync: bool) -> Any:
    from tests.connectors.dovecot import Dovecot

    if fsync:
        return Dovecot

    class NoFsync(Dovecot):
        """Dovecot never fsyncs: the server's cost is its CPU alone, so ours shows more."""

        def _write_config(self) -> None:
            super()._write_config()
            with self.conf.open("a") as conf:
                conf.write("mail_fsync = never\n")

    return NoFsync


def settle() -> None:
    """Written data out to disk before a timed phase, so that no phase pays for the writeback of
    the one before it."""
    os.sync()
    time.sleep(1)


def count_in(host: str, port: int, user: str, password: str, prefix: str) -> tuple[str, int]:
    """The restored INBOX under `prefix` and how many messages it holds."""
    with imap_bench._client(host, port, user, password) as client:
        names = [str(name) for _, _, name in client.list_folders()]
        found = [name for name in names if name.startswith(prefix) and name.endswith("INBOX")]
        if not found:
            return "", 0
        return found[0], int(client.folder_status(found[0], [b"MESSAGES"])[b"MESSAGES"])


def run(
    work: Path,
    n: int,
    seed: int,
    log: Callable[[str], None],
    measured: Callable[..., Any],
    fsync: bool = True,
) -> RestoreFigures:
    from backup_pipeline import env
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from backstop.backups import runner
    from backstop.backups.connections import connector_for
    from backstop.backups.models import Entity, Job, Snapshot
    from backstop.backups.recovery import Selection, resolve
    from backstop.backups.recovery_jobs import RestoreTarget, request_restore
    from backstop.backups.repos import open_repository
    from backstop.backups.restore import target_path
    from backstop.backups.services import backup_now
    from backstop.connectors.base import EntityInfo, RestoreItem, RestoreOptions
    from backstop.tenancy.models import Membership
    from backstop.tenancy.scoping import account_access

    figures = RestoreFigures()
    if not fsync:
        figures.fsync = "never (mail_fsync = never)"
    source = list(imap_bench.messages(work, n, seed, log))
    figures.messages, figures.bytes = len(source), sum(len(m) for m in source)
    dovecot = dovecot_class(fsync)(root=work / "dovecot").start()
    try:
        user, password = dovecot.new_user()
        host, port = dovecot.host, dovecot.port
        t0 = time.perf_counter()
        imap_bench.fill(host, port, user, password, iter(source))
        figures.fill_s = time.perf_counter() - t0
        log(f"restore: {n:,} messages ({figures.bytes / 1e6:.0f} MB) in INBOX; backing it up")

        account = env.account("IMAP restore bench")
        task = create_imap_task(account, host, port, user, password)
        entity = Entity.objects.get(task=task)
        (job,) = backup_now([entity])
        t0 = time.perf_counter()
        runner.run(job.pk)
        figures.backup_s = time.perf_counter() - t0
        job.refresh_from_db()
        if job.status != Job.Status.SUCCEEDED:
            figures.errors.append(f"imap backup {job.status}: {job.error}")
            return figures
        snapshot = Snapshot.objects.get(entity=entity)
        figures.snapshot_pk = snapshot.pk
        selection = Selection(entity.pk, snapshot.pk, folders=("",))
        options = RestoreOptions(mode="new")

        def run_anchor(number: int) -> None:
            log(f"restore: anchor, run {number} of 2 (bare APPEND loop)")
            settle()
            cpu0, t0 = time.process_time(), time.perf_counter()
            figures.anchor_in_folder = anchor(host, port, user, password, source, f"Anchor{number}")
            figures.anchor_runs.append(time.perf_counter() - t0)
            figures.anchor_cpu += (time.process_time() - cpu0) / 2
            spent = figures.anchor_runs[-1]
            log(f"restore: anchor {spent:.1f} s, {n / spent:.0f} messages/s")

        # The server's speed drifts (its fsyncs share the disk): the anchor runs before and after
        # both restores, and its time is the mean of the two.
        run_anchor(1)
        log(f"restore: connector path interleaved with the anchor, {ROUNDS} rounds")
        repo = open_repository(account, create=False)
        target = {"entity": entity.pk, "folder": "Connector", "mode": "new", "restored_folder": ""}
        # Read whole first (untimed, ~0.1 s): no statement stays open while the restore writes.
        picked = list(resolve(entity, selection))
        snapshots = {sid: repo.snapshot(sid) for sid in {s.snapshot_id for s in picked}}  # as RestoreRun
        items = [
            RestoreItem(
                s.item, partial(repo.open_item, snapshots[s.snapshot_id], s.row.path), target_path(s, target)
            )
            for s in picked
        ]
        info = EntityInfo(entity.key, entity.name, entity.email, entity.kind)
        way = figures.connector
        outcomes: list[Any] = []
        when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        settle()
        with connector_for(task) as connector, imap_bench._client(host, port, user, password) as bare:
            bare.create_folder("AnchorRounds")
            for r in range(ROUNDS):
                low, high = r * n // ROUNDS, (r + 1) * n // ROUNDS
                cpu0, t0 = time.process_time(), time.perf_counter()
                for raw in source[low:high]:
                    bare.append("AnchorRounds", raw, flags=FLAGS, msg_time=when)
                figures.rounds_anchor_s += time.perf_counter() - t0
                figures.rounds_anchor_cpu += time.process_time() - cpu0
                cpu0, t0 = time.process_time(), time.perf_counter()
                outcomes += measured(
                    f"imap_restore_connector_{r}",
                    lambda c=items[low:high]: list(connector.restore(info, c, options)),
                )
                way.seconds += time.perf_counter() - t0
                way.cpu += time.process_time() - cpu0
        way.restored = sum(1 for o in outcomes if o.status == "restored")
        failed = [o for o in outcomes if o.status != "restored"]
        way.status = "ok" if not failed else f"{len(failed)} not restored"
        way.folder, way.in_folder = count_in(host, port, user, password, "Connector")
        if failed or way.in_folder != n:
            way.error = f"{way.restored} restored, {way.in_folder} in {way.folder!r}" + (
                f"; first failure: {failed[0].message}" if failed else ""
            )
            figures.errors.append(f"connector restore: {way.error}, expected {n}")
        log(
            f"restore: connector path {way.seconds:.1f} s ({way.rate:.0f} messages/s), its anchor rounds "
            f"{figures.rounds_anchor_s:.1f} s ({n / figures.rounds_anchor_s:.0f} messages/s)"
        )

        person = get_user_model().objects.create_user(email="restorer@example.test", password="bench-only-1")
        Membership.objects.create(user=person, account=account, role=Membership.Role.ADMIN)
        request = RequestFactory().post("/", HTTP_USER_AGENT="bench", REMOTE_ADDR="127.0.0.1")
        request.user = person
        access = account_access(person, account)
        assert access is not None
        restore_job = request_restore(request, access, selection, RestoreTarget(entity.pk, folder="Job"))
        log("restore: job path (request_restore, runner.run: RestoreRun)")
        way = figures.job
        settle()
        cpu0, t0 = time.process_time(), time.perf_counter()
        measured("imap_restore_job", runner.run, restore_job.pk)
        way.seconds, way.cpu = time.perf_counter() - t0, time.process_time() - cpu0
        restore_job.refresh_from_db()
        way.status = restore_job.status
        way.restored = int((restore_job.result or {}).get("restored") or 0)
        way.folder, way.in_folder = count_in(host, port, user, password, "Job")
        if restore_job.status != Job.Status.SUCCEEDED or way.in_folder != n:
            way.error = (
                f"{restore_job.get_status_display()} after {way.restored:,} of {n:,} messages "
                f"({way.seconds:.1f} s): {restore_job.error}"
            )
            figures.errors.append(f"restore job: {way.error}")
        log(f"restore: job path {way.seconds:.1f} s, {way.restored:,} restored, {way.status}")
        run_anchor(2)
        figures.anchor_s = sum(figures.anchor_runs) / len(figures.anchor_runs)
    finally:
        dovecot.cleanup()
    return figures


def create_imap_task(account: Any, host: str, port: int, user: str, password: str) -> Any:
    from backstop.backups.services import create_task, discover

    task = create_task(
        account,
        "imap",
        "IMAP restore bench",
        connector_settings={
            "host": host,
            "port": port,
            "security": "none",
            "auth": "password",
            "username": user,
            "timeout": 60,
        },
        secrets={"password": password},
    )
    discover(task)
    return task
