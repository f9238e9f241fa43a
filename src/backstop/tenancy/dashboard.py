"""What the partner dashboard reads (P-DASH): the status tiles and the filtered, sorted account list.

Everything starts from `scoping.reach_of(membership)`: the accounts this partner role reaches in
the partner's subtree (only the accessible ones for a role limited to a subset). Counts come from
grouped aggregate queries, so the tiles cost the same few statements whatever the number of
accounts; the list reads the filtered ids in order (one query), then only the page's rows.

Statuses, in words:
- account: a trial in progress, expiring (its last 5 days), expired (ended without a plan: the grace,
  or purged), or subscribed Monthly / Annual (a plan chosen during the trial counts as subscribed:
  paying starts when the trial ends). Accounts without a subscription and without a trial: "none".
- backup: from the last result of each entity of the account's live tasks (archived and deleted
  entities left out): none (no result yet), successful (all succeeded), failed (all failed),
  partially failed (anything else).
- billing: as Billing > Status reads it (`billing.status`), over the bills of the partner's subtree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from backstop.backups.models import Entity, Job
from backstop.billing import status as billing_status
from backstop.billing.models import EXPIRING_DAYS, Invoice, InvoiceLine, Subscription
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import reach_of, subtree_filter

PAGE_SIZE = 25
State = Subscription.State

# Account status codes (the filter's values) and their labels.
IN_PROGRESS, EXPIRING, EXPIRED, MONTHLY, ANNUAL, NO_PLAN = (
    "in_progress",
    "expiring",
    "expired",
    "monthly",
    "annual",
    "none",
)
ACCOUNT_LABELS = {
    IN_PROGRESS: "Trial in progress",
    EXPIRING: "Trial expiring",
    EXPIRED: "Trial expired",
    MONTHLY: "Monthly",
    ANNUAL: "Annual",
    NO_PLAN: "No subscription",
}
# Backup status codes.
NO_BACKUP, SUCCESSFUL, PARTIAL, FAILED = "none", "ok", "partial", "failed"
BACKUP_LABELS = {
    NO_BACKUP: "No backup",
    SUCCESSFUL: "Successful",
    PARTIAL: "Partially failed",
    FAILED: "Failed",
}
# Billing status codes (billing.status's).
BILLING_LABELS = {
    billing_status.CURRENT: "Current",
    billing_status.DUE: "Due",
    billing_status.OVERDUE: "Overdue",
    billing_status.NONE: "Not billed yet",
}
# Grey, green, orange, red (Bootstrap colours).
STYLES = {
    IN_PROGRESS: "success",
    EXPIRING: "warning",
    EXPIRED: "danger",
    MONTHLY: "primary",
    ANNUAL: "primary",
    NO_PLAN: "secondary",
}
BACKUP_STYLES = {NO_BACKUP: "secondary", SUCCESSFUL: "success", PARTIAL: "warning", FAILED: "danger"}
BILLING_STYLES = {
    billing_status.NONE: "secondary",
    billing_status.CURRENT: "success",
    billing_status.DUE: "warning",
    billing_status.OVERDUE: "danger",
}
SORTS = ("name", "-name", "size", "-size", "status", "-status")
RESULTS = (Job.Status.SUCCEEDED, Job.Status.PARTIAL, Job.Status.FAILED)


def reached(membership: Membership) -> QuerySet[Account]:
    """The accounts this partner role reaches (a role limited to a subset joins its own list once
    per account, so no DISTINCT is needed)."""
    return Account.objects.filter(reach_of(membership))


# -- account status -------------------------------------------------------------------------------


def _subscribed() -> Q:
    """Subscribed, or a plan chosen during the trial (it starts when the trial ends)."""
    trialish = Q(subscription__state__in=(State.TRIAL, State.EXPIRED)) & ~Q(subscription__plan="")
    return Q(subscription__state=State.SUBSCRIBED) | (trialish & Q(subscription__isnull=False))


def account_conditions(on: date) -> dict[str, Q]:
    """The account statuses as filters on Account; they do not overlap."""
    subscribed = _subscribed()
    no_sub = Q(subscription__isnull=True)
    unsubscribed = ~subscribed | no_sub
    ended = Q(subscription__state__in=(State.EXPIRED, State.PURGED)) | Q(trial_ends_on__lte=on)
    trial = unsubscribed & Q(trial_ends_on__isnull=False)
    return {
        IN_PROGRESS: trial & ~ended & Q(trial_ends_on__gt=on + timedelta(days=EXPIRING_DAYS)),
        EXPIRING: trial & ~ended & Q(trial_ends_on__lte=on + timedelta(days=EXPIRING_DAYS)),
        EXPIRED: unsubscribed & Q(subscription__state__in=(State.EXPIRED, State.PURGED))
        | trial & Q(trial_ends_on__lte=on),
        MONTHLY: subscribed & Q(subscription__plan="monthly"),
        ANNUAL: subscribed & Q(subscription__plan="annual"),
    }


def subscribable() -> Q:
    """Accounts Subscribe changes: trials (running or ended) without a plan chosen."""
    return ~_subscribed() | Q(subscription__isnull=True)


def account_state(account: Account, on: date) -> str:
    """One account's status code, as `account_conditions` reads it (for a page's rows)."""
    try:
        sub: Subscription | None = account.subscription
    except Subscription.DoesNotExist:
        sub = None
    if sub is not None and (
        sub.state == State.SUBSCRIBED or (sub.state in (State.TRIAL, State.EXPIRED) and sub.plan)
    ):
        return ANNUAL if sub.plan == "annual" else MONTHLY
    if sub is not None and sub.state in (State.EXPIRED, State.PURGED):
        return EXPIRED
    ends = account.trial_ends_on
    if ends is None:
        return NO_PLAN
    if ends <= on:
        return EXPIRED
    return EXPIRING if (ends - on).days <= EXPIRING_DAYS else IN_PROGRESS


# -- backup status --------------------------------------------------------------------------------


def _live_entities() -> QuerySet[Entity]:
    return Entity.objects.filter(deleted_at__isnull=True, task__deleted_at__isnull=True).exclude(
        status=Entity.Status.ARCHIVED
    )


def _results(accounts: QuerySet[Account]) -> QuerySet[Any]:
    """Per account: how many entities' last backup succeeded, partially succeeded, failed, and the
    account's backup status (`state`): one grouped pass over the accounts' entities."""
    ok = Count("pk", filter=Q(last_result=Job.Status.SUCCEEDED))
    part = Count("pk", filter=Q(last_result=Job.Status.PARTIAL))
    bad = Count("pk", filter=Q(last_result=Job.Status.FAILED))
    return (
        _live_entities()
        .filter(account__in=accounts.values("pk"), last_result__in=RESULTS)
        .order_by()
        .values("account_id")
        .annotate(ok=ok, part=part, bad=bad)
        .annotate(
            state=Case(
                When(part=0, bad=0, then=Value(SUCCESSFUL)),
                When(ok=0, part=0, then=Value(FAILED)),
                default=Value(PARTIAL),
            )
        )
    )


def backup_condition(accounts: QuerySet[Account], code: str) -> Q:
    """The accounts (among `accounts`) whose backup status is `code`."""
    if code == NO_BACKUP:
        return ~Q(pk__in=_results(accounts).values("account_id"))
    return Q(pk__in=_results(accounts).filter(state=code).values("account_id"))


def backup_counts(accounts: QuerySet[Account], total: int) -> dict[str, int]:
    """The number of accounts in each backup status: one query, grouping the grouped rows."""
    sql, params = _results(accounts).values("account_id", "state").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT state, COUNT(*) FROM ({sql}) results GROUP BY state", params)
        counts = {state: n for state, n in cursor.fetchall()}
    found = {code: int(counts.get(code, 0)) for code in (SUCCESSFUL, PARTIAL, FAILED)}
    return {NO_BACKUP: total - sum(found.values()), **found}


def backup_of(account_ids: list[int]) -> dict[int, tuple[str, int]]:
    """(backup status, total stored size) of a page's accounts: one grouped query."""
    rows = (
        Entity.objects.filter(
            account_id__in=account_ids, deleted_at__isnull=True, task__deleted_at__isnull=True
        )
        .order_by()
        .values("account_id")
        .annotate(
            size=Coalesce(Sum("size"), 0),
            ok=Count("pk", filter=Q(last_result=Job.Status.SUCCEEDED) & ~Q(status=Entity.Status.ARCHIVED)),
            part=Count("pk", filter=Q(last_result=Job.Status.PARTIAL) & ~Q(status=Entity.Status.ARCHIVED)),
            bad=Count("pk", filter=Q(last_result=Job.Status.FAILED) & ~Q(status=Entity.Status.ARCHIVED)),
        )
    )
    found: dict[int, tuple[str, int]] = {pk: (NO_BACKUP, 0) for pk in account_ids}
    for row in rows:
        ok, part, bad = row["ok"], row["part"], row["bad"]
        if not (ok or part or bad):
            state = NO_BACKUP
        elif not part and not bad:
            state = SUCCESSFUL
        elif not ok and not part:
            state = FAILED
        else:
            state = PARTIAL
        found[row["account_id"]] = (state, int(row["size"] or 0))
    return found


