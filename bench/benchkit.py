"""What every benchmark does the same way: timestamped progress, the machine it ran on, the table
of figures against their targets, and the end of a run (results JSON, the data folder removed or
kept, the table printed, the exit status)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)  # noqa: T201


def machine(extra: str = "") -> str:
    """CPUs, memory, Python and platform (and `extra`, say the Django and SQLite versions)."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    found = f"{os.cpu_count()} CPUs ({cpu}){mem}, Python {platform.python_version()}, {platform.platform()}"
    return f"{found}, {extra}" if extra else found


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


class Table:
    """Figure, value, target, PASS/FAIL (blank: no target)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.failed: list[str] = []

    def info(self, name: str, value: str) -> None:
        self.rows.append((name, value, "", ""))

    def below(self, name: str, value: float, target: float, unit: str, fmt: str = ".1f") -> bool:
        ok = value < target
        self.rows.append((name, f"{value:{fmt}} {unit}", f"< {target:g} {unit}", "PASS" if ok else "FAIL"))
        if not ok:
            self.failed.append(name)
        return ok

    def error(self, name: str, text: str) -> None:
        self.rows.append((name, text, "", "ERROR"))
        self.failed.append(name)

    def lines(self) -> list[str]:
        head = ("figure", "value", "target", "")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(4)]

        def fmt(row: tuple[str, ...]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )

        return [fmt(head), "-" * len(fmt(head)), *(fmt(r) for r in self.rows)]


def finish(
    name: str, work: Path, keep: bool, results: dict[str, Any], details: list[str], table: Table
) -> int:
    """Writes the results JSON, removes the data folder (unless kept), prints the details and the
    table; the exit status is 1 when a target failed or the run broke."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(tempfile.gettempdir()) / f"bs-bench-{name}-results-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    if keep:
        log(f"kept {work}")
    else:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(work, ignore_errors=True)
    print("\n" + "\n".join([*details, "", *table.lines()]), flush=True)  # noqa: T201
    print(f"\nresults: {out}", flush=True)  # noqa: T201
    if table.failed:
        print(f"FAILED: {', '.join(table.failed)}", file=sys.stderr)  # noqa: T201
    return 1 if table.failed else 0
