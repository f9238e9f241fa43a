"""IMAP: a private Dovecot mailbox of seeded messages; a bare fetch loop (the anchor) against a full
pipeline backup of the same mailbox.

The mailbox is filled with multi-APPEND (one command per 500 messages), so Dovecot writes its
Maildir and its index itself. The generated messages are kept in the work folder and reused.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APPEND_BATCH = 500
FETCH_BATCH = 500


@dataclass
class ImapFigures:
    messages: int
    bytes: int
    fill_s: float
    anchor_s: float = 0.0
    anchor_cpu: float = 0.0
    anchor_bytes: int = 0
    anchor_messages: int = 0
    pipeline_s: float = 0.0
    pipeline_cpu: float = 0.0
    pipeline_items: int = 0
    pipeline_bytes: int = 0
    status: str = ""
    errors: list[str] = field(default_factory=list)
    fill: str = "multi-APPEND"


def messages(work: Path, n: int, seed: int, log: Any) -> Iterator[bytes]:
    """The seeded messages, from the cache file (made on first use: ~2.6 ms a message)."""
    cache = work / f"messages-{n}-{seed}.bin"
    if not cache.exists():
        from backstop.sandbox.mail import generate_messages

        log(f"imap: generating {n:,} messages (kept in {cache})")
        tmp = cache.with_suffix(".tmp")
        with tmp.open("wb") as out:
            for raw in generate_messages(n, seed=seed):
                out.write(struct.pack(">I", len(raw)))
                out.write(raw)
        tmp.replace(cache)
    with cache.open("rb") as f:
        while head := f.read(4):
            yield f.read(struct.unpack(">I", head)[0])


def _client(host: str, port: int, user: str, password: str) -> Any:
    from imapclient import IMAPClient

    client = IMAPClient(host, port=port, ssl=False, timeout=120)
    client.login(user, password)
    return client


def fill(host: str, port: int, user: str, password: str, source: Iterator[bytes]) -> tuple[int, int]:
    count = size = 0
    with _client(host, port, user, password) as client:
        batch: list[bytes] = []
        for raw in source:
            batch.append(raw)
            count += 1
            size += len(raw)
            if len(batch) >= APPEND_BATCH:
                client.multiappend("INBOX", batch)
                batch = []
        if batch:
            client.multiappend("INBOX", batch)
    return count, size


def anchor(host: str, port: int, user: str, password: str) -> tuple[int, int]:
    """Every message with UID FETCH BODY.PEEK[] in batches: what reading the mailbox costs."""
    count = size = 0
    with _client(host, port, user, password) as client:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        for start in range(0, len(uids), FETCH_BATCH):
            fetched = client.fetch(uids[start : start + FETCH_BATCH], ["BODY.PEEK[]"])
            for data in fetched.values():
                count += 1
                size += len(data[b"BODY[]"])
    return count, size


def run(work: Path, n: int, seed: int, log: Any) -> ImapFigures:
    from tests.connectors.dovecot import Dovecot

    from backstop.backups import runner
    from backstop.backups.models import Entity, Job
    from backstop.backups.services import backup_now, create_task, discover

    from . import env

    source = messages(work, n, seed, log)
    first = next(source)  # generates the cache now, outside the fill's timing
    dovecot = Dovecot(root=work / "dovecot").start()
    try:
        user, password = dovecot.new_user()
        host, port = dovecot.host, dovecot.port
        log(f"imap: filling {user} with {n:,} messages (multi-APPEND of {APPEND_BATCH})")
        t0 = time.perf_counter()

        def all_messages() -> Iterator[bytes]:
            yield first
            yield from source

        count, size = fill(host, port, user, password, all_messages())
        figures = ImapFigures(count, size, time.perf_counter() - t0)
        log(f"imap: {count:,} messages, {size / 1e6:,.0f} MB in {figures.fill_s:.0f} s; warming up")
        anchor(host, port, user, password)  # page cache and Dovecot's caches, for both sides alike
        cpu0, t0 = time.process_time(), time.perf_counter()
        figures.anchor_messages, figures.anchor_bytes = anchor(host, port, user, password)
        figures.anchor_s, figures.anchor_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        log(f"imap: anchor {figures.anchor_s:.1f} s")

        account = env.account("IMAP bench")
        task = create_task(
            account,
            "imap",
            "IMAP bench",
            connector_settings={
                "host": host,
                "port": port,
                "security": "none",
                "auth": "password",
                "username": user,
                "timeout": 60,
            },
            secrets={"password": password},
        )
        discover(task)
        (job,) = backup_now(list(Entity.objects.filter(task=task)))
        log("imap: full pipeline backup")
        cpu0, t0 = time.process_time(), time.perf_counter()
        runner.run(job.pk)
        figures.pipeline_s, figures.pipeline_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        job.refresh_from_db()
        figures.status = job.status
        if job.status != Job.Status.SUCCEEDED:
            figures.errors.append(f"imap job {job.status}: {job.error}")
        result = job.result or {}
        figures.pipeline_items = int(result.get("items") or 0)
        figures.pipeline_bytes = int(result.get("bytes_read") or 0)
        log(f"imap: pipeline {figures.pipeline_s:.1f} s, {figures.pipeline_items:,} items")
    finally:
        dovecot.cleanup()
    return figures
