"""What the partner dashboard reads (P-DASH): the status tiles and the filtered, sorted account list.

Everything starts from `scoping.reach_of(membership)`: the accounts this partner role reaches in
the partner's subtree (only the accessible ones for a role limited to a subset). Counts come from
grouped aggregate queries, so the tiles cost the same few statements whatever the number of
accounts; the list reads the filtered ids in order (one query), then only the page's rows.

Statuses, in words:
- account: a trial in progress, expiring (its last 5 days), expired (ended without a plan: the grace,
  or purged), or subscribed Monthly / Annual (a plan chosen during the trial counts as subscribed:
  paying starts when the trial ends). Accounts without a subscription and without a trial: "none".
- backup: each account's summary row (`backups.summary`, kept where backups end): none (no result
  yet), successful (all its live entities' last backups succeeded), failed (all failed), partially
  failed (anything else); with the stored size. No page reads the entities.
- billing: as Billing > Status reads it (`billing.status`), over the bills of the partner's subtree;
  the only figures kept in the cache (a minute, or until a bill of the subtree changes).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from backstop.backups.models import AccountBackupSummary
from backstop.billing import status as billing_status
from backstop.billing.models import EXPIRING_DAYS, Invoice, InvoiceLine, Subscription
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import partners_below, reach_of, subtree_filter

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
# Backup status codes: kept per account by backups.summary where backups end.
Backup = AccountBackupSummary.State
NO_BACKUP, SUCCESSFUL, PARTIAL, FAILED = (
    str(v) for v in (Backup.NONE, Backup.SUCCESSFUL, Backup.PARTIAL, Backup.FAILED)
)
BACKUP_LABELS = {str(code): str(label) for code, label in Backup.choices}
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
CACHE_SECONDS = 60
SORTS = ("name", "-name", "size", "-size", "status", "-status")


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
    return _state_of(account.trial_ends_on, sub.state if sub else None, sub.plan if sub else None, on)


def _state_of(ends: date | None, state: str | None, plan: str | None, on: date) -> str:
    if state == State.SUBSCRIBED or (state in (State.TRIAL, State.EXPIRED) and plan):
        return ANNUAL if plan == "annual" else MONTHLY
    if state in (State.EXPIRED, State.PURGED):
        return EXPIRED
    if ends is None:
        return NO_PLAN
    if ends <= on:
        return EXPIRED
    return EXPIRING if (ends - on).days <= EXPIRING_DAYS else IN_PROGRESS


# -- backup status ---------------------------------------------------------------------------------


def backup_condition(code: str) -> Q:
    """The accounts whose backup status is `code` (no summary row: never backed up)."""
    if code == NO_BACKUP:
        return Q(backup_summary__isnull=True) | Q(backup_summary__state=NO_BACKUP)
    return Q(backup_summary__state=code)


def _summary(account: Account) -> AccountBackupSummary | None:
    try:
        return account.backup_summary
    except AccountBackupSummary.DoesNotExist:
        return None


# -- the cache ------------------------------------------------------------------------------------


def generation(partner: Partner) -> int:
    """Bumped when a bill under `partner` is issued, paid, fails or is edited by an operator
    (`receivers.bill_changed`): its cached billing figures are then read again; otherwise they
    live for CACHE_SECONDS (nothing else on the dashboard is cached). A counter that is gone (the
    cache flushed or evicted it) starts again from a random number, so no figures still cached under
    an old number are taken for current."""
    key = f"dash-gen:{partner.pk}"
    value = cache.get(key)
    if value is None:
        cache.add(key, secrets.randbits(48), None)
        value = cache.get(key)
    return int(value or 0)


def changed(partner_ids: list[int]) -> None:
    """Bills of these partners changed: their dashboards read their billing figures again."""
    for pk in partner_ids:
        key = f"dash-gen:{pk}"
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, secrets.randbits(48), None)


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


@dataclass(frozen=True)
class Billings:
    """Every billed account of a partner's subtree: (status, amount due, overdue) by account id,
    and the tiles' totals over all of them (what a role reaching the whole subtree counts)."""

    by_account: dict[int, tuple[str, int, int]]
    totals: dict[str, tuple[int, int]]  # status: (accounts, amount)

    def of(self, pk: int) -> billing_status.AccountBilling:
        found = self.by_account.get(pk)
        return billing_status.AccountBilling(*found) if found else billing_status.AccountBilling()

    @classmethod
    def count(cls, rows: Iterable[tuple[str, int, int]]) -> dict[str, tuple[int, int]]:
        number = {billing_status.CURRENT: 0, billing_status.DUE: 0, billing_status.OVERDUE: 0}
        amount = dict.fromkeys(number, 0)
        for status, due, late in rows:
            number[status] += 1
            amount[status] += late if status == billing_status.OVERDUE else due
        return {status: (number[status], amount[status]) for status in number}

    def counted(self, pks: Iterable[int]) -> dict[str, tuple[int, int]]:
        """The totals over some of the accounts (a role limited to a subset)."""
        return self.count(found for pk in pks if (found := self.by_account.get(pk)) is not None)


