"""Django for the benchmark: a temporary BACKSTOP_DATA_DIR (SQLite, local repository), migrated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstop.tenancy.models import Account


def setup(data_dir: Path) -> None:
    """Call before anything imports Django settings."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["BACKSTOP_DATA_DIR"] = str(data_dir)
    for name in list(os.environ):
        # A developer's own database, broker or store must not be used (nor written to).
        if name in ("DATABASE_URL", "BACKSTOP_BROKER_URL", "BACKSTOP_CACHE_URL") or name.startswith(
            "BACKSTOP_STORAGE"
        ):
            del os.environ[name]
    os.environ["DJANGO_SETTINGS_MODULE"] = "backstop.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    # One INFO line per HTTP request would drown the report (and cost time of its own).
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)


def account(name: str) -> Account:
    from backstop.tenancy.models import Account

    return Account.objects.create(name=name, email="bench@example.test")
