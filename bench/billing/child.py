"""The month-end run in a process of its own, as a worker runs it: Django set up on the benchmark's
data folder, the URLconf imported, then `cycle.run_day(day)` timed. Prints one JSON line: wall and
CPU seconds, the process's RSS before the run and its peak (VmHWM) during it, SQL statements, the
run's report and the time of each step.

    python -m billing.child DATA_DIR YYYY-MM-DD [PROFILE_FILE]
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

from . import env


def main(argv: list[str]) -> int:
    data_dir, day = Path(argv[0]), date.fromisoformat(argv[1])
    profile = Path(argv[2]) if len(argv) > 2 else None
    env.setup(data_dir, migrate=False)
    from backstop.billing import cycle

    from .__main__ import StepTimes, warm_up

    warm_up()
    with StepTimes() as steps:
        report, step = env.timed(cycle.run_day, day, profile=profile)
    print(json.dumps({"report": report, "step": vars(step), "steps": steps.seconds}, default=str))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
