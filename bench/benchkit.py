"""What every benchmark prints the same way: timestamped progress and the machine it ran on."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


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
