"""Damage is found and reported with what it affects; wrong bytes are never returned."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from backstop.engine import (
    BlobMissing,
    IntegrityError,
    Repository,
    RepositoryNotFound,
    RetryPolicy,
    StoreUnavailable,
    UnsupportedFormat,
    WrongKey,
    open_store,
)
from tests.engine.helpers import MASTER, new_repo, pack_files, snapshot_files, write

FILES = {f"INBOX/{n}.eml": random.Random(n).randbytes(2000 + 50 * n) for n in range(40)}


@pytest.fixture
def repo_on_disk(tmp_path: Path) -> tuple[Repository, Path, str]:
    root = tmp_path / "repo"
    repo = new_repo(open_store(root.as_uri()), pack_size=16 * 1024)
    snap = write(repo, "imap/alice", FILES)
    return repo, root, snap


def fresh(root: Path) -> Repository:
    return Repository.open(open_store(root.as_uri()), MASTER)


def data_pack(root: Path) -> Path:
    """A pack holding file content (the biggest), not only trees."""
    return max(pack_files(root), key=lambda p: p.stat().st_size)


def test_a_healthy_repository_checks_clean(repo_on_disk: tuple[Repository, Path, str]) -> None:
    repo, _, _ = repo_on_disk
    report = repo.check(read_data=1.0)
    assert report.ok and report.snapshots_checked == 1 and report.packs_checked > 1


def test_a_flipped_byte_is_caught_and_names_the_items(repo_on_disk: tuple[Repository, Path, str]) -> None:
    _, root, snap = repo_on_disk
    pack = data_pack(root)
    data = bytearray(pack.read_bytes())
    data[40] ^= 0x01
    pack.write_bytes(bytes(data))
    repo = fresh(root)
    assert repo.check().ok  # a metadata check cannot see inside packs...
    report = repo.check(read_data=1.0)  # ...reading the data does
    assert not report.ok
    problem = report.problems[0]
    assert problem.kind == "pack-corrupt" and problem.snapshots == [snap]
    assert problem.items and all(item.startswith("INBOX/") for item in problem.items)
    with pytest.raises(IntegrityError):
        snapshot_files(repo, snap)  # reading the damaged item fails loudly


def test_a_truncated_pack_is_caught_without_reading_data(repo_on_disk: tuple[Repository, Path, str]) -> None:
    _, root, snap = repo_on_disk
    pack = data_pack(root)
    pack.write_bytes(pack.read_bytes()[: pack.stat().st_size // 2])
    repo = fresh(root)
    report = repo.check()
    assert [p.kind for p in report.problems] == ["pack-truncated"]
    assert report.problems[0].snapshots == [snap] and report.problems[0].items
    with pytest.raises(IntegrityError):
        snapshot_files(repo, snap)


def test_a_missing_pack_is_caught(repo_on_disk: tuple[Repository, Path, str]) -> None:
    _, root, snap = repo_on_disk
    data_pack(root).unlink()
    repo = fresh(root)
    report = repo.check()
    assert [p.kind for p in report.problems] == ["pack-missing"]
    assert report.problems[0].snapshots == [snap]
    with pytest.raises(BlobMissing):
        snapshot_files(repo, snap)


def test_a_missing_index_is_caught_and_rebuilt_from_the_packs(
    repo_on_disk: tuple[Repository, Path, str],
) -> None:
    _, root, snap = repo_on_disk
    for index in (root / "index").iterdir():
        index.unlink()
    repo = fresh(root)
    report = repo.check()
    assert not report.ok and report.problems[0].kind == "blob-not-indexed"
    assert report.problems[0].snapshots == [snap] and report.unindexed_packs > 0
    rebuilt = repo.rebuild_index()
    assert rebuilt.unreadable == [] and rebuilt.blobs >= len(FILES)
    repo = fresh(root)
    assert repo.check(read_data=1.0).ok
    assert snapshot_files(repo, snap) == FILES


def test_the_wrong_master_key_opens_nothing(repo_on_disk: tuple[Repository, Path, str]) -> None:
    _, root, _ = repo_on_disk
    before = sorted(p.name for p in root.rglob("*"))
    with pytest.raises(WrongKey, match="master key does not open"):
        Repository.open(open_store(root.as_uri()), b"w" * 32)
    assert sorted(p.name for p in root.rglob("*")) == before


def test_rotating_the_master_key_rewraps_without_touching_data(
    repo_on_disk: tuple[Repository, Path, str],
) -> None:
    repo, root, snap = repo_on_disk
    packs = {p: p.read_bytes() for p in pack_files(root)}
    repo.rotate_master_key(b"n" * 32)
    with pytest.raises(WrongKey):
        Repository.open(open_store(root.as_uri()), MASTER)
    reopened = Repository.open(open_store(root.as_uri()), b"n" * 32)
    assert snapshot_files(reopened, snap) == FILES
    assert {p: p.read_bytes() for p in pack_files(root)} == packs


def test_an_unknown_format_version_is_refused(repo_on_disk: tuple[Repository, Path, str]) -> None:
    _, root, _ = repo_on_disk
    config = json.loads((root / "config").read_text())
    (root / "config").write_text(json.dumps({**config, "version": 9}))
    with pytest.raises(UnsupportedFormat, match="version 9"):
        Repository.open(open_store(root.as_uri()), MASTER)


def test_an_unknown_object_version_is_refused(repo_on_disk: tuple[Repository, Path, str]) -> None:
    _, root, _ = repo_on_disk
    manifest = next((root / "snapshots").rglob("*_*"))
    data = bytearray(manifest.read_bytes())
    data[3] = 7
    manifest.write_bytes(bytes(data))
    repo = fresh(root)
    report = repo.check()
    assert [p.kind for p in report.problems] == ["snapshot-corrupt"]
    assert "version 7" in report.problems[0].message


def test_no_repository_and_an_unreachable_store_say_so(tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFound, match="no repository"):
        Repository.open(open_store((tmp_path / "empty").as_uri()), MASTER)
    store = open_store(
        "s3://backups/acme",
        {"endpoint": "http://127.0.0.1:9", "access_key_id": "x", "secret_access_key": "y"},
        retry=RetryPolicy(attempts=2, first_delay=0.01),
    )
    with pytest.raises(StoreUnavailable, match=r"s3://backups/acme"):
        Repository.open(store, MASTER)
