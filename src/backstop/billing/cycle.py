"""The daily billing run: usage, trials, bills, charges, forecasts (A-BILLING, A-TRIAL, P-BILLING).

The rules, as the pages and docs/ARCHITECTURE.md "Billing" state them:

- **Usage** is measured every day from the entities. *Total* counts every entity a task knows
  (not deleted, not backed up in another task); *billable* counts protected ones (scheduled, in
  process, active) and paused ones (their backups are kept and they come back). Archived
  entities — departed users kept as they were — count in the total and are not billed. Services
  sold by volume bill the stored GB of their billable entities (rounded up to 0.01 GB).
- **Monthly** plans are billed in arrears on the payer's payment day D, for [D - 1 month, D):
  per account and service, the highest daily billable quantity of the days paid, times the
  monthly unit price, times days paid / days in the period when the plan began (or the account
  was removed) within it. A partner's monthly accounts share one consolidated bill; accounts
  excluded from consolidation get a bill each on the same day. Payment day: the one in the
  billing details (1-28); otherwise the 1st for partners, the day paying began for customers.
- **Annual** plans are billed by invoice, due in 30 days, for the billable quantity on the day
  of issue times the annual unit price. Individual bills (customers; partners who chose them;
  excluded accounts) are issued on the day the year begins and 30 days before each renewal. A
  partner's consolidated annual bill comes on its payment day, with the years that began since
  the last payment day and the renewals before the next one.
- **Card** payers are charged when a monthly bill is issued (due that day); a decline makes the
  bill Overdue and sends one e-mail; the charge is tried again when the default card changes.
  **Invoice** payers get the invoice by e-mail, due in 30 days.
- **Tax** is added per line at the rate of the payer's country (`TaxRate`).
- **Trials** end after 14 days. A plan chosen during the trial (or by "trial with
  auto-subscription") starts on the trial's last day + 1; otherwise the account is Expired,
  with 7 days to subscribe; then its backed-up data is purged through the engine, audited, with
  e-mails 5 days before the end, at the end, 2 days before the purge and after it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from backstop.billing import notices, payments
from backstop.billing.models import (
    DUE_DAYS,
    EXPIRING_DAYS,
    GRACE_DAYS,
    RENEWAL_NOTICE_DAYS,
    BillingProfile,
    BillingRun,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    Plan,
    Subscription,
    TaxRate,
    Unit,
    UsageDay,
)
from backstop.billing.money import DEFAULT_CURRENCY, to_minor
from backstop.billing.prices import PriceBook
from backstop.billing.signals import bill_changed
from backstop.billing.subscriptions import add_months, add_years
from backstop.tenancy.models import Account, Partner
from backstop.tenancy.permissions import SERVICES

log = logging.getLogger(__name__)

State = Subscription.State
Method = BillingProfile.Method
SERVICE_LABELS = {s.code: s.label for s in SERVICES}
GB = Decimal(10**9)
BILL_TO_FIELDS = (
    *("title", "first_name", "last_name", "email", "company", "tax_id", "address1", "address2"),
    *("address3", "city", "state", "postal_code", "country", "phone", "purchase_order"),
)


def billable_statuses() -> tuple[str, ...]:
    from backstop.backups.models import Entity

    S = Entity.Status
    return (S.SCHEDULED, S.IN_PROCESS, S.ACTIVE, S.PAUSED)


# ---------------------------------------------------------------------------------------------
# Usage


def measure(on: date) -> int:
    """Today's usage of every account, one grouped query over the entities; idempotent (a second
    run the same day replaces the first). Returns the number of rows written."""
    from backstop.backups.models import Entity

    billable = Q(status__in=billable_statuses())
    rows = (
        Entity.objects.filter(deleted_at__isnull=True, task__deleted_at__isnull=True)
        .exclude(status=Entity.Status.OTHER_TASK)
        .values_list("account_id", "task__service")
        .annotate(total=Count("pk"), billable=Count("pk", filter=billable), size=Sum("size", filter=billable))
    )
    usage = [
        UsageDay(account_id=a, service=s, day=on, total=t, billable=b, billable_bytes=size or 0)
        for a, s, t, b, size in rows
    ]
    with transaction.atomic():
        UsageDay.objects.filter(day=on).delete()
        UsageDay.objects.bulk_create(usage, batch_size=2000)
    return len(usage)


def quantity(unit: str, billable: int, billable_bytes: int) -> Decimal:
    if unit == Unit.GB:
        return (Decimal(billable_bytes) / GB).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    return Decimal(billable)


# ---------------------------------------------------------------------------------------------
# Payers


@dataclass
class Payer:
    """Who pays for a set of accounts: a partner, or a direct customer account."""

    tenant: Account | Partner
    profile: BillingProfile | None

    @property
    def currency(self) -> str:
        return self.profile.currency if self.profile else DEFAULT_CURRENCY

    @property
    def method(self) -> str:
        return self.profile.method if self.profile else Method.CARD

    @property
    def individual_annual(self) -> bool:
        if isinstance(self.tenant, Account):
            return True
        return bool(self.profile and self.profile.annual_billing == BillingProfile.AnnualBilling.INDIVIDUAL)

    def payment_day(self, subscription: Subscription | None = None) -> int:
        return payment_day(self.profile, isinstance(self.tenant, Partner), subscription)

    def owner(self) -> dict[str, Any]:
        return {"account": self.tenant} if isinstance(self.tenant, Account) else {"partner": self.tenant}

    @property
    def key(self) -> str:
        return f"a{self.tenant.pk}" if isinstance(self.tenant, Account) else f"p{self.tenant.pk}"


def payment_day(profile: BillingProfile | None, partner: bool, subscription: Subscription | None) -> int:
    """The day of the month of the payer's monthly bill (see the module's rules)."""
    if profile is not None and profile.payment_day:
        return profile.payment_day
    if not partner and subscription is not None:
        # Paying starts on the subscription's first day, or (a plan chosen during the trial) the
        # day the trial ends: that day of the month is the payment day.
        first = subscription.starts_on or subscription.account.trial_ends_on
        if first is not None:
            return min(first.day, 28)
    return 1


def payer_of(account: Account) -> Payer:
    """The account's payer: its partner, or itself."""
    if account.partner_id is not None:
        partner = account.partner
        assert partner is not None
        return Payer(partner, BillingProfile.objects.filter(partner=partner).first())
    return Payer(account, BillingProfile.objects.filter(account=account).first())


