"""Runs one measured step in its own child process: wall time, CPU time and peak RSS of that child.

Wall time is taken around the child's whole life (start to reaping); CPU time (user + system) and
peak RSS come from os.wait4's rusage of that one child, so nothing accumulates between steps.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss_mb: float  # peak resident set size, MiB
    returncode: int
    stdout: str
    stderr: str
    start: float = 0.0  # time.perf_counter() when the child was started

    def check(self, what: str) -> Run:
        if self.returncode != 0:
            raise RuntimeError(f"{what} failed with exit status {self.returncode}:\n{self.stderr[-4000:]}")
        return self


class _Child:
    def __init__(self, cmd: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None) -> None:
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finish)
        self.err = tempfile.TemporaryFile()  # noqa: SIM115
        full_env = {**os.environ, **(env or {})}
        self.start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, env=full_env, cwd=cwd)

    def finish(self, status: int, usage: os.struct_rusage) -> Run:
        wall = time.perf_counter() - self.start
        code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = code  # reaped by wait4 here, not by Popen
        texts = []
        for f in (self.out, self.err):
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
            f.close()
        cpu = usage.ru_utime + usage.ru_stime
        return Run(wall, cpu, usage.ru_maxrss / 1024, code, texts[0], texts[1], self.start)


def settle() -> None:
    """Writes dirty pages back before a step, so one step's writeback is not charged to the next."""
    os.sync()


def run(cmd: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Run:
    settle()
    child = _Child(cmd, env, cwd)
    _, status, usage = os.wait4(child.proc.pid, 0)
    return child.finish(status, usage)


def run_together(
    first: Sequence[str], second: Sequence[str], ready: Path, env: Mapping[str, str] | None = None
) -> tuple[Run, Run]:
    """Starts `first`, waits until it creates the file `ready`, then starts `second`; both are
    measured on their own."""
    settle()
    ready.unlink(missing_ok=True)
    a = _Child(first, env, None)
    while not ready.exists():
        if a.proc.poll() is not None:
            raise RuntimeError(f"{first} ended before it was ready")
        time.sleep(0.005)
    b = _Child(second, env, None)
    children = {a.proc.pid: a, b.proc.pid: b}
    runs: dict[int, Run] = {}
    while len(runs) < 2:
        pid, status, usage = os.wait4(-1, 0)
        if pid in children:
            runs[pid] = children[pid].finish(status, usage)
    return runs[a.proc.pid], runs[b.proc.pid]


def tree_size(root: Path) -> int:
    """Bytes in the files below root (what a repository occupies)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _digest(path: str) -> bytes:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "blake2b").digest()


def same_tree(source: Path, restored: Path) -> str | None:
    """None when restored holds exactly source's files with the same bytes, else what differs."""

    def listing(root: Path) -> dict[str, str]:
        out = {}
        for folder, _, files in os.walk(root):
            for name in files:
                full = os.path.join(folder, name)
                out[os.path.relpath(full, root)] = full
        return out

    src, dst = listing(source), listing(restored)
    missing, extra = src.keys() - dst.keys(), dst.keys() - src.keys()
    if missing or extra:
        return (
            f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} extra ({sorted(extra)[:3]})"
        )
    for rel, full in src.items():
        other = dst[rel]
        if os.path.getsize(full) != os.path.getsize(other) or _digest(full) != _digest(other):
            return f"content differs: {rel}"
    return None
