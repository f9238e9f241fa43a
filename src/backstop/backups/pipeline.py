"""The backup of one entity (DESIGN "Data flow of a backup").

connector change feed → engine writer → snapshot committed → catalog rows in batches → cursor
and entity status → System Activity event.

What it costs grows with the change: unchanged items are carried over by the engine without
being read, an item whose content is unchanged but whose name, place or flags changed is
relinked to its stored content, and only new content is downloaded. An expired cursor makes the
connector list everything; the version comparison below keeps that from downloading anything
that did not change.

What a run measures for smart alerts (backups/anomaly.py), at a cost that grows with the change
only: renames (an item whose content is the one it had but whose path changed: relinked, never
read), items whose content changed, and how compressible the new content is: the first
`SAMPLE_BYTES` of every downloaded item are compressed at zstd level 1 (`compressibility`). When
new content is incompressible (ratio above `INCOMPRESSIBLE`) and the item had other content
before, the start of that previous version is read back from the last snapshot and measured the
same way: content that went from compressible to incompressible is what encryption looks like.

Resuming: every BACKSTOP_CHECKPOINT_SECONDS the writer commits a checkpoint snapshot and its id
goes into the job's checkpoint. A resumed run lists the changes again from the entity's saved
cursor, with the checkpoint as parent: whatever the checkpoint already holds at the same version
is not downloaded again. When the final snapshot is committed the checkpoints are removed, so
the run leaves one snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import chain, islice
from typing import Any

import zstandard
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backstop.backups import jobs, textextract
from backstop.backups.models import CatalogItem, Entity, Job, JobLog, Snapshot
from backstop.backups.prefetch import BatchFetcher, Prefetcher
from backstop.connectors.base import (
    BATCH_OPEN,
    PARALLEL_OPEN,
    Change,
    Connector,
    Delete,
    DeleteFolder,
    EntityInfo,
    Folder,
    Item,
    KnownItem,
    NewCursor,
    Upsert,
    read_all,
)
from backstop.connectors.errors import ItemError
from backstop.engine.errors import EngineError, ItemNotFound, SnapshotNotFound
from backstop.engine.repository import Repository
from backstop.engine.writer import SnapshotWriter

log = logging.getLogger(__name__)

BATCH = 200
CATALOG_BATCH = 1000
TEXT_BATCH = 200  # keys whose previous text is read at once (up to 64 KiB each)
SAMPLE_BYTES = 64 * 2**10  # the start of new content measured for compressibility
SAMPLE_MIN = 512  # shorter content is not measured: a frame's overhead says nothing there
INCOMPRESSIBLE = 0.95  # compressed / raw above this: random-looking (encrypted, or already packed)

# One compressor per thread: a zstd compressor is not safe to share, and workers run backups in
# threads (a shared one failed them with "Src size is incorrect", or crashed the process).
_compressors = threading.local()


def compressed_size(sample: bytes) -> int | None:
    """The size of `sample` compressed at zstd level 1 (text shrinks to about a third, random
    bytes do not shrink); None when the sample is too short to say."""
    if len(sample) < SAMPLE_MIN:
        return None
    compressor = getattr(_compressors, "zstd", None)
    if compressor is None:
        compressor = _compressors.zstd = zstandard.ZstdCompressor(
            level=1, write_checksum=False, write_content_size=False
        )
    return len(compressor.compress(sample))


def incompressible(raw: int, compressed: int) -> bool:
    return compressed > INCOMPRESSIBLE * raw


@dataclass(frozen=True, slots=True)
class Sample:
    """The measure of one item's new content."""

    raw: int
    compressed: int
    turned: bool  # incompressible now, while the item's previous version was compressible


class Stopped(Exception):
    """Cancel requested, or the lease was lost: stop between items."""


