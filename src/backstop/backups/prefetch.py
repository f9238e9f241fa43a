"""Downloads ahead of the writer, for connectors that may open several items at once.

One entity's backup would otherwise have one request in flight, so a source with 20 ms per
request caps it at a few dozen items a second whatever the limits allow. The pipeline plans the
items of each batch that need their content; up to `workers` downloads run ahead, in order,
within a byte budget, and the writer takes them in the order of the feed. Large items are not
planned: they stream straight into the writer as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from backstop.connectors.base import Item

SMALL = 8 * 2**20  # items up to this size are read ahead into memory
BUDGET = 64 * 2**20  # bytes of planned content held or in flight at most


class Prefetcher:
    def __init__(self, fetch: Callable[[Item], bytes], workers: int = 4, budget: int = BUDGET) -> None:
        self._fetch = fetch
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prefetch")
        self._budget = budget
        self._queue: deque[Item] = deque()
        self._futures: dict[str, tuple[Item, Future[bytes]]] = {}
        self._held = 0

    def plan(self, items: list[Item]) -> None:
        self._queue.extend(item for item in items if item.size <= SMALL and item.key not in self._futures)
        self._fill()

    def _fill(self) -> None:
        while self._queue and (not self._futures or self._held + self._queue[0].size <= self._budget):
            item = self._queue.popleft()
            if item.key in self._futures:
                continue
            self._futures[item.key] = (item, self._pool.submit(self._fetch, item))
            self._held += max(item.size, 1)

    def take(self, item: Item) -> bytes | None:
        """The content of `item` if it was planned (the connector's errors are raised here), or
        None: then the caller opens it itself."""
        planned = self._futures.pop(item.key, None)
        if planned is None:
            return None
        self._held -= max(planned[0].size, 1)
        try:
            if planned[0].version != item.version:
                planned[1].cancel()
                return None
            return planned[1].result()
        finally:
            self._fill()

    def close(self) -> None:
        self._queue.clear()
        for _, future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)


class BatchFetcher:
    """For connectors that read many items in one request (BATCH_OPEN): the planned items are
    read in groups of up to `budget` bytes, when the writer asks for the first of a group."""

    def __init__(
        self, fetch_many: Callable[[list[Item]], dict[str, bytes | Exception]], budget: int = BUDGET
    ):
        self._fetch_many = fetch_many
        self._budget = budget
        self._queue: deque[Item] = deque()
        self._planned: set[str] = set()
        self._ready: dict[str, bytes | Exception] = {}

    def plan(self, items: list[Item]) -> None:
        for item in items:
            if item.size <= SMALL and item.key not in self._planned:
                self._queue.append(item)
                self._planned.add(item.key)

    def take(self, item: Item) -> bytes | None:
        if item.key not in self._planned:
            return None
        if item.key not in self._ready:
            group: list[Item] = []
            size = 0
            while self._queue and (not group or size + self._queue[0].size <= self._budget):
                queued = self._queue.popleft()
                if queued.key in self._ready:
                    continue
                group.append(queued)
                size += queued.size
            if item.key not in {g.key for g in group}:
                group.append(item)
            self._ready.update(self._fetch_many(group))
        self._planned.discard(item.key)
        value = self._ready.pop(item.key, None)
        if isinstance(value, Exception):
            raise value
        return value

    def close(self) -> None:
        self._queue.clear()
        self._planned.clear()
        self._ready.clear()