def next_payment_day(day_of_month: int, on: date) -> date:
    """The first date on or after `on` that falls on the payment day."""
    candidate = on.replace(day=day_of_month) if day_of_month <= 28 else on
    return candidate if candidate >= on else add_months(candidate, 1)


# ---------------------------------------------------------------------------------------------
# Invoices


def _next_numbers(count: int) -> range:
    """`count` consecutive reference numbers, with no gaps (the counter row is locked)."""
    counter = InvoiceCounter.objects.select_for_update().filter(pk=1).first()
    if counter is None:
        InvoiceCounter.objects.get_or_create(pk=1)
        counter = InvoiceCounter.objects.select_for_update().get(pk=1)
    first = counter.last + 1
    counter.last += count
    counter.save(update_fields=["last"])
    return range(first, first + count)


@dataclass
class Draft:
    """An invoice being put together; `issue` turns it into rows."""

    payer: Payer
    key: str
    plan: str
    issue_date: date
    due_date: date
    effective_date: date
    period_end: date
    consolidated: bool
    for_account: Account | None = None
    lines: list[InvoiceLine] = field(default_factory=list)


def _tax_rate(country: str) -> TaxRate | None:
    return TaxRate.objects.filter(country=country).first() if country else None


def issue(draft: Draft) -> Invoice | None:
    """Saves a drafted invoice (None when it has no lines, or was issued before: its key)."""
    if not draft.lines or Invoice.objects.filter(key=draft.key).exists():
        return None
    profile = draft.payer.profile
    rate = _tax_rate(profile.country if profile else "")
    percent = rate.percent if rate else Decimal(0)
    for line in draft.lines:
        line.tax = to_minor(Decimal(line.amount) * percent / 100) if percent else 0
    subtotal = sum(line.amount for line in draft.lines)
    tax = sum(line.tax for line in draft.lines)
    method = Method.INVOICE if draft.plan == Plan.ANNUAL else draft.payer.method
    with transaction.atomic():
        (number,) = _next_numbers(1)
        invoice = Invoice.objects.create(
            number=number,
            **draft.payer.owner(),
            for_account=draft.for_account,
            for_account_name=draft.for_account.name if draft.for_account else "",
            plan=draft.plan,
            consolidated=draft.consolidated,
            method=method,
            issue_date=draft.issue_date,
            due_date=draft.due_date if method == Method.INVOICE else draft.issue_date,
            effective_date=draft.effective_date,
            period_end=draft.period_end,
            currency=draft.payer.currency,
            subtotal=subtotal,
            tax=tax,
            total=subtotal + tax,
            tax_name=rate.name if rate else "",
            tax_percent=percent,
            bill_to={name: getattr(profile, name) for name in BILL_TO_FIELDS} if profile else {},
            key=draft.key,
        )
        for line in draft.lines:
            line.invoice = invoice
        InvoiceLine.objects.bulk_create(draft.lines, batch_size=1000)
    bill_changed.send_robust(Invoice, invoice=invoice)
    return invoice


