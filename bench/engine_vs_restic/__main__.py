"""Our engine against restic on the same seeded data, in the same run.

    bench/engine_vs_restic/run [--quick] [--scale S] [--datasets mail,large,million] [--workdir DIR]

For each data set: full backup, a 1 % change plus 1 % new items, incremental (restic rescans the
folder; our engine is handed the changed paths), full restore of the latest snapshot (checked
byte for byte against the source, outside the timing), check. Then, on the mail repository: a
backup beside a concurrent prune. Every step is its own child process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import zstandard
from benchkit import log

from . import measure, report, restic_driver
from .engine_driver import Engine
from .generate import ChangeSet, Dataset, Spec
from .report import MB, Result

KiB, MiB = 1024, 1024 * 1024


def specs(scale: float) -> dict[str, Spec]:
    return {
        "mail": Spec("mail", max(100, round(100_000 * scale)), 2 * KiB, 20 * KiB, seed=1),
        "large": Spec("large", max(4, round(200 * scale)), 1 * MiB, 20 * MiB, seed=2),
        "million": Spec("mail", max(100, round(1_000_000 * scale)), 1 * KiB, 3 * KiB, seed=3),
    }


def stored_estimate(root: Path, paths: list[str]) -> int:
    """About what the changed content occupies once stored: zstd-3 per chunk of at most 1 MiB (our
    chunker's average) plus the per-blob encryption overhead. Used to tell metadata from data."""
    compressor = zstandard.ZstdCompressor(level=3)
    total = 0
    for rel in paths:
        data = (root / rel).read_bytes()
        for start in range(0, max(len(data), 1), MiB):
            piece = data[start : start + MiB]
            total += min(len(piece), len(compressor.compress(piece))) + 1 + 12 + 16
    return total


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.workdir.resolve()
        self.results: list[Result] = []
        self.info: dict[str, dict[str, Any]] = {}
        self.engines: dict[str, tuple[Engine, str, Dataset]] = {}

    def record(
        self, dataset: str, step: str, tool: str, run: measure.Run, repo: Path, before: int, **kw: Any
    ) -> Result:
        size = measure.tree_size(repo)
        result = Result(dataset, step, tool, run.wall, run.cpu, run.rss_mb, size, size - before, **kw)
        self.results.append(result)
        log(
            f"{dataset}: {tool:<6} {step:<11} {run.wall:8.2f} s wall {run.cpu:8.2f} s CPU "
            f"{run.rss_mb:6.0f} MiB  repo {size / MB:9.1f} MB"
        )
        return result

    def restored_ok(self, source: Path, restored: Path, what: str) -> None:
        problem = measure.same_tree(source, restored)
        if problem:
            raise SystemExit(f"{what}: the restored copy differs from the source: {problem}")
        log(f"{what}: restored copy matches the source byte for byte")

    def dataset(self, name: str, spec: Spec) -> None:
        data = Dataset(self.work / "data" / name, spec)
        started = time.perf_counter()
        made = data.prepare()
        log(
            f"{name}: {'generated' if made else 'reused'} {spec.count:,} items, {data.bytes / MB:,.1f} MB "
            f"in {time.perf_counter() - started:.1f} s ({data.root})"
        )
        self.info[name] = {"items": spec.count, "bytes": data.bytes, "spec": spec.__dict__}
        repos = self.work / "repos" / name
        shutil.rmtree(repos, ignore_errors=True)
        repos.mkdir(parents=True)
        restic = restic_driver.Restic(repos / "restic", repos / "restic-cache")
        ours = Engine(repos / "ours", repos / "master.key")
        restic.init()
        ours.init()
        src, entity = data.root, name

        # full backup
        before = measure.tree_size(restic.repo)
        run, summary = restic.backup(src)
        self.record(name, "backup", "restic", run, restic.repo, before, items=spec.count, bytes=data.bytes)
        before = measure.tree_size(ours.repo)
        run, answer = ours.backup(entity, src)
        self.record(name, "backup", "ours", run, ours.repo, before, items=spec.count, bytes=data.bytes)
        snapshot = answer["snapshot"]

        # 1 % changed + 1 % new
        change = data.apply(1, self.work / "changes")
        self.info[name]["change"] = {"changed": change.changed, "added": change.added, "bytes": change.bytes}
        before = measure.tree_size(restic.repo)
        run, summary = restic.backup(src)
        self.record(
            name,
            "incremental",
            "restic",
            run,
            restic.repo,
            before,
            items=len(change.paths),
            bytes=change.bytes,
            extra={"summary": summary},
        )
        before = measure.tree_size(ours.repo)
        run, answer = ours.incremental(entity, src, snapshot, change.manifest)
        snapshot = answer["snapshot"]
        result = self.record(
            name,
            "incremental",
            "ours",
            run,
            ours.repo,
            before,
            items=len(change.paths),
            bytes=change.bytes,
            extra={"stats": answer["stats"]},
        )
        data_estimate = stored_estimate(src, change.paths)
        result.extra.update(
            changed_bytes=change.bytes,
            data_estimate=data_estimate,
            metadata_estimate=max(0, result.written - data_estimate),
        )

        # full restore of the latest snapshot, then check
        total_items, total_bytes = data.count_items(), measure.tree_size(src)
        if name != "million" or self.args.million_restore:
            dest = self.work / "restore" / name
            shutil.rmtree(dest, ignore_errors=True)
            run, copy = restic.restore(dest / "restic", src)
            self.record(
                name,
                "restore",
                "restic",
                run,
                restic.repo,
                measure.tree_size(restic.repo),
                items=total_items,
                bytes=total_bytes,
            )
            self.restored_ok(src, copy, f"{name}: restic restore")
            run, answer = ours.restore(snapshot, dest / "ours")
            self.record(
                name,
                "restore",
                "ours",
                run,
                ours.repo,
                measure.tree_size(ours.repo),
                items=total_items,
                bytes=total_bytes,
            )
            self.restored_ok(src, dest / "ours", f"{name}: our restore")
            shutil.rmtree(dest)
        if name != "million" or not self.args.million_skip_check:
            run = restic.check()
            self.record(
                name,
                "check",
                "restic",
                run,
                restic.repo,
                measure.tree_size(restic.repo),
                items=total_items,
                bytes=total_bytes,
            )
            run, answer = ours.check()
            if not answer["ok"]:
                raise SystemExit(f"{name}: our check found problems: {answer['problems']}")
            self.record(
                name,
                "check",
                "ours",
                run,
                ours.repo,
                measure.tree_size(ours.repo),
                items=total_items,
                bytes=total_bytes,
                extra=answer["report"],
            )
        self.engines[name] = (ours, snapshot, data)

    def prune_beside_backup(self, name: str) -> dict[str, Any]:
        """Backups beside a prune with no grace period, in the worst case: each backup brings back
        content whose only copy is in a pack that forgetting a snapshot has just made garbage, so
        the prune means to delete the very blobs the backup finds already stored.

        Change set 2 is backed up at version 2 (pack A), then at version 3 (pack B), alone: the
        baseline times. Forget all but the last snapshot (pack A is garbage), then back up version
        2 again while a prune runs (the backup started first). Forget again (pack B is garbage),
        then back up version 3 while a prune runs (the prune started first). Each snapshot must
        restore byte for byte and check must pass after a final prune."""
        ours, snapshot, data = self.engines[name]
        src, ready, dest = data.root, self.work / "ready", self.work / "restore" / f"{name}-prune"

        def verify(snap: str, what: str) -> None:
            shutil.rmtree(dest, ignore_errors=True)
            ours.restore(snap, dest)
            self.restored_ok(src, dest, what)
            shutil.rmtree(dest)

        alone = []
        for version in (2, 3):
            change: ChangeSet = data.apply(2, self.work / "changes", version)
            run, answer = ours.incremental(name, src, snapshot, change.manifest)
            snapshot = answer["snapshot"]
            alone.append(run.wall)
            log(f"{name}: backup of change set 2 at version {version} alone: {run.wall:.2f} s")
        baseline = max(alone)
        out: dict[str, Any] = {"alone": alone}
        ok = True
        for version, order in ((2, "backup first"), (3, "prune first")):
            forgotten = ours.forget_all_but_last(name)["removed"]
            change = data.apply(2, self.work / "changes", version)
            backup = ours.incremental_command(name, src, snapshot, change.manifest, ready)
            prune = ours.prune_command(ready)
            if order == "backup first":
                b, p = measure.run_together(backup, prune, ready, ours.env)
            else:
                p, b = measure.run_together(prune, backup, ready, ours.env)
            answer, pruned = Engine.answer(b, "incremental beside prune"), Engine.answer(p, "prune")
            snapshot = answer["snapshot"]
            overlap = min(b.start + b.wall, p.start + p.wall) - max(b.start, p.start)
            log(
                f"{name}: version {version} again, {order}, after forgetting {len(forgotten)} snapshots: "
                f"backup {b.wall:.2f} s, prune {p.wall:.2f} s, overlapping {max(0.0, overlap):.2f} s; "
                f"prune: {pruned['report']}"
            )
            verify(snapshot, f"{name}: backup beside prune ({order})")
            not_blocked = b.wall <= 2 * baseline + 0.5
            ok = ok and not_blocked and overlap > 0
            out[order] = {
                "backup_wall": b.wall,
                "prune_wall": p.wall,
                "overlap": overlap,
                "prune": pruned["report"],
                "not_blocked": not_blocked,
            }
        ours.forget_all_but_last(name)
        final = Engine.answer(measure.run(ours.prune_command(self.work / "ready")), "prune")
        _, answer = ours.check()
        verify(snapshot, f"{name}: last snapshot after a final prune")
        ok = ok and answer["ok"]
        out.update(final_prune=final["report"], check_ok=answer["ok"], problems=answer["problems"], ok=ok)
        first, second = out["backup first"], out["prune first"]
        out["summary"] = (
            f"backup alone {baseline:.2f} s; beside prune {first['backup_wall']:.2f} s "
            f"(backup first, prune {first['prune_wall']:.2f} s, overlap {first['overlap']:.2f} s) and "
            f"{second['backup_wall']:.2f} s (prune first, prune {second['prune_wall']:.2f} s, "
            f"overlap {second['overlap']:.2f} s); snapshots restore intact, "
            f"check {'ok' if answer['ok'] else 'FAILED: ' + '; '.join(answer['problems'])}"
        )
        return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/engine_vs_restic/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller data sets (same as --scale 0.1)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every data set's item count")
    parser.add_argument(
        "--datasets", default="mail,large,million", help="comma-separated: mail,large,million"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/backstop-bench"), help="scratch folder")
    parser.add_argument("--million-restore", action="store_true", help="also restore the million-item set")
    parser.add_argument(
        "--million-skip-check", action="store_true", help="skip check on the million-item set"
    )
    parser.add_argument("--no-prune", action="store_true", help="skip the backup-beside-prune check")
    parser.add_argument("--keep-repos", action="store_true", help="keep the repositories afterwards")
    parser.add_argument("--clean", action="store_true", help="delete the generated data afterwards")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else args.scale
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    all_specs = specs(scale)
    if unknown := set(names) - all_specs.keys():
        parser.error(f"unknown data sets: {', '.join(sorted(unknown))}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "restore").mkdir(exist_ok=True)

    restic_version = restic_driver.version()
    repo_root = Path(__file__).resolve().parents[2]
    git = ["git", "-C", str(repo_root)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "src/backstop/engine"], capture_output=True, text=True
    )
    engine_version = commit + (" with uncommitted engine changes" if dirty.stdout.strip() else "")
    env = {
        "engine": engine_version,
        "restic": restic_version,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "scale": scale,
    }
    log(
        f"engine at {engine_version}; {restic_version}; {os.cpu_count()} CPUs; scale {scale}; "
        f"work folder {args.workdir}"
    )
    bench = Bench(args)
    for name in names:
        bench.dataset(name, all_specs[name])
    prune = None
    if not args.no_prune and "mail" in names:
        prune = bench.prune_beside_backup("mail")

    print()  # noqa: T201
    for name in names:
        info = bench.info[name]
        title = f"{name}: {info['items']:,} items, {info['bytes'] / MB:,.1f} MB"
        title += f" ({restic_version}, {os.cpu_count()} CPUs)"
        print(report.table(name, title, bench.results) + "\n")  # noqa: T201
    targets = report.targets(bench.results, bench.info, prune)
    print("Targets:")  # noqa: T201
    for target in targets:
        print("  " + target.line())  # noqa: T201
    out = args.workdir / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "environment": env,
                "datasets": bench.info,
                "results": [r.__dict__ for r in bench.results],
                "prune_beside_backup": prune,
                "targets": [t.__dict__ for t in targets],
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nResults written to {out}")  # noqa: T201
    if not args.keep_repos:
        shutil.rmtree(args.workdir / "repos", ignore_errors=True)
    if args.clean:
        shutil.rmtree(args.workdir / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
