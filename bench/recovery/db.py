"""Django for the benchmark: `backup_pipeline.env` (a fresh SQLite database in the work folder,
migrated), or with `--database-url` a throwaway database created on that PostgreSQL server and
dropped at the end."""

from __future__ import annotations

import os
import re
from pathlib import Path

from backup_pipeline import env


def setup(data_dir: Path, database_url: str | None, migrate: bool = True) -> None:
    """Call before anything imports Django settings. `database_url` is the database to use
    (already created: see `create_database`)."""
    if not database_url and migrate:
        env.setup(data_dir)  # SQLite in data_dir, migrated
        return
    # env.setup drops DATABASE_URL and always migrates: the same steps, with the database given.
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["BACKSTOP_DATA_DIR"] = str(data_dir)
    for name in list(os.environ):
        if name in ("DATABASE_URL", "BACKSTOP_BROKER_URL", "BACKSTOP_CACHE_URL") or name.startswith(
            "BACKSTOP_STORAGE"
        ):
            del os.environ[name]
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "backstop.settings"
    import logging

    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def create_database(server_url: str) -> str:
    """A new empty database on the server of `server_url`; returns its URL."""
    import psycopg

    name = f"backstop_bench_{os.getpid()}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_name(server_url, name)


def drop_database(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(_libpq(_with_name(url, "postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_name(url: str, name: str) -> str:
    head, _, tail = url.partition("?")
    head = re.sub(r"/[^/]*$", f"/{name}", head) if head.count("/") > 2 else f"{head}/{name}"
    return head + (f"?{tail}" if tail else "")


def _libpq(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