def deliver(invoice: Invoice, now: Any = None) -> None:
    """A card bill is charged (the receipt or the failure e-mail follows); an invoice is queued
    for e-mail with its payment link."""
    if invoice.method == Method.CARD:
        payments.audit(invoice, payments.charge(invoice, now=now), "charged on the payment day")
    else:
        notices.queue(invoice, "invoice")


# ---------------------------------------------------------------------------------------------
# Lines


def _line(
    account: Account,
    service: str,
    book: PriceBook,
    plan: str,
    qty: Decimal,
    total_qty: int,
    starts_on: date,
    ends_on: date,
    days: int = 0,
    period_days: int = 0,
) -> InvoiceLine | None:
    unit_price = book.unit_price(service, plan)
    if unit_price is None or qty <= 0:
        return None
    amount = Decimal(unit_price) * qty
    if days and period_days and days < period_days:
        amount = amount * days / period_days
    unit = book.unit(service)
    label = SERVICE_LABELS.get(service, service)
    period = "month" if plan == Plan.MONTHLY else "year"
    description = f"{label}: {qty.normalize():f} {Unit(unit).label} of {total_qty}, 1 {period}"
    if days and period_days and days < period_days:
        description = f"{label}: {qty.normalize():f} {Unit(unit).label}, {days} of {period_days} days"
    return InvoiceLine(
        account=account,
        account_name=account.name,
        account_email=account.email,
        service=service,
        description=description[:300],
        unit=unit,
        quantity=qty,
        unit_price=unit_price,
        starts_on=starts_on,
        ends_on=ends_on,
        days=days if days and period_days and days < period_days else 0,
        period_days=period_days if days and period_days and days < period_days else 0,
        amount=to_minor(amount),
    )


def _peak_usage(
    account_ids: list[int], first: date, last: date
) -> dict[int, list[tuple[date, str, int, int, int]]]:
    """Daily usage rows of the accounts between two days, inclusive, by account."""
    by_account: dict[int, list[tuple[date, str, int, int, int]]] = defaultdict(list)
    rows = UsageDay.objects.filter(account_id__in=account_ids, day__gte=first, day__lte=last).values_list(
        "account_id", "day", "service", "total", "billable", "billable_bytes"
    )
    for account_id, day, service, total, billable, size in rows.iterator(chunk_size=5000):
        by_account[account_id].append((day, service, total, billable, size))
    return by_account


