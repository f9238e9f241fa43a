"""A repository: keys, the blob index, blob and tree reads, snapshot manifests."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import msgpack
import zstandard

from . import format as fmt
from .crypto import Crypto, RepoKeys, seal, unseal, wrapping_key
from .errors import (
    BlobMissing,
    IntegrityError,
    ItemNotFound,
    ObjectNotFound,
    RepositoryExists,
    RepositoryNotFound,
    SnapshotNotFound,
    UnsupportedFormat,
    WrongKey,
)
from .index import BlobIndex, Location
from .stores import Store
from .tree import FOLDER, Entry, decode_tree, find_record, split_path, to_entry

if TYPE_CHECKING:
    from .check import CheckReport
    from .erase import EraseReport
    from .prune import PruneReport
    from .reader import RestoreStats
    from .repair import RebuildReport, RepoStats
    from .retention import ForgetResult, RetentionPolicy
    from .writer import SnapshotWriter

Progress = Callable[[int, int | None], None]
PackRecords = tuple[str, bytes, int]  # pack id, its ENTRY records, its stored size
DEFAULT_PACK_SIZE = 16 * 1024 * 1024
DEFAULT_LEVEL = 3
MAX_PACK_SIZE = 1024 * 1024 * 1024  # offsets in pack headers are 32-bit
TREE_CACHE_RECORDS = 200_000  # decoded entries kept, whatever the folders' sizes (~50 MB)


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    id: str
    entity: str
    time: datetime
    tree: str
    parent: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    items: int = 0
    size: int = 0
    key: str = ""

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True, slots=True)
class SnapshotName:
    key: str
    tag: str
    time: datetime
    id: str


def parse_snapshot_key(key: str) -> SnapshotName | None:
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "snapshots" or "_" not in parts[2]:
        return None
    moment, _, snap_id = parts[2].partition("_")
    try:
        return SnapshotName(key, parts[1], fmt.parse_time_key(moment), snap_id)
    except ValueError:
        return None


class Repository:
    def __init__(self, store: Store, config: dict[str, Any], keys: RepoKeys) -> None:
        self.store = store
        self.config = config
        self.id: str = config["id"]
        self.crypto = Crypto(keys)
        self.pack_size: int = config.get("pack_size", DEFAULT_PACK_SIZE)
        self.compression_level: int = config.get("compression_level", DEFAULT_LEVEL)
        self._index: BlobIndex | None = None
        self._index_lock = threading.Lock()
        self._trees: OrderedDict[bytes, list[list[Any]]] = OrderedDict()
        self._manifests: dict[str, SnapshotInfo] = {}
        self._local = threading.local()
        self._tree_lock = threading.Lock()
        self._tree_records = 0

    def __repr__(self) -> str:
        return f"Repository({self.store.url})"

    # -- creating and opening

    @classmethod
    def init(
        cls,
        store: Store,
        master_key: bytes,
        *,
        pack_size: int = DEFAULT_PACK_SIZE,
        compression_level: int = DEFAULT_LEVEL,
    ) -> Repository:
        if not 4 * 1024 <= pack_size <= MAX_PACK_SIZE:
            raise ValueError(f"the pack size must be between 4 KiB and {MAX_PACK_SIZE // 2**20} MiB")
        if store.exists("config"):
            raise RepositoryExists(f"{store.url} already holds a repository")
        config: dict[str, Any] = {
            "format": fmt.FORMAT_NAME,
            "version": fmt.VERSION,
            "id": os.urandom(16).hex(),
            "created": datetime.now(UTC).isoformat(),
            "pack_size": pack_size,
            "compression_level": compression_level,
        }
        keys = RepoKeys.generate()
        _write_key(store, config["id"], keys, master_key)
        store.put("config", json.dumps(config, indent=1).encode(), create_only=True)
        return cls(store, config, keys)

    @classmethod
    def open(cls, store: Store, master_key: bytes) -> Repository:
        try:
            config = json.loads(store.get("config"))
        except ObjectNotFound:
            raise RepositoryNotFound(f"there is no repository at {store.url}") from None
        except ValueError:
            raise UnsupportedFormat(f"{store.url}/config is not a repository configuration") from None
        if config.get("format") != fmt.FORMAT_NAME:
            raise UnsupportedFormat(f"{store.url} does not hold a Backstop repository")
        if config.get("version") != fmt.VERSION:
            raise UnsupportedFormat(
                f"{store.url} uses repository format version {config.get('version')}; "
                f"this Backstop reads version {fmt.VERSION}"
            )
        unknown: UnsupportedFormat | None = None
        for info in store.list("keys/"):
            try:
                keys = _read_key(store.get(info.key), config["id"], master_key)
            except IntegrityError:
                continue
            except UnsupportedFormat as exc:
                unknown = exc  # another key object may still open it
                continue
            return cls(store, config, keys)
        if unknown is not None:
            raise unknown
        raise WrongKey(f"the master key does not open the repository at {store.url}")

    def rotate_master_key(self, new_master_key: bytes) -> None:
        """Re-wrap the repository keys with a new master key; no data is re-encrypted.

        The new key object is written before the old ones are removed, so a crash leaves the
        repository readable with either master key.
        """
        old = [info.key for info in self.store.list("keys/")]
        new_key = _write_key(self.store, self.id, self.crypto.keys, new_master_key)
        for key in old:
            if key != new_key:
                self.store.delete(key)

    # -- the blob index

    def index(self) -> BlobIndex:
        with self._index_lock:
            if self._index is None:
                self._index = self.load_index()[0]
            return self._index

    def use_index(self, index: BlobIndex) -> None:
        """Adopt an index just loaded elsewhere (check loads its own to report bad objects)."""
        with self._index_lock:
            self._index = index

    def forget_index(self) -> None:
        with self._index_lock:
            self._index = None

    def index_objects(self) -> Iterator[tuple[str, list[PackRecords]]]:
        """(object key, [(pack id, ENTRY records, pack size)]) for every index object."""
        for info in self.store.list("index/"):
            try:
                data = self.store.get(info.key)
            except ObjectNotFound:
                continue  # a prune replaced it while we listed
            try:
                packs = fmt.open_object(self.crypto, fmt.KIND_INDEX, data, info.key)["packs"]
                entries = [(str(pack_id), bytes(records), int(size)) for pack_id, records, size in packs]
            except (KeyError, TypeError, ValueError) as exc:
                raise IntegrityError(f"{info.key} cannot be decoded: {exc}") from exc
            yield info.key, entries

    def load_index(self, exclude_packs: frozenset[str] = frozenset()) -> tuple[BlobIndex, list[str]]:
        objects = list(self.index_objects())
        total = sum(len(records) // fmt.ENTRY.size for _, packs in objects for _, records, _ in packs)
        index = BlobIndex(total)
        for _, packs in objects:
            for pack_id, records, _size in packs:
                if pack_id in exclude_packs:
                    continue
                index.add_entries(index.pack_number(pack_id), records)
        return index, [key for key, _ in objects]

    def write_index(self, packs: list[PackRecords]) -> str:
        data = fmt.seal_object(self.crypto, fmt.KIND_INDEX, {"packs": [list(p) for p in packs]})
        key = f"index/{fmt.object_id(data)}"
        self.store.put(key, data)
        return key

    # -- blobs and trees

    def locate(self, blob_id: bytes) -> Location:
        location = self.index().get(blob_id)
        if location is None:
            raise BlobMissing(f"blob {blob_id.hex()} is not in the index")
        return location

    def read_blob(self, blob_id: bytes) -> bytes:
        location = self.locate(blob_id)
        try:
            sealed = self.store.get_range(
                fmt.pack_key(location.pack), location.offset, location.offset + location.length
            )
        except ObjectNotFound:
            raise BlobMissing(f"pack {location.pack} holding blob {blob_id.hex()} is missing") from None
        return self.decode_blob(location, sealed)

    def decode_blob(self, location: Location, sealed: bytes | memoryview) -> bytes:
        what = f"blob {location.blob_id.hex()} in pack {location.pack}"
        if len(sealed) != location.length:
            raise IntegrityError(f"{what} is truncated")
        plain = self.crypto.decrypt(sealed, fmt.blob_aad(location.type, location.blob_id), what)
        if not plain:
            raise IntegrityError(f"{what} has no encoding byte")
        if plain[0] == fmt.ZSTD:
            decompressor = getattr(self._local, "zstd", None)
            if decompressor is None:
                decompressor = self._local.zstd = zstandard.ZstdDecompressor()
            try:
                data = decompressor.decompress(memoryview(plain)[1:], max_output_size=location.raw_length)
            except zstandard.ZstdError as exc:
                raise IntegrityError(f"{what} cannot be decompressed: {exc}") from exc
        elif plain[0] == fmt.RAW:
            data = plain[1:]
        else:
            raise UnsupportedFormat(f"{what} uses an unknown encoding {plain[0]}")
        if self.crypto.blob_id(data) != location.blob_id:
            raise IntegrityError(f"{what} does not hash to its id")
        return data

    def tree(self, tree_id: bytes) -> list[list[Any]]:
        with self._tree_lock:
            cached = self._trees.get(tree_id)
            if cached is not None:
                self._trees.move_to_end(tree_id)
                return cached
        try:
            records = decode_tree(self.read_blob(tree_id))
        except (msgpack.UnpackException, ValueError, TypeError) as exc:
            raise IntegrityError(f"tree {tree_id.hex()} cannot be decoded: {exc}") from exc
        with self._tree_lock:
            if tree_id not in self._trees:
                self._trees[tree_id] = records
                self._tree_records += len(records)
            while self._tree_records > TREE_CACHE_RECORDS and len(self._trees) > 1:
                self._tree_records -= len(self._trees.popitem(last=False)[1])
        return records

    # -- snapshots

    def snapshot_names(self, entity: str | None = None) -> list[SnapshotName]:
        prefix = f"snapshots/{self.crypto.tag(entity)}/" if entity is not None else "snapshots/"
        names = [n for n in (parse_snapshot_key(i.key) for i in self.store.list(prefix)) if n]
        return sorted(names, key=lambda n: (n.time, n.id))

    def manifest(self, name: SnapshotName) -> SnapshotInfo:
        cached = self._manifests.get(name.key)
        if cached is not None:
            return cached
        try:
            data = self.store.get(name.key)
        except ObjectNotFound:
            raise SnapshotNotFound(f"snapshot {name.id[:12]} is gone (forgotten or rewritten)") from None
        if data[:3] == fmt.MAGIC and len(data) > 3 and data[3] != fmt.VERSION:
            raise UnsupportedFormat(
                f"snapshot {name.id[:12]} has format version {data[3]}; this Backstop reads {fmt.VERSION}"
            )
        if fmt.object_id(data) != name.id:
            raise IntegrityError(f"snapshot {name.id[:12]} does not hash to its id")
        value = fmt.open_object(self.crypto, fmt.KIND_SNAPSHOT, data, f"snapshot {name.id[:12]}")
        info = SnapshotInfo(
            id=name.id,
            entity=value["entity"],
            time=datetime.fromisoformat(value["time"]),
            tree=value["tree"].hex(),
            parent=value.get("parent"),
            meta=value.get("meta", {}),
            stats=value.get("stats", {}),
            items=value.get("items", 0),
            size=value.get("size", 0),
            key=name.key,
        )
        self._manifests[name.key] = info
        return info

    def write_manifest(self, value: Mapping[str, Any], moment: datetime) -> SnapshotInfo:
        data = fmt.seal_object(self.crypto, fmt.KIND_SNAPSHOT, dict(value))
        snap_id = fmt.object_id(data)
        key = f"snapshots/{self.crypto.tag(value['entity'])}/{fmt.time_key(moment)}_{snap_id}"
        self.store.put(key, data, create_only=True)
        name = parse_snapshot_key(key)
        assert name is not None
        return self.manifest(name)

    def snapshots(
        self, entity: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[SnapshotInfo]:
        """Snapshots, oldest first, of one entity or all, optionally within [since, until]."""
        result = []
        for name in self.snapshot_names(entity):
            if (since and name.time < since) or (until and name.time > until):
                continue
            try:
                result.append(self.manifest(name))
            except SnapshotNotFound:
                continue
        return result

    def snapshot(self, snapshot_id: str) -> SnapshotInfo:
        """A snapshot by its id or a unique prefix of it (at least 4 characters)."""
        wanted = snapshot_id.strip().lower()
        if len(wanted) < 4:
            raise SnapshotNotFound(f"snapshot id {snapshot_id!r} is too short: give at least 4 characters")
        matches = [n for n in self.snapshot_names() if n.id.startswith(wanted)]
        if not matches:
            raise SnapshotNotFound(f"no snapshot has the id {snapshot_id!r}")
        if len({n.id for n in matches}) > 1:
            raise SnapshotNotFound(f"snapshot id {snapshot_id!r} is ambiguous: give more characters")
        return self.manifest(matches[0])

    # -- browsing a snapshot

    def _snap(self, snapshot: str | SnapshotInfo) -> SnapshotInfo:
        return snapshot if isinstance(snapshot, SnapshotInfo) else self.snapshot(snapshot)

    def entry(self, snapshot: str | SnapshotInfo, path: str) -> Entry:
        info = self._snap(snapshot)
        parts = split_path(path)
        if not parts:
            return Entry("", "folder", {}, info.size, info.items, (), bytes.fromhex(info.tree))
        tree_id = bytes.fromhex(info.tree)
        for depth, part in enumerate(parts):
            record = find_record(self.tree(tree_id), part)
            if record is None:
                raise ItemNotFound(f"{path!r} is not in snapshot {info.short_id}")
            if depth == len(parts) - 1:
                return to_entry(record)
            if record[1] != FOLDER:
                raise ItemNotFound(f"{'/'.join(parts[: depth + 1])!r} is a file in snapshot {info.short_id}")
            tree_id = record[5]
        raise AssertionError("unreachable")

    def ls(self, snapshot: str | SnapshotInfo, path: str = "") -> list[Entry]:
        entry = self.entry(snapshot, path)
        if not entry.is_folder or entry.tree is None:
            return [entry]
        return [to_entry(r) for r in self.tree(entry.tree)]

    def walk(self, snapshot: str | SnapshotInfo, path: str = "") -> Iterator[tuple[str, Entry]]:
        """Every entry below `path`, depth first, each with its full path."""
        info = self._snap(snapshot)
        top = self.entry(info, path)
        base = "/".join(split_path(path))
        if not top.is_folder:
            yield base, top
            return
        assert top.tree is not None
        yield from self._walk_tree(top.tree, base)

    def _walk_tree(self, tree_id: bytes, base: str) -> Iterator[tuple[str, Entry]]:
        for record in self.tree(tree_id):
            entry = to_entry(record)
            full = f"{base}/{entry.name}" if base else entry.name
            yield full, entry
            if entry.is_folder and entry.tree is not None:
                yield from self._walk_tree(entry.tree, full)

    # -- operations that live in their own modules

    def writer(
        self,
        entity: str,
        *,
        parent: str | None = None,
        inherit: bool = True,
        meta: Mapping[str, Any] | None = None,
        time: datetime | None = None,
        workers: int = 2,
    ) -> SnapshotWriter:
        """A new snapshot of `entity`; see SnapshotWriter. Use it as a context manager."""
        from .writer import SnapshotWriter

        return SnapshotWriter(
            self, entity, parent=parent, inherit=inherit, meta=meta, time=time, workers=workers
        )

    def open_item(
        self, snapshot: str | SnapshotInfo, path: str, start: int = 0, end: int | None = None
    ) -> BinaryIO:
        from .reader import open_item

        return open_item(self, snapshot, path, start, end)

    def restore_to_folder(
        self, snapshot: str | SnapshotInfo, dest: Path, path: str = "", progress: Progress | None = None
    ) -> RestoreStats:
        from .reader import restore_to_folder

        return restore_to_folder(self, snapshot, dest, path, progress)

    def check(self, read_data: float = 0.0, progress: Progress | None = None) -> CheckReport:
        from .check import check

        return check(self, read_data, progress)

    def forget(
        self,
        policy: RetentionPolicy,
        entity: str | None = None,
        now: datetime | None = None,
        dry_run: bool = False,
    ) -> ForgetResult:
        from .retention import forget

        return forget(self, policy, entity, now, dry_run)

    def remove_snapshots(self, snapshots: Iterable[SnapshotInfo]) -> None:
        """Delete these snapshots' manifests (their data goes at the next prune): used for a
        resumed backup's checkpoint snapshots once the final one is committed."""
        from .prune import note_forget

        snaps = list(snapshots)
        if not snaps:
            return
        note_forget(self)
        for snap in snaps:
            self.store.delete(snap.key)
            self._manifests.pop(snap.key, None)

    def prune(
        self,
        grace: timedelta = timedelta(hours=1),
        now: datetime | None = None,
        progress: Progress | None = None,
        repack_below: float = 0.5,
        session_timeout: timedelta | None = None,
    ) -> PruneReport:
        """Delete what no snapshot needs. `session_timeout` is how long a writer's marker may go
        unrefreshed before its writer counts as dead (15 minutes by default)."""
        from .prune import prune
        from .sessions import SESSION_TIMEOUT

        timeout = SESSION_TIMEOUT if session_timeout is None else session_timeout
        return prune(self, grace, now, progress, repack_below, timeout)

    def erase(self, entity: str, paths: Iterable[str]) -> EraseReport:
        from .erase import erase

        return erase(self, entity, paths)

    def rebuild_index(self, progress: Progress | None = None) -> RebuildReport:
        from .repair import rebuild_index

        return rebuild_index(self, progress)

    def stats(self) -> RepoStats:
        from .repair import stats

        return stats(self)