def billings(partner: Partner, on: date) -> Billings:
    """The billing status of every account of the subtree that was billed (the others: none), as
    `billing.status.account_statuses` reads it, in two grouped queries; kept CACHE_SECONDS or until
    a bill of the subtree changes."""
    key = f"dash-billing:{partner.pk}:{generation(partner)}:{on.isoformat()}"
    found = cache.get(key)
    if isinstance(found, Billings):
        return found
    accounts = Account.objects.filter(subtree_filter(partner, "partner__"), partner_access=True)
    lines = InvoiceLine.objects.filter(account__in=accounts.values("pk")).exclude(
        invoice__status=Invoice.Status.VOID
    )
    by_account: dict[int, tuple[str, int, int]] = {}
    for pk in lines.order_by().values_list("account_id", flat=True).distinct():
        by_account[pk] = (billing_status.CURRENT, 0, 0)
    late_bill = Q(invoice__charge_failed_at__isnull=False) | Q(invoice__due_date__lt=on)
    amount = F("amount") + F("tax")
    sums = (
        lines.filter(invoice__status=Invoice.Status.OPEN)
        .order_by()
        .values_list("account_id")
        .annotate(open_amount=Sum(amount), late=Sum(amount, filter=late_bill))
    )
    for pk, due, late in sums:
        status = billing_status.OVERDUE if late else billing_status.DUE
        by_account[pk] = (status, int(due or 0), int(late or 0))
    result = Billings(by_account, Billings.count(by_account.values()))
    cache.set(key, result, CACHE_SECONDS)
    return result


def billing_conditions(partner: Partner, on: date) -> dict[str, Q]:
    billed, owing, overdue, _ = _billing_parts(partner, on)
    return {
        billing_status.NONE: ~Q(billed),
        billing_status.CURRENT: Q(billed) & ~owing,
        billing_status.DUE: owing & ~overdue,
        billing_status.OVERDUE: overdue,
    }


# -- resellers -------------------------------------------------------------------------------------

RESELLERS_LISTED = 200  # more than this: the filter is left out (the Resellers page lists them)


def resellers(partner: Partner) -> list[Partner]:
    """The partners below `partner` for the list's Reseller filter, by name (empty: a partner with
    no one below it, whose dashboard shows no Reseller column)."""
    return list(
        partners_below(partner).order_by("name", "pk").only("pk", "name", "parent_id")[: RESELLERS_LISTED + 1]
    )


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
    reseller: str = ""  # a partner below the portal's (its whole branch), by id
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
            reseller=value if (value := _text(data, "reseller", 18)).isascii() and value.isdigit() else "",
            sort=pick("sort", SORTS, "name"),
        )

    def pairs(self, **changes: str) -> list[tuple[str, str]]:
        values = {
            "q": self.q,
            "account": self.account,
            "backup": self.backup,
            "billing": self.billing,
            "reseller": self.reseller,
            "sort": "" if self.sort == "name" else self.sort,
            **changes,
        }
        return [(key, value) for key, value in values.items() if value]

    def query(self, **changes: str) -> str:
        return urlencode(self.pairs(**changes))

    @property
    def any(self) -> bool:
        return bool(self.q or self.account or self.backup or self.billing or self.reseller)

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
            accounts = accounts.filter(backup_condition(self.backup))
        if self.billing:
            accounts = accounts.filter(billing_conditions(partner, on)[self.billing])
        if self.reseller:
            below = partners_below(partner).filter(pk=int(self.reseller)).first()
            # A partner outside the portal's branch matches nothing (never another branch's accounts).
            accounts = accounts.filter(subtree_filter(below, "partner__")) if below else accounts.none()
        return accounts

    def ordered_ids(self, accounts: QuerySet[Account], partner: Partner, on: date) -> list[int]:
        """The filtered accounts' ids in the chosen order: one query."""
        key = self.sort.lstrip("-")
        descending = self.sort.startswith("-")
        if key == "size":
            size = Coalesce("backup_summary__size", 0)
            ordered = accounts.annotate(stored=size).order_by(
                "-stored" if descending else "stored", "name", "pk"
            )
            return list(ordered.values_list("pk", flat=True))
        if key == "status":
            rank = {
                code: i for i, code in enumerate((IN_PROGRESS, EXPIRING, EXPIRED, MONTHLY, ANNUAL, NO_PLAN))
            }
            rows = accounts.order_by("name", "pk").values_list(
                "pk", "trial_ends_on", "subscription__state", "subscription__plan"
            )
            ranked = [(rank[_state_of(ends, state, plan, on)], pk) for pk, ends, state, plan in rows]
            ranked.sort(key=lambda pair: pair[0], reverse=descending)
            return [pk for _, pk in ranked]
        order = ("-name", "-pk") if descending else ("name", "pk")
        return list(accounts.order_by(*order).values_list("pk", flat=True))


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


