"""What goes into a snapshot comes back out, bit for bit, on every store backend."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backstop.engine import Repository, Store
from tests.engine.helpers import folder_files, new_repo, snapshot_files

NAMES = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=12).filter(
    lambda n: n not in (".", "..")
)
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)
CONTENT = st.one_of(
    st.binary(max_size=2000),
    st.integers(300_000, 700_000).map(lambda n: bytes(itertools.islice(itertools.cycle(range(251)), n))),
)
TREES = st.dictionaries(PATHS, CONTENT, max_size=12)
counter = itertools.count()


def consistent(files: dict[str, bytes]) -> dict[str, bytes]:
    """Drop paths that would make an item also a folder (a/b and a/b/c)."""
    names = sorted(files)
    folders = {"/".join(p.split("/")[:i]) for p in names for i in range(1, p.count("/") + 1)}
    return {p: files[p] for p in names if p not in folders}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=TREES, second=TREES, gone=st.integers(0, 3))
def test_random_trees_round_trip_and_incremental(store: Store, first: dict, second: dict, gone: int) -> None:
    repo = new_repo(store) if not store.exists("config") else Repository.open(store, b"m" * 32)
    entity = f"entity-{next(counter)}"
    first = consistent(first)
    with repo.writer(entity, inherit=False) as writer:
        for path, data in first.items():
            writer.add(path, {"n": len(data)}, io.BytesIO(data))  # streams and bytes chunk alike
        one = writer.commit()
    assert snapshot_files(repo, one.snapshot_id) == first
    assert one.stats.new == len(first) and one.items == len(first)

    # An incremental on top: some changes, some deletions, the rest carried over unread.
    expected = dict(first)
    deleted = sorted(first)[:gone]
    with repo.writer(entity, parent=one.snapshot_id, inherit=True) as writer:
        for path in deleted:
            writer.delete(path)
            expected.pop(path)
        for path, data in consistent({**expected, **second}).items():
            if path in second and consistent({**expected, path: data}) == {**expected, path: data}:
                writer.add(path, {"n": len(data)}, data)
                expected[path] = data
        two = writer.commit()
    assert snapshot_files(repo, two.snapshot_id) == expected
    assert snapshot_files(repo, one.snapshot_id) == first  # the older snapshot is untouched


def test_restore_to_folder_on_every_backend(store: Store, tmp_path: Path) -> None:
    repo = new_repo(store)
    files = {
        "INBOX/1.eml": b"Subject: hi\r\n\r\nhello",
        "INBOX/big.bin": bytes(range(256)) * 5000,
        "Drive/a/b/c.txt": b"deep",
        "empty.txt": b"",
    }
    with repo.writer("box/alice", inherit=False) as writer:
        for path, data in files.items():
            writer.add(path, {}, data)
        snap = writer.commit().snapshot_id
    stats = repo.restore_to_folder(snap, tmp_path / "out")
    assert folder_files(tmp_path / "out") == files
    assert (stats.files, stats.bytes) == (4, sum(map(len, files.values())))
    # A sub-folder alone, and one item alone
    repo.restore_to_folder(snap, tmp_path / "part", "Drive/a")
    assert folder_files(tmp_path / "part") == {"b/c.txt": b"deep"}
    reopened = Repository.open(store, b"m" * 32)
    assert (
        reopened.open_item(snap, "INBOX/big.bin", 1000, 1010).read() == (bytes(range(256)) * 5000)[1000:1010]
    )
