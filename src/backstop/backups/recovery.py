"""Recovery reads (A-RECOVER): the snapshots of an entity, a folder as it was at one of them,
and a selection (folders and items) turned into the item versions a restore or an export reads.

Everything here reads the catalog, never the repository: pages stay fast whatever the size of
the repository, and every query starts from rows the caller already restricted to its tenant.

A catalog row is one version of one item, valid from the snapshot that brought it until the
snapshot that replaced or removed it. Snapshot primary keys grow with time for one entity (they
are created in order by the backups of that entity), so "as of snapshot S" is
`valid_from <= S < valid_to` on the keys, with no join.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from backstop.backups.models import CatalogItem, Entity, Snapshot
from backstop.connectors.base import Item

PAGE = 100
STREAM_CHUNK = 2000


def snapshots(
    entity: Entity, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[Snapshot]:
    """The entity's snapshots, newest first, between `start` and `end` when given."""
    rows = Snapshot.objects.filter(account_id=entity.account_id, entity=entity)
    if start is not None:
        rows = rows.filter(time__gte=start)
    if end is not None:
        rows = rows.filter(time__lte=end)
    return rows.order_by("-time", "-pk")


def rows_of(entity: Entity) -> QuerySet[CatalogItem]:
    # The indexed body text stays in the database: listings and restores never need it.
    return CatalogItem.objects.filter(account_id=entity.account_id, entity=entity).defer("text")


def as_of(rows: QuerySet[CatalogItem], snapshot: Snapshot) -> QuerySet[CatalogItem]:
    """The rows that were current in `snapshot`."""
    return rows.filter(valid_from_id__lte=snapshot.pk).filter(
        Q(valid_to__isnull=True) | Q(valid_to_id__gt=snapshot.pk)
    )


def clean_folder(folder: str) -> str:
    return "/".join(part for part in folder.split("/") if part)


@dataclass(slots=True)
class SubFolder:
    name: str
    path: str
    items: int = 0  # below it, at every depth
    size: int = 0


@dataclass
class FolderListing:
    folder: str
    folders: list[SubFolder]
    items: list[CatalogItem]
    total_items: int
    page: int
    pages: int
    crumbs: list[SubFolder] = field(default_factory=list)
    below_items: int = 0  # in the folder and below it
    below_size: int = 0


