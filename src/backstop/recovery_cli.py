"""`backstop recovery`: the Recovery page's reads for operators, on the same services.

    backstop recovery entities [--account ID] [--search TEXT]
    backstop recovery snapshots ENTITY [--from DAY] [--to DAY]
    backstop recovery ls ENTITY [SNAPSHOT] [FOLDER]
    backstop recovery find ENTITY [WORDS...] [--author A] [--name N] [--from DAY] [--to DAY]
    backstop recovery restore ENTITY --to DIR [--snapshot S] [--folder F]... [--item ID]...

ENTITY is the entity's id (see `entities`); SNAPSHOT a snapshot's id prefix or "latest" (the
default). `restore` writes the picked items' original bytes into a local folder, under safe
names that never leave it, and never overwrites a file already there. Operators act on any
account: each restore is written to that account's Security Audit.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("recovery", help="browse, search and restore backups (operators)")
    sub = parser.add_subparsers(dest="recovery_command", required=True, metavar="ACTION")

    entities = sub.add_parser("entities", help="backed-up entities, with first and last backup")
    entities.add_argument("--account", type=int, help="only this account's")
    entities.add_argument("--search", default="", help="part of the name or e-mail")

    snapshots = sub.add_parser("snapshots", help="an entity's snapshots, newest first")
    snapshots.add_argument("entity", type=int)
    _dates(snapshots)

    ls = sub.add_parser("ls", help="a folder as it was in a snapshot")
    ls.add_argument("entity", type=int)
    ls.add_argument("snapshot", nargs="?", default="latest")
    ls.add_argument("folder", nargs="?", default="")

    find = sub.add_parser("find", help="search every snapshot of an entity")
    find.add_argument("entity", type=int)
    find.add_argument("words", nargs="*")
    find.add_argument("--author", default="", help="author or sender")
    find.add_argument("--name", default="", help="file name or subject")
    _dates(find)

    restore = sub.add_parser("restore", help="write items into a local folder")
    restore.add_argument("entity", type=int)
    restore.add_argument("--to", required=True, type=Path, help="the folder to write into")
    restore.add_argument("--snapshot", default="latest")
    restore.add_argument("--folder", action="append", default=[], help="a folder of the snapshot ('' = all)")
    restore.add_argument("--item", action="append", type=int, default=[], help="a version id from `find`")


def _dates(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _table(rows: Sequence[Sequence[str]]) -> Iterator[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def _size(n: int) -> str:
    from backstop.repo_cli import human_size

    return human_size(n)


def run(options: argparse.Namespace) -> int:
    from backstop.cli import _setup

    _setup()
    from backstop.backups.models import Entity

    action = options.recovery_command
    if action == "entities":
        return _entities(options)
    entity = Entity.objects.select_related("task", "account").filter(pk=options.entity).first()
    if entity is None:
        sys.stderr.write(f"backstop: no entity {options.entity}\n")
        return 1
    try:
        if action == "snapshots":
            return _snapshots(entity, options)
        if action == "ls":
            return _ls(entity, options)
        if action == "find":
            return _find(entity, options)
        return _restore(entity, options)
    except LookupError as exc:
        sys.stderr.write(f"backstop: {exc}\n")
        return 1


def _entities(options: argparse.Namespace) -> int:
    from django.db.models import Q

    from backstop.backups.models import Entity

    rows = Entity.objects.select_related("task", "account").filter(
        first_backup_at__isnull=False, deleted_at__isnull=True
    )
    if options.account:
        rows = rows.filter(account_id=options.account)
    if options.search:
        rows = rows.filter(Q(name__icontains=options.search) | Q(email__icontains=options.search))
    table = [("ID", "ACCOUNT", "TASK", "ENTITY", "FIRST BACKUP", "LAST BACKUP", "ITEMS", "SIZE")]
    for e in rows.order_by("account_id", "task_id", "name"):
        table.append(
            (
                str(e.pk),
                f"{e.account_id} {e.account.name}",
                e.task.name,
                e.email or e.name,
                f"{e.first_backup_at:%Y-%m-%d %H:%M}",
                f"{e.last_backup_at:%Y-%m-%d %H:%M}" if e.last_backup_at else "",
                str(e.items),
                _size(e.size),
            )
        )
    for line in _table(table):
        _out(line)
    return 0


def _snapshot(entity: Any, ref: str) -> Any:
    from backstop.backups import recovery

    rows = recovery.snapshots(entity)
    found = rows.first() if ref == "latest" else rows.filter(snapshot_id__startswith=ref).first()
    if found is None:
        raise LookupError(f"no snapshot {ref!r} of entity {entity.pk}")
    return found


def _snapshots(entity: Any, options: argparse.Namespace) -> int:
    from backstop.backups import recovery

    table = [("SNAPSHOT", "TIME (UTC)", "ITEMS", "SIZE", "ADDED", "CHANGED", "REMOVED")]
    for s in recovery.snapshots(entity, *_range(options)):
        counts = (str(s.items), _size(s.size), str(s.added), str(s.changed), str(s.removed))
        table.append((s.snapshot_id[:12], f"{s.time:%Y-%m-%d %H:%M:%S}", *counts))
    for line in _table(table):
        _out(line)
    return 0


def _range(options: argparse.Namespace) -> tuple[Any, Any]:
    from datetime import UTC, datetime, time

    start = datetime.combine(options.start, time.min, UTC) if options.start else None
    end = datetime.combine(options.end, time.max, UTC) if options.end else None
    return start, end


def _ls(entity: Any, options: argparse.Namespace) -> int:
    from backstop.backups import recovery

    snapshot = _snapshot(entity, options.snapshot)
    page, pages = 1, 1
    while page <= pages:
        listing = recovery.list_folder(entity, snapshot, options.folder, page=page)
        if page == 1:
            for sub in listing.folders:
                _out(f"{'folder':8}  {'':>10}  {'':16}  {sub.name}/")
        for row in listing.items:
            when = f"{row.modified:%Y-%m-%d %H:%M}" if row.modified else ""
            _out(f"{row.kind[:8]:8}  {_size(row.size):>10}  {when:16}  {row.name}  [{row.pk}]")
        page, pages = page + 1, listing.pages
    return 0


def _find(entity: Any, options: argparse.Namespace) -> int:
    from backstop.backups import search

    rows = search.search(
        entity,
        text=" ".join(options.words),
        author=options.author,
        name=options.name,
        start=options.start,
        end=options.end,
    )
    table = [("VERSION", "KIND", "NAME", "AUTHOR", "MODIFIED", "SIZE", "IN SNAPSHOTS")]
    for found in search.grouped(rows, limit=200):  # the page's grouping: no query per version
        for version in found.versions:
            row = version.row
            span = f"{version.snapshots}"
            if version.first and version.last:
                span += f": {version.first:%Y-%m-%d}..{version.last:%Y-%m-%d}"
            when = f"{row.modified:%Y-%m-%d %H:%M}" if row.modified else ""
            table.append((str(row.pk), row.kind, row.name[:60], row.author[:40], when, _size(row.size), span))
    for line in _table(table):
        _out(line)
    return 0


def _restore(entity: Any, options: argparse.Namespace) -> int:
    from backstop.audit import events as audit
    from backstop.backups.export import Namer
    from backstop.backups.recovery import Selection, resolve
    from backstop.backups.repos import open_repository

    if not options.folder and not options.item:
        raise LookupError("pick something: --folder (repeat it; '' is everything) or --item")
    snapshot = _snapshot(entity, options.snapshot) if options.folder else None
    selection = Selection(
        entity.pk, snapshot.pk if snapshot else None, tuple(options.folder), tuple(options.item)
    )
    root = options.to.resolve()
    root.mkdir(parents=True, exist_ok=True)
    repo = open_repository(entity.account, create=False)
    namer = Namer()
    written = failed = 0
    for selected in resolve(entity, selection):
        name = namer.name_for(selected)
        target = _free(root / name)
        if root not in target.resolve().parents:
            raise LookupError(f"refusing to write outside {root}: {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with repo.open_item(selected.snapshot_id, selected.row.path) as src, open(target, "xb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        except Exception as exc:  # an unreadable item is listed, the rest goes on
            failed += 1
            sys.stderr.write(f"cannot read {selected.row.path}: {exc}\n")
            continue
        if selected.row.modified:
            stamp = selected.row.modified.timestamp()
            os.utime(target, (stamp, stamp))
        written += 1
    audit.record(
        None,
        audit.RESTORE_REQUESTED,
        account=entity.account,
        service=entity.task.service,
        task_name=entity.task.name,
        description=f"Operator restore of {written} items of {entity.name} to a local folder",
        performed_by="operator (backstop recovery)",
    )
    _out(f"{written} items written to {root}" + (f"; {failed} could not be read" if failed else ""))
    return 1 if failed else 0


def _free(path: Path) -> Path:
    """The path, or "name (2).ext" and so on when a file is there already."""
    if not path.exists():
        return path
    for n in range(2, 10_000):
        other = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not other.exists():
            return other
    raise LookupError(f"no free name beside {path}")