class CatalogKnown:
    """The last backup's items, read from the catalog in batches, overlaid with this run."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity
        self._cache: dict[str, KnownItem | None] = {}
        self.run: dict[str, Item | None] = {}  # this run's changes; None = removed

    def rows(self) -> Any:
        """The catalog's current rows of the entity."""
        return CatalogItem.objects.filter(
            account_id=self.entity.account_id, entity=self.entity, valid_to__isnull=True
        )

    def prefetch(self, keys: Iterable[str]) -> None:
        self._load([k for k in set(keys) if k not in self._cache and k not in self.run])

    def _load(self, missing: list[str]) -> None:
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            for key in chunk:
                self._cache[key] = None
            for key, path, version, content_version in (
                self.rows().filter(key__in=chunk).values_list("key", "path", "version", "content_version")
            ):
                self._cache[key] = KnownItem(path, version, content_version)

    def before_run(self, key: str) -> KnownItem | None:
        """What the last committed backup holds for `key`."""
        if key not in self._cache:
            self._load([key])  # even when this run changed it: a folder removed then moved back
        return self._cache[key]

    def get(self, key: str) -> KnownItem | None:
        if key in self.run:
            item = self.run[key]
            return KnownItem(item.path, item.version, item.content_version) if item else None
        return self.before_run(key)

    def under(self, folder: str) -> Iterator[tuple[str, KnownItem]]:
        prefix = folder.rstrip("/") + "/" if folder else ""
        rows = self.rows()
        if prefix:
            rows = rows.filter(path__startswith=prefix)
        for key, path, version, content_version in rows.values_list(
            "key", "path", "version", "content_version"
        ).iterator(chunk_size=2000):
            if key in self.run:
                continue
            yield key, KnownItem(path, version, content_version)
        for key, item in list(self.run.items()):
            if item is not None and item.path.startswith(prefix):
                yield key, KnownItem(item.path, item.version, item.content_version)


@dataclass
class RunResult:
    snapshot_id: str = ""
    items: int = 0
    size: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    downloaded: int = 0
    bytes_read: int = 0
    bytes_stored: int = 0
    # For smart alerts: of the changed items, those only moved or renamed (same content) and
    # those with new content; of the downloaded items, how many were measured, their sampled raw
    # and compressed bytes, how many are incompressible, and how many became so this run.
    renamed: int = 0
    rewritten: int = 0
    sampled: int = 0
    sample_bytes: int = 0
    sample_compressed: int = 0
    incompressible: int = 0
    turned_incompressible: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changes(self) -> int:
        return self.added + self.changed + self.removed

    def summary(self) -> str:
        text = f"{self.added} new, {self.changed} changed, {self.removed} removed"
        return text + (f"; {len(self.failed)} skipped, tried again next run" if self.failed else "")


def item_to_json(item: Item) -> dict[str, Any]:
    # By hand: dataclasses.asdict deep-copies every value, a cost per item of a large mailbox.
    return {
        "key": item.key,
        "path": item.path,
        "version": item.version,
        "content_version": item.content_version,
        "size": item.size,
        "kind": item.kind,
        "name": item.name,
        "modified": item.modified.isoformat() if item.modified else None,
        "author": item.author,
        "meta": dict(item.meta),
    }


def item_from_json(data: dict[str, Any]) -> Item:
    values = dict(data)
    values["modified"] = datetime.fromisoformat(values["modified"]) if values.get("modified") else None
    return Item(**values)


def engine_meta(item: Item) -> dict[str, Any]:
    """What the repository keeps beside the content, enough to rebuild the catalog from it: the
    item less what the tree records itself (its name in the path, its size)."""
    meta = item_to_json(item)
    del meta["path"], meta["size"]
    return meta