def monthly_lines(
    accounts: list[Account], book: PriceBook, period_start: date, period_end: date
) -> list[InvoiceLine]:
    """Lines for monthly days in [period_start, period_end) of each account."""
    period_days = (period_end - period_start).days
    usage = _peak_usage([a.pk for a in accounts], period_start, period_end - timedelta(days=1))
    lines: list[InvoiceLine] = []
    for account in accounts:
        sub = account.subscription
        first = max(period_start, sub.starts_on or period_start)
        last = period_end  # exclusive
        if sub.plan == Plan.ANNUAL and sub.monthly_ended_on:
            last = min(last, sub.monthly_ended_on)
        if account.removal_requested_at is not None:
            last = min(last, account.removal_requested_at.date())
        days = (last - first).days
        if days <= 0:
            continue
        peak: dict[str, list[int]] = {}
        for day, service, total, billable, size in usage.get(account.pk, ()):
            if first <= day < last:
                best = peak.setdefault(service, [0, 0, 0])
                best[0] = max(best[0], total)
                best[1] = max(best[1], billable)
                best[2] = max(best[2], size)
        for service in sorted(peak):
            total, billable, size = peak[service]
            qty = quantity(book.unit(service), billable, size)
            line = _line(
                account,
                service,
                book,
                Plan.MONTHLY,
                qty,
                total,
                first,
                last - timedelta(days=1),
                days,
                period_days,
            )
            if line is not None:
                lines.append(line)
    return lines


def annual_lines(
    accounts: list[Account], book: PriceBook, starts: dict[int, date], on: date
) -> list[InvoiceLine]:
    """A year from `starts[account]` for each account, at the quantity last measured by `on`."""
    latest = _latest_usage([a.pk for a in accounts], on)
    lines: list[InvoiceLine] = []
    for account in accounts:
        start = starts[account.pk]
        for service, (total, billable, size) in sorted(latest.get(account.pk, {}).items()):
            qty = quantity(book.unit(service), billable, size)
            line = _line(
                account, service, book, Plan.ANNUAL, qty, total, start, add_years(start) - timedelta(days=1)
            )
            if line is not None:
                lines.append(line)
    return lines


# The last day measured on or before a day, remembered by `run_day` once its `measure` is done (nothing
# else writes usage): the query reads every usage row (no index starts with the day), 0.15 s at a
# month of 10,000 accounts, and the month-end run asks once per annual bill.
_LAST_USAGE_DAY: ContextVar[dict[date, date | None] | None] = ContextVar("last_usage_day", default=None)


def _last_usage_day(on: date) -> date | None:
    known = _LAST_USAGE_DAY.get()
    if known is not None and on in known:
        return known[on]
    last: date | None = UsageDay.objects.filter(day__lte=on).aggregate(last=Max("day"))["last"]
    if known is not None:
        known[on] = last
    return last


def _latest_usage(account_ids: list[int], on: date) -> dict[int, dict[str, tuple[int, int, int]]]:
    """The most recent usage measured on or before `on`, per account and service."""
    found: dict[int, dict[str, tuple[int, int, int]]] = defaultdict(dict)
    if not account_ids:
        return found
    last_day = _last_usage_day(on)
    if last_day is None:
        return found
    rows = UsageDay.objects.filter(account_id__in=account_ids, day=last_day).values_list(
        "account_id", "service", "total", "billable", "billable_bytes"
    )
    for account_id, service, total, billable, size in rows.iterator(chunk_size=5000):
        found[account_id][service] = (total, billable, size)
    return found


# ---------------------------------------------------------------------------------------------
# The daily steps


def ensure_subscriptions() -> int:
    """Accounts made before billing existed (or by tests and scripts) get their trial row."""
    missing = Account.objects.filter(subscription__isnull=True).values_list("pk", flat=True)
    rows = [Subscription(account_id=pk) for pk in missing]
    Subscription.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def trials(on: date) -> dict[str, int]:
    """Trials that end become subscriptions or expire; expired ones are purged after the grace."""
    from backstop.audit import events

    counts = {"subscribed": 0, "expired": 0, "purged": 0, "notices": 0}
    soon = on + timedelta(days=EXPIRING_DAYS)
    candidates = Subscription.objects.filter(
        state__in=(State.TRIAL, State.EXPIRED), account__trial_ends_on__lte=soon
    ).select_related("account", "account__partner")
    for sub in candidates:
        account = sub.account
        ends = account.trial_ends_on
        assert ends is not None
        purge_on = ends + timedelta(days=GRACE_DAYS)
        context = {"trial_ends_on": ends, "purge_on": purge_on, "subscribe_url": _subscribe_url(account)}
        if sub.state == State.TRIAL and on >= ends:
            if sub.plan:
                sub.state = State.SUBSCRIBED
                sub.starts_on = sub.plan_since = ends
                sub.renews_on = add_years(ends) if sub.plan == Plan.ANNUAL else None
                sub.save()
                events.billing_changed(None, account, f"Trial ended; {sub.plan} subscription started")
                counts["subscribed"] += 1
                continue
            sub.state = State.EXPIRED
            sub.expired_on = ends
            sub.save(update_fields=["state", "expired_on"])
            events.billing_changed(
                None, account, f"Trial expired; backups are deleted on {purge_on:%b %d, %Y}"
            )
            counts["expired"] += 1
            counts["notices"] += _notice_once(sub, "expired", context)
        elif sub.state == State.TRIAL and on >= ends - timedelta(days=EXPIRING_DAYS):
            counts["notices"] += _notice_once(sub, "expiring", context)
        if sub.state == State.EXPIRED and on >= purge_on:
            if purge_trial(sub):
                counts["purged"] += 1
                counts["notices"] += _notice_once(sub, "purged", context)
        elif sub.state == State.EXPIRED and on >= purge_on - timedelta(days=2):
            counts["notices"] += _notice_once(sub, "purge_soon", context)
    return counts


