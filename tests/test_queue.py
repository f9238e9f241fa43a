"""The queue hands a person's restore to a worker before the night's scheduled backups, on the
embedded SQLite store and on Redis alike."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from huey.api import Huey

from backstop.queue import Priority, build_huey

REDIS = os.environ.get("BACKSTOP_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture(params=["sqlite", "redis"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Huey]:
    if request.param == "sqlite":
        huey = build_huey(f"sqlite:///{tmp_path / 'queue.db'}", name="prio-test")
    else:
        huey = build_huey(f"{REDIS}/12", name=f"prio-test-{uuid.uuid4().hex[:8]}")
    yield huey
    huey.flush()


def test_restores_and_exports_are_taken_before_backups(queue: Huey) -> None:
    @queue.task()
    def run(kind: str, job_id: int) -> None: ...

    for job_id in range(3):
        queue.enqueue(run.s("backup", job_id, priority=Priority.BACKUP))
    queue.enqueue(run.s("restore", 10, priority=Priority.RESTORE))
    queue.enqueue(run.s("export", 11, priority=Priority.EXPORT))

    order: list[str] = []
    while (task := queue.dequeue()) is not None:
        order.append(task.args[0])
    assert sorted(order[:2]) == ["export", "restore"]
    assert order[2:] == ["backup", "backup", "backup"]
