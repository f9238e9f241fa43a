"""Killed writers, and prunes beside running backups, lose nothing."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from backstop.engine import Repository, RetentionPolicy, open_store
from backstop.engine import format as fmt
from backstop.engine.prune import mark_live
from backstop.engine.repair import read_pack_header
from tests.engine.helpers import MASTER, new_repo, snapshot_files, write

ROOT = Path(__file__).resolve().parents[2]


def test_a_writer_killed_at_random_points_leaves_no_partial_snapshot(tmp_path: Path) -> None:
    url = (tmp_path / "repo").as_uri()
    new_repo(open_store(url))
    rng = random.Random(7)
    committed = 0
    for attempt in range(10):
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.engine.crash_writer", url, str(attempt)], cwd=ROOT
        )
        time.sleep(rng.uniform(0.2, 2.0))
        writer.send_signal(signal.SIGKILL)
        if writer.wait() == 0:
            committed += 1
        repo = Repository.open(open_store(url), MASTER)
        for snap in repo.snapshots():  # every visible snapshot is whole
            assert snap.items == 1500
            assert len(snapshot_files(repo, snap.id)) == 1500
        assert repo.check(read_data=1.0).ok
    assert committed < 10, "no writer was killed: the test proves nothing"
    repo = Repository.open(open_store(url), MASTER)
    before = repo.stats()
    report = repo.prune(grace=timedelta(0), session_timeout=timedelta(0))
    assert report.packs_deferred == 0
    assert report.packs_deleted > 0 or before.snapshots == 10
    live = mark_live(repo)[0]
    assert all(location.blob_id in live for location in repo.index()), "garbage survived the prune"
    after = repo.check(read_data=1.0)
    assert after.ok and after.unindexed_packs == 0
    assert repo.store.list("sessions/") == [] and repo.store.list("plans/") == []
    # A writer killed after writing its manifest but before exiting did commit.
    assert repo.stats().snapshots >= committed


def test_a_prune_does_not_delete_what_a_running_backup_reuses(tmp_path: Path) -> None:
    repo = new_repo(open_store((tmp_path / "repo").as_uri()))
    content = {f"INBOX/{n}.eml": random.Random(n).randbytes(20_000) for n in range(30)}
    write(repo, "imap/alice", content)
    repo.forget(RetentionPolicy(keep_last=0))  # every blob is now garbage...
    with repo.writer("imap/alice") as writer:
        for path, data in content.items():  # ...and a running backup reuses all of it
            writer.add(path, {}, data)
        assert writer.stats.blobs_new == 0
        during = repo.prune(grace=timedelta(0))
        assert during.packs_deleted == 0 and during.packs_deferred > 0
        snap = writer.commit().snapshot_id
    after = repo.prune(grace=timedelta(0))
    assert after.packs_deleted == 0  # the plan ran, but the packs are live again
    assert snapshot_files(repo, snap) == content
    assert repo.check(read_data=1.0).ok


def test_a_backup_started_after_a_plan_does_not_rely_on_planned_packs(tmp_path: Path) -> None:
    repo = new_repo(open_store((tmp_path / "repo").as_uri()))
    content = {f"f{n}": random.Random(n).randbytes(20_000) for n in range(10)}
    write(repo, "box/bob", content)
    repo.forget(RetentionPolicy(keep_last=0))
    with repo.writer("box/other") as blocker:  # keeps the plan from running at once
        blocker.add("x", {}, b"x")
        assert repo.prune(grace=timedelta(0)).packs_deferred > 0
        with repo.writer("box/bob") as writer:
            for path, data in content.items():
                writer.add(path, {}, data)
            assert writer.stats.blobs_new == len(content)  # rewritten, not deduplicated
            snap = writer.commit().snapshot_id
        blocker.commit()
    assert repo.prune(grace=timedelta(0)).packs_deleted > 0
    assert snapshot_files(repo, snap) == content
    assert repo.check(read_data=1.0).ok


def test_prunes_running_throughout_a_stream_of_backups_lose_nothing(tmp_path: Path) -> None:
    url = (tmp_path / "repo").as_uri()
    new_repo(open_store(url))
    shared = [random.Random(n).randbytes(8_000) for n in range(50)]
    done = threading.Event()
    snapshots: dict[str, dict[str, bytes]] = {}

    def backups() -> None:
        writer_repo = Repository.open(open_store(url), MASTER)
        try:
            for round_ in range(12):
                files = {f"r{round_}/{n}": shared[(n + round_) % 50] for n in range(25)}
                files[f"r{round_}/own"] = random.Random(1000 + round_).randbytes(30_000)
                snapshots[write(writer_repo, f"e{round_ % 3}", files)] = files
                if round_ % 4 == 3:
                    writer_repo.forget(RetentionPolicy(keep_last=1))
        finally:
            done.set()

    thread = threading.Thread(target=backups)
    thread.start()
    pruner = Repository.open(open_store(url), MASTER)
    while not done.is_set():
        pruner.prune(grace=timedelta(0))
    thread.join()
    pruner.prune(grace=timedelta(0))
    reader = Repository.open(open_store(url), MASTER)
    remaining = reader.snapshots()
    assert remaining
    for snap in remaining:
        assert snapshot_files(reader, snap.id) == snapshots[snap.id]
    assert reader.check(read_data=1.0).ok


def test_erase_then_prune_removes_an_item_for_good(tmp_path: Path) -> None:
    repo = new_repo(open_store((tmp_path / "repo").as_uri()))
    secret = random.Random(1).randbytes(30_000)
    kept = {f"INBOX/{n}.eml": random.Random(100 + n).randbytes(5_000) for n in range(20)}
    first = write(repo, "imap/carol", {**kept, "INBOX/secret.eml": secret})
    with repo.writer("imap/carol", parent=first) as writer:
        writer.add("INBOX/new.eml", {}, b"later mail")
        writer.commit()
    secret_id = repo.crypto.blob_id(secret)
    report = repo.erase("imap/carol", ["INBOX/secret.eml"])
    assert (report.snapshots_rewritten, report.items_erased) == (2, 2)
    pruned = repo.prune(grace=timedelta(0))
    assert pruned.packs_repacked > 0
    for info in repo.store.list("data/"):
        records = read_pack_header(repo, info.key.rsplit("/", 1)[-1], info.size)
        assert secret_id not in {entry.blob_id for entry in fmt.iter_entries(records)}
    for snap in repo.snapshots("imap/carol"):
        files = snapshot_files(repo, snap.id)
        assert "INBOX/secret.eml" not in files
        assert {k: v for k, v in files.items() if k in kept} == kept
    assert repo.check(read_data=1.0).ok
    assert repo.store.list("erasures/") == []


def test_a_backup_inheriting_from_a_snapshot_forgotten_meanwhile_keeps_its_data(tmp_path: Path) -> None:
    repo = new_repo(open_store((tmp_path / "repo").as_uri()))
    content = {f"Archive/{n}.eml": random.Random(n).randbytes(20_000) for n in range(10)}
    parent = write(repo, "imap/dave", content)
    with repo.writer("imap/dave", parent=parent) as writer:  # carries Archive/ over by reference
        writer.add("INBOX/new.eml", {}, b"new mail")
        repo.forget(RetentionPolicy(keep_last=0))  # the parent goes while the backup runs
        during = repo.prune(grace=timedelta(0))
        assert during.packs_deleted == 0
        snap = writer.commit().snapshot_id
    repo.prune(grace=timedelta(0))
    assert snapshot_files(repo, snap) == {**content, "INBOX/new.eml": b"new mail"}
    assert repo.check(read_data=1.0).ok
    assert repo.store.list("forgets/") == []  # no writer is older than the forget any more


def test_erase_takes_effect_even_within_the_grace_period(tmp_path: Path) -> None:
    repo = new_repo(open_store((tmp_path / "repo").as_uri()))
    secret = random.Random(5).randbytes(10_000)
    write(repo, "imap/erin", {"a.eml": random.Random(6).randbytes(10_000), "secret.eml": secret})
    repo.erase("imap/erin", ["secret.eml"])
    report = repo.prune()  # default grace: one hour, and every pack here is seconds old
    assert report.packs_repacked > 0
    secret_id = repo.crypto.blob_id(secret)
    for info in repo.store.list("data/"):
        records = read_pack_header(repo, info.key.rsplit("/", 1)[-1], info.size)
        assert secret_id not in {entry.blob_id for entry in fmt.iter_entries(records)}
    assert repo.check(read_data=1.0).ok


def test_young_unused_packs_wait_for_the_grace_period_and_are_counted(tmp_path: Path) -> None:
    repo = new_repo(open_store((tmp_path / "repo").as_uri()))
    write(repo, "box/frank", {f"f{n}": random.Random(n).randbytes(20_000) for n in range(5)})
    repo.forget(RetentionPolicy(keep_last=0))
    report = repo.prune()  # one hour of grace: nothing is old enough yet
    assert report.packs_deleted == 0 and report.packs_too_young > 0
    assert repo.prune(grace=timedelta(0)).packs_deleted == report.packs_too_young