def _subscribe_url(account: Account) -> str:
    from django.urls import reverse

    from backstop.notify.mailer import absolute

    if account.partner_id is not None:  # its partner subscribes it, from the partner portal
        return absolute(reverse("partner_dashboard", args=[account.partner_id]))
    return absolute(reverse("billing_account_subscribe", args=[account.pk]))


def _notice_once(sub: Subscription, kind: str, context: dict[str, Any]) -> int:
    if kind in sub.notices_sent:
        return 0
    sub.notices_sent = [*sub.notices_sent, kind]
    sub.save(update_fields=["notices_sent"])
    notices.trial_notice(sub.account, kind, context)
    return 1


def purge_trial(sub: Subscription) -> bool:
    """Deletes an expired trial's backed-up data through the engine (every object of the account's
    repository), then its tasks; the account and its users stay, so it can subscribe and start
    again. False when the repository could not be deleted now (the next run tries again)."""
    from backstop.audit import events
    from backstop.backups import summary
    from backstop.backups.models import BackupTask
    from backstop.backups.repos import delete_repository

    account = sub.account
    try:
        removed = delete_repository(account)
    except Exception:
        log.exception("account %s: the expired trial's data could not be deleted; trying again", account.pk)
        return False
    with transaction.atomic():
        tasks = list(BackupTask.objects.filter(account=account).values_list("name", flat=True))
        BackupTask.objects.filter(account=account).delete()
        sub.state = State.PURGED
        sub.purged_at = timezone.now()
        sub.save(update_fields=["state", "purged_at"])
        summary.refresh([account.pk])  # the partner dashboard shows no backup and no size now
    names = ", ".join(tasks) or "no backup task"
    events.backup_deleted(
        None,
        account,
        f"Backed-up data deleted {GRACE_DAYS} days after the trial ended ({names}; {removed} objects)",
    )
    log.info("account %s: expired trial purged (%d objects)", account.pk, removed)
    return True


def roll_plans(on: date) -> int:
    """Annual years that end move on a year; a pending change to monthly starts at the renewal."""
    changed = 0
    due = Subscription.objects.filter(state=State.SUBSCRIBED, plan=Plan.ANNUAL, renews_on__lte=on)
    for sub in due:
        while sub.renews_on is not None and sub.renews_on <= on:
            if sub.next_plan == Plan.MONTHLY:
                sub.plan, sub.next_plan, sub.plan_since = Plan.MONTHLY, "", sub.renews_on
                sub.starts_on, sub.renews_on, sub.monthly_ended_on = sub.plan_since, None, None
                break
            sub.renews_on = add_years(sub.renews_on)
        sub.save()
        changed += 1
    return changed


def _billed_annual(account_ids: list[int]) -> set[tuple[int, date]]:
    """(account, first day) of the annual years already on a bill that was not voided."""
    rows = InvoiceLine.objects.filter(account_id__in=account_ids, invoice__plan=Plan.ANNUAL).exclude(
        invoice__status=Invoice.Status.VOID
    )
    return set(rows.values_list("account_id", "starts_on"))