def list_folder(
    entity: Entity, snapshot: Snapshot, folder: str = "", page: int = 1, query: str = ""
) -> FolderListing:
    """One folder of `snapshot`: its sub-folders (those holding items, with their items and
    bytes at every depth) and a page of its items by name; `query` keeps the items whose name
    contains it. The sub-folders and all totals come from one query grouped by folder."""
    folder = clean_folder(folder)
    current = as_of(rows_of(entity), snapshot)
    below = current.filter(Q(folder=folder) | Q(folder__startswith=folder + "/")) if folder else current
    subs: dict[str, SubFolder] = {}
    depth = len(folder.split("/")) if folder else 0
    below_items = below_size = 0
    for path, n, size in below.order_by().values_list("folder").annotate(n=Count("pk"), size=Sum("size")):
        below_items, below_size = below_items + n, below_size + (size or 0)
        if path == folder:
            continue
        name = path.split("/")[depth]
        sub = subs.setdefault(name, SubFolder(name, f"{folder}/{name}" if folder else name))
        sub.items, sub.size = sub.items + n, sub.size + (size or 0)
    folders = [subs[name] for name in sorted(subs, key=str.lower)]
    items = current.filter(folder=folder)
    if query:
        items = items.filter(name__icontains=query)
    total = items.count()
    pages = max(1, -(-total // PAGE))
    page = min(max(1, page), pages)
    rows = list(items.order_by("name", "path", "pk")[(page - 1) * PAGE : page * PAGE])
    crumbs: list[SubFolder] = []
    parts = folder.split("/") if folder else []
    for i, part in enumerate(parts):
        crumbs.append(SubFolder(part, "/".join(parts[: i + 1])))
    return FolderListing(folder, folders, rows, total, page, pages, crumbs, below_items, below_size)


def versions_in(entity: Entity, row: CatalogItem) -> QuerySet[Snapshot]:
    """The snapshots that hold this version of the item."""
    rows = snapshots(entity).filter(pk__gte=row.valid_from_id)
    if row.valid_to_id is not None:
        rows = rows.filter(pk__lt=row.valid_to_id)
    return rows


# -- a selection, as kept in a restore or export job's params


@dataclass(frozen=True, slots=True)
class Selection:
    """What a person picked in one entity: whole folders of one snapshot ("" is the whole
    snapshot) and single item versions (catalog row ids) from any snapshot."""

    entity_id: int
    snapshot_id: int | None = None  # Snapshot pk the folders are read in
    folders: tuple[str, ...] = ()
    items: tuple[int, ...] = ()

    def as_params(self) -> dict[str, Any]:
        return {
            "entity": self.entity_id,
            "snapshot": self.snapshot_id,
            "folders": list(self.folders),
            "items": list(self.items),
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Selection:
        return cls(
            entity_id=int(params["entity"]),
            snapshot_id=int(params["snapshot"]) if params.get("snapshot") else None,
            folders=tuple(clean_folder(str(f)) for f in params.get("folders") or ()),
            items=tuple(int(i) for i in params.get("items") or ()),
        )

    @property
    def is_empty(self) -> bool:
        return not self.folders and not self.items


@dataclass(frozen=True, slots=True)
class Selected:
    """One item version to restore or export, and the engine snapshot that holds its content at
    `row.path`."""

    row: CatalogItem
    snapshot_id: str

    @property
    def item(self) -> Item:
        row = self.row
        return Item(
            key=row.key,
            path=row.path,
            version=row.version,
            content_version=row.content_version,
            size=row.size,
            kind=row.kind,
            name=row.name,
            modified=row.modified,
            author=row.author,
            meta=dict(row.meta),
        )


def selected_rows(entity: Entity, selection: Selection) -> QuerySet[CatalogItem]:
    """The catalog rows of a selection, in path order: the folders' items as of the selection's
    snapshot, and the single versions picked (each once)."""
    base = rows_of(entity)
    wanted = Q(pk__in=list(selection.items)) if selection.items else Q(pk__in=[])
    if selection.folders:
        if selection.snapshot_id is None:
            raise ValueError("folders are picked in a snapshot")
        snapshot = Snapshot.objects.get(pk=selection.snapshot_id, entity=entity)
        in_folders = Q()
        for folder in selection.folders:
            if not folder:
                in_folders = Q()
                break
            in_folders |= Q(folder=folder) | Q(folder__startswith=folder + "/")
        picked = as_of(base, snapshot).filter(in_folders).values("pk")
        wanted |= Q(pk__in=picked)
    return base.filter(wanted).select_related("valid_from").order_by("path", "pk")


def resolve(entity: Entity, selection: Selection, after: tuple[str, int] | None = None) -> Iterator[Selected]:
    """The selection's item versions, streamed in (path, id) order; `after` resumes past the
    row (path, id) already done. Each comes with the engine snapshot it is read from: a folder pick reads in
    the chosen snapshot, a single version in the snapshot that brought it (retention re-dates
    rows whose first snapshot was forgotten, so it always exists)."""
    engine_id: str | None = None
    if selection.snapshot_id is not None:
        engine_id = Snapshot.objects.values_list("snapshot_id", flat=True).get(
            pk=selection.snapshot_id, entity=entity
        )
    rows = selected_rows(entity, selection)
    if after is not None:
        rows = rows.filter(Q(path__gt=after[0]) | Q(path=after[0], pk__gt=after[1]))
    as_of_pk = selection.snapshot_id
    for row in _in_chunks(entity, rows):
        in_chosen = (
            engine_id is not None
            and as_of_pk is not None
            and row.valid_from_id <= as_of_pk
            and (row.valid_to_id is None or row.valid_to_id > as_of_pk)
        )
        yield Selected(row, engine_id if in_chosen and engine_id else row.valid_from.snapshot_id)


def _in_chunks(entity: Entity, rows: QuerySet[CatalogItem]) -> Iterator[CatalogItem]:
    """The rows in order, each chunk read to its end before it is used. A cursor left open
    across the run (`iterator()`) would hold SQLite's read while the job writes its checkpoint,
    and the write is refused. The ids come first in one read (small even for a million rows);
    each chunk is then one query by primary key."""
    ids = list(rows.values_list("pk", flat=True))
    for start in range(0, len(ids), STREAM_CHUNK):
        chunk = ids[start : start + STREAM_CHUNK]
        found = {row.pk: row for row in rows_of(entity).filter(pk__in=chunk).select_related("valid_from")}
        for pk in chunk:
            if pk in found:  # gone since (a purge): skipped
                yield found[pk]


def selection_totals(entity: Entity, selection: Selection) -> tuple[int, int]:
    totals = selected_rows(entity, selection).aggregate(n=Count("pk"), size=Sum("size"))
    return totals["n"] or 0, totals["size"] or 0


def backup_date(entity: Entity, selection: Selection) -> datetime | None:
    """The time of the snapshot a selection was read in (the Jobs page's "backup date")."""
    if selection.snapshot_id is not None:
        return (
            Snapshot.objects.filter(pk=selection.snapshot_id, entity=entity)
            .values_list("time", flat=True)
            .first()
        )
    first = rows_of(entity).filter(pk__in=list(selection.items)).order_by("-valid_from__time").first()
    return first.valid_from.time if first else None
