"""Recovery at scale: catalog reads, keyword search, zip export and IMAP restore, against targets.

    bench/recovery/run [--quick] [--only catalog,export,restore] [--database-url URL] [--profile DIR]

1. A catalog of 1,000,000 item versions (--quick 100,000) across 10 entities with 30 daily
   snapshots each, written in the pipeline's shape on a fresh database migrated by the project's
   migrations (SQLite in the work folder; --database-url: a throwaway database created on that
   PostgreSQL server and dropped at the end). Load time.
2. `recovery.list_folder` of each entity's large folder (and of its root) as of random
   snapshots: p50/p95; target p95 < 200 ms.
3. `search.search(entity, text=...)` for a common word, a rare word and two words, the first page
   (100 rows) and the count, and as the Recovery page shows results: p50/p95; target p95 < 500 ms.
4. The export's zip writer (an export job run as the runner runs it) over a whole snapshot of
   ~1 GB (--quick 200 MB) in the local repository, in a child process: MB/s (target >= 100) and
   peak RSS (target < 300 MiB); the restored mailbox's export too, for information.
5. 10,000 messages (--quick 2,000) restored into a private Dovecot through the connector (in
   rounds interleaved with the anchor's) and by a restore job, against a bare APPEND loop of the
   same bytes: target >= 50 % of its messages/s.

Exits non-zero on errors only; a missed target is reported as MISS.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import benchkit
from benchkit import log

from . import db

LIST_TARGET_MS = 200.0
SEARCH_TARGET_MS = 500.0
EXPORT_TARGET_MBS = 100.0
EXPORT_RSS_TARGET = 300 * 2**20
RESTORE_TARGET = 0.50
PARTS = ("catalog", "export", "restore")


class Table:
    """Figure, value, target, value ÷ target, PASS/MISS (or blank: no target)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def info(self, name: str, value: str) -> None:
        self.rows.append((name, value, "", "", ""))

    def below(self, name: str, value: float, target: float, unit: str, fmt: str = ".1f") -> bool:
        ok = value < target
        self.rows.append(
            (name, f"{value:{fmt}} {unit}", f"< {target:g} {unit}", f"{value / target:.2f}", _mark(ok))
        )
        return ok

    def above(self, name: str, value: float, target: float, unit: str, fmt: str = ".1f") -> bool:
        ok = value >= target
        shown_target = f">= {target:.0%}" if unit == "%" else f">= {target:g} {unit}"
        shown = f"{value:.0%}" if unit == "%" else f"{value:{fmt}} {unit}"
        self.rows.append((name, shown, shown_target, f"{value / target:.2f}", _mark(ok)))
        return ok

    def lines(self) -> list[str]:
        head = ("figure", "value", "target", "÷ target", "")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(5)]
        out = [
            "  ".join(
                h.ljust(w) if i == 0 else h.rjust(w)
                for i, (h, w) in enumerate(zip(head, widths, strict=True))
            )
        ]
        out.append("-" * len(out[0]))
        for row in self.rows:
            out.append(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        return out


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/recovery/run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="100,000 versions, 200 MB export, 2,000 messages"
    )
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated: catalog, export, restore")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "backstop-bench-recovery"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql://user:pw@host/db): a "
        "throwaway database is created on it and dropped at the end",
    )
    parser.add_argument("--versions", type=int, help="catalog rows in all (1,000,000; --quick 100,000)")
    parser.add_argument("--entities", type=int, default=10)
    parser.add_argument("--snapshots", type=int, default=30, help="daily snapshots per entity")
    parser.add_argument(
        "--folder-items", type=int, default=10_000, help="items of each entity's large folder"
    )
    parser.add_argument(
        "--calls", type=int, default=60, help="timed calls of each kind (after 5 warm-up calls)"
    )
    parser.add_argument("--export-mb", type=int, help="size of the exported snapshot (1,000; --quick 200)")
    parser.add_argument("--messages", type=int, help="messages restored (10,000; --quick 2,000)")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="run ANALYZE on SQLite after the load "
        "(the embedded default never does; PostgreSQL's autovacuum does)",
    )
    parser.add_argument(
        "--imap-no-fsync",
        action="store_true",
        help="Dovecot with mail_fsync = never: the server's cost is its CPU only, so ours shows more",
    )
    parser.add_argument(
        "--keep-database", action="store_true", help="with --database-url: keep the database for a look"
    )
    parser.add_argument("--profile", type=Path, help="write cProfile stats of each timed part here")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    only = {p.strip() for p in args.only.split(",") if p.strip()}
    if only - set(PARTS):
        parser.error(f"--only takes {', '.join(PARTS)}")
    versions = args.versions or (100_000 if args.quick else 1_000_000)
    export_mb = args.export_mb or (200 if args.quick else 1_000)
    messages = args.messages or (2_000 if args.quick else 10_000)

    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # Dovecot's mail user must reach its folder below
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(work / "dovecot", ignore_errors=True)
    log(f"work folder {work}; {benchkit.machine()}")
    if args.profile:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
    database_url = db.create_database(args.database_url) if args.database_url else None
    db.setup(data, database_url)
    from backup_pipeline import env
    from django.db import connection

    def measured(name: str, fn: Callable[..., Any], *a: Any) -> Any:
        if not args.profile:
            return fn(*a)
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(fn, *a)
        finally:
            profiler.dump_stats(str(args.profile / f"{name}.pstats"))

    table = Table()
    details: list[str] = []
    results: dict[str, Any] = {
        "machine": benchkit.machine(),
        "quick": args.quick,
        "database": connection.vendor,
        "argv": sys.argv[1:],
    }
    errors: list[str] = []
    try:
        account = env.account("Recovery bench")
        if "catalog" in only:
            errors += catalog_part(args, versions, account, table, details, results, measured)
        if "export" in only:
            errors += export_part(args, work, data, database_url, account, export_mb, table, details, results)
        if "restore" in only:
            errors += restore_part(
                args, work, data, database_url, messages, table, details, results, measured
            )
    finally:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (work / f"results-{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
        if database_url and not args.keep_database:
            db.drop_database(database_url)
        elif database_url:
            log(f"kept the database {database_url}")
    print("\n" + "\n".join([*details, "", *table.lines()]), flush=True)  # noqa: T201
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)  # noqa: T201
    return 1 if errors else 0