def size_subquery() -> Any:
    """The stored size of the account's live backups, for sorting by size."""
    sizes = (
        Entity.objects.filter(account=OuterRef("pk"), deleted_at__isnull=True, task__deleted_at__isnull=True)
        .order_by()
        .values("account")
        .annotate(total=Sum("size"))
        .values("total")
    )
    from django.db.models import Subquery

    return Coalesce(Subquery(sizes, output_field=IntegerField()), 0)


# -- billing status -------------------------------------------------------------------------------


def _billing_parts(partner: Partner, on: date) -> tuple[Exists, Q, Q, Q]:
    """(billed, owing, overdue, late lines) over the bills of the partner's subtree (a distributor
    sees the bills its resellers pay for their accounts); see billing's statements_data."""
    void = Invoice.objects.filter(status=Invoice.Status.VOID).values("pk")
    unpaid = Invoice.objects.filter(subtree_filter(partner, "partner__"), status=Invoice.Status.OPEN)
    late_bill = Q(charge_failed_at__isnull=False) | Q(due_date__lt=on)
    late = unpaid.filter(late_bill)

    def holders(bills: QuerySet[Invoice]) -> Q:
        return Q(pk__in=InvoiceLine.objects.filter(invoice__in=bills.values("pk")).values("account_id"))

    billed = Exists(InvoiceLine.objects.filter(account=OuterRef("pk")).exclude(invoice__in=void))
    return billed, holders(unpaid), holders(late), Q(invoice__in=late.values("pk"))


