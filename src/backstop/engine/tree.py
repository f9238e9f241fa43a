"""Tree blobs: one per folder, listing its entries sorted by name.

An entry is a msgpack array:
    file:   [name, 0, meta, size, [blob id, ...]]
    folder: [name, 1, meta, size, items, tree id]
`meta` is a map with sorted keys, so equal content encodes to equal bytes and an unchanged
folder keeps its tree id. `size` and `items` of a folder count everything below it, which is
how a snapshot reports totals and deletions without reading unchanged subtrees.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from .errors import PathError, UnsupportedFormat

FILE = 0
FOLDER = 1
TREE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    kind: str  # "file" or "folder"
    meta: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    items: int = 1
    content: tuple[bytes, ...] = ()
    tree: bytes | None = None

    @property
    def is_folder(self) -> bool:
        return self.kind == "folder"


def split_path(path: str | Sequence[str]) -> list[str]:
    parts = [p for p in path.split("/") if p != ""] if isinstance(path, str) else list(path)
    for part in parts:
        if part in (".", "..") or "\0" in part or "/" in part or not part:
            raise PathError(f"invalid path component {part!r} in {path!r}")
    return parts


_SCALARS = frozenset({str, int, float, bool, bytes, type(None)})


def canonical(value: Any) -> Any:
    """Maps with sorted keys, tuples as lists: one encoding for one value."""
    simple = type(value) is dict and all(type(v) in _SCALARS for v in value.values())
    if simple and all(type(k) is str for k in value):  # the common case, kept fast
        return dict(sorted(value.items()))
    if isinstance(value, Mapping):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | bytes):
        return value
    raise TypeError(
        f"metadata values must be str, int, float, bool, bytes, None, lists or maps, not {value!r}"
    )


def file_record(name: str, meta: Mapping[str, Any], size: int, content: Iterable[bytes]) -> list[Any]:
    return [name, FILE, canonical(meta), size, list(content)]


def folder_record(name: str, meta: Mapping[str, Any], size: int, items: int, tree: bytes) -> list[Any]:
    return [name, FOLDER, canonical(meta), size, items, tree]


def record_items(record: list[Any]) -> int:
    return int(record[4]) if record[1] == FOLDER else 1


def find_record(records: list[list[Any]], name: str) -> list[Any] | None:
    """The entry called `name` in a decoded tree (entries are sorted by name)."""
    at = bisect_left(records, name, key=lambda record: record[0])
    return records[at] if at < len(records) and records[at][0] == name else None


def encode_tree(records: Iterable[list[Any]]) -> bytes:
    ordered = sorted(records, key=lambda r: r[0])
    return msgpack.packb([TREE_VERSION, ordered], use_bin_type=True)


def decode_tree(data: bytes) -> list[list[Any]]:
    version, records = msgpack.unpackb(data, raw=False)
    if version != TREE_VERSION:
        raise UnsupportedFormat(f"tree format version {version} is not known to this Backstop")
    return list(records)


def to_entry(record: list[Any]) -> Entry:
    if record[1] == FOLDER:
        return Entry(record[0], "folder", record[2], record[3], record[4], (), record[5])
    return Entry(record[0], "file", record[2], record[3], 1, tuple(record[4]), None)
