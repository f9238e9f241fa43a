"""The usage report in a process of its own, as a worker runs it: Django set up on the benchmark's
data folder, then `usage_report.produce` timed. Prints one JSON line: the measures (wall, CPU, RSS
before and peak, SQL statements), what was written and the size of the zip e-mailed.

    python -m partner_dashboard.child DATA_DIR PARTNER_ID USER_ID
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from billing import env


def main(argv: list[str]) -> int:
    data_dir, partner_id, user_id = Path(argv[0]), int(argv[1]), int(argv[2])
    env.setup(data_dir, migrate=False)
    from django.urls import reverse

    from backstop.mail import outbox_folder
    from backstop.tenancy.usage_report import produce

    reverse("partner_dashboard", args=[partner_id])  # the URLconf imported, as in a warm worker
    folder = outbox_folder()
    before = set(folder.glob("*.eml")) if folder and folder.exists() else set()
    outcome, step = env.timed(produce, partner_id, user_id, [], {})
    after = set(folder.glob("*.eml")) if folder and folder.exists() else set()
    size = sum(path.stat().st_size for path in after - before)
    found = {"outcome": asdict(outcome), "step": vars(step), "zip_bytes": size}
    print(json.dumps(found, default=str))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
