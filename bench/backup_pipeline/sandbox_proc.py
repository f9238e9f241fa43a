"""The Box sandbox in a child process, driven over a pipe.

The emulator is Python too: served from the benchmark's own process it would take the GIL from
the pipeline it is measuring. Here it has its own interpreter, as Box has its own data centre.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import random
import re
import resource
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

# Requests by kind, from the emulator's "METHOD /path" counter.
ROUTES = [
    ("folder listing", re.compile(r"^GET /2\.0/folders/\d+/items")),
    ("folder info", re.compile(r"^GET /2\.0/folders/\d+$")),
    ("file versions", re.compile(r"^GET /2\.0/files/\d+/versions")),
    ("content (302)", re.compile(r"^GET /2\.0/files/\d+/content")),
    ("download", re.compile(r"^GET /d/1/")),
    ("file info", re.compile(r"^GET /2\.0/files/\d+$")),
    ("events", re.compile(r"^GET /2\.0/events")),
    ("users", re.compile(r"^GET /2\.0/users")),
    ("token", re.compile(r"/oauth2/token")),
]


def kinds(by_route: dict[str, int]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for route, n in by_route.items():
        name = next((k for k, rx in ROUTES if rx.search(route)), "other")
        out[name] += n
    return dict(out)


def _serve(conn: Connection, users: int, files: int, seed: int) -> None:
    from backstop.sandbox.box import BoxSandbox, LazyBlob
    from backstop.sandbox.box.seed import generate_enterprise

    sb = BoxSandbox().start()
    st = sb.state
    gen = generate_enterprise(st, users=users, files=files, seed=seed)
    conn.send(
        {
            "url": sb.url,
            "files": gen.files,
            "versions": gen.versions,
            "bytes": gen.bytes,
            "folders": gen.folders,
            "users": len(gen.users),
        }
    )
    admin = gen.admin
    while True:
        cmd, arg = conn.recv()
        if cmd == "stop":
            sb.stop()
            conn.send(None)
            return
        if cmd == "latency":
            sb.faults.latency = float(arg)
            conn.send(None)
        elif cmd == "secrets":
            token = st.issue_token(admin)
            conn.send(
                {
                    "access_token": token.access_token,
                    "refresh_token": token.refresh_token,
                    "expires_at": time.time() + 3000,
                }
            )
        elif cmd == "stats":
            with sb.stats._lock:
                by_route = dict(sb.stats.by_route)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            conn.send(
                {
                    "total": sum(by_route.values()),
                    "kinds": kinds(by_route),
                    "cpu": usage.ru_utime + usage.ru_stime,
                }
            )
        elif cmd == "reset":
            sb.stats.reset()
            conn.send(None)
        elif cmd == "change":
            conn.send(_change(st, float(arg), seed, LazyBlob))
        else:
            conn.send(RuntimeError(f"unknown command {cmd!r}"))


def _change(st: Any, fraction: float, seed: int, blob_class: Any) -> dict[str, int]:
    """Change `fraction` of the live files: a quarter each new versions, renames, deletions and
    new files (in the folders of picked files). Events are recorded, as Box would."""
    rnd = random.Random(seed * 7919)
    with st.lock:
        files = sorted(
            (i for i in st.items.values() if i.type == "file" and not i.trashed), key=lambda i: int(i.id)
        )
    count = max(4, round(len(files) * fraction))
    picked = rnd.sample(files, count)
    quarter = count // 4
    done = Counter[str]()
    for n, item in enumerate(picked):
        kind = ("version", "rename", "delete", "add")[min(n // max(quarter, 1), 3)]
        size = max(0, int(rnd.lognormvariate(9.4, 1.2)))
        if kind == "version":
            st.new_version(item, blob_class(f"change:{seed}:{item.id}", size, True))
        elif kind == "rename":
            st.rename(item, f"renamed {n} {item.name}"[:250])
        elif kind == "delete":
            st.delete(item)
        else:
            st.file(item.parent_id, f"added {n}.txt", blob_class(f"added:{seed}:{n}", size, True))
        done[kind] += 1
    return dict(done)


class SandboxProcess:
    """The child and its pipe: `call(cmd, arg)` waits for the answer."""

    def __init__(self, users: int, files: int, seed: int) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, users, files, seed), daemon=True)
        self.process.start()
        self.info: dict[str, Any] = self.conn.recv()
        self.url: str = self.info["url"]

    def call(self, cmd: str, arg: Any = None) -> Any:
        self.conn.send((cmd, arg))
        answer = self.conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(EOFError, OSError):
                self.call("stop")
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