def _payers(
    on: date, only: Account | Partner | None = None
) -> tuple[dict[int, BillingProfile], dict[int, BillingProfile]]:
    """The billing profiles of every payer (partners', accounts'), or of the one payer `only`."""
    partners = BillingProfile.objects.filter(partner__isnull=False)
    accounts = BillingProfile.objects.filter(account__isnull=False)
    if isinstance(only, Partner):
        partners, accounts = partners.filter(partner=only), accounts.none()
    elif only is not None:
        partners, accounts = partners.none(), accounts.filter(account=only)
    partner_profiles = {p.partner_id or 0: p for p in partners}
    account_profiles = {p.account_id or 0: p for p in accounts}
    return partner_profiles, account_profiles


def bill(on: date) -> list[Invoice]:
    """Issues every bill due today (see the module's rules). Idempotent: keys and lines already
    billed are skipped."""
    partner_profiles, account_profiles = _payers(on)
    subscribed = list(
        Account.objects.filter(subscription__state=State.SUBSCRIBED)
        .select_related("subscription", "partner")
        .order_by("pk")
    )
    by_payer: dict[tuple[str, int], list[Account]] = defaultdict(list)
    for account in subscribed:
        key = ("p", account.partner_id) if account.partner_id else ("a", account.pk)
        by_payer[key].append(account)
    partners = {p.pk: p for p in Partner.objects.filter(pk__in=[k[1] for k in by_payer if k[0] == "p"])}
    billed = _billed_annual([a.pk for a in subscribed if a.subscription.plan == Plan.ANNUAL])
    issued: list[Invoice] = []
    for (kind, pk), accounts in by_payer.items():
        if kind == "p":
            payer = Payer(partners[pk], partner_profiles.get(pk))
        else:
            payer = Payer(accounts[0], account_profiles.get(pk))
        book = PriceBook(payer.currency, payer.profile.discount_percent if payer.profile else Decimal(0))
        issued += _bill_monthly(payer, accounts, book, on)
        issued += _bill_annual(payer, accounts, book, on, billed)
    return issued


def _bill_monthly(payer: Payer, accounts: list[Account], book: PriceBook, on: date) -> list[Invoice]:
    monthly = [
        a
        for a in accounts
        if a.subscription.plan == Plan.MONTHLY or (a.subscription.monthly_ended_on is not None)
    ]
    if not monthly:
        return []
    day = payer.payment_day(monthly[0].subscription if isinstance(payer.tenant, Account) else None)
    if on.day != day:
        return []
    start = add_months(on, -1)
    together = [a for a in monthly if not a.subscription.exclude_from_consolidation]
    apart = [a for a in monthly if a.subscription.exclude_from_consolidation]
    drafts = []
    if together:
        consolidated = isinstance(payer.tenant, Partner)
        drafts.append(
            Draft(
                payer,
                f"monthly:{payer.key}:{on}",
                Plan.MONTHLY,
                on,
                on + timedelta(days=DUE_DAYS),
                start,
                on - timedelta(days=1),
                consolidated,
                for_account=None if consolidated else together[0],
                lines=monthly_lines(together, book, start, on),
            )
        )
    for account in apart:
        drafts.append(
            Draft(
                payer,
                f"monthly:{payer.key}:{on}:a{account.pk}",
                Plan.MONTHLY,
                on,
                on + timedelta(days=DUE_DAYS),
                start,
                on - timedelta(days=1),
                False,
                for_account=account,
                lines=monthly_lines([account], book, start, on),
            )
        )
    issued = [invoice for invoice in map(issue, drafts) if invoice is not None]
    # A plan changed to annual has had its last monthly bill.
    ended = [a.subscription.pk for a in monthly if a.subscription.monthly_ended_on is not None]
    if ended:
        Subscription.objects.filter(pk__in=ended, monthly_ended_on__lte=on).update(monthly_ended_on=None)
    return issued


def _year_start(sub: Subscription) -> date | None:
    """The first day of the year being paid for now (the renewal date minus a year)."""
    if sub.renews_on is None:
        return None
    start = add_years(sub.renews_on, -1)
    return max(start, sub.plan_since) if sub.plan_since else start