class EntityBackup:
    """One run of one entity's backup; `run()` returns what happened or raises."""

    def __init__(self, job: Job, connector: Connector, repo: Repository, control: jobs.Control) -> None:
        self.job, self.connector, self.repo, self.control = job, connector, repo, control
        assert job.entity is not None
        self.entity: Entity = job.entity
        self.info = EntityInfo(self.entity.key, self.entity.name, self.entity.email, self.entity.kind)
        self.known = CatalogKnown(self.entity)
        self.result = RunResult()
        self.failed: dict[str, tuple[Item, str]] = {}
        self.samples: dict[str, Sample] = {}  # key -> the measure of its new content this run
        self.cursor: str | None = None
        self.checkpoints: list[str] = list(job.checkpoint.get("snapshots", []))
        self.base_parent = self._existing(self.entity.last_snapshot)
        self._last_checkpoint = time.monotonic()
        self._items_seen = 0
        self._earlier = (0, 0)  # bytes read and stored by the writers before the last checkpoint
        # Body text for search, extracted from downloaded content, on disk until `_save`.
        self.index_text = self.entity.task.index_for_search
        self.texts = textextract.Texts()
        self.prefetch: Prefetcher | BatchFetcher | None = None
        if BATCH_OPEN in connector.capabilities:
            self.prefetch = BatchFetcher(lambda items: connector.open_many(self.info, items))
        elif PARALLEL_OPEN in connector.capabilities:
            self.prefetch = Prefetcher(self._read_content)

    def _existing(self, snapshot_id: str) -> str | None:
        if not snapshot_id:
            return None
        try:
            self.repo.snapshot(snapshot_id)
        except SnapshotNotFound:
            jobs.add_log(
                self.job, f"The last snapshot {snapshot_id[:12]} is gone; listing everything.", "warning"
            )
            return None
        return snapshot_id

    # -- the run

    def run(self) -> RunResult:
        parent = self.checkpoints[-1] if self.checkpoints else self.base_parent
        cursor = (self.entity.cursor or None) if self.base_parent else None
        if self.checkpoints:
            jobs.add_log(self.job, f"Resuming from checkpoint {parent[:12] if parent else ''}.")
        writer = self._writer(parent)
        try:
            retries = [Upsert(item_from_json(d)) for d in self.entity.retry_items]
            feed: Iterator[Change] = chain(retries, self.connector.changes(self.info, cursor, self.known))
            while True:
                batch = list(islice(feed, BATCH))
                if not batch:
                    break
                self.known.prefetch(
                    [c.item.key for c in batch if isinstance(c, Upsert)]
                    + [c.key for c in batch if isinstance(c, Delete)]
                )
                if self.prefetch is not None:
                    self.prefetch.plan(
                        [c.item for c in batch if isinstance(c, Upsert) and self._needs(c.item)]
                    )
                for change in batch:
                    if self.control.should_stop:
                        raise Stopped
                    self._apply(writer, change)
                self._report(writer)
                if time.monotonic() - self._last_checkpoint >= settings.BACKSTOP_CHECKPOINT_SECONDS:
                    writer = self._checkpoint(writer)
            if self.cursor is None:
                raise RuntimeError("the connector's change feed ended without a cursor")
            writer.manifest_overrides["parent"] = self.base_parent
            commit = writer.commit()
        except BaseException:
            writer.abort()
            self.texts.close()
            raise
        finally:
            if self.prefetch is not None:
                self.prefetch.close()
        stats = commit.stats
        self.result.snapshot_id = commit.snapshot_id
        self.result.items, self.result.size = commit.items, commit.size
        self.result.bytes_read = self._earlier[0] + stats.bytes_read
        self.result.bytes_stored = self._earlier[1] + stats.bytes_stored
        try:
            self._save(commit.snapshot_id)
        finally:
            self.texts.close()  # whatever happened, the temporary file goes
        if self.checkpoints:
            # After the catalog points at the final snapshot: the checkpoints are not needed.
            self.repo.remove_snapshots([self.repo.snapshot(s) for s in self.checkpoints])
        return self.result

    def _writer(self, parent: str | None) -> SnapshotWriter:
        return self.repo.writer(
            self.entity.repo_entity,
            parent=parent,
            inherit=True,
            meta={"task": self.entity.task_id, "entity": self.entity.pk, "job": self.job.pk},
        )

    def _checkpoint(self, writer: SnapshotWriter) -> SnapshotWriter:
        writer.manifest_overrides["checkpoint"] = True
        commit = writer.commit()
        self._earlier = (
            self._earlier[0] + commit.stats.bytes_read,
            self._earlier[1] + commit.stats.bytes_stored,
        )
        self.checkpoints.append(commit.snapshot_id)
        jobs.save_checkpoint(self.job, {"snapshots": self.checkpoints})
        jobs.add_log(self.job, f"Checkpoint after {self._items_seen} items.")
        self._last_checkpoint = time.monotonic()
        return self._writer(commit.snapshot_id)

    def _report(self, writer: SnapshotWriter) -> None:
        read = self._earlier[0] + writer.stats.bytes_read
        self.control.progress(self._items_seen, read, len(self.failed))

    # -- one change

    def _apply(self, writer: SnapshotWriter, change: Change) -> None:
        if isinstance(change, Upsert):
            self._items_seen += 1
            self._upsert(writer, change.item)
        elif isinstance(change, Delete):
            known = self.known.get(change.key)
            self.failed.pop(change.key, None)
            if known is not None:
                writer.delete(known.path)
                self._record(change.key, None)
        elif isinstance(change, Folder):
            writer.folder(change.path, dict(change.meta))
        elif isinstance(change, DeleteFolder):
            for key, _ in list(self.known.under(change.path)):
                self._record(key, None)
                self.failed.pop(key, None)
            writer.delete(change.path)
        elif isinstance(change, NewCursor):
            self.cursor = change.value

    def _upsert(self, writer: SnapshotWriter, item: Item) -> None:
        known = self.known.get(item.key)
        if _unchanged(known, item):
            self.failed.pop(item.key, None)
            return
        meta = engine_meta(item)
        if self.checkpoints:
            held = writer.parent_meta(item.path)
            if held is not None and held.get("key") == item.key and held.get("version") == item.version:
                self._record(item.key, item)  # the checkpoint already holds it
                self._moved_from(writer, known, item)
                if self._wants_text(item) and not self._same_content(known, item):
                    self._checkpoint_text(item)
                return
        stored = False
        for source in self._same_content(known, item):
            try:
                writer.relink(source, item.path, meta)
                stored = True
                break
            except ItemNotFound:
                continue  # not where the catalog says (a checkpoint moved it)
        if not stored:
            try:
                ahead = self.prefetch.take(item) if self.prefetch is not None else None
                content = ahead if ahead is not None else self.connector.open(self.info, item)
                if self._wants_text(item):
                    head, content = textextract.head(content)
                    self.texts.put(item.key, item.content_version, textextract.extract(item, head))
                else:
                    head, content = textextract.head(content, SAMPLE_BYTES)
                self._measure(item, head[:SAMPLE_BYTES])
                writer.add(item.path, meta, content)
            except ItemError as exc:
                self.failed[item.key] = (item, str(exc) or type(exc).__name__)
                return
            self.result.downloaded += 1
        self.failed.pop(item.key, None)
        self._moved_from(writer, known, item)
        self._record(item.key, item)

    def _needs(self, item: Item) -> bool:
        """Whether the item's content will be downloaded (for planning downloads ahead)."""
        known = self.known.get(item.key)
        return not _unchanged(known, item) and not self._same_content(known, item) and not self.checkpoints

    def _read_content(self, item: Item) -> bytes:
        return read_all(self.connector.open(self.info, item))

    def _same_content(self, known: KnownItem | None, item: Item) -> list[str]:
        """Paths in the parent snapshot that hold this item's content already: the item itself
        (renamed, re-flagged), or for a previous version just pushed aside by a new upload, the
        file it was the current content of."""
        paths = []
        if known is not None and known.content_version == item.content_version:
            paths.append(known.path)
        before = self.known.before_run(item.key)  # removed earlier in this run with its folder
        if before is not None and before.content_version == item.content_version and before != known:
            paths.append(before.path)
        version_of = item.meta.get("version_of")
        if isinstance(version_of, str):
            current = self.known.before_run(version_of)
            if current is not None and current.content_version == item.content_version:
                paths.append(current.path)
        return paths

    def _moved_from(self, writer: SnapshotWriter, known: KnownItem | None, item: Item) -> None:
        if known is not None and known.path != item.path:
            writer.delete(known.path)

    def _measure(self, item: Item, sample: bytes) -> None:
        """How compressible the item's new content is and, when it is not, whether its previous
        version (read back from the last snapshot) was."""
        compressed = compressed_size(sample)
        if compressed is None:
            self.samples.pop(item.key, None)
            return
        turned = False
        before = self.known.before_run(item.key)
        if (
            incompressible(len(sample), compressed)
            and before is not None
            and before.content_version != item.content_version
            and self.base_parent
        ):
            try:
                previous = self.repo.open_item(self.base_parent, before.path, 0, SAMPLE_BYTES).read()
            except EngineError:
                previous = b""
            was = compressed_size(previous)
            turned = was is not None and not incompressible(len(previous), was)
        self.samples[item.key] = Sample(len(sample), compressed, turned)

    def _measured(self, changes: dict[str, Item | None], had: set[str]) -> None:
        """The run's renames, rewrites and compressibility, from its final changes."""
        result = self.result
        for key, item in changes.items():
            if item is None or key not in had:
                continue
            before = self.known.before_run(key)
            if before is None:
                continue
            if before.content_version == item.content_version:
                result.renamed += before.path != item.path
            else:
                result.rewritten += 1
        for key, sample in self.samples.items():
            if changes.get(key) is None:
                continue
            result.sampled += 1
            result.sample_bytes += sample.raw
            result.sample_compressed += sample.compressed
            result.incompressible += incompressible(sample.raw, sample.compressed)
            result.turned_incompressible += sample.turned

    def _record(self, key: str, item: Item | None) -> None:
        self.known.run[key] = item

    def _wants_text(self, item: Item) -> bool:
        return self.index_text and textextract.should_extract(item)

    def _checkpoint_text(self, item: Item) -> None:
        """The text of new content that a resumed run finds in its checkpoint: read from there."""
        try:
            data = self.repo.open_item(self.checkpoints[-1], item.path, 0, textextract.READ_LIMIT).read()
        except EngineError:
            return
        self.texts.put(item.key, item.content_version, textextract.extract(item, data))

    def _carry_texts(self, changes: dict[str, Item | None]) -> None:
        """Items recorded without reading their content (renamed, re-flagged, a previous version
        pushed aside) keep the text of the current catalog row that holds the same content: the
        item's own, or the file's it was pushed aside from. Read in batches of the keys concerned
        only, before those rows are closed."""
        wanted: dict[str, list[Item]] = {}  # key of a current row -> items that may take its text
        for key, item in changes.items():
            if item is None or self.texts.has(key, item.content_version) or not self._wants_text(item):
                continue
            wanted.setdefault(key, []).append(item)
            version_of = item.meta.get("version_of")
            if isinstance(version_of, str):
                wanted.setdefault(version_of, []).append(item)
        sources = list(wanted)
        for start in range(0, len(sources), TEXT_BATCH):
            rows = self.known.rows().filter(key__in=sources[start : start + TEXT_BATCH]).exclude(text="")
            for key, content_version, text in rows.values_list("key", "content_version", "text"):
                for item in wanted[key]:
                    if item.content_version == content_version:
                        self.texts.put(item.key, content_version, text)

    # -- saving

    def _save(self, snapshot_id: str) -> None:
        """Catalog rows, cursor and entity status: one transaction, after the snapshot exists."""
        entity, now = self.entity, timezone.now()
        changes = self.known.run
        if self.index_text:
            self._carry_texts(changes)
        with transaction.atomic():
            snapshot = Snapshot.objects.create(
                account_id=entity.account_id,
                entity=entity,
                snapshot_id=snapshot_id,
                time=self.repo.snapshot(snapshot_id).time,
                items=self.result.items,
                size=self.result.size,
                bytes_stored=self.result.bytes_stored,
                job=self.job,
            )
            keys = list(changes)
            current = self.known.rows()
            had: set[str] = set()
            for start in range(0, len(keys), CATALOG_BATCH):
                chunk = keys[start : start + CATALOG_BATCH]
                had.update(current.filter(key__in=chunk).values_list("key", flat=True))
                current.filter(key__in=chunk).update(valid_to=snapshot)
            new = [item for item in changes.values() if item is not None]
            for start in range(0, len(new), CATALOG_BATCH):  # a batch's texts in memory at a time
                rows = [
                    catalog_row(entity, item, snapshot, self.texts.get(item.key, item.content_version) or "")
                    for item in new[start : start + CATALOG_BATCH]
                ]
                CatalogItem.objects.bulk_create(rows)
            self.result.added = sum(1 for k, i in changes.items() if i is not None and k not in had)
            self.result.changed = sum(1 for k, i in changes.items() if i is not None and k in had)
            self.result.removed = sum(1 for k, i in changes.items() if i is None and k in had)
            snapshot.added, snapshot.changed, snapshot.removed = (
                self.result.added,
                self.result.changed,
                self.result.removed,
            )
            snapshot.save(update_fields=["added", "changed", "removed"])
            self._measured(changes, had)
            self.result.failed = [
                {"key": key, "name": item.name, "path": item.path, "error": error}
                for key, (item, error) in self.failed.items()
            ]
            Entity.objects.filter(pk=entity.pk).update(
                cursor=self.cursor or "",
                retry_items=[item_to_json(item) for item, _ in self.failed.values()],
                items=self.result.items,
                size=self.result.size,
                last_snapshot=snapshot_id,
                last_backup_at=now,
                first_backup_at=entity.first_backup_at or now,
            )
        for entry in self.result.failed[:200]:
            jobs.add_log(self.job, f"Skipped {entry['path']}: {entry['error']}", JobLog.Level.WARNING)


def catalog_row(entity: Entity, item: Item, snapshot: Snapshot, text: str = "") -> CatalogItem:
    """The catalog's row for one version of an item, valid from `snapshot` on."""
    return CatalogItem(
        account_id=entity.account_id,
        entity=entity,
        key=item.key,
        path=item.path,
        folder=item.path.rpartition("/")[0],
        name=item.name[:500],
        kind=item.kind,
        author=item.author[:300],
        size=item.size,
        modified=item.modified,
        version=item.version,
        content_version=item.content_version,
        meta=dict(item.meta),
        text=text,
        valid_from=snapshot,
    )


def _unchanged(known: KnownItem | None, item: Item) -> bool:
    return known is not None and known.version == item.version and known.path == item.path