def billing_conditions(partner: Partner, on: date) -> dict[str, Q]:
    billed, owing, overdue, _ = _billing_parts(partner, on)
    return {
        billing_status.NONE: ~Q(billed),
        billing_status.CURRENT: Q(billed) & ~owing,
        billing_status.DUE: owing & ~overdue,
        billing_status.OVERDUE: overdue,
    }


# -- filters --------------------------------------------------------------------------------------


def _text(data: Mapping[str, Any], key: str, limit: int = 200) -> str:
    return str(data.get(key) or "").strip()[:limit]


@dataclass(frozen=True)
class Filters:
    """The list's search, status filters and sort, kept in the query string."""

    q: str = ""
    account: str = ""
    backup: str = ""
    billing: str = ""
    sort: str = "name"

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Filters:
        def pick(key: str, allowed: Mapping[str, Any] | tuple[str, ...], default: str = "") -> str:
            value = _text(data, key)
            return value if value in allowed else default

        return cls(
            q=_text(data, "q"),
            account=pick("account", ACCOUNT_LABELS),
            backup=pick("backup", BACKUP_LABELS),
            billing=pick("billing", BILLING_LABELS),
            sort=pick("sort", SORTS, "name"),
        )

    def pairs(self, **changes: str) -> list[tuple[str, str]]:
        values = {
            "q": self.q,
            "account": self.account,
            "backup": self.backup,
            "billing": self.billing,
            "sort": "" if self.sort == "name" else self.sort,
            **changes,
        }
        return [(key, value) for key, value in values.items() if value]

    def query(self, **changes: str) -> str:
        return urlencode(self.pairs(**changes))

    @property
    def any(self) -> bool:
        return bool(self.q or self.account or self.backup or self.billing)

    def sort_query(self, key: str) -> str:
        """The query that sorts by `key`, reversing it when it is the current sort."""
        return self.query(sort=f"-{key}" if self.sort == key else key)

    def apply(self, accounts: QuerySet[Account], partner: Partner, on: date) -> QuerySet[Account]:
        if self.q:
            accounts = accounts.filter(Q(name__icontains=self.q) | Q(email__icontains=self.q))
        if self.account:
            conditions = account_conditions(on)
            if self.account == NO_PLAN:
                accounts = accounts.exclude(_any(conditions.values()))
            else:
                accounts = accounts.filter(conditions[self.account])
        if self.backup:
            accounts = accounts.filter(backup_condition(accounts, self.backup))
        if self.billing:
            accounts = accounts.filter(billing_conditions(partner, on)[self.billing])
        return accounts

    def ordered(self, accounts: QuerySet[Account], on: date) -> QuerySet[Account]:
        key = self.sort.lstrip("-")
        descending = self.sort.startswith("-")
        if key == "size":
            accounts = accounts.annotate(stored=size_subquery())
            stored = F("stored").desc() if descending else F("stored").asc()
            return accounts.order_by(stored, "name", "pk")
        if key == "status":
            rank = Case(
                *[When(cond, then=Value(i)) for i, cond in enumerate(account_conditions(on).values())],
                default=Value(99),
                output_field=IntegerField(),
            )
            accounts = accounts.annotate(rank=rank)
            return accounts.order_by(F("rank").desc() if descending else F("rank").asc(), "name", "pk")
        return accounts.order_by("-name" if descending else "name", "-pk" if descending else "pk")


