"""Catalog search (A-RECOVER "via item search"): one entity's item versions, in all its snapshots,
found by keywords or by author, name and date.

The query language is small on purpose: words, all of which must match, each also as a prefix
("invo" finds "invoice"; one letter matches only itself), and "quoted phrases" matched exactly.
User input never reaches either engine's query syntax: it is split into words (runs of letters
and digits, as both indexes see them) and every word is quoted, so operators, quotes, `*`, `:`,
`-`, NEAR or NUL are separators or plain words, never syntax. At most 16 terms are used.

The index (migration 0003) covers name, author, path and the extracted body text:

- SQLite: the contentless FTS5 table `backups_catalog_fts`, rowid = catalog row id. Its `scope`
  column holds `e<entity id>`; a query is `scope : "e12" AND {name author path text} : (...)`,
  so the words' posting lists are intersected with the entity's inside the index and no other
  entity's row is read (a word's postings span every entity: a common prefix costs what it
  matches in the whole catalog, which the embedded default keeps small). `author`
  and `name` restrict their words to that column (`author : (...)`). Diacritics are folded.
- PostgreSQL: the stored column `search_document` = `to_tsvector('simple', translate(name ||
  author || path || text))` under a GIN index (migrations 0003, 0004) with `account_id` and
  `entity_id`; `_Vector` builds the same expression for one column. An
  author or name filter matches its words in the whole vector (the index) and in the vector of
  that column alone (a recheck of the candidate rows). Diacritics count ("cafe" ≠ "café").
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connections
from django.db.models import BooleanField, F, Func, Max, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from backstop.backups.migrations._search import PUNCTUATION
from backstop.backups.models import CatalogItem, Entity, Snapshot
from backstop.backups.recovery import rows_of

MAX_TERMS = 16
MAX_WORD = 100  # longer words are cut and matched as prefixes
PAGE = 50
FTS_TABLE = "backups_catalog_fts"
SEARCH_INDEX = "catalog_search_idx"
DOCUMENT_COLUMNS = ("name", "author", "path", "text")

_TERM = re.compile(r'"([^"]*)"?|([^\s"]+)')
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Term:
    """Words that follow one another (one word, or a phrase); `prefix`: the last may go on."""

    words: tuple[str, ...]
    prefix: bool


def parse(text: str) -> list[Term]:
    """The terms of a query: bare words and quoted phrases; punctuation inside a bare word makes
    its parts a phrase ("invoice-2024")."""
    terms: list[Term] = []
    for match in _TERM.finditer(text):
        quoted = match.group(1) is not None
        words = _WORD.findall(match.group(1) if quoted else match.group(2))
        if not words:
            continue
        cut = len(words[-1]) > MAX_WORD
        words = [w[:MAX_WORD] for w in words]
        terms.append(Term(tuple(words), prefix=cut or (not quoted and len(words[-1]) > 1)))
        if len(terms) == MAX_TERMS:
            break
    return terms


# -- SQLite FTS5


def _fts(terms: list[Term]) -> str:
    return " AND ".join('"' + " ".join(t.words) + '"' + ("*" if t.prefix else "") for t in terms)


def _fts_query(entity: Entity, text: list[Term], author: list[Term], name: list[Term]) -> str:
    parts = [f'scope : "e{int(entity.pk)}"']
    if text:
        parts.append(f"{{{' '.join(DOCUMENT_COLUMNS)}}} : ({_fts(text)})")
    if author:
        parts.append(f"author : ({_fts(author)})")
    if name:
        parts.append(f"name : ({_fts(name)})")
    return " AND ".join(parts)


# -- PostgreSQL


class _Vector(Func):
    """The indexed document (or one column of it) as migration 0003 writes it."""

    template = (
        "to_tsvector('simple'::regconfig, translate(%(expressions)s, "
        f"'{PUNCTUATION}', '{' ' * len(PUNCTUATION)}'))"
    )
    arg_joiner = " || ' ' || "
    output_field = TextField()


class _Matches(Func):
    template = "%(expressions)s"
    arg_joiner = " @@ "
    output_field = BooleanField()


class _TsQuery(Func):
    template = "to_tsquery('simple'::regconfig, %(expressions)s)"
    output_field = TextField()


def _tsquery(terms: list[Term]) -> str:
    def one(term: Term) -> str:
        words = [f"'{w}'" for w in term.words]
        if term.prefix:
            words[-1] += ":*"
        return "(" + " <-> ".join(words) + ")"

    return " & ".join(one(t) for t in terms)


def _pg_condition(text: list[Term], author: list[Term], name: list[Term]) -> Q:
    every = text + author + name
    # The whole document is the stored, GIN-indexed column of migration 0004.
    document = RawSQL(f'"{CatalogItem._meta.db_table}"."search_document"', (), output_field=TextField())
    condition = Q(_Matches(document, _TsQuery(Value(_tsquery(every)))))
    for column, terms in (("author", author), ("name", name)):
        if terms:
            condition &= Q(_Matches(_Vector(F(column)), _TsQuery(Value(_tsquery(terms)))))
    return condition


# -- any other database: unindexed


def _plain_condition(text: list[Term], author: list[Term], name: list[Term]) -> Q:
    condition = Q()
    for columns, terms in ((DOCUMENT_COLUMNS, text), (("author",), author), (("name",), name)):
        for term in terms:
            for word in term.words:
                one = Q()
                for column in columns:
                    one |= Q(**{f"{column}__icontains": word})
                condition &= one
    return condition


def _match(
    rows: QuerySet[CatalogItem], entity: Entity, text: str = "", author: str = "", name: str = ""
) -> QuerySet[CatalogItem]:
    parsed = [parse(value) for value in (text, author, name)]
    if any(value.strip() and not terms for value, terms in zip((text, author, name), parsed, strict=True)):
        return rows.none()  # only punctuation: nothing can match it
    text_terms, author_terms, name_terms = parsed
    if not (text_terms or author_terms or name_terms):
        return rows
    rows = rows.filter(account_id=entity.account_id, entity_id=entity.pk)
    vendor = connections[rows.db].vendor
    if vendor == "sqlite":
        query = _fts_query(entity, text_terms, author_terms, name_terms)
        sql = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
        return rows.filter(pk__in=RawSQL(sql, [query]))
    if vendor == "postgresql":
        return rows.filter(_pg_condition(text_terms, author_terms, name_terms))
    return rows.filter(_plain_condition(text_terms, author_terms, name_terms))


def matching(rows: QuerySet[CatalogItem], entity: Entity, text: str) -> QuerySet[CatalogItem]:
    """`rows` (of `entity`) whose name, author, path or body text hold every word of `text`.
    Empty `text` keeps them all; text with no word in it (only punctuation) keeps none."""
    return _match(rows, entity, text=text)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def search(
    entity: Entity,
    *,
    text: str = "",
    author: str = "",
    name: str = "",
    start: date | None = None,
    end: date | None = None,
) -> QuerySet[CatalogItem]:
    """Every version row of `entity` (all snapshots) that matches: `text` in any field, `author`
    (sender, owner) and `name` (subject, file name) in that field only, `modified` between the
    days `start` and `end` inclusive (in the current time zone). Newest `modified` first; the
    body text is deferred."""
    rows = _match(rows_of(entity), entity, text=text, author=author, name=name)
    if start is not None:
        rows = rows.filter(modified__gte=_day_start(start))
    if end is not None:
        rows = rows.filter(modified__lt=_day_start(end + timedelta(days=1)))
    return rows.order_by(F("modified").desc(nulls_last=True), "-pk")


# -- results by item


@dataclass(frozen=True, slots=True)
class FoundVersion:
    """One matching version of an item, and the snapshots that hold it (as `recovery.versions_in`)."""

    row: CatalogItem
    snapshots: int
    first: datetime | None  # the first and last snapshot's time
    last: datetime | None


@dataclass
class Found:
    """One item of the results: its matching versions, newest first."""

    key: str
    versions: list[FoundVersion] = field(default_factory=list)

    @property
    def newest(self) -> CatalogItem:
        return self.versions[0].row

    @property
    def name(self) -> str:
        return self.newest.name

    @property
    def kind(self) -> str:
        return self.newest.kind

    @property
    def path(self) -> str:
        return self.newest.path

    @property
    def modified(self) -> datetime | None:
        return self.newest.modified

    @property
    def size(self) -> int:
        return self.newest.size


def count_items(rows: QuerySet[CatalogItem]) -> int:
    """How many items (keys) the rows are versions of."""
    return rows.order_by().values("key").distinct().count()


def grouped(rows: QuerySet[CatalogItem], limit: int = PAGE, offset: int = 0) -> list[Found]:
    """The rows grouped by item, the item with the newest `modified` first: items `offset` to
    `offset + limit`, each with all its versions among `rows`. Three queries whatever the page."""
    newest_first = (F("modified").desc(nulls_last=True), "-pk")
    page = (
        rows.order_by()
        .values("key")
        .annotate(newest=Max("modified"), last=Max("pk"))
        .order_by(F("newest").desc(nulls_last=True), "-last")[offset : offset + limit]
    )
    keys = [entry["key"] for entry in page]
    if not keys:
        return []
    found = {key: Found(key) for key in keys}
    # The page's versions are read by key without the text match (which, with a common word,
    # would be checked against every matching row per key), then kept if they matched.
    scope = rows.filter(key=keys[0]).values_list("account_id", "entity_id").first()
    assert scope is not None
    candidates = list(
        CatalogItem.objects.filter(account_id=scope[0], entity_id=scope[1], key__in=keys)
        .defer("text")
        .order_by(*newest_first)
    )
    matched = set(rows.filter(pk__in=[row.pk for row in candidates]).values_list("pk", flat=True))
    versions = [row for row in candidates if row.pk in matched]
    held = _snapshots_holding(versions)
    for row in versions:
        found[row.key].versions.append(held[row.pk])
    return [found[key] for key in keys]


def _snapshots_holding(rows: list[CatalogItem]) -> dict[int, FoundVersion]:
    """For each row, the entity's snapshots from its `valid_from` up to (not with) its `valid_to`:
    one query per entity for the snapshots since the oldest row's."""
    lowest: dict[tuple[int, int], int] = {}
    for row in rows:
        scope = (row.account_id, row.entity_id)
        lowest[scope] = min(lowest.get(scope, row.valid_from_id), row.valid_from_id)
    times: dict[tuple[int, int], tuple[list[int], list[datetime]]] = defaultdict(lambda: ([], []))
    for (account_id, entity_id), low in lowest.items():
        pks, at = times[(account_id, entity_id)]
        for pk, when in (
            Snapshot.objects.filter(account_id=account_id, entity_id=entity_id, pk__gte=low)
            .order_by("pk")
            .values_list("pk", "time")
        ):
            pks.append(pk)
            at.append(when)
    result: dict[int, FoundVersion] = {}
    for row in rows:
        pks, at = times[(row.account_id, row.entity_id)]
        i = bisect_left(pks, row.valid_from_id)
        j = bisect_left(pks, row.valid_to_id) if row.valid_to_id is not None else len(pks)
        span = at[i:j]
        result[row.pk] = FoundVersion(row, len(span), min(span, default=None), max(span, default=None))
    return result
