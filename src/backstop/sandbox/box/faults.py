"""Fault injection and request counting for the emulator.

    sb.faults.add("429", path=r"/2\\.0/folders/.*/items", times=2, retry_after=1)
    sb.faults.add("500", probability=0.1, seed=7)
    sb.faults.add("drop", path=r"/d/1/", times=1)          # close the socket, no response
    sb.faults.add("latency", latency=0.5, path=r"/2\\.0/events")
    sb.faults.add("revoke", times=1)                        # access tokens expire → 401, refresh works
    sb.faults.latency = 0.02                                # every request (the benchmark)
    sb.faults.clear()

A rule matches when its `path` regex is found in the request path (relative to the app, e.g.
"/2.0/files/123") and its `method` (if given) equals the request's. `times=N` fires on the first N
matching requests; `probability=p` fires at random (seeded); neither means every match.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("latency", "429", "500", "503", "drop", "revoke")


@dataclass
class Rule:
    kind: str
    path: re.Pattern[str] | None
    method: str | None
    times: int | None
    probability: float | None
    retry_after: float
    latency: float
    rng: random.Random
    refresh: bool = False
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None

    def fire(self) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.probability is not None and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


class Faults:
    """The fault rules of one sandbox (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[Rule] = []
        self.latency = 0.0  # seconds added to every request

    def add(
        self,
        kind: str,
        path: str | None = None,
        method: str | None = None,
        times: int | None = None,
        probability: float | None = None,
        retry_after: float = 1,
        latency: float = 0.0,
        seed: int = 0,
        refresh: bool = False,
    ) -> Rule:
        """Add a rule; `kind` is one of latency, 429, 500, 503, drop, revoke. For "revoke",
        `refresh=True` also invalidates refresh tokens (the user must grant access again)."""
        kind = str(kind)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {KINDS}")
        rule = Rule(
            kind,
            re.compile(path) if path else None,
            method,
            times,
            probability,
            retry_after,
            latency,
            random.Random(seed),
            refresh,
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.latency = 0.0

    def pick(self, method: str, path: str) -> list[Rule]:
        """The rules that fire for this request, in the order they were added."""
        with self._lock:
            return [r for r in self.rules if r.matches(method, path) and r.fire()]


@dataclass
class Stats:
    """Requests seen, by "METHOD /path" and by path."""

    by_route: Counter[str] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)
    total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.by_route[f"{method} {path}"] += 1
            self.by_path[path] += 1
            self.total += 1

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests whose path matches the regex `path` (searched), and `method` if given."""
        pattern = re.compile(path) if path else None
        with self._lock:
            return sum(
                n
                for key, n in self.by_route.items()
                if (method is None or key.split(" ", 1)[0] == method.upper())
                and (pattern is None or pattern.search(key.split(" ", 1)[1]))
            )

    def reset(self) -> None:
        with self._lock:
            self.by_route.clear()
            self.by_path.clear()
            self.total = 0