def tiles(partner: Partner, membership: Membership, on: date, currency: str, statuses: Billings) -> Tiles:
    """The three tiles over every account the role reaches: one grouped count over the accounts
    with their subscriptions and backup summaries, and the billing map counted over their ids."""
    accounts = reached(membership)
    conditions = account_conditions(on)
    sums = accounts.order_by().aggregate(
        every=Count("pk"),
        **{code: Count("pk", filter=conditions[code]) for code in (IN_PROGRESS, EXPIRING, EXPIRED)},
        **{f"backup_{code}": Count("pk", filter=backup_condition(code)) for code in BACKUP_LABELS},
    )
    total = sums["every"]
    result = Tiles(total=total, currency=currency)
    trial_labels = {IN_PROGRESS: "In progress", EXPIRING: "Expiring", EXPIRED: "Expired"}
    for code, label in trial_labels.items():
        result.trial.append(
            Count_(code, label, STYLES[code], sums[code], urlencode({"account": code}), "account")
        )
    for code in (NO_BACKUP, SUCCESSFUL, PARTIAL, FAILED):
        result.backup.append(
            Count_(
                code,
                BACKUP_LABELS[code],
                BACKUP_STYLES[code],
                sums[f"backup_{code}"],
                f"backup={code}",
                "backup",
            )
        )
    # Billing from the per-partner map (two grouped queries, cached): a role reaching the whole
    # subtree takes its totals; one limited to a subset counts its own accounts.
    if membership.all_accounts:
        totals = statuses.totals
    else:
        totals = statuses.counted(accounts.values_list("pk", flat=True))
    number = {status: count for status, (count, _) in totals.items()}
    due_amount, late_amount = totals[billing_status.DUE][1], totals[billing_status.OVERDUE][1]
    result.billing = [
        Count_(billing_status.CURRENT, "Current", "success", number["current"], "billing=current", "billing"),
        Count_(billing_status.DUE, "Due", "warning", number["due"], "billing=due", "billing", due_amount),
        Count_(
            billing_status.OVERDUE,
            "Overdue",
            "danger",
            number["overdue"],
            "billing=overdue",
            "billing",
            late_amount,
        ),
    ]
    return result


# -- the page's rows ------------------------------------------------------------------------------


SLOT = 987654321  # an id no account has: URLs are reversed once per page and filled in per row


@dataclass(frozen=True)
class Links:
    """The row links' URLs, reversed once for the page (reverse costs more than the rest of a row)."""

    open: str
    billing: str
    delete: str
    cancel_delete: str
    partner_id: int

    @classmethod
    def of(cls, partner: Partner) -> Links:
        from django.urls import reverse

        return cls(
            open=reverse("account_home", args=[SLOT]),
            billing=reverse("billing_partner_account", args=[SLOT, SLOT + 1]),
            delete=reverse("partner_account_delete", args=[partner.pk, SLOT]),
            cancel_delete=reverse("partner_account_cancel_delete", args=[partner.pk, SLOT]),
            partner_id=partner.pk,
        )


@dataclass(frozen=True)
class Row:
    account: Account
    links: Links
    state: str
    state_note: str
    backup: str
    size: int
    billing: billing_status.AccountBilling
    subscribable: bool

    @property
    def open_url(self) -> str:
        return self.links.open.replace(str(SLOT), str(self.account.pk))

    @property
    def billing_url(self) -> str:
        partner = str(self.account.partner_id)
        return self.links.billing.replace(str(SLOT + 1), str(self.account.pk)).replace(str(SLOT), partner)

    @property
    def delete_url(self) -> str:
        return self.links.delete.replace(str(SLOT), str(self.account.pk))

    @property
    def cancel_delete_url(self) -> str:
        return self.links.cancel_delete.replace(str(SLOT), str(self.account.pk))

    @property
    def reseller(self) -> str:
        """The partner below the portal's that holds the account ("" when the portal's own)."""
        owner = self.account.partner
        return owner.name if owner is not None and owner.pk != self.links.partner_id else ""

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


def rows(partner: Partner, account_ids: list[int], on: date, billing: Billings) -> list[Row]:
    """The page's rows in the order of `account_ids`: three queries whatever the page."""
    found = (
        Account.objects.filter(pk__in=account_ids)
        .select_related("subscription", "backup_summary", "partner")
        .in_bulk()
    )
    links = Links.of(partner)
    result = []
    for pk in account_ids:
        account = found.get(pk)
        if account is None:
            continue
        state = account_state(account, on)
        summary = _summary(account)
        backup, size = (summary.state, summary.size) if summary else (NO_BACKUP, 0)
        result.append(
            Row(
                account=account,
                links=links,
                state=state,
                state_note=_note(account, state, on),
                backup=backup,
                size=size,
                billing=billing.of(pk),
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