def _any(conditions: Any) -> Q:
    result = Q(pk__in=[])
    for condition in conditions:
        result |= condition
    return result


# -- tiles ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count_:
    code: str
    label: str
    style: str
    count: int
    query: str  # the list filtered by this status
    param: str
    amount: int | None = None


@dataclass
class Tiles:
    trial: list[Count_] = field(default_factory=list)
    backup: list[Count_] = field(default_factory=list)
    billing: list[Count_] = field(default_factory=list)
    total: int = 0
    currency: str = "USD"


def tiles(partner: Partner, membership: Membership, on: date, currency: str) -> Tiles:
    """The three tiles over every account the role reaches: four queries in all."""
    accounts = reached(membership)
    conditions = account_conditions(on)
    sums = accounts.order_by().aggregate(
        every=Count("pk"),
        **{code: Count("pk", filter=conditions[code]) for code in (IN_PROGRESS, EXPIRING, EXPIRED)},
    )
    total = sums["every"]
    result = Tiles(total=total, currency=currency)
    trial_labels = {IN_PROGRESS: "In progress", EXPIRING: "Expiring", EXPIRED: "Expired"}
    for code, label in trial_labels.items():
        result.trial.append(
            Count_(code, label, STYLES[code], sums[code], urlencode({"account": code}), "account")
        )
    counts = backup_counts(accounts, total)
    for code in (NO_BACKUP, SUCCESSFUL, PARTIAL, FAILED):
        result.backup.append(
            Count_(code, BACKUP_LABELS[code], BACKUP_STYLES[code], counts[code], f"backup={code}", "backup")
        )
    billed, owing, overdue, late_lines = _billing_parts(partner, on)
    bill = accounts.order_by().aggregate(
        billed=Count("pk", filter=Q(billed)),
        owing=Count("pk", filter=owing),
        overdue=Count("pk", filter=overdue),
    )
    amount = F("amount") + F("tax")
    money = InvoiceLine.objects.filter(
        account__in=accounts.values("pk"),
        invoice__status=Invoice.Status.OPEN,
        invoice__in=Invoice.objects.filter(subtree_filter(partner, "partner__")).values("pk"),
    ).aggregate(
        late=Coalesce(Sum(amount, filter=late_lines), 0),
        due=Coalesce(Sum(amount, filter=~Q(account_id__in=_late_accounts(partner, on))), 0),
    )
    current = bill["billed"] - bill["owing"]
    due = bill["owing"] - bill["overdue"]
    result.billing = [
        Count_(billing_status.CURRENT, "Current", "success", current, "billing=current", "billing"),
        Count_(billing_status.DUE, "Due", "warning", due, "billing=due", "billing", int(money["due"])),
        Count_(
            billing_status.OVERDUE,
            "Overdue",
            "danger",
            bill["overdue"],
            "billing=overdue",
            "billing",
            int(money["late"]),
        ),
    ]
    return result


