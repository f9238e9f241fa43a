"""Client-side limits per service and per source tenant (a plain library: no Django).

Every request an HTTP connector makes goes through one `Limiter`: a token bucket (requests per
second with a burst) and a concurrency semaphore (requests in flight). Limiters are shared:
`for_source(service, tenant_key)` returns the same object to every connector instance, thread and
entity of one tenant at one service, because that is the scope the vendors throttle (Box counts
per enterprise and per user; Graph per tenant and per mailbox). Staying under the vendor's limit
is cheaper than being told off with a 429 and waiting out a Retry-After.

Defaults per service live in `DEFAULTS`; `configure()` overrides them for a whole process (from
the Django settings at start-up, say), and a connector's own settings can override them for one
source (`rate`, `burst`, `concurrency` in `overrides`). The first caller of a key decides the
limits of the shared limiter; later overrides for the same key are ignored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # requests per second, sustained
    burst: int  # requests allowed at once after a quiet period
    concurrency: int  # requests in flight at once


# Vendor-documented limits, kept below them: Box ~ 1000 requests per minute per user and 16 at once
# for uploads; Graph ~ 10,000 per 10 minutes and 4 at once per mailbox; Dropbox and Google are
# per-user quotas of a similar order.
DEFAULTS: dict[str, Limit] = {
    "box": Limit(rate=10.0, burst=20, concurrency=8),
    "dropbox": Limit(rate=10.0, burst=20, concurrency=8),
    "msgraph": Limit(rate=15.0, burst=30, concurrency=4),
    "google": Limit(rate=10.0, burst=20, concurrency=8),
    "salesforce": Limit(rate=5.0, burst=10, concurrency=4),
    "*": Limit(rate=10.0, burst=20, concurrency=4),
}


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up. Thread-safe; `acquire()` blocks.

    A caller that finds the bucket empty reserves its token (the balance goes negative) and
    sleeps outside the lock until its token has accrued, so waiting callers are served in the
    order they came and nobody spins.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst = float(rate), int(burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens`, waiting as long as needed; returns the seconds waited."""
        with self._lock:
            self._refill()
            self._tokens -= tokens
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def try_acquire(self, tokens: float = 1.0) -> bool:
        with self._lock:
            self._refill()
            if self._tokens >= tokens:
                self._tokens -= tokens
                return True
            return False


class Limiter:
    """The token bucket and the concurrency semaphore of one (service, tenant)."""

    def __init__(
        self,
        limit: Limit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.bucket = TokenBucket(limit.rate, limit.burst, clock=clock, sleep=sleep)
        self.semaphore = threading.BoundedSemaphore(limit.concurrency)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the concurrent slots and one token for the duration of a request."""
        self.semaphore.acquire()
        try:
            self.bucket.acquire()
            with self._lock:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                with self._lock:
                    self.in_flight -= 1
        finally:
            self.semaphore.release()


_lock = threading.Lock()
_registry: dict[tuple[str, str], Limiter] = {}
_overrides: dict[str, Limit] = {}


def configure(
    service: str, *, rate: float | None = None, burst: int | None = None, concurrency: int | None = None
) -> None:
    """Override a service's defaults for this process (limiters created from now on)."""
    with _lock:
        base = _overrides.get(service) or DEFAULTS.get(service) or DEFAULTS["*"]
        _overrides[service] = _apply(base, {"rate": rate, "burst": burst, "concurrency": concurrency})


def _apply(base: Limit, overrides: Mapping[str, Any] | None) -> Limit:
    if not overrides:
        return base
    changes: dict[str, Any] = {}
    if overrides.get("rate") is not None:
        changes["rate"] = float(overrides["rate"])
    if overrides.get("burst") is not None:
        changes["burst"] = int(overrides["burst"])
    if overrides.get("concurrency") is not None:
        changes["concurrency"] = int(overrides["concurrency"])
    return replace(base, **changes)


def limit_for(service: str, overrides: Mapping[str, Any] | None = None) -> Limit:
    """The limits a new limiter of `service` gets: defaults, process overrides, then `overrides`."""
    base = _overrides.get(service) or DEFAULTS.get(service) or DEFAULTS["*"]
    return _apply(base, overrides)


def for_source(service: str, tenant_key: str, overrides: Mapping[str, Any] | None = None) -> Limiter:
    """The one limiter shared by every request to `service` for the source tenant `tenant_key`."""
    key = (service, tenant_key)
    with _lock:
        limiter = _registry.get(key)
        if limiter is None:
            base = _overrides.get(service) or DEFAULTS.get(service) or DEFAULTS["*"]
            limiter = _registry[key] = Limiter(_apply(base, overrides))
        return limiter


def reset() -> None:
    """Forget every limiter and process override (tests)."""
    with _lock:
        _registry.clear()
        _overrides.clear()