def _bill_annual(
    payer: Payer, accounts: list[Account], book: PriceBook, on: date, billed: set[tuple[int, date]]
) -> list[Invoice]:
    annual = [
        a for a in accounts if a.subscription.plan == Plan.ANNUAL and a.subscription.state == State.SUBSCRIBED
    ]
    if not annual:
        return []
    individual = [a for a in annual if payer.individual_annual or a.subscription.exclude_from_consolidation]
    together = [a for a in annual if a not in individual]
    drafts: list[Draft] = []
    for account in individual:
        sub = account.subscription
        current = _year_start(sub)
        years = []
        if current is not None and current <= on and (account.pk, current) not in billed:
            years.append(current)  # the year that began (today, or since the last run)
        renewal = sub.renews_on
        if (
            renewal
            and renewal - timedelta(days=RENEWAL_NOTICE_DAYS) <= on
            and (account.pk, renewal) not in billed
        ):
            years.append(renewal)  # 30 days before the renewal
        for start in years:
            due = on + timedelta(days=DUE_DAYS)
            drafts.append(
                Draft(
                    payer,
                    f"annual:{payer.key}:a{account.pk}:{start}",
                    Plan.ANNUAL,
                    on,
                    due,
                    start,
                    add_years(start) - timedelta(days=1),
                    False,
                    for_account=account,
                    lines=annual_lines([account], book, {account.pk: start}, on),
                )
            )
    if together and on.day == payer.payment_day():
        next_day = add_months(on, 1)
        starts: dict[int, date] = {}
        for account in together:
            sub = account.subscription
            current = _year_start(sub)
            # A year that begins today (a renewal or a trial's end on the payment day) is billed
            # today: it was not yet "before the next payment day" a month ago.
            if current is not None and current <= on and (account.pk, current) not in billed:
                starts[account.pk] = current
            elif sub.renews_on and sub.renews_on < next_day and (account.pk, sub.renews_on) not in billed:
                starts[account.pk] = sub.renews_on
        chosen = [a for a in together if a.pk in starts]
        if chosen:
            drafts.append(
                Draft(
                    payer,
                    f"annual:{payer.key}:{on}",
                    Plan.ANNUAL,
                    on,
                    on + timedelta(days=DUE_DAYS),
                    min(starts.values()),
                    max(add_years(s) for s in starts.values()) - timedelta(days=1),
                    True,
                    lines=annual_lines(chosen, book, starts, on),
                )
            )
    return [invoice for invoice in map(issue, drafts) if invoice is not None]


def retry_failed_charges(on: date) -> int:
    """Overdue card bills are charged again once the payer's default card is not the one that
    failed (the guides: update the card, the status follows within a day)."""
    retried = 0
    failed = Invoice.objects.filter(
        status=Invoice.Status.OPEN, method=Method.CARD, charge_failed_at__isnull=False
    )
    for invoice in failed.select_related("account", "partner"):
        card = payments.default_card(invoice.payer)
        last = invoice.payments.first()
        if card is None or (last is not None and last.card_id == card.pk):
            continue
        try:
            payments.audit(invoice, payments.charge(invoice, card), "retried with the new default card")
        except Exception:  # one payer's trouble does not stop the others' retries
            log.exception("invoice %s: the retry could not be made", invoice.number)
            continue
        retried += 1
    return retried


