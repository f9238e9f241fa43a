"""The scheduler's tick: each minute's periodic tasks are enqueued once, missed minutes are not
replayed, and due delayed tasks move from the schedule to the queue."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from huey import crontab
from huey.api import Huey

from backstop.queue import build_huey
from backstop.scheduler import run, seconds_to_next_check, tick

T0 = datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)  # a Monday, five seconds into 10:00


@pytest.fixture
def queue(tmp_path: Path) -> Huey:
    huey = build_huey(f"sqlite:///{tmp_path / 'queue.db'}", name="scheduler-test")

    @huey.periodic_task(crontab(minute="*"))
    def every_minute() -> None: ...

    @huey.periodic_task(crontab(minute="0"))
    def on_the_hour() -> None: ...

    return huey


def pending(huey: Huey) -> list[str]:
    names = [task.name for task in huey.pending()]
    huey.storage.flush_queue()  # what a worker would have taken
    return sorted(names)


def test_first_tick_evaluates_the_current_minute_at_once(queue: Huey) -> None:
    last = tick(queue, T0)
    assert pending(queue) == ["every_minute", "on_the_hour"]
    assert last == datetime(2026, 3, 2, 10, 0)


def test_the_same_minute_is_never_evaluated_twice(queue: Huey) -> None:
    last = tick(queue, T0)
    pending(queue)
    for seconds in (10, 30, 54):
        last = tick(queue, T0 + timedelta(seconds=seconds), last)
    assert pending(queue) == []
    last = tick(queue, T0 + timedelta(seconds=56), last)  # 10:01:01
    assert pending(queue) == ["every_minute"]
    assert last == datetime(2026, 3, 2, 10, 1)


def test_missed_minutes_are_not_replayed(queue: Huey) -> None:
    last = tick(queue, T0)
    pending(queue)
    # Down from 10:00 to 11:07: one run for 11:07, none for 11:00 or the minutes between.
    last = tick(queue, T0 + timedelta(hours=1, minutes=7), last)
    assert pending(queue) == ["every_minute"]
    assert last == datetime(2026, 3, 2, 11, 7)


def test_a_clock_stepping_back_does_not_repeat_a_minute(queue: Huey) -> None:
    last = tick(queue, T0 + timedelta(minutes=1))
    pending(queue)
    assert tick(queue, T0, last) == last
    assert pending(queue) == []


def test_due_delayed_tasks_move_to_the_queue(queue: Huey) -> None:
    last = tick(queue, T0)
    pending(queue)

    @queue.task()
    def later() -> None: ...

    task = later.s()
    task.eta = datetime(2026, 3, 2, 10, 0, 30)  # naive UTC, as Huey stores it
    queue.add_schedule(task)
    last = tick(queue, T0 + timedelta(seconds=10), last)
    assert pending(queue) == []
    assert queue.scheduled_count() == 1
    tick(queue, T0 + timedelta(seconds=30), last)
    assert pending(queue) == ["later"]
    assert queue.scheduled_count() == 0


def test_checks_never_sleep_past_the_next_minute() -> None:
    assert seconds_to_next_check(T0, 1) == 1
    assert seconds_to_next_check(T0, 60) == pytest.approx(55, abs=0.01)
    assert seconds_to_next_check(T0.replace(second=59, microsecond=999_000), 60) < 0.01


def test_the_loop_evaluates_at_once_and_stops_promptly(queue: Huey) -> None:
    stop = threading.Event()
    loop = threading.Thread(target=run, args=(queue, 60, stop), kwargs={"clock": lambda: T0})
    loop.start()
    deadline = time.monotonic() + 5
    while queue.pending_count() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pending(queue) == ["every_minute", "on_the_hour"]
    started = time.monotonic()
    stop.set()  # the loop is now waiting for 10:01, 55 s away
    loop.join(timeout=5)
    assert not loop.is_alive()
    assert time.monotonic() - started < 1
