"""The scheduler: exactly one per installation (`backstop scheduler`).

Workers run Huey with periodic tasks off, so that adding workers never runs a periodic task
twice. This loop evaluates each minute once, as soon as it starts, and enqueues the periodic
tasks due then. After downtime only the current minute is evaluated: missed runs are not
replayed (periodic tasks sweep the database, so the next run catches up). It also moves due
delayed tasks from the schedule to the queue, as Huey's own scheduler does.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from huey.api import Huey, Task

log = logging.getLogger(__name__)


def _huey_time(now: datetime) -> datetime:
    """Huey built with utc=True compares naive UTC datetimes."""
    if now.tzinfo is None:
        return now
    return now.astimezone(UTC).replace(tzinfo=None)


def _enqueue(huey: Huey, task: Task, why: str) -> None:
    try:
        huey.enqueue(task)
    except Exception:
        # The broker may be briefly away. Like Huey's own scheduler, drop the task: the database
        # is the record of work, and its sweeps find it again.
        log.exception("could not enqueue %s task %s", why, task.name)
    else:
        log.debug("enqueued %s task %s", why, task.name)


def tick(huey: Huey, now: datetime, last_minute: datetime | None = None) -> datetime:
    """Enqueues what is due at `now` and returns the last minute evaluated (pass it back).

    A minute at or before `last_minute` is not evaluated again, even if the clock steps back.
    """
    now = _huey_time(now)
    try:
        delayed = huey.read_schedule(now)
    except Exception:
        log.exception("could not read the schedule of delayed tasks")
        delayed = []
    for task in delayed:
        _enqueue(huey, task, "delayed")

    minute = now.replace(second=0, microsecond=0)
    if last_minute is not None and minute <= last_minute:
        return last_minute
    for task in huey.read_periodic(minute):
        _enqueue(huey, task, f"periodic ({minute:%H:%M} UTC)")
    return minute


def seconds_to_next_check(now: datetime, interval: float) -> float:
    """`interval`, cut short so that a new minute is evaluated in its first moments."""
    next_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    # A few ms past the boundary, so the wake-up lands in the new minute.
    return max(min(interval, (next_minute - now).total_seconds() + 0.005), 0.005)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def run(
    huey: Huey,
    interval: float,
    stop: threading.Event,
    clock: Callable[[], datetime] = _utcnow,
) -> None:
    """Ticks until `stop` is set."""
    last_minute: datetime | None = None
    while not stop.is_set():
        try:
            last_minute = tick(huey, clock(), last_minute)
        except Exception:
            log.exception("scheduler tick failed")
        stop.wait(seconds_to_next_check(clock(), interval))


def serve(huey: Huey, interval: float, stop: threading.Event | None = None) -> int:
    """Runs the loop until SIGTERM or SIGINT (or until `stop` is set); returns the exit code."""
    stop = stop or threading.Event()
    # The loop runs in a thread: the main thread only joins it, so setting the event from a
    # signal handler cannot deadlock on a lock the interrupted main thread holds.
    loop = threading.Thread(target=run, args=(huey, interval, stop), name="scheduler", daemon=True)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    log.info("scheduler started, checking every %ss", interval)
    loop.start()
    while loop.is_alive():
        loop.join(timeout=0.5)
    log.info("scheduler stopped")
    return 0 if stop.is_set() else 1