def refresh_forecasts(on: date, payer: Account | Partner | None = None) -> int:
    """Each subscription's next payment date and forecast amount, for the Billing > Status pages:
    every one in the daily run, one payer's when it subscribes or changes its billing details."""
    partner_profiles, account_profiles = _payers(on, payer)
    mine = Q()
    if isinstance(payer, Partner):
        mine = Q(account__partner=payer)
    elif payer is not None:
        mine = Q(account=payer)
    subs = list(
        Subscription.objects.filter(mine)
        .exclude(plan="")
        .filter(state__in=(State.SUBSCRIBED, State.TRIAL))
        .select_related("account")
        .only(
            "pk", "plan", "state", "renews_on", "starts_on", "account__partner_id", "account__trial_ends_on"
        )
    )
    latest = _latest_usage([s.account_id for s in subs], on)
    books: dict[tuple[str, Decimal], PriceBook] = {}
    for sub in subs:
        account = sub.account
        profile = (
            partner_profiles.get(account.partner_id)
            if account.partner_id
            else account_profiles.get(account.pk)
        )
        currency = profile.currency if profile else DEFAULT_CURRENCY
        discount = profile.discount_percent if profile else Decimal(0)
        book = books.get((currency, discount))
        if book is None:
            book = books[(currency, discount)] = PriceBook(currency, discount)
        amount = Decimal(0)
        for service, (_total, billable, size) in latest.get(account.pk, {}).items():
            price = book.unit_price(service, sub.plan)
            if price is not None:
                amount += Decimal(price) * quantity(book.unit(service), billable, size)
        sub.forecast_amount = to_minor(amount)
        sub.forecast_currency = currency
        if sub.plan == Plan.ANNUAL:
            sub.next_payment_on = sub.renews_on or account.trial_ends_on
        else:
            # Monthly bills come in arrears: the first payment day after paying starts.
            starts = sub.starts_on or account.trial_ends_on or on
            day = payment_day(profile, account.partner_id is not None, sub)
            after = max(on, starts) + timedelta(days=1)
            sub.next_payment_on = next_payment_day(day, after)
    _write_forecasts(subs)
    return len(subs)


def _write_forecasts(subs: list[Subscription]) -> None:
    """Saves the three forecast fields of every subscription: one UPDATE by primary key each, sent
    as a batch. (`bulk_update` writes the same values with a CASE per row, whose construction in
    Django costs ~1 ms a row: 10 s of the month-end run at 10,000 accounts.)"""
    names = ("forecast_amount", "forecast_currency", "next_payment_on")  # columns named as the fields
    fields = [f for name in names for f in Subscription._meta.concrete_fields if f.name == name]
    qn = connection.ops.quote_name
    sql = (
        f"UPDATE {qn(Subscription._meta.db_table)} SET {', '.join(f'{qn(n)} = %s' for n in names)} "
        f"WHERE {qn('id')} = %s"
    )
    rows = [
        [*(f.get_db_prep_save(getattr(sub, f.attname), connection) for f in fields), sub.pk] for sub in subs
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), 2000):
            cursor.executemany(sql, rows[start : start + 2000])


def run_day(on: date) -> dict[str, Any]:
    """Everything billing does for one day, in order. Safe to run twice for the same day."""
    report: dict[str, Any] = {"day": on.isoformat()}
    report["usage_rows"] = measure(on)
    # From here on nothing writes usage: the last day measured is known (today's, when it had rows).
    token = _LAST_USAGE_DAY.set({on: on} if report["usage_rows"] else {})
    try:
        _run_steps(on, report)
    finally:
        _LAST_USAGE_DAY.reset(token)
    BillingRun.objects.update_or_create(day=on, defaults={"report": report, "finished_at": timezone.now()})
    return report


def _run_steps(on: date, report: dict[str, Any]) -> None:
    report["new_subscriptions"] = ensure_subscriptions()
    report["trials"] = trials(on)
    report["renewed"] = roll_plans(on)
    invoices = bill(on)
    for invoice in invoices:
        try:
            deliver(invoice)
        except Exception:
            log.exception("invoice %s could not be charged or sent; it stays open", invoice.number)
            if invoice.method == Method.CARD and not invoice.payments.filter(status="succeeded").exists():
                payments.charge_not_made(invoice, "The charge could not be made; it is tried again.")
    report["invoices"] = len(invoices)
    report["retried"] = retry_failed_charges(on)
    report["synced"] = payments.sync_pending()
    report["forecasts"] = refresh_forecasts(on)


def catch_up(on: date | None = None) -> list[dict[str, Any]]:
    """Runs every day since the last finished run up to `on` (at most 31 days back): the daily
    task calls this, so days missed while the workers were down are still billed."""
    on = on or timezone.now().date()
    last = BillingRun.objects.aggregate(last=Max("day"))["last"]
    day = on if last is None else max(last + timedelta(days=1), on - timedelta(days=31))
    reports = []
    while day <= on:
        reports.append(run_day(day))
        day += timedelta(days=1)
    return reports
