"""restic's side: the restic binary, each step a child process (local repository, default settings:
repository version 2, zstd compression 'auto', its local cache kept in the work folder)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from . import measure


def binary() -> str:
    found = shutil.which("restic")
    if found is None:
        raise SystemExit("restic is not installed: run scripts/system-deps restic")
    return found


def version() -> str:
    return subprocess.run([binary(), "version"], capture_output=True, text=True, check=True).stdout.strip()


class Restic:
    def __init__(self, repo: Path, cache: Path) -> None:
        self.repo = repo
        self.env = {
            "RESTIC_REPOSITORY": str(repo),
            "RESTIC_PASSWORD": "backstop-bench",
            "RESTIC_CACHE_DIR": str(cache),
        }

    def _run(self, *args: str) -> measure.Run:
        return measure.run([binary(), *args], self.env).check(f"restic {args[0]}")

    def init(self) -> None:
        self._run("init", "--quiet")

    def backup(self, source: Path) -> tuple[measure.Run, dict[str, Any]]:
        """A backup of the whole folder; restic finds the previous snapshot of the same host and path
        itself and rescans the folder against it."""
        run = self._run("backup", "--json", "--quiet", "--host", "bench", str(source))
        summary = next(json.loads(line) for line in reversed(run.stdout.splitlines()) if '"summary"' in line)
        return run, summary

    def restore(self, dest: Path, source: Path) -> tuple[measure.Run, Path]:
        """Restores the latest snapshot; returns where the source folder's copy is."""
        run = self._run("restore", "latest", "--target", str(dest), "--quiet")
        return run, dest / source.relative_to(source.anchor)

    def check(self) -> measure.Run:
        return self._run("check", "--quiet")
