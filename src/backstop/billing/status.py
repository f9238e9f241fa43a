"""What the billing pages show: statuses, amounts due, forecasts and the header banner.

Per account: **None** (trial, or nothing billed yet), **Current** (billed and nothing open),
**Due** (an open bill payable within its 30 days), **Overdue** (past its due date, or its card
charge failed). An account's amount is its own lines (with their tax) on open bills, so a
consolidated bill splits exactly between the accounts it covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from backstop.billing.cycle import SERVICE_LABELS, _latest_usage, payer_of, quantity
from backstop.billing.models import Invoice, InvoiceLine, Plan, Subscription, Unit
from backstop.billing.money import DEFAULT_CURRENCY, to_minor
from backstop.billing.prices import PriceBook
from backstop.billing.subscriptions import subscription_of
from backstop.tenancy.models import Account, Partner

Payer = Account | Partner
NONE, CURRENT, DUE, OVERDUE = "none", "current", "due", "overdue"
LABELS = {NONE: "None", CURRENT: "Current", DUE: "Due", OVERDUE: "Overdue"}


@dataclass
class AccountBilling:
    status: str = NONE
    amount_due: int = 0
    overdue: int = 0

    @property
    def label(self) -> str:
        return LABELS[self.status]


def _overdue(on: date) -> Q:
    return Q(invoice__charge_failed_at__isnull=False) | Q(invoice__due_date__lt=on)


def account_statuses(account_ids: Iterable[int], on: date) -> dict[int, AccountBilling]:
    """Statuses of the given accounts: two grouped queries, whatever the number of accounts."""
    ids = list(account_ids)
    result = {pk: AccountBilling() for pk in ids}
    lines = InvoiceLine.objects.filter(account_id__in=ids).exclude(invoice__status=Invoice.Status.VOID)
    for pk in lines.order_by().values_list("account_id", flat=True).distinct():
        result[pk].status = CURRENT
    open_lines = lines.filter(invoice__status=Invoice.Status.OPEN).values("account_id")
    sums = open_lines.annotate(
        open_amount=Sum("amount"),
        open_tax=Sum("tax"),
        late=Sum("amount", filter=_overdue(on)),
        late_tax=Sum("tax", filter=_overdue(on)),
    )
    for row in sums:
        billing = result[row["account_id"]]
        billing.amount_due = (row["open_amount"] or 0) + (row["open_tax"] or 0)
        billing.overdue = (row["late"] or 0) + (row["late_tax"] or 0)
        billing.status = OVERDUE if billing.overdue else DUE
    return result


def _owner(payer: Payer) -> Q:
    return Q(account=payer) if isinstance(payer, Account) else Q(partner=payer)


def invoices_of(payer: Payer) -> QuerySet[Invoice]:
    return Invoice.objects.filter(_owner(payer)).exclude(status=Invoice.Status.VOID)


def open_invoices(payer: Payer) -> QuerySet[Invoice]:
    return invoices_of(payer).filter(status=Invoice.Status.OPEN).order_by("due_date", "number")


@dataclass
class PayerTotals:
    currency: str
    total_due: int
    overdue: int
    due: int
    open_count: int
    forecast: int
    failed_charge: bool


def payer_totals(payer: Payer, on: date, currency: str | None = None) -> PayerTotals:
    """The header of Billing > Status and Unpaid Bills: three aggregate queries."""
    late = Q(charge_failed_at__isnull=False) | Q(due_date__lt=on)
    sums = open_invoices(payer).aggregate(
        open_total=Sum("total"),
        late=Sum("total", filter=late),
        failed=Sum("total", filter=Q(charge_failed_at__isnull=False)),
    )
    count = open_invoices(payer).count()
    if isinstance(payer, Account):
        subs = Subscription.objects.filter(account=payer)
    else:
        subs = Subscription.objects.filter(account__partner=payer)
    forecast = subs.exclude(plan="").aggregate(total=Sum("forecast_amount"))["total"] or 0
    total, overdue = sums["open_total"] or 0, sums["late"] or 0
    return PayerTotals(
        currency=currency or payer_of_currency(payer),
        total_due=total,
        overdue=overdue,
        due=total - overdue,
        open_count=count,
        forecast=forecast,
        failed_charge=bool(sums["failed"]),
    )


def payer_of_currency(payer: Payer) -> str:
    from backstop.billing.models import BillingProfile

    profile = BillingProfile.objects.filter(_owner(payer)).only("currency").first()
    return profile.currency if profile else DEFAULT_CURRENCY


@dataclass(frozen=True)
class ForecastLine:
    service: str
    label: str
    unit: str
    total: int
    billable: Decimal
    unit_price: int
    amount: int


def forecast(account: Account, on: date) -> tuple[str, str, list[ForecastLine]]:
    """(currency, plan, lines) of the account's next payment at today's usage. A trial without a
    plan is priced monthly, as what subscribing would cost."""
    subscription = subscription_of(account)
    payer = payer_of(account)
    book = PriceBook(payer.currency, payer.profile.discount_percent if payer.profile else Decimal(0))
    plan = subscription.plan or Plan.MONTHLY
    lines = []
    for service, (total, billable, size) in sorted(
        _latest_usage([account.pk], on).get(account.pk, {}).items()
    ):
        price = book.unit_price(service, plan)
        if price is None:
            continue
        unit = book.unit(service)
        qty = quantity(unit, billable, size)
        lines.append(
            ForecastLine(
                service,
                SERVICE_LABELS.get(service, service),
                Unit(unit).label,
                total,
                qty,
                price,
                to_minor(Decimal(price) * qty),
            )
        )
    return payer.currency, plan, lines


@dataclass(frozen=True)
class Banner:
    level: str  # "danger" | "warning"
    text: str
    url_name: str  # where to go: the unpaid bills page of the payer


def banner_for(payer: Payer, on: date) -> Banner | None:
    """The header message about the payer's open bills: one query."""
    row = open_invoices(payer).aggregate(
        failed=Sum("total", filter=Q(charge_failed_at__isnull=False)),
        late=Sum("total", filter=Q(due_date__lt=on)),
        due=Sum("total"),
    )
    if row["failed"]:
        return Banner("danger", "Payment failed: we could not charge your card.", "unpaid")
    if row["late"]:
        return Banner(
            "danger", "An invoice is overdue: please pay it to keep your backups running.", "unpaid"
        )
    if row["due"]:
        return Banner("warning", "An invoice is waiting for payment.", "unpaid")
    return None
