"""Tables of the measured steps and the issue's targets, each PASS or MISS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MB = 1e6
STEPS = ("backup", "incremental", "restore", "check")


@dataclass
class Result:
    dataset: str
    step: str
    tool: str  # "restic" | "ours"
    wall: float  # s
    cpu: float  # s, user + system
    rss_mb: float  # peak RSS, MiB
    repo_bytes: int  # repository size after the step
    written: int  # repository growth during the step
    items: int  # items the step handled
    bytes: int  # bytes of content the step handled
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return self.items / self.wall

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.wall


@dataclass
class Target:
    name: str
    measured: str
    ok: bool

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'MISS'}  {self.name}: {self.measured}"


def _find(results: list[Result], dataset: str, step: str, tool: str) -> Result | None:
    return next((r for r in results if (r.dataset, r.step, r.tool) == (dataset, step, tool)), None)


def table(dataset: str, title: str, results: list[Result]) -> str:
    head = f"{'step':<12}{'tool':<13}{'wall s':>8}{'CPU s':>8}{'RSS MB':>8}{'repo MB':>9}"
    head += f"{'+repo MB':>9}{'items':>9}{'items/s':>9}{'MB/s':>8}"
    lines = [f"== {title}", head, "-" * len(head)]
    for step in STEPS:
        pair = [_find(results, dataset, step, tool) for tool in ("restic", "ours")]
        for r in pair:
            if r is not None:
                lines.append(
                    f"{step:<12}{r.tool:<13}{r.wall:8.2f}{r.cpu:8.2f}{r.rss_mb:8.0f}{r.repo_bytes / MB:9.1f}"
                    f"{r.written / MB:9.1f}{r.items:9d}{r.items_per_s:9.0f}{r.mb_per_s:8.1f}"
                )
        restic, ours = pair
        if restic is not None and ours is not None:

            def ratio(a: float, b: float) -> str:
                return f"{a / b:8.2f}x" if b else f"{'-':>9}"

            lines.append(
                f"{'':<12}{'ours/restic':<13}"
                f"{ratio(ours.wall, restic.wall)[1:]}{ratio(ours.cpu, restic.cpu)[1:]}"
                f"{ratio(ours.rss_mb, restic.rss_mb)[1:]}{ratio(ours.repo_bytes, restic.repo_bytes)}"
                f"{ratio(ours.written, restic.written)}{'':>9}"
                f"{ratio(ours.items_per_s, restic.items_per_s)}{ratio(ours.mb_per_s, restic.mb_per_s)[1:]}"
            )
    return "\n".join(lines)


def targets(
    results: list[Result], info: dict[str, dict[str, Any]], prune: dict[str, Any] | None
) -> list[Target]:
    out: list[Target] = []

    def speed(dataset: str, step: str, attr: str, factor: float, unit: str, label: str) -> None:
        restic, ours = _find(results, dataset, step, "restic"), _find(results, dataset, step, "ours")
        if restic and ours:
            a, b = getattr(ours, attr), getattr(restic, attr)
            out.append(
                Target(
                    f"{dataset}: {label} at least {factor}x restic's {unit}",
                    f"ours {a:,.1f} vs restic {b:,.1f} {unit} = {a / b:.2f}x",
                    a >= factor * b,
                )
            )

    speed("mail", "backup", "items_per_s", 1.5, "items/s", "small items full backup")
    speed("large", "backup", "mb_per_s", 2.0, "MB/s", "large files full backup")
    for dataset in info:
        full, incr = _find(results, dataset, "backup", "ours"), _find(results, dataset, "incremental", "ours")
        if full and incr:
            share = incr.wall / full.wall
            out.append(
                Target(
                    f"{dataset}: incremental (1 % changed + 1 % new) at most 5 % of our full backup time",
                    f"{incr.wall:.2f} s / {full.wall:.2f} s = {share:.1%}",
                    share <= 0.05,
                )
            )
            meta, changed = incr.extra["metadata_estimate"], incr.extra["changed_bytes"]
            out.append(
                Target(
                    f"{dataset}: incremental writes no more metadata than the size of what changed",
                    f"~{meta / MB:.2f} MB metadata (repository growth {incr.written / MB:.2f} MB minus "
                    f"~{incr.extra['data_estimate'] / MB:.2f} MB of compressed changed content) "
                    f"vs {changed / MB:.2f} MB changed",
                    meta <= changed,
                ),
            )
    for dataset in info:
        speed(dataset, "restore", "mb_per_s", 1.5, "MB/s", "full restore")
    for dataset in info:
        restic = _find(results, dataset, "incremental", "restic") or _find(
            results, dataset, "backup", "restic"
        )
        ours = _find(results, dataset, "incremental", "ours") or _find(results, dataset, "backup", "ours")
        if restic and ours:
            out.append(
                Target(
                    f"{dataset}: repository size at most restic's",
                    f"ours {ours.repo_bytes / MB:,.1f} MB vs restic {restic.repo_bytes / MB:,.1f} MB "
                    f"= {ours.repo_bytes / restic.repo_bytes:.2f}x",
                    ours.repo_bytes <= restic.repo_bytes,
                )
            )
    for dataset, limit in (("mail", 150), ("million", 330)):
        ours_runs = [r for r in results if r.dataset == dataset and r.tool == "ours"]
        if ours_runs:
            peak = max(ours_runs, key=lambda r: r.rss_mb)
            restic_peak = max(r.rss_mb for r in results if r.dataset == dataset and r.tool == "restic")
            out.append(
                Target(
                    f"{dataset}: peak RSS at most {limit} MB ({info[dataset]['items']:,} items)",
                    f"{peak.rss_mb:.0f} MiB in {peak.step} (restic's peak {restic_peak:.0f} MiB)",
                    peak.rss_mb <= limit,
                )
            )
    if prune is not None:
        out.append(
            Target(
                "prune never blocks a running backup",
                prune["summary"],
                prune["ok"],
            )
        )
    return out
