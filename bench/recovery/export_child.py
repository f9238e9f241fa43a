"""The export's zip writer alone in a process: `python -m recovery.export_child '<json args>'`.

Prints one JSON line: seconds, CPU seconds, the RSS before the export started, the peak RSS
(`VmHWM`: this process's own high-water mark; `wait4`'s `ru_maxrss` is no good here, as Linux
folds the parent's high-water mark into the child's at `exec` when the child was started by
vfork, which `subprocess` does), and which function wrote the zip.
"""

from __future__ import annotations

import cProfile
import json
import sys
import time
from pathlib import Path
from typing import Any


def rss(field: str = "VmRSS") -> int:
    """This process's resident set (or with "VmHWM" its high-water mark), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    args: dict[str, Any] = json.loads(sys.argv[1])
    from recovery import db

    db.setup(Path(args["data_dir"]), args["database_url"] or None, migrate=False)
    from backstop.backups.models import Entity
    from backstop.backups.recovery import Selection
    from recovery.export_call import write_zip

    entity = Entity.objects.select_related("account", "task").get(pk=args["entity"])
    selection = Selection(entity.pk, args["snapshot"], folders=("",))
    baseline = rss()
    profiler = cProfile.Profile() if args["profile"] else None
    cpu0, t0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    name = write_zip(entity, selection, Path(args["out"]))
    if profiler:
        profiler.disable()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if profiler:
        profiler.dump_stats(args["profile"])
    report = {
        "seconds": seconds,
        "cpu": cpu,
        "baseline_rss": baseline,
        "peak_rss": rss("VmHWM"),
        "function": name,
    }
    print(json.dumps(report))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
