"""Django for the benchmark: the embedded default (SQLite in WAL mode, the file outbox, the sandbox
gateway) in a fresh private BACKSTOP_DATA_DIR, migrated by the project's migrations."""

from __future__ import annotations

import os
import re
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def setup(data_dir: Path, migrate: bool = True) -> None:
    """Call before anything imports Django settings."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in list(os.environ):
        # The embedded default only: a developer's database, broker, cache, mailer, gateway or
        # store must not be used (nor written to).
        if name == "DATABASE_URL" or name.startswith("BACKSTOP_"):
            del os.environ[name]
    os.environ["BACKSTOP_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "backstop.settings"
    import logging

    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def status_kib(key: str) -> int:
    """A figure of /proc/self/status in KiB (VmRSS, VmHWM), 0 where there is none."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


def reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux: "5" to clear_refs), so the next peak is a step's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class QueryCounter:
    """Counts the SQL statements run on the default connection while installed."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


@dataclass
class Step:
    """Wall time, CPU time (this process, every thread), peak RSS and SQL statements of one step."""

    wall: float = 0.0
    cpu: float = 0.0
    rss_before: int = 0  # bytes
    peak_rss: int = 0  # bytes; 0 when the peak could not be reset
    queries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def timed(fn: Any, *args: Any, profile: Path | None = None) -> tuple[Any, Step]:
    """Runs `fn(*args)` once and measures it (under cProfile when `profile` names a file)."""
    import gc

    from django.db import connection

    gc.collect()
    step = Step(rss_before=status_kib("VmRSS") * 1024)
    peak_ok = reset_peak_rss()
    counter = QueryCounter()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = profiler.runcall(fn, *args) if profiler else fn(*args)
    step.wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    step.cpu = usage.ru_utime + usage.ru_stime - cpu0
    step.peak_rss = status_kib("VmHWM") * 1024 if peak_ok else 0
    step.queries = counter.count
    if profiler is not None and profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(profile))
    return result, step


def top_of_profile(path: Path, lines: int = 25) -> str:
    """The first lines of a profile sorted by cumulative time, for the report."""
    import io
    import pstats

    out = io.StringIO()
    pstats.Stats(str(path), stream=out).sort_stats("cumulative").print_stats(lines)
    return out.getvalue()
