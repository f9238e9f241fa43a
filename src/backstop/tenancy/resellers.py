"""What the Resellers page reads (P-TIERS): the partners below a partner, at any depth, with
their customer accounts and users counted.

The partners come from the lineage (`subtree_filter`), the counts from two grouped queries (one
over the accounts the role reaches, one over the partners' memberships), so the page costs the
same few statements whatever the number of resellers. Accounts are counted through
`reach_of(membership)` like the dashboard's tiles: a role limited to some accounts counts only
those, and an account whose partner access was removed is not counted.

Each row counts the partner's own customers: an account is counted once, on the row of the
partner that manages it (a sub-distributor's resellers' customers are on their own rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from backstop.tenancy import dashboard as board
from backstop.tenancy.models import Membership, Partner
from backstop.tenancy.scoping import partners_below

PAGE_SIZE = 25
SORTS = ("name", "-name", "accounts", "-accounts")
CODE_RE = re.compile(r"^[Pp]?0*(\d{1,9})$")  # a partner id as shown (P000042) or typed (42)


@dataclass(frozen=True, slots=True)
class Filters:
    """The search and the sort, kept in the query string."""

    q: str = ""
    sort: str = "name"

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Filters:
        sort = str(data.get("sort") or "")
        return cls(q=str(data.get("q") or "").strip()[:200], sort=sort if sort in SORTS else "name")

    def pairs(self, **changes: str) -> list[tuple[str, str]]:
        values = {"q": self.q, "sort": "" if self.sort == "name" else self.sort, **changes}
        return [(key, value) for key, value in values.items() if value]

    def query(self, **changes: str) -> str:
        return urlencode(self.pairs(**changes))

    def sort_query(self, key: str) -> str:
        """The query sorting by `key`; the current sort's link reverses it. Accounts sort the
        largest first at the first click (that is what one looks for)."""
        if self.sort == key:
            return self.query(sort=f"-{key}")
        if self.sort == f"-{key}":
            return self.query(sort=key)
        return self.query(sort="-accounts" if key == "accounts" else key)

    def apply(self, partners: QuerySet[Partner]) -> QuerySet[Partner]:
        if not self.q:
            return partners
        found = Q(name__icontains=self.q)
        code = CODE_RE.match(self.q)
        if code:
            found |= Q(pk=int(code.group(1)))
        return partners.filter(found)


@dataclass(frozen=True, slots=True)
class Counts:
    accounts: int = 0
    trials: int = 0  # a trial running (in progress or expiring)
    subscribed: int = 0  # monthly or annual, a plan chosen during the trial included
    users: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    partner: Partner
    counts: Counts
    direct: bool  # a child of the page's partner (its parent is the page's partner)

    @property
    def parent(self) -> Partner | None:
        return self.partner.parent


def counts(membership: Membership, partner_ids: QuerySet[Partner, Any], on: date) -> dict[int, Counts]:
    """The counts of each partner in `partner_ids` (a values("pk") query): two grouped queries."""
    conditions = board.account_conditions(on)
    trial = conditions[board.IN_PROGRESS] | conditions[board.EXPIRING]
    subscribed = conditions[board.MONTHLY] | conditions[board.ANNUAL]
    accounts = (
        board.reached(membership)
        .filter(partner__in=partner_ids)
        .order_by()
        .values("partner_id")
        .annotate(n=Count("pk"), trials=Count("pk", filter=trial), subscribed=Count("pk", filter=subscribed))
    )
    users = (
        Membership.objects.filter(partner__in=partner_ids)
        .order_by()
        .values("partner_id")
        .annotate(n=Count("pk"))
    )
    found = {row["partner_id"]: row for row in accounts}
    people = {row["partner_id"]: row["n"] for row in users}
    result: dict[int, Counts] = {}
    for pk in {*found, *people}:
        row: Mapping[str, Any] = found.get(pk, {})
        result[pk] = Counts(
            row.get("n", 0), row.get("trials", 0), row.get("subscribed", 0), people.get(pk, 0)
        )
    return result


def rows(partner: Partner, membership: Membership, filters: Filters, on: date) -> list[Row]:
    """Every partner below `partner` that the filters keep, counted and sorted: three queries."""
    partners = filters.apply(partners_below(partner))
    found = counts(membership, partners.values("pk"), on)
    listed = [
        Row(p, found.get(p.pk, Counts()), p.parent_id == partner.pk)
        for p in partners.select_related("parent").order_by("name", "pk")
    ]
    key = filters.sort.lstrip("-")
    descending = filters.sort.startswith("-")
    if key == "accounts":
        listed.sort(key=lambda row: row.counts.accounts, reverse=descending)  # stable: by name within
    elif descending:
        listed.reverse()
    return listed


CSV_HEADER = [
    "Name",
    "Partner id",
    "Type",
    "Parent",
    "Parent partner id",
    "Customer accounts",
    "On trial",
    "Subscribed",
    "Users",
    "Created",
]


def csv_rows(listed: list[Row]) -> Iterator[list[Any]]:
    yield CSV_HEADER
    for row in listed:
        parent = row.parent
        yield [
            row.partner.name,
            row.partner.code,
            row.partner.get_kind_display(),
            parent.name if parent else "",
            parent.code if parent else "",
            row.counts.accounts,
            row.counts.trials,
            row.counts.subscribed,
            row.counts.users,
            timezone.localdate(row.partner.created_at).isoformat(),
        ]
