"""Box: every user of a seeded sandbox enterprise through the real pipeline, full then incremental.

Jobs run as a worker with N threads runs them (N = the per-tenant concurrency Box's connector is
allowed): `runner.run(job_id)` in a pool of N threads, all entities queued at once in discovery
order. The emulator adds `latency` to every request it serves.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .sandbox_proc import SandboxProcess


@dataclass
class RunFigures:
    wall: float
    cpu: float  # this process, user + system
    sandbox_cpu: float
    items: int  # items in the snapshots (files and previous versions)
    downloaded: int
    bytes_read: int  # the last writer's only: a checkpoint (every 120 s) starts a new count
    size: int  # bytes in the snapshots
    added: int
    changed: int
    removed: int
    requests: int
    kinds: dict[str, int]
    jobs: dict[str, int]
    longest: float  # the slowest entity's job, s
    longest_items: int
    errors: list[str] = field(default_factory=list)


@dataclass
class BoxFigures:
    users: int
    files: int
    versions: int
    bytes: int
    latency: float
    concurrency: int
    rate: float  # the connector's default rate limit, requests/s
    full: RunFigures | None = None
    incremental: RunFigures | None = None
    changed: dict[str, int] = field(default_factory=dict)


def _cpu() -> float:
    return time.process_time()


def _run_jobs(sandbox: SandboxProcess, entities: list[Any], threads: int, log: Any) -> RunFigures:
    from backstop.backups import runner
    from backstop.backups.models import Job
    from backstop.backups.services import backup_now

    sandbox.call("reset")
    before_sb = sandbox.call("stats")["cpu"]
    jobs = backup_now(entities)
    durations: dict[int, float] = {}

    def one(job_id: int) -> None:
        started = time.perf_counter()
        runner.run(job_id)
        durations[job_id] = time.perf_counter() - started

    cpu0, t0 = _cpu(), time.perf_counter()
    with ThreadPoolExecutor(threads, thread_name_prefix="worker") as pool:
        futures = [pool.submit(one, job.pk) for job in jobs]
        for n, future in enumerate(futures, 1):
            future.result()
            if n % max(1, len(futures) // 5) == 0:
                log(f"  box: {n}/{len(futures)} jobs done, {time.perf_counter() - t0:.0f} s")
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    stats = sandbox.call("stats")
    done = list(Job.objects.filter(pk__in=[j.pk for j in jobs]))
    statuses: dict[str, int] = {}
    errors: list[str] = []
    totals = dict.fromkeys(("items", "downloaded", "bytes_read", "size", "added", "changed", "removed"), 0)
    for job in done:
        statuses[job.status] = statuses.get(job.status, 0) + 1
        if job.status not in (Job.Status.SUCCEEDED, Job.Status.PARTIAL):
            errors.append(f"job {job.pk} ({job.entity}): {job.status} {job.error}")
        for key in totals:
            totals[key] += int((job.result or {}).get(key) or 0)
    slowest = max(done, key=lambda j: durations.get(j.pk, 0.0))
    return RunFigures(
        wall=wall,
        cpu=cpu,
        sandbox_cpu=stats["cpu"] - before_sb,
        requests=stats["total"],
        kinds=stats["kinds"],
        jobs=statuses,
        longest=durations.get(slowest.pk, 0.0),
        longest_items=int((slowest.result or {}).get("items") or 0),
        errors=errors,
        **totals,
    )


def run(users: int, files: int, latency: float, change: float, seed: int, log: Any) -> BoxFigures:
    from backstop.backups.models import Entity
    from backstop.backups.services import ACTIVE_LIMITS, create_task, discover
    from backstop.connectors import limits
    from backstop.sandbox.box import client_settings

    from . import env

    default = limits.limit_for("box")
    threads = min(default.concurrency, ACTIVE_LIMITS.get("box", default.concurrency))
    log(f"box: seeding {users} users, {files:,} files (seed {seed}) in the sandbox process")
    sandbox = SandboxProcess(users, files, seed)
    try:
        info = sandbox.info
        figures = BoxFigures(
            users, info["files"], info["versions"], info["bytes"], latency, threads, default.rate
        )
        log(
            f"box: {info['files']:,} files, {info['versions']:,} older versions, "
            f"{info['bytes'] / 1e6:,.0f} MB, {info['folders']:,} folders"
        )
        settings: dict[str, Any] = {
            **client_settings(sandbox.url, "http://127.0.0.1/backups/oauth/box/"),
            # The per-tenant request rate (default `default.rate`/s) is lifted so that the
            # concurrency and the latency set the ceiling; the concurrency stays the default.
            "limits": {"rate": 1e6, "burst": 1_000_000},
        }
        account = env.account("Box bench")
        task = create_task(
            account,
            "box",
            "Box bench",
            connector_settings=settings,
            secrets=sandbox.call("secrets"),
            source_tenant="box-bench",
        )
        discover(task)
        entities = list(Entity.objects.filter(task=task).order_by("pk"))
        sandbox.call("latency", latency)
        log(f"box: full backup of {len(entities)} users, {threads} threads, {latency * 1000:.0f} ms latency")
        figures.full = _run_jobs(sandbox, entities, threads, log)
        log(f"box: full backup {figures.full.wall:.1f} s, {figures.full.items:,} items")
        sandbox.call("latency", 0)
        figures.changed = sandbox.call("change", change)
        sandbox.call("latency", latency)
        entities = list(Entity.objects.filter(task=task).order_by("pk"))
        log(f"box: changed {figures.changed}; incremental")
        figures.incremental = _run_jobs(sandbox, entities, threads, log)
        log(f"box: incremental {figures.incremental.wall:.1f} s")
    finally:
        sandbox.stop()
    return figures
