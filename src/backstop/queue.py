"""The task queue: Huey on SQLite (embedded default) or on Redis (scale-out), chosen by
BACKSTOP_BROKER_URL. Task code is the same on both.

The queue carries ids only. It is not the record of work: a task lost with a SIGKILLed worker
is found again by a sweep over the database (see docs/ARCHITECTURE.md, "Task queue").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from huey import PriorityRedisHuey, SqliteHuey
from huey.api import Huey


class Priority:
    """Higher runs first: a person waiting on a restore beats a scheduled backup."""

    MAINTENANCE = 0
    BACKUP = 10
    REPORT = 20
    EXPORT = 40
    RESTORE = 40


def build_huey(url: str, name: str = "backstop") -> Huey:
    parts = urlsplit(url)
    common: dict[str, Any] = {"results": False, "utc": True}
    if parts.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy and dj-database-url read them.
        filename = unquote(parts.path)[1:]
        return SqliteHuey(name, filename=filename or "queue.db", timeout=20, **common)
    if parts.scheme in {"redis", "rediss"}:
        return PriorityRedisHuey(name, url=url, **common)
    raise ValueError(f"Unsupported broker URL {url!r}")


huey = build_huey(settings.BACKSTOP_BROKER_URL)