def _late_accounts(partner: Partner, on: date) -> QuerySet[Any]:
    late = Invoice.objects.filter(
        subtree_filter(partner, "partner__"),
        Q(charge_failed_at__isnull=False) | Q(due_date__lt=on),
        status=Invoice.Status.OPEN,
    )
    return InvoiceLine.objects.filter(invoice__in=late.values("pk")).values("account_id")


# -- the page's rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    account: Account
    state: str
    state_note: str
    backup: str
    size: int
    billing: billing_status.AccountBilling
    subscribable: bool

    @property
    def state_label(self) -> str:
        return ACCOUNT_LABELS[self.state]

    @property
    def state_style(self) -> str:
        return STYLES[self.state]

    @property
    def backup_label(self) -> str:
        return BACKUP_LABELS[self.backup]

    @property
    def backup_style(self) -> str:
        return BACKUP_STYLES[self.backup]

    @property
    def billing_label(self) -> str:
        return BILLING_LABELS[self.billing.status]

    @property
    def billing_style(self) -> str:
        return BILLING_STYLES[self.billing.status]


def rows(account_ids: list[int], on: date) -> list[Row]:
    """The page's rows in the order of `account_ids`: four queries whatever the page."""
    found = Account.objects.filter(pk__in=account_ids).select_related("subscription").in_bulk()
    backups = backup_of(account_ids)
    billing = billing_status.account_statuses(account_ids, on)
    result = []
    for pk in account_ids:
        account = found.get(pk)
        if account is None:
            continue
        state = account_state(account, on)
        backup, size = backups[pk]
        result.append(
            Row(
                account=account,
                state=state,
                state_note=_note(account, state, on),
                backup=backup,
                size=size,
                billing=billing[pk],
                subscribable=state in (IN_PROGRESS, EXPIRING, EXPIRED, NO_PLAN),
            )
        )
    return result


def _note(account: Account, state: str, on: date) -> str:
    ends = account.trial_ends_on
    if state in (IN_PROGRESS, EXPIRING) and ends is not None:
        left = (ends - on).days
        return f"{left} day{'' if left == 1 else 's'} left"
    if state in (MONTHLY, ANNUAL) and ends is not None and ends > on:
        return f"from {ends:%b} {ends.day} (trial until then)"
    if state == EXPIRED and ends is not None:
        return f"ended {ends:%b} {ends.day}"
    return ""
