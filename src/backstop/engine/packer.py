"""Background threads that compress, encrypt, pack and upload blobs.

The caller hands over blobs in small batches; worker threads compress (zstd releases the GIL)
and encrypt them, each with its own compressor and cipher, and append them to the pack being
filled; full packs go to uploader threads. Every queue is bounded, so memory stays at about
`queue_bytes` + (2 + uploaders) packs whatever the input.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import zstandard

from .crypto import Crypto
from .format import ENTRY, RAW, ZSTD, blob_aad, encode_pack_header, object_id, pack_key
from .memory import tune_malloc
from .stores import Store

# Compression must save at least this fraction, or the blob is stored as it came.
MIN_SAVING = 0.03
BATCH_BYTES = 512 * 1024
BATCH_COUNT = 64

OnPack = Callable[[str, bytes, int], None]  # pack id, ENTRY records, stored size

_STOP: Any = object()


class Packer:
    def __init__(
        self,
        store: Store,
        crypto: Crypto,
        *,
        pack_size: int,
        level: int,
        on_pack: OnPack,
        workers: int = 2,
        uploaders: int | None = None,
        queue_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        tune_malloc()
        self.store, self.crypto, self.pack_size, self.level, self.on_pack = (
            store,
            crypto,
            pack_size,
            level,
            on_pack,
        )
        self.bytes_stored = 0
        self._error: BaseException | None = None
        self._local = threading.local()
        self._batch: list[tuple[bytes, int, bytes]] = []
        self._batch_bytes = 0
        self._budget = threading.BoundedSemaphore(max(1, queue_bytes // BATCH_BYTES))
        self._work: queue.Queue[Any] = queue.Queue()
        self._uploads: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._pack_lock = threading.Lock()
        self._pack = bytearray()
        self._entries = bytearray()
        self._threads = [threading.Thread(target=self._work_loop, daemon=True) for _ in range(workers)]
        uploaders = uploaders or store.uploads
        self._threads += [threading.Thread(target=self._upload_loop, daemon=True) for _ in range(uploaders)]
        self._workers, self._uploaders = workers, uploaders
        for thread in self._threads:
            thread.start()

    # -- caller side

    def submit(self, blob_id: bytes, blob_type: int, data: bytes) -> None:
        self._raise_if_failed()
        self._batch.append((blob_id, blob_type, data))
        self._batch_bytes += len(data)
        if self._batch_bytes >= BATCH_BYTES or len(self._batch) >= BATCH_COUNT:
            self._send_batch()

    def _send_batch(self) -> None:
        if self._batch:
            self._budget.acquire()
            self._work.put(self._batch)
            self._batch, self._batch_bytes = [], 0

    def flush(self) -> None:
        """Return once every submitted blob is in an uploaded pack (and on_pack has run)."""
        self._send_batch()
        self._work.join()
        with self._pack_lock:
            self._hand_over_pack()
        self._uploads.join()
        self._raise_if_failed()

    def close(self) -> None:
        for _ in range(self._workers):
            self._work.put(_STOP)
        for thread in self._threads[: self._workers]:
            thread.join()
        for _ in range(self._uploaders):
            self._uploads.put(_STOP)
        for thread in self._threads[self._workers :]:
            thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # -- worker side

    def _compressor(self) -> zstandard.ZstdCompressor:
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:  # one per thread: a shared compressor crashed the interpreter
            compressor = self._local.compressor = zstandard.ZstdCompressor(level=self.level)
        return compressor

    def _work_loop(self) -> None:
        while True:
            batch = self._work.get()
            if batch is _STOP:
                self._work.task_done()
                return
            try:
                if self._error is None:
                    self._pack_batch(batch)
            except BaseException as exc:  # reported to the caller at its next call
                self._error = exc
            finally:
                self._budget.release()
                self._work.task_done()

    def _pack_batch(self, batch: list[tuple[bytes, int, bytes]]) -> None:
        compressor, crypto = self._compressor(), self.crypto
        sealed_blobs = []
        for blob_id, blob_type, data in batch:
            packed = compressor.compress(data) if len(data) > 64 else data
            if len(packed) < len(data) * (1 - MIN_SAVING):
                plain = bytes([ZSTD]) + packed
            else:
                plain = bytes([RAW]) + data
            nonce, sealed = crypto.encrypt_parts(plain, blob_aad(blob_type, blob_id))
            sealed_blobs.append((blob_id, blob_type, len(data), nonce, sealed))
        with self._pack_lock:
            for blob_id, blob_type, raw_length, nonce, sealed in sealed_blobs:
                length = len(nonce) + len(sealed)
                self._entries += ENTRY.pack(blob_id, blob_type, len(self._pack), length, raw_length)
                self._pack += nonce
                self._pack += sealed
                if len(self._pack) >= self.pack_size:
                    self._hand_over_pack()

    def _hand_over_pack(self) -> None:
        """Called with the pack lock held."""
        if self._pack:
            self._uploads.put((self._pack, bytes(self._entries)))
            self._pack, self._entries = bytearray(), bytearray()

    def _upload_loop(self) -> None:
        while True:
            item = self._uploads.get()
            if item is _STOP:
                self._uploads.task_done()
                return
            try:
                if self._error is None:
                    body, entries = item
                    body += encode_pack_header(self.crypto, entries)
                    pack_id = object_id(body)
                    self.store.put(pack_key(pack_id), body)
                    self.bytes_stored += len(body)
                    self.on_pack(pack_id, entries, len(body))
            except BaseException as exc:
                self._error = exc
            finally:
                self._uploads.task_done()
