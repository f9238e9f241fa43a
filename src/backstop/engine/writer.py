"""Writing one snapshot of one entity.

Items come in one at a time; their content is chunked, hashed and handed to the packer's
threads, and a compact record is appended to the folder it belongs to. Folders not touched are
never read: with `inherit=True` (the change-feed case) the new snapshot is the parent plus the
changes, and an untouched folder keeps its tree id. `commit` writes the trees bottom-up, waits
for every pack, writes the index, and writes the manifest last: a snapshot exists only once all
of its data does.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import msgpack

from . import format as fmt
from .chunking import Chunker, Content
from .errors import EngineError, ItemNotFound, PathError
from .index import PENDING, BlobIndex
from .packer import Packer
from .sessions import SessionMarker
from .tree import (
    FOLDER,
    canonical,
    encode_tree,
    file_record,
    find_record,
    folder_record,
    record_items,
    split_path,
)

if TYPE_CHECKING:
    from .repository import PackRecords, Repository

INDEX_EVERY_BLOBS = 100_000
INDEX_EVERY_PACKS = 8


@dataclass(slots=True)
class SnapshotStats:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    bytes_read: int = 0
    bytes_stored: int = 0
    blobs_new: int = 0
    packs_written: int = 0


@dataclass(frozen=True, slots=True)
class CommitResult:
    snapshot_id: str
    stats: SnapshotStats
    items: int
    size: int


class _Folder:
    __slots__ = ("added", "base", "children", "kept", "kept_folders", "meta", "removed")

    def __init__(self, base: bytes | None) -> None:
        self.base = base  # the same folder's tree in the parent snapshot
        self.added = bytearray()  # msgpack records, in arrival order
        self.children: dict[str, _Folder] = {}
        self.removed: set[str] = set()
        self.kept: set[str] = set()
        self.kept_folders: set[str] = set()
        self.meta: dict[str, Any] | None = None


class SnapshotWriter:
    def __init__(
        self,
        repo: Repository,
        entity: str,
        *,
        parent: str | None = None,
        inherit: bool = True,
        meta: Mapping[str, Any] | None = None,
        time: datetime | None = None,
        workers: int = 2,
    ) -> None:
        if not entity:
            raise EngineError("a snapshot needs an entity name")
        self.repo, self.entity, self.inherit = repo, entity, inherit
        self.meta = canonical(meta or {})
        self.time = (time or datetime.now(UTC)).astimezone(UTC)
        self.parent = repo.snapshot(parent) if parent else None
        if self.parent and self.parent.entity != entity:
            raise EngineError(f"parent snapshot {self.parent.short_id} belongs to another entity")
        self.stats = SnapshotStats()
        self._crypto = repo.crypto
        self._chunker = Chunker(repo.crypto.keys.chunker_seed)
        # The marker goes first: a prune that plans deletions after this point waits for us.
        self._marker = SessionMarker(repo.store, "backup")  # no entity name: keys stay private
        self._session = BlobIndex()
        try:
            from .prune import doomed_packs

            repo.forget_index()  # read after the marker exists, so a prune planning now waits for us
            doomed = doomed_packs(repo)
            self._known = repo.index()
            self._doomed = {self._known.pack_number(p) for p in doomed}
        except BaseException:
            self._marker.end()
            raise
        # Parent folders touched by the changes are read ahead in the background.
        self._prefetch = ThreadPoolExecutor(max_workers=4) if self.parent else None
        self._root = _Folder(bytes.fromhex(self.parent.tree) if self.parent else None)
        self._lock = threading.Lock()
        self._pending: list[PackRecords] = []
        self._pending_blobs = 0
        self._done = False
        self.manifest_overrides: dict[str, Any] = {}  # erase keeps a rewritten snapshot's own fields
        self._packer = Packer(
            repo.store,
            repo.crypto,
            pack_size=repo.pack_size,
            level=repo.compression_level,
            on_pack=self._on_pack,
            workers=workers,
        )

    # -- context manager: leaving without commit() aborts

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self.abort()

    # -- items

    def add(self, path: str, meta: Mapping[str, Any], content: Content) -> None:
        """A new or changed item; `content` is bytes, a binary stream or an iterable of bytes."""
        parts = self._parts(path)
        folder = self._folder(parts[:-1])
        ids = []
        size = 0
        for chunk in self._chunker.split(content):
            if not chunk:
                continue
            size += len(chunk)
            blob_id = self._crypto.blob_id(chunk)
            ids.append(blob_id)
            self._store(blob_id, fmt.DATA, chunk)
        folder.added += msgpack.packb(file_record(parts[-1], meta, size, ids), use_bin_type=True)
        self.stats.bytes_read += size

    def folder(self, path: str, meta: Mapping[str, Any] | None = None) -> None:
        """Make sure a folder exists (an empty mailbox folder, say), optionally with metadata."""
        folder = self._folder(self._parts(path))
        if meta is not None:
            folder.meta = canonical(meta)

    def keep(self, path: str) -> None:
        """An item unchanged since the parent snapshot: carried over without reading it."""
        self._carry(path, folder=False)

    def keep_folder(self, path: str) -> None:
        """A whole folder unchanged since the parent snapshot: carried over by its tree id."""
        self._carry(path, folder=True)

    def relink(self, source: str, path: str, meta: Mapping[str, Any]) -> None:
        """An item whose content is unchanged since the parent snapshot, where it sat at `source`,
        recorded at `path` (the same or a new one) with new metadata: a renamed file, a message
        whose flags changed. Nothing is read or uploaded."""
        record = self._parent_record(self._parts(source))
        if record is None or record[1] == FOLDER:
            raise ItemNotFound(f"cannot relink {source!r}: no such item in the parent snapshot")
        target = self._parts(path)
        folder = self._folder(target[:-1])
        folder.added += msgpack.packb(file_record(target[-1], meta, record[3], record[4]), use_bin_type=True)

    def parent_meta(self, path: str) -> dict[str, Any] | None:
        """The metadata of the item at `path` in the parent snapshot, or None. A resumed backup
        asks this to skip what its checkpoint already holds."""
        record = self._parent_record(self._parts(path))
        return dict(record[2]) if record is not None and record[1] != FOLDER else None

    def _parent_record(self, parts: list[str]) -> list[Any] | None:
        """The record at `parts` in the parent snapshot, whatever this writer changed since."""
        tree = self._root.base
        for name in parts[:-1]:
            if tree is None:
                return None
            record = find_record(self.repo.tree(tree), name)
            tree = record[5] if record is not None and record[1] == FOLDER else None
        return find_record(self.repo.tree(tree), parts[-1]) if tree is not None else None

    def delete(self, path: str) -> None:
        """Remove an item or folder carried over from the parent (inherit=True)."""
        parts = self._parts(path)
        folder = self._folder(parts[:-1])
        folder.removed.add(parts[-1])
        folder.children.pop(parts[-1], None)

    def _carry(self, path: str, *, folder: bool) -> None:
        parts = self._parts(path)
        parent = self._folder(parts[:-1])
        record = self._base_record(parent, parts[-1])
        if record is None or (record[1] == FOLDER) != folder:
            kind = "folder" if folder else "item"
            raise ItemNotFound(f"cannot keep {path!r}: no such {kind} in the parent snapshot")
        if not self.inherit:
            (parent.kept_folders if folder else parent.kept).add(parts[-1])

    def _parts(self, path: str) -> list[str]:
        if self._done:
            raise EngineError("this snapshot is already committed or aborted")
        parts = split_path(path)
        if not parts:
            raise PathError("an item needs a non-empty path")
        return parts

    def _folder(self, parts: list[str]) -> _Folder:
        folder = self._root
        for name in parts:
            child = folder.children.get(name)
            if child is None:
                # A folder deleted earlier in this snapshot and written again starts empty.
                record = None if name in folder.removed else self._base_record(folder, name)
                base = record[5] if record is not None and record[1] == FOLDER else None
                child = folder.children[name] = _Folder(base)
                if base is not None and self._prefetch is not None:
                    self._prefetch.submit(self.repo.tree, base)
                folder.removed.discard(name)
            folder = child
        return folder

    def _base_record(self, folder: _Folder, name: str) -> list[Any] | None:
        if folder.base is None:
            return None
        return find_record(self.repo.tree(folder.base), name)

    def _store(self, blob_id: bytes, blob_type: int, data: bytes) -> None:
        pack_no = self._known.pack_number_of(blob_id)
        if pack_no >= 0 and pack_no not in self._doomed:
            return  # already stored, in a pack no prune plans to delete
        if not self._session.add(blob_id, blob_type, PENDING, 0, 0, len(data)):
            return
        self.stats.blobs_new += 1
        self._packer.submit(blob_id, blob_type, data)

    def _on_pack(self, pack_id: str, records: bytes, stored: int) -> None:
        """Runs in an uploader thread once a pack is stored."""
        with self._lock:
            self._pending.append((pack_id, records, stored))
            self._pending_blobs += len(records) // fmt.ENTRY.size
            self.stats.packs_written += 1
            self.stats.bytes_stored += stored
            if self._pending_blobs >= INDEX_EVERY_BLOBS or len(self._pending) >= INDEX_EVERY_PACKS:
                self._write_pending_index()

    def _write_pending_index(self) -> None:
        """With the lock held: so a killed backup's packs are found (and reused) by the next run."""
        if self._pending:
            self.repo.write_index(self._pending)
            self._pending, self._pending_blobs = [], 0

    # -- finishing

    def commit(self) -> CommitResult:
        if self._done:
            raise EngineError("this snapshot is already committed or aborted")
        try:
            size, items, tree_id = self._finish(self._root)
            self._packer.flush()
            with self._lock:
                self._write_pending_index()
            self._marker.check_alive()
            manifest = {
                "entity": self.entity,
                "time": self.time.isoformat(),
                "tree": tree_id,
                "parent": self.parent.id if self.parent else None,
                "meta": self.meta,
                "stats": asdict(self.stats),
                "items": items,
                "size": size,
                **self.manifest_overrides,
            }
            info = self.repo.write_manifest(manifest, self.time)
        except BaseException:
            self.abort()
            raise
        self._close()
        return CommitResult(info.id, self.stats, items, size)

    def abort(self) -> None:
        """Stop without a snapshot. Packs already stored stay indexed, so a retry reuses them."""
        if self._done:
            return
        try:
            self._packer.flush()
            with self._lock:
                self._write_pending_index()
        except BaseException:
            pass
        self._close()

    def _close(self) -> None:
        self._done = True
        if self._prefetch is not None:
            self._prefetch.shutdown(cancel_futures=True)
        self._packer.close()
        self._marker.end()
        self.repo.forget_index()

    def _finish(self, folder: _Folder) -> tuple[int, int, bytes]:
        """Write the folder's tree (children first); returns its size, item count and tree id."""
        stats = self.stats
        base = {r[0]: r for r in self.repo.tree(folder.base)} if folder.base else {}
        result: dict[str, list[Any]] = dict(base) if self.inherit else {}
        touched: set[str] = set()
        for name in folder.kept | folder.kept_folders:
            result[name] = base[name]
            stats.unchanged += record_items(base[name])
            touched.add(name)
        for name in folder.removed:
            record = result.pop(name, None)
            if record is not None:
                stats.deleted += record_items(record)
                touched.add(name)
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(folder.added), 1024))
        unpacker.feed(folder.added)
        for record in unpacker:
            name = record[0]
            old = base.get(name)
            if old is None:
                stats.new += 1
            elif old == record:
                stats.unchanged += 1
            elif old[1] == FOLDER:
                stats.deleted += record_items(old)
                stats.new += 1
            else:
                stats.changed += 1
            result[name] = record
            touched.add(name)
        folder.added = bytearray()
        for name, child in folder.children.items():
            if name in touched and result.get(name, [None, FOLDER])[1] != FOLDER:
                raise PathError(f"{name!r} was given both as an item and as a folder")
            size, items, tree_id = self._finish(child)
            old = base.get(name)
            if old is not None and old[1] != FOLDER:
                stats.deleted += 1
            meta = (
                child.meta
                if child.meta is not None
                else (old[2] if old is not None and old[1] == FOLDER else {})
            )
            result[name] = folder_record(name, meta, size, items, tree_id)
            touched.add(name)
        for name, record in base.items():
            if name in touched:
                continue
            if self.inherit:
                stats.unchanged += record_items(record)
            else:
                stats.deleted += record_items(record)
        data = encode_tree(result.values())
        tree_id = self._crypto.blob_id(data)
        self._store(tree_id, fmt.TREE, data)
        size = items = 0
        for record in result.values():
            size += record[3]
            items += record[4] if record[1] == FOLDER else 1
        return size, items, tree_id
