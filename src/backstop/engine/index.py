"""A compact in-memory blob index: blob id -> pack, offset, length.

A Python dict and tuple per blob costs several hundred bytes; at a million blobs that alone
would exceed the memory budget. Records live in one bytearray (49 bytes each) and an
open-addressing table of int32 slots keyed by the first 8 bytes of the id finds them: about
57 bytes per blob.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

RECORD = struct.Struct("<32sBIIII")  # id, type, pack number, offset, length, raw length
PENDING = 0xFFFFFFFF  # pack number of a blob queued in this session and not yet uploaded
ENTRY_SIZE = 45  # format.ENTRY: id, then _ENTRY_TAIL
_ENTRY_TAIL = struct.Struct("<BIII")


@dataclass(frozen=True, slots=True)
class Location:
    blob_id: bytes
    type: int
    pack: str
    offset: int
    length: int
    raw_length: int


class BlobIndex:
    def __init__(self, capacity: int = 1024) -> None:
        self.packs: list[str] = []
        self._pack_numbers: dict[str, int] = {}
        self._records = bytearray()
        self._count = 0
        size = 1024
        while size < capacity * 2:
            size *= 2
        self._slots = array("i", bytes(4 * size))
        self._mask = size - 1

    def __len__(self) -> int:
        return self._count

    def pack_number(self, pack: str) -> int:
        number = self._pack_numbers.get(pack)
        if number is None:
            number = self._pack_numbers[pack] = len(self.packs)
            self.packs.append(pack)
        return number

    def _find(self, blob_id: bytes) -> tuple[int, int]:
        """(slot, record number) or (free slot, -1)."""
        slots, records, mask = self._slots, self._records, self._mask
        slot = int.from_bytes(blob_id[:8]) & mask
        size = RECORD.size
        while True:
            number = slots[slot] - 1
            if number < 0:
                return slot, -1
            start = number * size
            if records[start : start + 32] == blob_id:
                return slot, number
            slot = (slot + 1) & mask

    def __contains__(self, blob_id: bytes) -> bool:
        return self._find(blob_id)[1] >= 0

    def add(self, blob_id: bytes, blob_type: int, pack_no: int, offset: int, length: int, raw: int) -> bool:
        """Record a blob; a blob already known keeps its first location. True when it was new."""
        slot, number = self._find(blob_id)
        if number >= 0:
            return False
        self._records += RECORD.pack(blob_id, blob_type, pack_no, offset, length, raw)
        self._count += 1
        self._slots[slot] = self._count
        if self._count * 2 > self._mask:
            self._grow()
        return True

    def _grow(self) -> None:
        size = (self._mask + 1) * 2
        self._slots = array("i", bytes(4 * size))
        self._mask = size - 1
        slots, mask, records = self._slots, self._mask, self._records
        for number in range(self._count):
            start = number * RECORD.size
            slot = int.from_bytes(records[start : start + 8]) & mask
            while slots[slot]:
                slot = (slot + 1) & mask
            slots[slot] = number + 1

    def add_entries(self, pack_no: int, entries: bytes) -> None:
        """Bulk-load a pack's ENTRY records (id, type, offset, length, raw length)."""
        find, records, pack = self._find, self._records, RECORD.pack
        size = ENTRY_SIZE
        for start in range(0, len(entries), size):
            blob_id = entries[start : start + 32]
            slot, number = find(blob_id)
            if number >= 0:
                continue
            blob_type, offset, length, raw = _ENTRY_TAIL.unpack_from(entries, start + 32)
            records += pack(blob_id, blob_type, pack_no, offset, length, raw)
            self._count += 1
            self._slots[slot] = self._count
            if self._count * 2 > self._mask:
                self._grow()

    def pack_number_of(self, blob_id: bytes) -> int:
        """The pack number holding the blob, or -1."""
        number = self._find(blob_id)[1]
        if number < 0:
            return -1
        return int.from_bytes(self._records[number * RECORD.size + 33 : number * RECORD.size + 37], "little")

    def get(self, blob_id: bytes) -> Location | None:
        number = self._find(blob_id)[1]
        if number < 0:
            return None
        return self._location(number)

    def _location(self, number: int) -> Location:
        blob_id, blob_type, pack_no, offset, length, raw = RECORD.unpack_from(
            self._records, number * RECORD.size
        )
        pack = self.packs[pack_no] if pack_no != PENDING else ""
        return Location(blob_id, blob_type, pack, offset, length, raw)

    def __iter__(self) -> Iterator[Location]:
        for number in range(self._count):
            yield self._location(number)

    def raw_length(self, blob_id: bytes) -> int:
        location = self.get(blob_id)
        return location.raw_length if location else 0


class BlobSet:
    """A compact set of blob ids (the live set of check and prune)."""

    def __init__(self) -> None:
        self._index = BlobIndex()

    def add(self, blob_id: bytes) -> bool:
        return self._index.add(blob_id, 0, PENDING, 0, 0, 0)

    def __contains__(self, blob_id: bytes) -> bool:
        return blob_id in self._index

    def __len__(self) -> int:
        return len(self._index)
