"""Markers that tell a prune which writers are running, and the prune lock.

A writer writes `sessions/<start>_<id>` before it reads the index and refreshes it while it
runs. A prune writes its deletion plan first and then records the live sessions as the plan's
blockers: a writer that might have read the index before the plan existed is among them, and the
plan's packs are deleted only once every blocker has finished or died (stopped refreshing).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import format as fmt
from .errors import EngineError, Locked, ObjectExists
from .stores import Store

REFRESH_SECONDS = 60.0
SESSION_TIMEOUT = timedelta(minutes=15)
LOCK_KEY = "locks/prune"
LOCK_TIMEOUT = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class LiveSession:
    key: str
    started: datetime
    refreshed: datetime


class SessionMarker:
    def __init__(self, store: Store, what: str, refresh: float = REFRESH_SECONDS) -> None:
        self.store = store
        now = datetime.now(UTC)
        self.key = f"sessions/{fmt.time_key(now)}_{os.urandom(8).hex()}"
        self._body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "what": what}).encode()
        self._stop = threading.Event()
        self.store.put(self.key, self._body)
        self.last_refresh = time.monotonic()
        self._thread = threading.Thread(target=self._beat, args=(refresh,), daemon=True)
        self._thread.start()

    def _beat(self, refresh: float) -> None:
        while not self._stop.wait(refresh):
            try:
                self.store.put(self.key, self._body)
                self.last_refresh = time.monotonic()
            except EngineError:
                continue  # the commit notices a marker that went stale

    def check_alive(self, timeout: timedelta = SESSION_TIMEOUT) -> None:
        if time.monotonic() - self.last_refresh > timeout.total_seconds() * 0.8:
            raise EngineError(
                "this backup session could not refresh its marker for too long; a prune may have "
                "removed data it relied on. Nothing was committed: run the backup again."
            )

    def end(self) -> None:
        self._stop.set()
        self._thread.join()
        self.store.delete(self.key)


def live_sessions(store: Store, now: datetime, timeout: timedelta = SESSION_TIMEOUT) -> list[LiveSession]:
    sessions = []
    for info in store.list("sessions/"):
        started_text = info.key.rsplit("/", 1)[-1].partition("_")[0]
        try:
            started = fmt.parse_time_key(started_text)
        except ValueError:
            continue
        if now - info.modified <= timeout:
            sessions.append(LiveSession(info.key, started, info.modified))
    return sessions


def stale_sessions(store: Store, now: datetime, timeout: timedelta = SESSION_TIMEOUT) -> list[str]:
    return [info.key for info in store.list("sessions/") if now - info.modified > timeout]


class PruneLock:
    """Only one maintenance run at a time; a lock older than LOCK_TIMEOUT is taken over."""

    def __init__(self, store: Store, now: datetime) -> None:
        self.store = store
        body = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "time": now.isoformat()}
        ).encode()
        try:
            store.put(LOCK_KEY, body, create_only=True)
        except ObjectExists:
            held = store.head(LOCK_KEY)
            if now - held.modified < LOCK_TIMEOUT:
                since = f"{held.modified:%Y-%m-%d %H:%M} UTC"
                raise Locked(f"another maintenance run holds {store.url}/{LOCK_KEY} since {since}") from None
            store.put(LOCK_KEY, body)

    def release(self) -> None:
        self.store.delete(LOCK_KEY)