def export_part(
    args: argparse.Namespace,
    work: Path,
    data: Path,
    database_url: str | None,
    account: Any,
    export_mb: int,
    table: Table,
    details: list[str],
    results: dict[str, Any],
) -> list[str]:
    from . import export_bench

    figures = export_bench.run(
        work, data, database_url, account, export_mb * 1_000_000, args.seed, args.profile, log
    )
    results["export"] = {**asdict(figures), "mb_per_s": figures.mb_per_s}
    if figures.errors:
        return figures.errors
    details.append(
        f"export: {figures.items:,} files, {figures.bytes / 1e6:,.0f} MB ({figures.stored / 1e6:,.0f} MB "
        f"stored, written in {figures.write_s:.1f} s) -> zip of {figures.zip_bytes / 1e6:,.0f} MB by "
        f"{figures.function}: {figures.export_s:.1f} s, {figures.export_cpu:.1f} s CPU; "
        f"RSS before {figures.baseline_rss / 2**20:.0f} MiB, peak {figures.peak_rss / 2**20:.0f} MiB"
    )
    label = f"export to zip ({figures.bytes / 1e6:,.0f} MB)"
    table.above(label, figures.mb_per_s, EXPORT_TARGET_MBS, "MB/s")
    table.below("export peak RSS", figures.peak_rss / 2**20, EXPORT_RSS_TARGET / 2**20, "MiB", ".0f")
    return []


def restore_part(
    args: argparse.Namespace,
    work: Path,
    data: Path,
    database_url: str | None,
    messages: int,
    table: Table,
    details: list[str],
    results: dict[str, Any],
    measured: Callable[..., Any],
) -> list[str]:
    from backstop.backups.models import Snapshot

    from . import export_bench, imap_restore

    restore = imap_restore.run(work, messages, args.seed, log, measured, fsync=not args.imap_no_fsync)
    results["restore"] = {
        **asdict(restore),
        "anchor_per_s": restore.anchor_rate,
        "connector_per_s": restore.connector.rate,
        "job_per_s": restore.job.rate,
    }
    errors = list(restore.errors)
    if restore.anchor_s:
        details.append(
            f"IMAP: {restore.messages:,} messages, {restore.bytes / 1e6:,.0f} MB (backed up in "
            f"{restore.backup_s:.1f} s); Dovecot fsync: {restore.fsync}"
        )
    job, connector = restore.job, restore.connector
    if connector.seconds and restore.rounds_anchor_s:
        rounds_rate = restore.messages / restore.rounds_anchor_s
        details.append(
            f"IMAP connector restore, {imap_restore.ROUNDS} rounds interleaved with the bare loop: "
            f"{connector.seconds:.1f} s, {connector.restored:,} restored ({connector.rate:.0f}/s, "
            f"{connector.cpu:.1f} s CPU) against {restore.rounds_anchor_s:.1f} s "
            f"({rounds_rate:.0f}/s, {restore.rounds_anchor_cpu:.1f} s CPU)"
            + (f"; ERROR {connector.error}" if connector.error else "")
        )
        table.info("IMAP bare APPEND loop, in rounds", f"{rounds_rate:.0f} msg/s")
        table.info("IMAP connector restore, in rounds", f"{connector.rate:.0f} msg/s")
        label = "IMAP connector restore / bare APPEND (rounds)"
        if connector.error:
            table.rows.append((label, "failed", ">= 50%", "", "ERROR"))
        else:
            table.above(label, connector.rate / rounds_rate, RESTORE_TARGET, "%")
    if job.seconds and restore.anchor_s:
        details.append(
            f"IMAP restore job: {job.seconds:.1f} s, {job.restored:,} restored ({job.rate:.0f}/s, "
            f"{job.cpu:.1f} s CPU), {job.in_folder:,} in {job.folder!r}; bare APPEND loop run whole "
            "before and after: "
            + " and ".join(f"{s:.1f} s" for s in restore.anchor_runs)
            + f" ({restore.anchor_rate:.0f}/s, {restore.anchor_cpu:.1f} s CPU a run)"
            + (f"; ERROR {job.error}" if job.error else "")
        )
        table.info("IMAP bare APPEND loop, whole runs", f"{restore.anchor_rate:.0f} msg/s")
        table.info("IMAP restore job", "failed" if job.error else f"{job.rate:.0f} msg/s")
        if job.error:
            table.rows.append(("IMAP restore job / bare APPEND", "failed", ">= 50%", "", "ERROR"))
        else:
            table.above("IMAP restore job / bare APPEND", job.rate / restore.anchor_rate, RESTORE_TARGET, "%")
    if restore.snapshot_pk:
        snapshot = Snapshot.objects.get(pk=restore.snapshot_pk)
        mailbox = export_bench.export_snapshot(work, data, database_url, snapshot, args.profile, log)
        results["export_mailbox"] = {**asdict(mailbox), "mb_per_s": mailbox.mb_per_s}
        errors += mailbox.errors
        if not mailbox.errors:
            details.append(
                f"export of the mailbox: {mailbox.items:,} messages, {mailbox.bytes / 1e6:,.1f} MB -> zip of "
                f"{mailbox.zip_bytes / 1e6:,.1f} MB (messages are deflated): {mailbox.export_s:.2f} s, "
                f"{mailbox.export_cpu:.2f} s CPU, peak RSS {mailbox.peak_rss / 2**20:.0f} MiB"
            )
            label = f"export to zip, the mailbox ({mailbox.bytes / 1e6:,.0f} MB)"
            table.info(label, f"{mailbox.mb_per_s:.1f} MB/s")
    return errors


