"""Splitting content into blobs.

Content up to the chunker's minimum size is one blob. Larger content is cut by FastCDC (content
defined, about 1 MiB on average), so an insertion near the start of a large file changes only
the chunks around it. Streams are never read whole: at most one window of the chunker is held.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from pyfastcdc import FastCDC

MIN_SIZE = 256 * 1024
AVG_SIZE = 1024 * 1024
MAX_SIZE = 4 * 1024 * 1024

_WHOLE_READS = (io.BufferedReader, io.BytesIO)
Content = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]


class Chunker:
    def __init__(self, seed: int) -> None:
        self._cdc = FastCDC(AVG_SIZE - MIN_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE, seed=seed)

    def split(self, content: Content) -> Iterator[bytes]:
        """The content's chunks, in order (an empty content yields one empty chunk)."""
        if isinstance(content, bytes | bytearray | memoryview):
            data = memoryview(content)
            if len(data) <= MIN_SIZE:
                yield bytes(data)
                return
            for chunk in self._cdc.cut_buf(data):
                yield bytes(chunk.data)
            return
        stream = _as_stream(content)
        # A buffered file or BytesIO returns everything up to EOF in one read; others may not.
        head = (
            stream.read(MIN_SIZE + 1)
            if isinstance(stream, _WHOLE_READS)
            else _read_exactly(stream, MIN_SIZE + 1)
        )
        if len(head) <= MIN_SIZE:
            yield head
            return
        for chunk in self._cdc.cut_stream(_Prefixed(head, stream)):
            yield bytes(chunk.data)  # the chunker reuses its buffer: copy before the next chunk


def _as_stream(content: BinaryIO | Iterable[bytes]) -> BinaryIO:
    if hasattr(content, "read"):
        return content  # type: ignore[return-value]
    return _IterStream(iter(content))  # type: ignore[return-value]


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        part = stream.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


class _Prefixed(io.RawIOBase):
    """Bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _IterStream(io.RawIOBase):
    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts = parts
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._left:
            part = next(self._parts, None)
            if part is None:
                return 0
            self._left = memoryview(part)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n
