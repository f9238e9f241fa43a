"""`.env.example` is the operator's list of knobs: it must name every variable Backstop reads."""

from __future__ import annotations

import re
from pathlib import Path

from backstop.regions import REGIONS

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_lists_every_variable_the_config_reads() -> None:
    source = (ROOT / "src/backstop/config.py").read_text()
    read = set(re.findall(r'"((?:BACKSTOP_[A-Z_]+|DATABASE_URL))"', source))
    read |= {f"BACKSTOP_STORAGE_{r.code.upper().replace('-', '_')}" for r in REGIONS}
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    assert read - listed == set()
    assert listed - read == set()
