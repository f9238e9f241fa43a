"""The real processes, end to end: `backstop worker` and `backstop scheduler` purge an account past
its removal grace, `backstop demo` seeds once however often it runs, and `backstop serve` answers
and stops cleanly.

Each test gets its own installation: a temporary data folder, and when the session runs on
PostgreSQL or Redis, a throwaway database and a Redis database of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from backstop.demo import PASSWORD

pytestmark = pytest.mark.processes

BACKSTOP = [sys.executable, "-m", "backstop.cli"]
DEMO_EMAILS = [
    "nadia@northwind.example",
    "alice@acme.example",
    "gina@globex.example",
    "ian@initech.example",
    "bob@acme.example",
    "sam@umbrella.example",
]


@dataclass
class Installation:
    data_dir: Path
    env: dict[str, str]
    postgres_url: str | None

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*BACKSTOP, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def manage(self, *args: str) -> str:
        done = self.run("manage", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.data_dir / f"{args[0]}.log").open("wb")
        with log:
            return subprocess.Popen([*BACKSTOP, *args], env=self.env, stdout=log, stderr=log)

    def log(self, name: str) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.postgres_url:
            import psycopg

            with psycopg.connect(self.postgres_url) as conn:
                return conn.execute(sql).fetchall()  # type: ignore[arg-type]
        with closing(sqlite3.connect(self.data_dir / "backstop.db", timeout=20)) as conn:
            return conn.execute(sql).fetchall()


def _with_path(url: str, path: str) -> str:
    return urlsplit(url)._replace(path=path).geturl()


@contextmanager
def _throwaway_postgres(url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"backstop_proc_{uuid.uuid4().hex[:12]}"
    maintenance = _with_path(url, "/postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_path(url, f"/{name}")
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def _throwaway_redis(url: str) -> Iterator[str]:
    import redis

    session_db = int(urlsplit(url).path.strip("/") or 0)
    own = _with_path(url, f"/{(session_db + 1) % 16}")  # not the session's queue
    client = redis.Redis.from_url(own)
    client.flushdb()
    try:
        yield own
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Installation]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "BACKSTOP_BROKER_URL", "BACKSTOP_BASE_URL", "BACKSTOP_ALLOWED_HOSTS"):
        env.pop(name, None)
    env.update(
        BACKSTOP_DATA_DIR=str(tmp_path),
        BACKSTOP_SCHEDULER_INTERVAL="1",
        BACKSTOP_WORKER_THREADS="2",
        BACKSTOP_LOG_LEVEL="INFO",
    )
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("BACKSTOP_BROKER_URL", "")
    with ExitStack() as throwaway:
        postgres_url = None
        if database_url.startswith("postgres"):
            postgres_url = throwaway.enter_context(_throwaway_postgres(database_url))
            env["DATABASE_URL"] = postgres_url
        if broker_url.startswith("redis"):
            env["BACKSTOP_BROKER_URL"] = throwaway.enter_context(_throwaway_redis(broker_url))
        yield Installation(tmp_path, env, postgres_url)


def _stop(process: subprocess.Popen[bytes], within: float = 15) -> int | None:
    """SIGTERM, then the exit code, or None (and SIGKILL) if it took longer than `within`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


CREATE_ACCOUNTS = """
from datetime import timedelta
from django.utils import timezone
from backstop.tenancy.models import Account
now = timezone.now()
Account.objects.create(name="Doomed", email="d@example.test", removal_requested_at=now - timedelta(days=8))
Account.objects.create(name="Kept", email="k@example.test", removal_requested_at=now - timedelta(days=1))
"""


def test_worker_and_scheduler_purge_an_account_past_its_grace(installation: Installation) -> None:
    installation.manage("migrate", "--noinput", "-v", "0")
    installation.manage("shell", "-c", CREATE_ACCOUNTS)
    assert installation.query("SELECT name FROM tenancy_account ORDER BY name") == [("Doomed",), ("Kept",)]

    processes = {name: installation.start(name) for name in ("worker", "scheduler")}
    try:
        deadline = time.monotonic() + 30
        while installation.query("SELECT name FROM tenancy_account") != [("Kept",)]:
            logs = "\n".join(installation.log(name) for name in processes)
            assert time.monotonic() < deadline, f"the account was not purged in 30 s:\n{logs}"
            for name, process in processes.items():
                assert process.poll() is None, f"{name} exited early:\n{logs}"
            time.sleep(0.3)
    finally:
        codes = {name: _stop(process) for name, process in processes.items()}

    assert codes == {"worker": 0, "scheduler": 0}, {n: installation.log(n) for n in processes}
    assert "purged 1 account(s)" in installation.log("worker")


def _table_counts(installation: Installation) -> dict[str, int]:
    tables = (
        "accounts_user",
        "account_emailaddress",
        "tenancy_partner",
        "tenancy_account",
        "tenancy_membership",
    )
    return {table: installation.query(f"SELECT count(*) FROM {table}")[0][0] for table in tables}


CHECK_DEMO_LOGINS = f"""
from allauth.account.models import EmailAddress
from backstop.accounts.models import User
for user in User.objects.order_by("email"):
    verified = EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()
    print(user.email, user.check_password({PASSWORD!r}), verified)
"""


def test_demo_seeds_once_however_often_it_runs(installation: Installation) -> None:
    first = installation.run("demo", "--no-serve")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "http://127.0.0.1:8000/auth/login/" in first.stdout
    assert PASSWORD in first.stdout
    for email in DEMO_EMAILS:
        assert email in first.stdout
    assert str(installation.data_dir.resolve() / "outbox") in first.stdout
    counts = _table_counts(installation)
    assert counts == {
        "accounts_user": 6,
        "account_emailaddress": 6,
        "tenancy_partner": 1,
        "tenancy_account": 4,
        "tenancy_membership": 6,
    }

    second = installation.run("demo", "--no-serve", "--port", "8123")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "http://127.0.0.1:8123/auth/login/" in second.stdout
    assert PASSWORD in second.stdout
    assert _table_counts(installation) == counts

    checks = installation.manage("shell", "-c", CHECK_DEMO_LOGINS).split("\n")
    assert sorted(line for line in checks if "@" in line) == sorted(
        f"{email} True True" for email in DEMO_EMAILS
    )


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def test_serve_answers_and_stops_cleanly(installation: Installation) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = installation.start("serve", "--port", str(port))
    try:
        deadline = time.monotonic() + 180  # migrations first: slow on a busy machine
        while True:
            assert serve.poll() is None, f"serve exited early:\n{installation.log('serve')}"
            assert time.monotonic() < deadline, f"no answer in 180 s:\n{installation.log('serve')}"
            try:
                status, body = _get(f"{base}/healthz")
            except OSError:
                time.sleep(0.3)
                continue
            break
        assert status == 200
        assert b"ok" in body
        status, body = _get(f"{base}/auth/login/")
        assert status == 200
        assert b'name="password"' in body
    finally:
        code = _stop(serve)
    assert code == 0, installation.log("serve")
    assert f"Backstop is running at {base}" in installation.log("serve")
