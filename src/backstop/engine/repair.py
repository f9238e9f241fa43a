"""`rebuild-index`: the index recreated from the packs' own headers, and repository stats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import format as fmt
from .errors import EngineError

if TYPE_CHECKING:
    from .repository import PackRecords, Repository

Progress = Callable[[int, int | None], None]
INDEX_OBJECT_BLOBS = 100_000


@dataclass(slots=True)
class RebuildReport:
    packs: int = 0
    blobs: int = 0
    unreadable: list[str] = field(default_factory=list)


def read_pack_header(repo: Repository, pack_id: str, size: int) -> bytes:
    """The pack's ENTRY records, read from its end without downloading its blobs."""
    key = fmt.pack_key(pack_id)
    trailer = repo.store.get_range(key, size - fmt.PACK_TRAILER.size, size)
    header_len, magic = fmt.PACK_TRAILER.unpack(trailer)
    if magic != fmt.PACK_MAGIC or header_len > size - fmt.PACK_TRAILER.size:
        raise EngineError(f"pack {pack_id} has no valid trailer")
    start = size - fmt.PACK_TRAILER.size - header_len
    sealed = repo.store.get_range(key, start, start + header_len)
    records: bytes = fmt.open_object(repo.crypto, fmt.KIND_PACK_HEADER, sealed, f"pack {pack_id}")
    if any(e.offset + e.length > start for e in fmt.iter_entries(records)):
        raise EngineError(f"pack {pack_id} lists a blob beyond its end")
    return records


def rebuild_index(repo: Repository, progress: Progress | None = None) -> RebuildReport:
    report = RebuildReport()
    old = [info.key for info in repo.store.list("index/")]
    stored = repo.store.list("data/")
    packs: list[PackRecords] = []
    for number, info in enumerate(stored, 1):
        pack_id = info.key.rsplit("/", 1)[-1]
        try:
            records = read_pack_header(repo, pack_id, info.size)
        except EngineError as exc:
            report.unreadable.append(f"{pack_id}: {exc}")
        else:
            packs.append((pack_id, records, info.size))
            report.packs += 1
            report.blobs += len(records) // fmt.ENTRY.size
        if progress:
            progress(number, len(stored))
    write_index_batches(repo, packs)
    for key in old:
        repo.store.delete(key)
    repo.forget_index()
    return report


@dataclass(frozen=True, slots=True)
class RepoStats:
    snapshots: int
    entities: int
    packs: int
    pack_bytes: int
    blobs: int
    raw_bytes: int


def stats(repo: Repository) -> RepoStats:
    names = repo.snapshot_names()
    stored = repo.store.list("data/")
    index = repo.index()
    raw = sum(location.raw_length for location in index)
    return RepoStats(
        snapshots=len(names),
        entities=len({n.tag for n in names}),
        packs=len(stored),
        pack_bytes=sum(i.size for i in stored),
        blobs=len(index),
        raw_bytes=raw,
    )


def write_index_batches(repo: Repository, packs: list[PackRecords]) -> int:
    """Index objects of at most about INDEX_OBJECT_BLOBS blobs each; returns how many."""
    batch: list[PackRecords] = []
    count = blobs = 0
    for pack_id, records, size in packs:
        batch.append((pack_id, records, size))
        blobs += len(records) // fmt.ENTRY.size
        if blobs >= INDEX_OBJECT_BLOBS:
            repo.write_index(batch)
            batch, blobs, count = [], 0, count + 1
    if batch:
        repo.write_index(batch)
        count += 1
    return count
