"""The repository's on-store format, version 1 (docs/REPOSITORY_FORMAT.md is the reference).

Object keys under the repository prefix:

    config                              plain JSON: format name, version, repository id
    keys/<id>                           JSON: the repository keys, wrapped by the master key
    data/<2 hex>/<pack id>              packs of encrypted blobs, with an encrypted header at the end
    index/<id>                          sealed: blob -> pack, offset, length
    snapshots/<entity tag>/<time>_<id>  sealed: one snapshot manifest
    sessions/<id>                       a running writer's marker, refreshed while it runs
    plans/<time>_<id>                   sealed: packs a prune means to delete
    erasures/<id>                       sealed: an erase waiting for prune to remove bytes for good
    locks/prune                         the maintenance lock

Every id is the lowercase hex BLAKE3 (unkeyed) of the object's stored bytes, so any copy can be
verified without keys.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import blake3
import msgpack
import zstandard

from .crypto import Crypto
from .errors import IntegrityError, UnsupportedFormat

VERSION = 1
FORMAT_NAME = "backstop-repository"

# Blob types
DATA = 0
TREE = 1

# A blob's plaintext starts with its encoding
RAW = 0
ZSTD = 1

# Sealed objects: magic, version, kind, then nonce + AES-GCM ciphertext of a zstd-compressed msgpack
MAGIC = b"BKS"
KIND_PACK_HEADER = 1
KIND_INDEX = 2
KIND_SNAPSHOT = 3
KIND_PLAN = 4
KIND_ERASURE = 5

PACK_TRAILER = struct.Struct("<I4s")  # header length, magic
PACK_MAGIC = b"BKP1"
# One index entry as held in memory and in index objects: id, type, offset, length, raw length
ENTRY = struct.Struct("<32sBIII")


def object_id(data: bytes | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def pack_key(pack_id: str) -> str:
    return f"data/{pack_id[:2]}/{pack_id}"


def time_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def parse_time_key(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)


def pack_obj(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack_obj(data: bytes | memoryview) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def seal_object(crypto: Crypto, kind: int, value: Any) -> bytes:
    head = MAGIC + bytes([VERSION, kind])
    body = zstandard.ZstdCompressor(level=3).compress(pack_obj(value))
    return head + crypto.encrypt(body, head)


def open_object(crypto: Crypto, kind: int, data: bytes | memoryview, what: str) -> Any:
    view = memoryview(data)
    if bytes(view[:3]) != MAGIC:
        raise IntegrityError(f"{what} is not a repository object")
    if view[3] != VERSION:
        raise UnsupportedFormat(f"{what} has format version {view[3]}; this Backstop reads version {VERSION}")
    if view[4] != kind:
        raise IntegrityError(f"{what} is an object of another kind")
    body = crypto.decrypt(view[5:], bytes(view[:5]), what)
    try:
        return unpack_obj(zstandard.ZstdDecompressor().decompress(body))
    except (zstandard.ZstdError, ValueError) as exc:
        raise IntegrityError(f"{what} cannot be decoded: {exc}") from exc


def blob_aad(blob_type: int, blob_id: bytes) -> bytes:
    return bytes([blob_type]) + blob_id


@dataclass(frozen=True, slots=True)
class PackEntry:
    blob_id: bytes
    type: int
    offset: int
    length: int
    raw_length: int


def encode_pack_header(crypto: Crypto, entries: bytes) -> bytes:
    """The encrypted header (ENTRY records) plus the trailer that says where it starts."""
    sealed = seal_object(crypto, KIND_PACK_HEADER, entries)
    return sealed + PACK_TRAILER.pack(len(sealed), PACK_MAGIC)


def iter_entries(records: bytes | memoryview) -> Iterator[PackEntry]:
    for blob_id, blob_type, offset, length, raw_length in ENTRY.iter_unpack(records):
        yield PackEntry(blob_id, blob_type, offset, length, raw_length)


def decode_pack_header(crypto: Crypto, pack: bytes | memoryview, what: str) -> list[PackEntry]:
    """Entries of a whole pack held in memory."""
    if len(pack) < PACK_TRAILER.size:
        raise IntegrityError(f"{what} is truncated")
    header_len, magic = PACK_TRAILER.unpack(pack[-PACK_TRAILER.size :])
    if magic != PACK_MAGIC:
        raise IntegrityError(f"{what} has no pack trailer (truncated or not a pack)")
    start = len(pack) - PACK_TRAILER.size - header_len
    if start < 0:
        raise IntegrityError(f"{what} is truncated")
    records = open_object(crypto, KIND_PACK_HEADER, pack[start : start + header_len], what)
    entries = list(iter_entries(records))
    if any(e.offset + e.length > start for e in entries):
        raise IntegrityError(f"{what} lists a blob beyond its end")
    return entries