def catalog_part(
    args: argparse.Namespace,
    versions: int,
    account: Any,
    table: Table,
    details: list[str],
    results: dict[str, Any],
    measured: Callable[..., Any],
) -> list[str]:
    from . import catalog

    log(f"catalog: {versions:,} versions across {args.entities} entities, {args.snapshots} snapshots each")
    load, entities = catalog.build(
        account,
        entities=args.entities,
        versions=versions,
        snapshots=args.snapshots,
        folder_items=args.folder_items,
        seed=args.seed,
        analyze=args.analyze,
        log=log,
    )
    results["load"] = asdict(load)
    bigs = sorted(load.big_folder_items)
    details.append(
        f"catalog: {load.versions:,} versions ({load.current:,} current) of {load.entities} entities x "
        f"{load.snapshots} snapshots in {load.total_s:.0f} s ({load.versions / load.total_s:,.0f} rows/s; "
        f"first snapshots {load.first_s:.0f} s, later ones {load.changes_s:.0f} s); "
        f"database {load.db_bytes / 1e6:,.0f} MB; "
        f"large folders {bigs[0]:,}-{bigs[-1]:,} items at the last snapshot"
        + ("" if load.has_text else "; NO text column (search migration absent)")
    )
    table.info("catalog load", f"{load.total_s:.0f} s ({load.versions:,} versions)")
    warmup = 5
    listings = measured("listing", catalog.time_listings, entities, args.calls, warmup, args.seed, log)
    results["listing"] = {k: {**v.summary(), "calls_ms": v.calls} for k, v in listings.items()}
    for name, timing in listings.items():
        details.append(
            f"list_folder, {name}: p50 {timing.p50:.1f} ms, p95 {timing.p95:.1f} ms, max {timing.max:.1f} ms "
            f"over {len(timing.calls)} calls (items in the folder: median "
            f"{timing.summary()['hits_median']:,.0f})"
        )
        if name.endswith("random page"):
            table.info(f"list_folder, {name}, p95", f"{timing.p95:.1f} ms")
        else:
            table.below(f"list_folder, {name}, p95", timing.p95, LIST_TARGET_MS, "ms")
    try:
        from backstop.backups import search  # noqa: F401
    except ImportError as exc:
        return [f"search: {exc}"]
    found = measured("search", catalog.time_search, entities, args.calls, warmup, args.seed + 1, log)
    results["search"] = {k: {**v.summary(), "calls_ms": v.calls} for k, v in found.items()}
    for name, timing in found.items():
        details.append(
            f"search, {name}: p50 {timing.p50:.1f} ms, p95 {timing.p95:.1f} ms, max {timing.max:.1f} ms; "
            f"matches median {timing.summary()['hits_median']:,.0f} ({timing.note})"
        )
        table.below(f"search, {name}, p95", timing.p95, SEARCH_TARGET_MS, "ms")
    return []


if __name__ == "__main__":
    sys.exit(main())
