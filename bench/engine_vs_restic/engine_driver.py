"""Our side: each step runs `python -m engine_vs_restic.engine_driver <step> ...` in a child process,
which prints one JSON line with its result. `Engine` is the harness-side handle on that.

The full backup walks the folder and reads every file, as restic does. The incremental is handed
the list of changed paths, as a connector's change feed hands it in production, and writes an
overlay on the parent snapshot (inherit=True): nothing else is scanned.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from . import measure

BENCH_DIR = Path(__file__).resolve().parent.parent


class Engine:
    """Harness side: builds the command lines and reads the child's JSON answer."""

    def __init__(self, repo: Path, key_file: Path) -> None:
        self.repo, self.key_file = repo, key_file
        self.env = {"PYTHONPATH": str(BENCH_DIR)}

    def command(self, step: str, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "engine_vs_restic.engine_driver",
            step,
            str(self.repo),
            str(self.key_file),
            *args,
        ]

    @staticmethod
    def answer(run: measure.Run, step: str) -> dict[str, Any]:
        run.check(f"engine {step}")
        return json.loads(run.stdout.strip().splitlines()[-1])

    def _run(self, step: str, *args: str) -> tuple[measure.Run, dict[str, Any]]:
        run = measure.run(self.command(step, *args), self.env)
        return run, self.answer(run, step)

    def init(self) -> None:
        self.key_file.write_bytes(os.urandom(32))
        self._run("init")

    def backup(self, entity: str, source: Path) -> tuple[measure.Run, dict[str, Any]]:
        return self._run("backup", entity, str(source))

    def incremental(
        self, entity: str, source: Path, parent: str, changes: Path
    ) -> tuple[measure.Run, dict[str, Any]]:
        return self._run("incremental", entity, str(source), parent, str(changes))

    def incremental_command(
        self, entity: str, source: Path, parent: str, changes: Path, ready: Path
    ) -> list[str]:
        """The incremental, creating `ready` once its writer is open (for running it beside a prune)."""
        return self.command("incremental", entity, str(source), parent, str(changes), str(ready))

    def prune_command(self, ready: Path) -> list[str]:
        return self.command("prune", str(ready))

    def restore(self, snapshot: str, dest: Path) -> tuple[measure.Run, dict[str, Any]]:
        return self._run("restore", snapshot, str(dest))

    def check(self) -> tuple[measure.Run, dict[str, Any]]:
        return self._run("check")

    def forget_all_but_last(self, entity: str) -> dict[str, Any]:
        return self._run("forget", entity)[1]


# -- child side


def _walk(root: str, prefix: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, rel + "/")
        elif entry.is_file(follow_symlinks=False):
            yield rel, entry.path, entry.stat(follow_symlinks=False)


def _meta(st: os.stat_result) -> dict[str, Any]:
    return {"size": st.st_size, "mtime": st.st_mtime_ns}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="engine_driver")
    parser.add_argument("step")
    parser.add_argument("repo")
    parser.add_argument("key_file")
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args(argv)

    from backstop.engine import Repository, RetentionPolicy, open_store

    store = open_store(f"file://{Path(ns.repo).resolve()}")
    key = Path(ns.key_file).read_bytes()
    out: dict[str, Any] = {}
    if ns.step == "init":
        Repository.init(store, key)
        print(json.dumps(out))  # noqa: T201
        return
    repo = Repository.open(store, key)

    if ns.step == "backup":  # full: walk and read everything
        entity, source = ns.args
        with repo.writer(entity, inherit=False) as w:
            for rel, full, st in _walk(source):
                with open(full, "rb") as f:
                    w.add(rel, _meta(st), f)
            result = w.commit()
        out = {"snapshot": result.snapshot_id, "stats": _plain(result.stats)}
    elif ns.step == "incremental":  # only the paths of the change feed
        entity, source, parent, changes, *ready = ns.args
        paths = [p for p in Path(changes).read_text().splitlines() if p]
        with repo.writer(entity, parent=parent, inherit=True) as w:
            if ready:
                Path(ready[0]).touch()
            for rel in paths:
                full = os.path.join(source, rel)
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    w.delete(rel)
                    continue
                with open(full, "rb") as f:
                    w.add(rel, _meta(st), f)
            result = w.commit()
        out = {"snapshot": result.snapshot_id, "stats": _plain(result.stats)}
    elif ns.step == "restore":
        snapshot, dest = ns.args
        out = {"stats": _plain(repo.restore_to_folder(snapshot, Path(dest)))}
    elif ns.step == "check":
        report = repo.check()
        out = {"ok": report.ok, "problems": [str(p) for p in report.problems[:20]], "report": _plain(report)}
        out["report"].pop("problems", None)
    elif ns.step == "forget":
        (entity,) = ns.args
        result = repo.forget(RetentionPolicy(keep_last=1), entity=entity)
        out = {"kept": [s.id for s in result.kept], "removed": [s.id for s in result.removed]}
    elif ns.step == "prune":  # signals it has the repository open, then prunes with no grace period
        (ready,) = ns.args
        Path(ready).touch()
        out = {"report": _plain(repo.prune(grace=timedelta(0)))}
    else:
        parser.error(f"unknown step {ns.step}")
    print(json.dumps(out))  # noqa: T201


if __name__ == "__main__":
    main()
