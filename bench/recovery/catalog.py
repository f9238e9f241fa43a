"""A large temporal catalog, generated in the shape the pipeline writes it, then timed reads of it:
folder listings as of a snapshot, and keyword search.

Per entity: 30 daily snapshots. The first brings every item; each later one adds, changes and
removes a share of the current items the way `EntityBackup._save` records a run: the rows of
changed and removed keys get `valid_to` (an UPDATE by key, in chunks), changed and added items
get a new row valid from the snapshot. Half the entities are mailboxes (a subject, a sender, a
body of 30-100 words, `<folder>/<uid>.eml`), half are file drives (names, owners, the extracted
text of documents, a folder tree). Each entity has one large folder (INBOX, Photos/Camera
Uploads), and a mailbox's root holds only folders while a drive's root holds some files too.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .words import Words

ADD, CHANGE, REMOVE = 0.006, 0.008, 0.003  # of the first snapshot's items, per daily snapshot
INSERT_BATCH = 2000
UPDATE_CHUNK = 1000  # the pipeline's CATALOG_BATCH

FIRST = [
    "Ada", "Bob", "Chloé", "Jürgen", "Hiro", "Søren", "Priya", "Zoë", "Maria", "James", "Wei", "Fatima",
    "Lars", "Ana", "Omar", "Ingrid", "Kenji", "Lucía", "Noah", "Amara", "Tomás", "Elena", "Ravi", "Mia",
    "Hannah", "Yusuf", "Olga", "Pierre", "Aisha", "Daniel",
]  # fmt: skip
LAST = [
    "Lovelace", "Builder", "Dubois", "Müller", "Tanaka", "Kierkegaard", "Natarajan", "O'Brien", "Rossi",
    "Smith", "Chen", "Haddad", "Nilsson", "Silva", "Farouk", "Berg", "Sato", "García", "Novak", "Okafor",
]  # fmt: skip
EXTENSIONS = [".docx", ".xlsx", ".pdf", ".pptx", ".txt", ".csv", ".md", ".png", ".jpg", ".zip"]
TEXT_EXTENSIONS = {".docx", ".xlsx", ".pdf", ".pptx", ".txt", ".csv", ".md"}


@dataclass
class Timing:
    """Milliseconds of each timed call."""

    calls: list[float] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.calls) if self.calls else 0.0

    @property
    def p95(self) -> float:
        if not self.calls:
            return 0.0
        ordered = sorted(self.calls)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def max(self) -> float:
        return max(self.calls) if self.calls else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "calls": len(self.calls),
            "p50_ms": self.p50,
            "p95_ms": self.p95,
            "max_ms": self.max,
            "hits_median": statistics.median(self.hits) if self.hits else None,
            "note": self.note,
        }


@dataclass
class LoadFigures:
    entities: int = 0
    versions: int = 0
    current: int = 0
    snapshots: int = 0
    big_folder_items: list[int] = field(default_factory=list)
    first_s: float = 0.0  # the first snapshot of every entity: inserts only
    changes_s: float = 0.0  # the later snapshots: valid_to updates and inserts
    total_s: float = 0.0
    db_bytes: int = 0
    has_text: bool = False


@dataclass
class _State:
    """One current item: what its next version starts from."""

    key: str
    path: str
    folder: str
    name: str
    author: str
    text: str
    size: int
    serial: int
    meta: dict[str, Any]


class EntityGenerator:
    def __init__(self, kind: str, words: Words, rnd: random.Random) -> None:
        self.kind, self.words, self.rnd = kind, words, rnd
        self.people = [
            f"{f} {last} <{f.lower()}.{last.lower().replace(chr(39), '')}@example.test>"
            for f in FIRST
            for last in LAST
        ]
        rnd.shuffle(self.people)
        self.people_weights = _zipf_cum(len(self.people))
        self.serial = 0
        tail = [w.title() for w in words.vocab[400:]]
        rnd.shuffle(tail)
        if kind == "mail":
            self.big = "INBOX"
            folders = ["Sent", "Drafts", "Archive", "Newsletters", "Receipts", "Travel", "Notifications"]
            folders += [f"Archive/{year}" for year in range(2014, 2026)]
            folders += [f"Projects/{tail.pop()}" for _ in range(15)]
            folders += [f"Clients/{tail.pop()}" for _ in range(25)]
            folders += [
                f"Projects/{p.split('/')[1]}/{tail.pop()}" for p in folders[-40:-25] for _ in range(2)
            ]
        else:
            self.big = "Photos/Camera Uploads"
            folders = [""]  # some files at the drive's root
            for top in ("Documents", "Shared", "Projects", "Finance", "HR", "Marketing", "Photos"):
                folders.append(top)
                for _ in range(rnd.randint(5, 10)):
                    sub = f"{top}/{tail.pop()}"
                    folders.append(sub)
                    folders += [f"{sub}/{tail.pop()}" for _ in range(rnd.randint(0, 4))]
        rnd.shuffle(folders)
        self.folders = folders
        self.folder_weights = _zipf_cum(len(folders), 0.8)

    def person(self) -> str:
        return self.rnd.choices(self.people, cum_weights=self.people_weights)[0]

    def folder(self) -> str:
        return self.rnd.choices(self.folders, cum_weights=self.folder_weights)[0]

    def new(self, folder: str, when: datetime) -> _State:
        rnd, words = self.rnd, self.words
        self.serial += 1
        n = self.serial
        if self.kind == "mail":
            subject = " ".join(words.words(rnd.randint(3, 8))).capitalize()
            if rnd.random() < 0.3:
                subject = "Re: " + subject
            author = self.person()
            path = f"{folder}/{n}.eml"
            size = int(rnd.lognormvariate(9.5, 1.2)) + 800
            meta = {
                "folder": folder,
                "uid": n,
                "uidvalidity": 1700000000,
                "subject": subject,
                "from": author,
                "to": self.person(),
                "cc": "",
                "message_id": f"<{rnd.getrandbits(64):x}.{n}@example.test>",
                "flags": ["\\Seen"] if rnd.random() < 0.8 else [],
                "internal_date": (when - timedelta(minutes=rnd.randint(1, 1440))).isoformat(),
            }
            return _State(
                f"{folder}:1700000000:{n}",
                path,
                folder,
                subject,
                author,
                words.text(rnd.randint(30, 100)),
                size,
                n,
                meta,
            )
        if folder == self.big:
            name, ext = f"IMG_{n:06d}", ".jpg"
        else:
            ext = rnd.choice(EXTENSIONS)
            name = "-".join(words.words(rnd.randint(1, 3))) + f"-{n}"
        name += ext
        text = words.text(rnd.randint(20, 80)) if ext in TEXT_EXTENSIONS else ""
        size = int(rnd.lognormvariate(11, 1.5)) + 100
        meta = {"id": str(100000 + n), "sha1": f"{rnd.getrandbits(160):040x}", "etag": "0"}
        path = f"{folder}/{name}" if folder else name
        return _State(f"file:{100000 + n}", path, folder, name, self.person(), text, size, n, meta)

    def changed(self, old: _State, when: datetime) -> _State:
        """A new version: a re-flagged message; a file with new content, sometimes renamed."""
        rnd = self.rnd
        meta = dict(old.meta)
        if self.kind == "mail":
            meta["flags"] = ["\\Seen", "\\Flagged"] if "\\Flagged" not in meta["flags"] else ["\\Seen"]
            return _State(
                old.key, old.path, old.folder, old.name, old.author, old.text, old.size, old.serial, meta
            )
        meta["etag"] = str(int(meta["etag"]) + 1)
        meta["sha1"] = f"{rnd.getrandbits(160):040x}"
        name, path = old.name, old.path
        if rnd.random() < 0.3 and old.folder != self.big:
            stem, dot, ext = name.rpartition(".")
            name = f"{stem} v{meta['etag']}{dot}{ext}"
            path = f"{old.folder}/{name}" if old.folder else name
        text = self.words.text(rnd.randint(20, 80)) if old.text else ""
        size = max(100, int(old.size * rnd.uniform(0.8, 1.3)))
        return _State(old.key, path, old.folder, name, self.person(), text, size, old.serial, meta)


def _zipf_cum(n: int, exponent: float = 1.0) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank**exponent
        out.append(total)
    return out


def build(
    account: Any,
    *,
    entities: int,
    versions: int,
    snapshots: int,
    folder_items: int,
    seed: int,
    analyze: bool,
    log: Callable[[str], None],
) -> tuple[LoadFigures, list[Any]]:
    """The catalog of `entities` entities, about `versions` rows in all; returns the figures and
    the entities."""
    from django.db import connection, transaction

    from backstop.backups.models import BackupTask, CatalogItem, Entity, Snapshot

    has_text = any(f.name == "text" for f in CatalogItem._meta.get_fields())
    figures = LoadFigures(entities=entities, snapshots=snapshots, has_text=has_text)
    words = Words(seed)
    rnd = random.Random(seed)
    tasks = {
        "mail": BackupTask.objects.create(account=account, service="imap", name="Mail (bench)"),
        "files": BackupTask.objects.create(account=account, service="box", name="Drive (bench)"),
    }
    per_entity = versions // entities
    first_items = round(per_entity / (1 + (snapshots - 1) * (ADD + CHANGE)))
    big = min(folder_items, int(first_items * 0.6))
    start = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    made: list[Any] = []
    t_all = time.perf_counter()
    for index in range(entities):
        kind = "mail" if index % 2 == 0 else "files"
        name = f"user{index:02d}@example.test" if kind == "mail" else f"User {index:02d}"
        entity = Entity.objects.create(
            account=account,
            task=tasks[kind],
            key=name,
            name=name,
            email=name if kind == "mail" else "",
            kind="mailbox" if kind == "mail" else "user",
            status=Entity.Status.ACTIVE,
        )
        made.append(entity)
        gen = EntityGenerator(kind, words, random.Random(rnd.random()))
        current: dict[str, _State] = {}
        order: list[str] = []  # keys of current items, for uniform picks
        where: dict[str, int] = {}

        def drop(key: str, order: list[str] = order, where: dict[str, int] = where) -> None:
            i = where.pop(key)
            last = order.pop()
            if last != key:
                order[i] = last
                where[last] = i

        def row(state: _State, snap: Any, entity: Any = entity, gen: EntityGenerator = gen) -> Any:
            values: dict[str, Any] = {
                "account_id": account.pk,
                "entity_id": entity.pk,
                "key": state.key,
                "path": state.path,
                "folder": state.path.rpartition("/")[0],  # as the pipeline sets it
                "name": state.name[:500],
                "kind": "message" if gen.kind == "mail" else "file",
                "author": state.author[:300],
                "size": state.size,
                "modified": snap.time - timedelta(hours=gen.rnd.randint(1, 20)),
                "version": f"{state.serial}.{snap.pk}",
                "content_version": f"{state.serial}.{state.meta.get('sha1', '')[:12]}",
                "meta": state.meta,
                "valid_from_id": snap.pk,
            }
            if has_text:
                values["text"] = state.text
            return CatalogItem(**values)

        for day in range(snapshots):
            t0 = time.perf_counter()
            when = start + timedelta(days=day)
            added: list[_State] = []
            changed: list[_State] = []
            removed: list[str] = []
            if day == 0:
                added = [gen.new(gen.big, when) for _ in range(big)]
                added += [gen.new(_other(gen), when) for _ in range(first_items - big)]
            else:
                picks = rnd.sample(order, round(first_items * (CHANGE + REMOVE)))
                cut = round(first_items * REMOVE)
                removed = picks[:cut]
                changed = [gen.changed(current[k], when) for k in picks[cut:]]
                share_big = big / first_items
                added = [
                    gen.new(gen.big if gen.rnd.random() < share_big else _other(gen), when)
                    for _ in range(round(first_items * ADD))
                ]
            for key in removed:
                del current[key]
                drop(key)
            for state in changed:
                current[state.key] = state
            for state in added:
                current[state.key] = state
                where[state.key] = len(order)
                order.append(state.key)
            with transaction.atomic():
                snap = Snapshot.objects.create(
                    account=account,
                    entity=entity,
                    snapshot_id=f"{rnd.getrandbits(256):064x}",
                    time=when,
                    items=len(current),
                    size=sum(s.size for s in current.values()),
                    added=len(added),
                    changed=len(changed),
                    removed=len(removed),
                )
                ended = removed + [s.key for s in changed]
                live = CatalogItem.objects.filter(account_id=account.pk, entity=entity, valid_to__isnull=True)
                for i in range(0, len(ended), UPDATE_CHUNK):
                    live.filter(key__in=ended[i : i + UPDATE_CHUNK]).update(valid_to=snap)
                CatalogItem.objects.bulk_create(
                    (row(s, snap) for s in _chain(changed, added)), batch_size=INSERT_BATCH
                )
            figures.versions += len(changed) + len(added)
            spent = time.perf_counter() - t0
            if day == 0:
                figures.first_s += spent
            else:
                figures.changes_s += spent
        figures.current += len(current)
        figures.big_folder_items.append(sum(1 for s in current.values() if s.folder == gen.big))
        log(
            f"catalog: entity {index + 1}/{entities} ({kind}): {figures.versions:,} versions so far, "
            f"{time.perf_counter() - t_all:.0f} s"
        )
    figures.total_s = time.perf_counter() - t_all
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
        else:
            cursor.execute("SELECT pg_database_size(current_database())")
        figures.db_bytes = int(cursor.fetchone()[0])
        if connection.vendor == "postgresql" or analyze:
            # PostgreSQL's autovacuum analyzes a table this size by itself; the embedded SQLite
            # never runs ANALYZE (nothing in the project does), so by default it is not run here.
            cursor.execute("ANALYZE")
    return figures, made


def _other(gen: EntityGenerator) -> str:
    while True:
        folder = gen.folder()
        if folder != gen.big:
            return folder


def _chain(*parts: list[_State]) -> Iterator[_State]:
    for part in parts:
        yield from part


# -- reads


def time_listings(
    entities: list[Any], calls: int, warmup: int, seed: int, log: Callable[[str], None]
) -> dict[str, Timing]:
    """`recovery.list_folder` of each entity's large folder (first page, and a random page) and
    of its root, as of random snapshots of random entities."""
    from backstop.backups import recovery
    from backstop.backups.models import Snapshot

    rnd = random.Random(seed)
    snaps = {e.pk: list(Snapshot.objects.filter(entity=e).order_by("pk")) for e in entities}
    bigs = {e.pk: ("INBOX" if e.kind == "mailbox" else "Photos/Camera Uploads") for e in entities}
    out = {"large folder, page 1": Timing(), "large folder, a random page": Timing(), "root folder": Timing()}
    for name, timing in out.items():
        for n in range(warmup + calls):
            entity = rnd.choice(entities)
            snapshot = rnd.choice(snaps[entity.pk])
            folder = "" if name == "root folder" else bigs[entity.pk]
            page = rnd.randint(1, 100) if name.endswith("random page") else 1
            t0 = time.perf_counter()
            listing = recovery.list_folder(entity, snapshot, folder, page=page)
            spent = (time.perf_counter() - t0) * 1000
            if n >= warmup:
                timing.calls.append(spent)
                timing.hits.append(listing.total_items)
        log(f"listing: {name}: p50 {timing.p50:.1f} ms, p95 {timing.p95:.1f} ms")
    return out


def search_queries(words: Words, rnd: random.Random, kind: str, entity: Any = None) -> str:
    vocab = words.vocab
    if kind == "common":
        return rnd.choice(vocab[30:60])  # meeting, report, project, ...: in ~10-20 % of bodies
    if kind == "rare":
        return rnd.choice(vocab[3000:])  # in a few dozen rows of an entity
    # Two words one remembers from one item: taken from a random row of the entity (not among
    # the 30 most common words, 4 letters or more).
    from backstop.backups.models import CatalogItem

    rows = CatalogItem.objects.filter(entity=entity).exclude(text="")
    bounds = rows.order_by("pk").values_list("pk", flat=True)
    low, high = bounds.first(), bounds.last()
    while True:
        row = (
            rows.filter(pk__gte=rnd.randint(low, high)).order_by("pk").values_list("text", flat=True).first()
        )
        picked = list(dict.fromkeys(w for w in (row or "").split() if len(w) >= 4 and words.rank(w) > 30))
        if len(picked) >= 2:
            return " ".join(rnd.sample(picked, 2))


def time_search(
    entities: list[Any], calls: int, warmup: int, seed: int, log: Callable[[str], None]
) -> dict[str, Timing]:
    """`search.search(entity, text=...)` evaluated two ways: the first 100 rows and the count of
    rows; and, when search.py has them, as the Recovery page shows results: items counted
    (`count_items`) and the first page grouped by item (`grouped`)."""
    from backstop.backups import search

    def rows_and_count(entity: Any, text: str) -> int:
        rows = search.search(entity, text=text)
        page = list(rows[:100])
        total = rows.count()
        assert len(page) == min(total, 100), (text, len(page), total)
        return total

    def as_the_page(entity: Any, text: str) -> int:
        rows = search.search(entity, text=text)
        total = search.count_items(rows)
        found = search.grouped(rows, search.PAGE, 0)
        assert len(found) == min(total, search.PAGE), (text, len(found), total)
        return total

    ways: list[tuple[str, Callable[[Any, str], int]]] = [("100 rows + count", rows_and_count)]
    if hasattr(search, "grouped") and hasattr(search, "count_items"):
        ways.append(("as the page: count_items + grouped", as_the_page))
    out: dict[str, Timing] = {}
    for way, evaluate in ways:
        rnd = random.Random(seed)  # the same queries for both ways
        words = Words(seed, stream=200_000)
        words.rnd = rnd
        for kind, label in (("common", "a common word"), ("rare", "a rare word"), ("two", "two words")):
            timing = out[f"{label}, {way}"] = Timing()
            examples: list[str] = []
            for n in range(warmup + calls):
                entity = rnd.choice(entities)
                text = search_queries(words, rnd, kind, entity)
                t0 = time.perf_counter()
                total = evaluate(entity, text)
                spent = (time.perf_counter() - t0) * 1000
                if n >= warmup:
                    timing.calls.append(spent)
                    timing.hits.append(total)
                    if len(examples) < 3:
                        examples.append(f"{text!r}: {total}")
            timing.note = "e.g. " + ", ".join(examples)
            log(f"search: {label}, {way}: p50 {timing.p50:.1f} ms, p95 {timing.p95:.1f} ms ({timing.note})")
    return out
