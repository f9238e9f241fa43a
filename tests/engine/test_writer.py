"""Snapshot writing: what the stats say, what is carried over unread, and bounded memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from backstop.engine import EngineError, ItemNotFound, PathError, open_store
from tests.engine.helpers import new_repo, snapshot_files, write

MAIL = {
    "INBOX/1.eml": b"one",
    "INBOX/2.eml": b"two",
    "Archive/2023/3.eml": b"three",
    "Archive/2023/4.eml": b"four",
}


def test_an_incremental_counts_changes_and_keeps_untouched_folders_by_reference() -> None:
    repo = new_repo(open_store("memory://"))
    first = write(repo, "imap/alice", MAIL, inherit=False)
    with repo.writer("imap/alice", parent=first) as writer:
        writer.add("INBOX/2.eml", {"size": 3}, b"TWO")  # changed
        writer.add("INBOX/5.eml", {"size": 4}, b"five")  # new
        writer.delete("INBOX/1.eml")  # deleted
        result = writer.commit()
    stats = result.stats
    assert (stats.new, stats.changed, stats.deleted, stats.unchanged) == (1, 1, 1, 2)
    assert result.items == 4 and stats.bytes_read == 7
    # The untouched folder is the very same tree: nothing under it was read or written again.
    assert repo.entry(first, "Archive").tree == repo.entry(result.snapshot_id, "Archive").tree
    assert snapshot_files(repo, result.snapshot_id) == {
        "INBOX/2.eml": b"TWO",
        "INBOX/5.eml": b"five",
        "Archive/2023/3.eml": b"three",
        "Archive/2023/4.eml": b"four",
    }


def test_a_full_listing_keeps_what_it_names_and_drops_the_rest() -> None:
    repo = new_repo(open_store("memory://"))
    first = write(repo, "box/bob", MAIL, inherit=False)
    with repo.writer("box/bob", parent=first, inherit=False) as writer:
        writer.keep("INBOX/1.eml")
        writer.keep_folder("Archive")
        writer.add("INBOX/9.eml", {}, b"nine")
        result = writer.commit()
    stats = result.stats
    assert (stats.new, stats.unchanged, stats.deleted, stats.changed) == (1, 3, 1, 0)
    assert set(snapshot_files(repo, result.snapshot_id)) == {
        "INBOX/1.eml",
        "INBOX/9.eml",
        "Archive/2023/3.eml",
        "Archive/2023/4.eml",
    }
    assert stats.bytes_read == 4  # kept items were not read


def test_unchanged_content_is_stored_once() -> None:
    repo = new_repo(open_store("memory://"))
    first = write(repo, "a", {"x": b"same" * 1000, "y": b"same" * 1000}, inherit=False)
    with repo.writer("a", parent=first) as writer:
        writer.add("z", {}, b"same" * 1000)
        result = writer.commit()
    assert result.stats.blobs_new == 1  # only the changed root tree
    assert result.stats.new == 1


def test_bad_paths_and_keeps_are_refused_clearly() -> None:
    repo = new_repo(open_store("memory://"))
    first = write(repo, "a", MAIL, inherit=False)
    with repo.writer("a", parent=first) as writer:
        for bad in ("", "a/../b", "./x", "a\0b"):
            with pytest.raises(PathError):
                writer.add(bad, {}, b"x")
        with pytest.raises(ItemNotFound, match="no such item"):
            writer.keep("INBOX/404.eml")
        with pytest.raises(ItemNotFound, match="no such folder"):
            writer.keep_folder("INBOX/1.eml")
        with pytest.raises(TypeError, match="metadata"):
            writer.add("INBOX/x", {"when": object()}, b"x")
        writer.commit()
    with pytest.raises(EngineError, match="already committed"):
        writer.add("more", {}, b"x")


def test_an_aborted_writer_leaves_no_snapshot() -> None:
    repo = new_repo(open_store("memory://"))
    with pytest.raises(RuntimeError), repo.writer("a") as writer:
        writer.add("x", {}, b"data" * 10_000)
        raise RuntimeError("the source API died")
    assert repo.snapshots() == []
    assert repo.store.list("sessions/") == []
    assert repo.check().ok


def test_memory_stays_bounded_for_a_huge_item() -> None:
    repo = new_repo(open_store("memory://"), pack_size=4 * 1024 * 1024)
    size = 256 * 1024 * 1024

    def stream() -> Iterator[bytes]:
        for n in range(size // (1024 * 1024)):
            yield n.to_bytes(8) * (128 * 1024)  # 1 MiB parts, never all at once

    tracemalloc.start()
    try:
        with repo.writer("big") as writer:
            writer.add("disk.img", {}, stream())
            result = writer.commit()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.size == size
    # Python-side buffers only (the memory store keeps its bytes in Rust, untraced): queues and packs.
    assert peak < 96 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB item"
    with repo.open_item(result.snapshot_id, "disk.img", 200 * 1024 * 1024, 200 * 1024 * 1024 + 16) as item:
        assert item.read() == (200).to_bytes(8) * 2


def test_relink_moves_an_item_and_changes_its_metadata_without_reading_it() -> None:
    repo = new_repo(open_store("memory://"))
    first = write(repo, "box/bob", MAIL, inherit=False)
    with repo.writer("box/bob", parent=first) as writer:
        assert writer.parent_meta("INBOX/1.eml") == {"size": 3}
        assert writer.parent_meta("INBOX/none.eml") is None and writer.parent_meta("Nope/x") is None
        writer.relink("INBOX/1.eml", "Moved/1.eml", {"flags": ["\\Seen"]})
        writer.delete("INBOX/1.eml")
        writer.relink("INBOX/2.eml", "INBOX/2.eml", {"flags": ["\\Flagged"]})
        with pytest.raises(ItemNotFound):
            writer.relink("INBOX/404.eml", "INBOX/x.eml", {})
        result = writer.commit()
    assert result.stats.bytes_read == 0  # only new trees were written
    files = snapshot_files(repo, result.snapshot_id)
    assert files["Moved/1.eml"] == b"one" and "INBOX/1.eml" not in files
    assert repo.entry(result.snapshot_id, "INBOX/2.eml").meta == {"flags": ["\\Flagged"]}


def test_a_folder_deleted_and_written_again_starts_empty() -> None:
    repo = new_repo(open_store("memory://"))
    first = write(repo, "box/bob", MAIL, inherit=False)
    with repo.writer("box/bob", parent=first) as writer:
        writer.delete("Archive")
        writer.add("Archive/new.txt", {}, b"new")
        # What sat in the deleted folder can still be carried from the parent to a new place.
        writer.relink("Archive/2023/3.eml", "Kept/3.eml", {})
        second = writer.commit().snapshot_id
    assert snapshot_files(repo, second) == {
        "INBOX/1.eml": b"one",
        "INBOX/2.eml": b"two",
        "Archive/new.txt": b"new",
        "Kept/3.eml": b"three",
    }
