"""Export to zip: a real snapshot written with the engine into the account's local repository
(files of mixed sizes, half random bytes and half text, so neither zstd nor deflate makes them
small), its catalog rows as the pipeline records them, then the export's zip writer over a
`recovery.Selection` of the whole snapshot, into a file, in a child process of its own so that
its peak memory is its own (`VmHWM`, read by the child).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .words import Words

BLOCK = 64 * 1024


@dataclass
class ExportFigures:
    items: int = 0
    bytes: int = 0
    write_s: float = 0.0  # the engine snapshot (not part of the export's figure)
    stored: int = 0
    export_s: float = 0.0
    export_cpu: float = 0.0
    zip_bytes: int = 0
    peak_rss: int = 0  # bytes, the child's high-water mark (VmHWM)
    maxrss_wait4: int = 0
    baseline_rss: int = 0  # the child's RSS before the export starts (Django set up, nothing else)
    entries: int = 0
    function: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.export_s if self.export_s else 0.0


def sizes(total: int, rnd: random.Random) -> list[int]:
    """Mixed sizes adding up to about `total`: a tenth of the bytes in many small files (2-100
    KB), a third in medium ones (100 KB - 5 MB), the rest in large ones (5-50 MB)."""
    out: list[int] = []
    for share, low, high in (
        (0.1, 2_000, 100_000),
        (0.33, 100_000, 5_000_000),
        (0.57, 5_000_000, 50_000_000),
    ):
        budget = int(total * share)
        while budget > 0:
            size = min(budget, int(rnd.uniform(low, high)))
            out.append(max(size, 1))
            budget -= size
    rnd.shuffle(out)
    return out


def content(size: int, rnd: random.Random, text: bytes) -> Iterator[bytes]:
    """Blocks alternating random bytes and slices of text (compresses to ~60 %)."""
    left = size
    while left > 0:
        n = min(BLOCK, left)
        if rnd.random() < 0.5:
            yield rnd.randbytes(n)
        else:
            start = rnd.randrange(len(text) - n)
            yield text[start : start + n]
        left -= n


def write_snapshot(
    account: Any, total: int, seed: int, log: Callable[[str], None]
) -> tuple[Any, Any, ExportFigures]:
    """An entity with one committed snapshot of ~`total` bytes and its catalog rows."""
    from django.db import transaction

    from backstop.backups.models import BackupTask, CatalogItem, Entity, Snapshot
    from backstop.backups.pipeline import catalog_row, engine_meta
    from backstop.backups.repos import open_repository
    from backstop.connectors.base import Item

    figures = ExportFigures()
    rnd = random.Random(seed)
    words = Words(seed)
    text = " ".join(words.words(400_000)).encode()
    task = BackupTask.objects.create(account=account, service="box", name="Export (bench)")
    entity = Entity.objects.create(
        account=account, task=task, key="export-user", name="Export User", status=Entity.Status.ACTIVE
    )
    folders = [""] + ["/".join(w.title() for w in words.words(rnd.randint(1, 3))) for _ in range(40)]
    repo = open_repository(account)
    items: list[Item] = []
    when = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    t0 = time.perf_counter()
    writer = repo.writer(entity.repo_entity, meta={"task": task.pk, "entity": entity.pk, "bench": True})
    try:
        for n, size in enumerate(sizes(total, rnd)):
            folder = rnd.choice(folders)
            ext = rnd.choice([".pdf", ".docx", ".xlsx", ".zip", ".mp4", ".png", ".txt", ".csv"])
            name = "-".join(words.words(rnd.randint(1, 3))) + f"-{n}{ext}"
            item = Item(
                key=f"file:{n}",
                path=f"{folder}/{name}" if folder else name,
                version=f"{n}.1",
                content_version=f"{n}.1",
                size=size,
                kind="file",
                name=name,
                modified=when - timedelta(minutes=rnd.randint(1, 100_000)),
                author="Export User <export@example.test>",
                meta={"id": str(n), "sha1": f"{rnd.getrandbits(160):040x}"},
            )
            writer.add(item.path, engine_meta(item), content(size, rnd, text))
            items.append(item)
            figures.items += 1
            figures.bytes += size
        commit = writer.commit()
    except BaseException:
        writer.abort()
        raise
    figures.write_s = time.perf_counter() - t0
    figures.stored = commit.stats.bytes_stored
    with transaction.atomic():
        snapshot = Snapshot.objects.create(
            account=account,
            entity=entity,
            snapshot_id=commit.snapshot_id,
            time=repo.snapshot(commit.snapshot_id).time,
            items=commit.items,
            size=commit.size,
            added=len(items),
            bytes_stored=commit.stats.bytes_stored,
        )
        CatalogItem.objects.bulk_create(
            [catalog_row(entity, item, snapshot) for item in items], batch_size=1000
        )
    Entity.objects.filter(pk=entity.pk).update(
        last_snapshot=commit.snapshot_id, items=commit.items, size=commit.size
    )
    log(
        f"export: snapshot of {figures.items:,} files, {figures.bytes / 1e6:,.0f} MB written in "
        f"{figures.write_s:.1f} s ({figures.stored / 1e6:,.0f} MB stored)"
    )
    return entity, snapshot, figures


def run(
    work: Path,
    data_dir: Path,
    database_url: str | None,
    account: Any,
    total: int,
    seed: int,
    profile: Path | None,
    log: Callable[[str], None],
) -> ExportFigures:
    entity, snapshot, figures = write_snapshot(account, total, seed, log)
    return export(work, data_dir, database_url, entity.pk, snapshot.pk, figures, "export", profile, log)


def export_snapshot(
    work: Path,
    data_dir: Path,
    database_url: str | None,
    snapshot: Any,
    profile: Path | None,
    log: Callable[[str], None],
) -> ExportFigures:
    """The export of a snapshot the benchmark has already (the IMAP mailbox)."""
    from django.db.models import Count, Sum

    from backstop.backups.models import CatalogItem

    totals = CatalogItem.objects.filter(valid_from=snapshot).aggregate(n=Count("pk"), size=Sum("size"))
    figures = ExportFigures(items=totals["n"] or 0, bytes=totals["size"] or 0)
    return export(
        work, data_dir, database_url, snapshot.entity_id, snapshot.pk, figures, "export_mailbox", profile, log
    )


def export(
    work: Path,
    data_dir: Path,
    database_url: str | None,
    entity_pk: int,
    snapshot_pk: int,
    figures: ExportFigures,
    name: str,
    profile: Path | None,
    log: Callable[[str], None],
) -> ExportFigures:
    """The whole snapshot exported to a zip by a child process; the zip checked afterwards."""
    out = work / f"{name}.zip"
    out.unlink(missing_ok=True)
    args = {
        "data_dir": str(data_dir),
        "database_url": database_url or "",
        "entity": entity_pk,
        "snapshot": snapshot_pk,
        "out": str(out),
        "profile": str(profile / f"{name}.pstats") if profile else "",
    }
    log(f"{name}: zip writer in a child process")
    child = subprocess.Popen(
        [sys.executable, "-m", "recovery.export_child", json.dumps(args)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    stdout = child.stdout.read()
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        figures.errors.append(f"{name}: the child exited with {child.returncode}")
        return figures
    report = json.loads(stdout.strip().splitlines()[-1])
    figures.export_s = report["seconds"]
    figures.export_cpu = report["cpu"]
    figures.baseline_rss = report["baseline_rss"]
    figures.function = report["function"]
    figures.peak_rss = report["peak_rss"]  # VmHWM, read by the child itself
    figures.maxrss_wait4 = usage.ru_maxrss * 1024  # for the record: includes the parent's, see export_child
    figures.zip_bytes = out.stat().st_size
    t0 = time.perf_counter()
    with zipfile.ZipFile(out) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and i.filename != "manifest.csv"]
        figures.entries = len(infos)
        unpacked = sum(i.file_size for i in infos)
        bad = archive.testzip()  # every entry's CRC, outside the timing
    if bad is not None:
        figures.errors.append(f"{name}: {bad} fails its CRC")
    if figures.entries != figures.items or unpacked != figures.bytes:
        figures.errors.append(
            f"{name}: {figures.entries} entries of {unpacked:,} bytes, "
            f"expected {figures.items} of {figures.bytes:,}"
        )
    log(
        f"{name}: {figures.bytes / 1e6:,.0f} MB in {figures.export_s:.1f} s = {figures.mb_per_s:.0f} MB/s, "
        f"peak RSS {figures.peak_rss / 2**20:.0f} MiB; zip checked in {time.perf_counter() - t0:.1f} s"
    )
    out.unlink(missing_ok=True)
    return figures