def _write_key(store: Store, repo_id: str, keys: RepoKeys, master_key: bytes) -> str:
    salt = os.urandom(16)
    secret = msgpack.packb([keys.data_key, keys.hash_key, keys.chunker_seed], use_bin_type=True)
    body = {
        "version": fmt.VERSION,
        "kdf": "hkdf-sha256",
        "cipher": "aes-256-gcm",
        "created": datetime.now(UTC).isoformat(),
        "salt": base64.b64encode(salt).decode(),
        "wrapped": base64.b64encode(seal(wrapping_key(master_key, salt), secret, repo_id.encode())).decode(),
    }
    data = json.dumps(body, indent=1).encode()
    key = f"keys/{fmt.object_id(data)}"
    store.put(key, data)
    return key


def _read_key(data: bytes, repo_id: str, master_key: bytes) -> RepoKeys:
    try:
        body = json.loads(data)
        salt = base64.b64decode(body["salt"])
        wrapped = base64.b64decode(body["wrapped"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"a key object cannot be read: {exc}") from exc
    if body.get("version") != fmt.VERSION:
        raise UnsupportedFormat(f"key object version {body.get('version')} is not known to this Backstop")
    secret = unseal(wrapping_key(master_key, salt), wrapped, repo_id.encode(), "the repository key")
    data_key, hash_key, seed = msgpack.unpackb(secret)
    return RepoKeys(data_key, hash_key, seed)
