"""Reading items back: one item as a stream (with ranges), or a whole tree into a folder.

A restore plans its reads by pack: every blob it needs is sorted by pack and offset, each pack
is fetched once (the span covering the needed blobs) and its blobs are written where they
belong, two packs at a time. Memory stays at a couple of packs whatever the restore's size.
"""

from __future__ import annotations

import hashlib
import io
import os
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from . import format as fmt
from .errors import BlobMissing, ItemNotFound, ObjectNotFound
from .index import Location
from .memory import tune_malloc
from .tree import FOLDER

if TYPE_CHECKING:
    from .repository import Repository, SnapshotInfo

Progress = Callable[[int, int | None], None]
NAME_MAX = 255
BATCH_BLOBS = 20_000


@dataclass(frozen=True, slots=True)
class RestoreStats:
    files: int
    folders: int
    bytes: int


class ItemReader(io.RawIOBase):
    """A read-only, seekable stream over an item's blobs, fetching one blob at a time."""

    def __init__(self, repo: Repository, content: tuple[bytes, ...], size: int) -> None:
        self._repo = repo
        self._content = content
        self._size = size
        self._starts: list[int] = []
        position = 0
        for blob_id in content:
            self._starts.append(position)
            position += repo.locate(blob_id).raw_length
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._size or not self._content:
            return 0
        number = bisect_right(self._starts, self._pos) - 1
        if self._cached is None or self._cached[0] != number:
            self._cached = (number, self._repo.read_blob(self._content[number]))
        data = self._cached[1]
        start = self._pos - self._starts[number]
        n = min(len(buffer), len(data) - start)
        buffer[:n] = data[start : start + n]
        self._pos += n
        return n


def open_item(
    repo: Repository, snapshot: str | SnapshotInfo, path: str, start: int = 0, end: int | None = None
) -> BinaryIO:
    entry = repo.entry(snapshot, path)
    if entry.is_folder:
        raise ItemNotFound(f"{path!r} is a folder, not an item")
    reader = ItemReader(repo, entry.content, entry.size)
    if start:
        reader.seek(start)
    stream: BinaryIO = io.BufferedReader(reader, buffer_size=1024 * 1024)
    if end is not None:
        return _Limited(stream, max(0, end - start))  # type: ignore[return-value]
    return stream


class _Limited(io.RawIOBase):
    def __init__(self, stream: BinaryIO, left: int) -> None:
        self._stream, self._left = stream, left

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        data = self._stream.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


def safe_name(name: str) -> str:
    """A component the local file system accepts: long names are shortened with a hash suffix."""
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= NAME_MAX:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:16]
    return encoded[: NAME_MAX - 17].decode("utf-8", "ignore") + "~" + digest


def restore_to_folder(
    repo: Repository,
    snapshot: str | SnapshotInfo,
    dest: Path,
    path: str = "",
    progress: Progress | None = None,
    workers: int = 2,
) -> RestoreStats:
    """Write the item or folder at `path` (the whole snapshot by default) under `dest`."""
    tune_malloc()
    top = repo.entry(snapshot, path)
    root = str(Path(dest).resolve())
    os.makedirs(root, exist_ok=True)
    index = repo.index()
    # pack -> [(offset, location, file, position in file, whole file?)]
    reads: dict[str, list[tuple[int, Location, str, int, bool]]] = defaultdict(list)
    counts = [0, 0, 0, 0]  # files, folders, bytes, blobs planned and not yet restored
    done = 0
    pool = ThreadPoolExecutor(max_workers=workers)

    def flush() -> None:
        """Restore what is planned, pack by pack. Plans are flushed every BATCH_BLOBS blobs, so
        memory stays bounded whatever the number of items."""
        nonlocal done
        for written in pool.map(restore_pack, list(reads)):
            done += written
            if progress:
                progress(done, None)
        counts[3] = 0

    def add_file(target: str, name: str, content: list[bytes], size: int) -> None:
        counts[0] += 1
        counts[2] += size
        whole = len(content) == 1
        if not whole:
            with open(target, "wb") as handle:  # empty, or pre-sized for chunks written in place
                handle.truncate(size)
        position = 0
        for blob_id in content:
            location = index.get(blob_id)
            if location is None:
                raise BlobMissing(f"{name}: blob {blob_id.hex()} is not in the index")
            reads[location.pack].append((location.offset, location, target, position, whole))
            position += location.raw_length
            counts[3] += 1
        if counts[3] >= BATCH_BLOBS:
            flush()

    def add_tree(tree_id: bytes, folder: str) -> None:
        for record in repo.tree(tree_id):
            target = os.path.join(folder, safe_name(record[0]))
            if record[1] == FOLDER:
                os.makedirs(target, exist_ok=True)
                counts[1] += 1
                add_tree(record[5], target)
            else:
                add_file(target, record[0], record[4], record[3])

    def restore_pack(pack: str) -> int:
        wanted = sorted(reads.pop(pack), key=lambda r: r[0])
        start = wanted[0][1].offset
        end = max(loc.offset + loc.length for _, loc, _, _, _ in wanted)
        try:
            span = memoryview(repo.store.get_range(fmt.pack_key(pack), start, end))
        except ObjectNotFound:
            raise BlobMissing(f"pack {pack} is missing") from None
        written = 0
        for _, location, target, offset, whole in wanted:
            at = location.offset - start
            data = repo.decode_blob(location, span[at : at + location.length])
            # Plain descriptors: a Python file object per item costs more than the write itself.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC if whole else os.O_WRONLY
            fd = os.open(target, flags, 0o644)
            try:
                view, position = memoryview(data), offset
                while view:
                    n = os.pwrite(fd, view, position)
                    view, position = view[n:], position + n
            finally:
                os.close(fd)
            written += len(data)
        return written

    with pool:
        if top.is_folder and top.tree is not None:
            add_tree(top.tree, root)
        else:
            add_file(os.path.join(root, safe_name(top.name)), top.name, list(top.content), top.size)
        flush()
    if progress:
        progress(done, done)
    return RestoreStats(counts[0], counts[1], counts[2])
