"""The backup pipeline end to end, against its anchors.

    bench/backup_pipeline/run [--quick] [--only box|imap] [--workdir DIR] [--profile DIR]

Box: a seeded sandbox enterprise (20 users, 50,000 files; --quick 2 users, 2,000 files), 20 ms
added to every request, every user backed up through `runner.run` in N threads (N = Box's allowed
concurrency per tenant). Anchor: the ceiling that concurrency and latency set, N / latency
requests per second, turned into items per second with the requests per item counted by the
emulator. Then 1 % of the files change (new versions, renames, deletions, new files) and the
incremental runs; its time as a share of the full run.

IMAP: a private Dovecot with 100,000 seeded messages (--quick 5,000). Anchor: a bare imapclient
loop fetching every message (UID FETCH BODY.PEEK[] in batches of 500). Then a full pipeline
backup of the mailbox; its messages/s against the anchor's.

Exits non-zero on errors only; a missed target is printed as MISSED.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import benchkit
from benchkit import log

from . import box_bench, env, imap_bench

BOX_TARGET = 0.80  # of the ceiling
INCREMENTAL_TARGET = 0.05  # of the full run
IMAP_TARGET = 0.70  # of the anchor


def mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def box_report(f: box_bench.BoxFigures) -> tuple[list[str], dict[str, Any]]:
    full, inc = f.full, f.incremental
    assert full is not None and inc is not None
    ceiling_rps = f.concurrency / f.latency
    per_item = full.requests / full.items if full.items else 0.0
    ceiling_ips = ceiling_rps / per_item if per_item else 0.0
    ips = full.items / full.wall
    rps = full.requests / full.wall
    share = inc.wall / full.wall
    # One entity's items go one after another: its requests each wait out the latency.
    serial_floor = full.longest_items * per_item * f.latency
    at_rate = full.requests / f.rate
    head = f"{'step':<14}{'wall s':>9}{'CPU s':>8}{'box CPU s':>10}{'items':>9}{'downl.':>8}{'snap MB':>9}"
    head += f"{'requests':>10}{'req/s':>8}{'items/s':>9}"
    lines = [
        f"== Box: {f.users} users, {f.files:,} files + {f.versions:,} older versions, "
        f"{f.bytes / 1e6:,.0f} MB; {f.latency * 1000:.0f} ms a request, {f.concurrency} threads",
        head,
        "-" * len(head),
    ]
    for name, r in (("full backup", full), ("incremental", inc)):
        lines.append(
            f"{name:<14}{r.wall:9.1f}{r.cpu:8.1f}{r.sandbox_cpu:10.1f}{r.items:9d}{r.downloaded:8d}"
            f"{r.size / 1e6:9.1f}{r.requests:10d}{r.requests / r.wall:8.0f}{r.items / r.wall:9.0f}"
        )
    lines += [
        f"{'ceiling':<14}{'':>9}{'':>8}{'':>10}{'':>9}{'':>8}{'':>9}{'':>10}{ceiling_rps:8.0f}{ceiling_ips:9.0f}"
        f"   ({f.concurrency} in flight / {f.latency * 1000:.0f} ms; {per_item:.2f} requests an item)",
        "",
        "requests, full:        " + ", ".join(f"{k} {v:,}" for k, v in sorted(full.kinds.items())),
        "requests, incremental: " + ", ".join(f"{k} {v:,}" for k, v in sorted(inc.kinds.items())),
        f"slowest entity: {full.longest:.1f} s for {full.longest_items:,} items "
        f"(serial floor at {f.latency * 1000:.0f} ms a request: {serial_floor:.1f} s)",
        f"changed: {f.changed}; incremental: {inc.added} new, {inc.changed} changed, {inc.removed} removed",
        f"note: the connector's default rate limit is {f.rate:g} requests/s per tenant (lifted here): "
        f"at that rate the full backup's {full.requests:,} requests take {at_rate / 3600:.1f} h",
        "",
        f"{mark(ips >= BOX_TARGET * ceiling_ips):<7} full backup >= {BOX_TARGET:.0%} of the ceiling: "
        f"{ips:.0f} items/s = {ips / ceiling_ips:.0%} of {ceiling_ips:.0f} "
        f"({rps:.0f} of {ceiling_rps:.0f} req/s)",
        f"{mark(share <= INCREMENTAL_TARGET):<7} incremental <= {INCREMENTAL_TARGET:.0%} of the full run: "
        f"{inc.wall:.1f} s = {share:.1%} of {full.wall:.1f} s",
    ]
    summary = {
        "items_per_s": ips,
        "ceiling_items_per_s": ceiling_ips,
        "ratio": ips / ceiling_ips,
        "requests_per_item": per_item,
        "incremental_share": share,
        "serial_floor_s": serial_floor,
    }
    return lines, summary


def imap_report(f: imap_bench.ImapFigures) -> tuple[list[str], dict[str, Any]]:
    anchor = f.anchor_messages / f.anchor_s
    ours = f.pipeline_items / f.pipeline_s if f.pipeline_s else 0.0
    head = f"{'step':<18}{'wall s':>9}{'CPU s':>8}{'messages':>10}{'MB':>8}{'msg/s':>9}{'MB/s':>8}"
    lines = [
        f"== IMAP: one Dovecot mailbox, {f.messages:,} messages, {f.bytes / 1e6:,.0f} MB "
        f"(filled by {f.fill} in {f.fill_s:.0f} s)",
        head,
        "-" * len(head),
        f"{'anchor (bare)':<18}{f.anchor_s:9.1f}{f.anchor_cpu:8.1f}{f.anchor_messages:10d}"
        f"{f.anchor_bytes / 1e6:8.1f}{anchor:9.0f}{f.anchor_bytes / 1e6 / f.anchor_s:8.1f}",
        f"{'pipeline backup':<18}{f.pipeline_s:9.1f}{f.pipeline_cpu:8.1f}{f.pipeline_items:10d}"
        f"{f.pipeline_bytes / 1e6:8.1f}{ours:9.0f}{f.pipeline_bytes / 1e6 / max(f.pipeline_s, 1e-9):8.1f}",
        f"{'pipeline/anchor':<18}{f.anchor_s / max(f.pipeline_s, 1e-9):8.2f}x",
        "",
        f"{mark(ours >= IMAP_TARGET * anchor):<7} pipeline >= {IMAP_TARGET:.0%} of the bare fetch loop: "
        f"{ours:.0f} against {anchor:.0f} messages/s = {ours / anchor:.0%}",
    ]
    return lines, {"anchor_per_s": anchor, "pipeline_per_s": ours, "ratio": ours / anchor}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/backup_pipeline/run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 users x 2,000 files, 5,000 messages")
    parser.add_argument("--only", choices=("box", "imap"), help="one half only")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "backstop-bench-pipeline"
    )
    parser.add_argument("--users", type=int)
    parser.add_argument("--files", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every Box request")
    parser.add_argument("--change", type=float, default=0.01, help="share of the Box files changed")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of each half here")
    args = parser.parse_args(argv)
    users = args.users or (2 if args.quick else 20)
    files = args.files or (2_000 if args.quick else 50_000)
    count = args.messages or (5_000 if args.quick else 100_000)

    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # Dovecot's mail user must reach its folder below
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(work / "dovecot", ignore_errors=True)
    log(f"work folder {work}; {benchkit.machine()}")
    env.setup(data)

    def measured(name: str, fn: Any, *a: Any) -> Any:
        if not args.profile:
            return fn(*a)
        args.profile.mkdir(parents=True, exist_ok=True)
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(fn, *a)
        finally:
            profiler.dump_stats(str(args.profile / f"{name}.pstats"))

    out: list[str] = []
    results: dict[str, Any] = {"machine": benchkit.machine(), "quick": args.quick}
    errors: list[str] = []
    try:
        if args.only in (None, "box"):
            box = measured("box", box_bench.run, users, files, args.latency, args.change, 1, log)
            lines, summary = box_report(box)
            out += [*lines, ""]
            results["box"] = {**asdict(box), "summary": summary}
            assert box.full is not None and box.incremental is not None
            errors += box.full.errors + box.incremental.errors
        if args.only in (None, "imap"):
            imap = measured("imap", imap_bench.run, work, count, 1, log)
            lines, summary = imap_report(imap)
            out += lines
            results["imap"] = {**asdict(imap), "summary": summary}
            errors += imap.errors
    finally:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (work / f"results-{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    print("\n" + "\n".join(out), flush=True)  # noqa: T201
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)  # noqa: T201
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
