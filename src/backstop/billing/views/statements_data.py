"""What the statement pages read (views/statements.py): the payer a page is about, invoices as table
rows, the partner's accounts with their billing status, and an account's share of consolidated bills.

The partner's account list is filtered and counted in SQL (`status_conditions`, `status_chips`),
so a partner with ten thousand accounts costs the same few queries whatever the filter: the ids in
order, then the page's 25 rows with their subscriptions; their amounts come from
`status.account_statuses` (two grouped queries for the page).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.http import Http404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from backstop.billing import status
from backstop.billing.models import BillingProfile, Card, Invoice, InvoiceLine, Plan, Subscription
from backstop.billing.money import major
from backstop.billing.status import CURRENT, DUE, LABELS, NONE, OVERDUE, AccountBilling, PayerTotals
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import AccountAccess, reach_of

PAGE_SIZE = 25
STATUSES = (NONE, CURRENT, DUE, OVERDUE)
# Bootstrap colours: Current green, Due orange, Overdue red, None grey; an invoice's own states too.
STYLES = {NONE: "secondary", CURRENT: "success", DUE: "warning", OVERDUE: "danger", "paid": "success"}
INVOICE_LABELS = {"due": "Due", "overdue": "Overdue", "paid": "Paid", "void": "Void"}
State = Subscription.State


# -- the payer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The payer a billing page is about: a direct customer account or a partner."""

    payer: Account | Partner
    access: AccountAccess | None = None  # customer pages
    membership: Membership | None = None  # partner pages

    @property
    def kind(self) -> str:
        return "partner" if isinstance(self.payer, Partner) else "account"

    @property
    def is_partner(self) -> bool:
        return isinstance(self.payer, Partner)

    def url(self, name: str, *args: Any) -> str:
        return reverse(f"billing_{self.kind}_{name}", args=[self.payer.pk, *args])

    def context(self, tab: str) -> dict[str, Any]:
        """What every billing page's template needs: the tabs and the tenant of the shell."""
        context: dict[str, Any] = {
            "scope": self,
            "billing_scope": self.kind,
            "billing_pk": self.payer.pk,
            "tab": tab,
        }
        if isinstance(self.payer, Partner):
            context.update(partner=self.payer, membership=self.membership)
        else:
            context.update(account=self.payer, access=self.access)
        return context

    def invoice(self, number: int) -> Invoice:
        """One of this payer's bills by its reference number; anyone else's (or a void one): 404."""
        invoice = status.invoices_of(self.payer).filter(number=number).first()
        if invoice is None:
            raise Http404("No such invoice")
        return invoice

    def back(self, value: str | None, default: str) -> str:
        """Where a button's form returns to: a page of this payer's billing, else `default`."""
        root = self.url("status")
        if value and value.startswith(root) and url_has_allowed_host_and_scheme(value, allowed_hosts=None):
            return value
        return default

    def card_on_file(self) -> Card | None:
        return Card.objects.filter(**self._owner(), is_default=True).first()

    def billing_email(self) -> str:
        profile = BillingProfile.objects.filter(**self._owner()).only("email").first()
        return profile.email if profile is not None and profile.email else self.payer.email

    def _owner(self) -> dict[str, Any]:
        return {self.kind: self.payer}


def card_label(card: Card) -> str:
    return f"{card.brand or 'Card'} ****{card.last4}"


def payer_status(totals: PayerTotals, billed: bool) -> AccountBilling:
    """A payer's own status from its totals: Overdue, Due, Current (billed, nothing open), None."""
    if totals.overdue or totals.failed_charge:
        state = OVERDUE
    elif totals.total_due or totals.open_count:
        state = DUE
    else:
        state = CURRENT if billed else NONE
    return AccountBilling(state, totals.total_due, totals.overdue)


# -- invoices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceRow:
    """One bill in a table, with the links its buttons need."""

    invoice: Invoice
    state: str  # "due" | "overdue" | "paid"
    name: str  # the account billed, or "Consolidated"
    document_url: str  # the receipt once paid, else the invoice
    invoice_url: str
    csv_url: str
    pay_url: str
    email_url: str
    share: int | None = None  # drill-down: the account's own lines with their tax

    @property
    def label(self) -> str:
        return INVOICE_LABELS.get(self.state, self.state.capitalize())

    @property
    def style(self) -> str:
        return STYLES.get(self.state, "secondary")

    @property
    def is_open(self) -> bool:
        return self.invoice.status == Invoice.Status.OPEN


def invoice_rows(scope: Scope, invoices: Iterable[Invoice], today: date) -> list[InvoiceRow]:
    rows = []
    for invoice in invoices:
        number = invoice.number
        paid = invoice.status == Invoice.Status.PAID
        invoice_url = scope.url("invoice_pdf", number)
        rows.append(
            InvoiceRow(
                invoice=invoice,
                state=invoice.state_on(today),
                name="Consolidated" if invoice.consolidated else invoice.for_account_name or scope.payer.name,
                document_url=scope.url("receipt_pdf", number) if paid else invoice_url,
                invoice_url=invoice_url,
                csv_url=scope.url("invoice_csv", number) if invoice.consolidated and scope.is_partner else "",
                pay_url=scope.url("pay", number),
                email_url=scope.url("email_invoice", number),
                share=getattr(invoice, "share", None),
            )
        )
    return rows


def account_invoices(partner: Partner, account: Account) -> QuerySet[Invoice]:
    """The partner's bills for one account: its own, and the consolidated ones that hold its lines,
    each with `share` = the account's lines plus their tax. Newest first."""
    own_lines = InvoiceLine.objects.filter(account=account)
    share = (
        own_lines.filter(invoice=OuterRef("pk"))
        .order_by()
        .values("invoice")
        .annotate(total=Sum(F("amount") + F("tax")))
        .values("total")
    )
    consolidated = Q(consolidated=True, pk__in=own_lines.values("invoice_id"))
    return (
        status.invoices_of(partner)
        .filter(Q(for_account=account) | consolidated)
        .annotate(share=Subquery(share))
        .order_by("-issue_date", "-number")
    )


# -- the partner's accounts ----------------------------------------------------------------------


def reach_accounts(partner: Partner, membership: Membership) -> QuerySet[Account]:
    """The partner's accounts this partner role reaches (the dashboard's rule). A role limited to
    some accounts joins its own list once per account, so no DISTINCT is needed."""
    return Account.objects.filter(reach_of(membership), partner=partner)


def _status_parts(partner: Partner, on: date) -> tuple[Exists, Q, Q]:
    """(billed, owing, overdue) as conditions on Account.

    *Billed*: an `Exists` over the account's lines on a bill that is not void, through the index
    `(account, invoice)`: the first line found usually answers. *Owing* and *overdue*: the account
    is among those with lines on the partner's open (late) bills, a set read once per query from
    the lines of those few bills (index on `invoice`), so the cost follows the open bills, not the
    years of paid ones nor the number of accounts times the number of open bills. Overdue implies
    owing, owing implies billed."""
    void = Invoice.objects.filter(status=Invoice.Status.VOID).values("pk")
    unpaid = Invoice.objects.filter(partner=partner, status=Invoice.Status.OPEN)
    late = unpaid.filter(Q(charge_failed_at__isnull=False) | Q(due_date__lt=on))

    def holders(bills: QuerySet[Invoice]) -> Q:
        return Q(pk__in=InvoiceLine.objects.filter(invoice__in=bills.values("pk")).values("account_id"))

    billed = Exists(InvoiceLine.objects.filter(account=OuterRef("pk")).exclude(invoice__in=void))
    return billed, holders(unpaid), holders(late)


def status_conditions(partner: Partner, on: date) -> dict[str, Q]:
    """The four billing statuses as filters on the partner's accounts, agreeing with
    `status.account_statuses` for accounts billed by this partner."""
    billed, owing, overdue = _status_parts(partner, on)
    return {
        NONE: ~Q(billed),
        CURRENT: Q(billed) & ~owing,
        DUE: owing & ~overdue,
        OVERDUE: overdue,
    }


def _text(data: Mapping[str, Any], key: str, limit: int = 200) -> str:
    return str(data.get(key) or "").strip()[:limit]


@dataclass(frozen=True)
class AccountFilters:
    """Billing > Status filters, kept in the query string: a search and a billing status."""

    q: str = ""
    status: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> AccountFilters:
        value = _text(data, "status")
        return cls(q=_text(data, "q"), status=value if value in STATUSES else "")

    def pairs(self, **changes: str) -> list[tuple[str, str]]:
        values = {"q": self.q, "status": self.status, **changes}
        return [(key, value) for key, value in values.items() if value]

    def query(self, **changes: str) -> str:
        return urlencode(self.pairs(**changes))

    @property
    def any(self) -> bool:
        return bool(self.pairs())

    def apply(
        self, accounts: QuerySet[Account], partner: Partner, on: date, with_status: bool = True
    ) -> QuerySet[Account]:
        if self.q:
            accounts = accounts.filter(Q(name__icontains=self.q) | Q(email__icontains=self.q))
        if with_status and self.status:
            accounts = accounts.filter(status_conditions(partner, on)[self.status])
        return accounts


@dataclass(frozen=True)
class StatusChip:
    """A coloured count of the searched accounts with one billing status; a click filters by it."""

    code: str
    label: str
    style: str
    count: int
    active: bool
    query: str


def status_chips(
    accounts: QuerySet[Account], partner: Partner, filters: AccountFilters, on: date
) -> list[StatusChip]:
    """The number of searched accounts in each status: one aggregate query (the statuses nest:
    overdue accounts owe, owing accounts were billed, so three conditions give four counts)."""
    billed, owing, overdue = _status_parts(partner, on)
    sums = accounts.order_by().aggregate(
        every=Count("pk"),
        billed=Count("pk", filter=Q(billed)),
        owing=Count("pk", filter=owing),
        overdue=Count("pk", filter=overdue),
    )
    counts = {
        NONE: sums["every"] - sums["billed"],
        CURRENT: sums["billed"] - sums["owing"],
        DUE: sums["owing"] - sums["overdue"],
        OVERDUE: sums["overdue"],
    }
    chips = [StatusChip("", "All", "primary", sums["every"], not filters.status, filters.query(status=""))]
    for code in STATUSES:
        active = filters.status == code
        chips.append(
            StatusChip(code, LABELS[code], STYLES[code], counts[code], active, filters.query(status=code))
        )
    return chips


@dataclass(frozen=True)
class AccountRow:
    """One account of Billing > Status."""

    account: Account
    billing: AccountBilling
    subscription: Subscription | None
    plan: str  # "Monthly" | "Annual" | "Trial" | "Trial ended" | ""
    note: str  # under the plan: a trial's end, a plan chosen in the trial
    renews_on: date | None
    forecast: int | None
    forecast_currency: str

    @property
    def style(self) -> str:
        return STYLES[self.billing.status]


def _subscription(account: Account) -> Subscription | None:
    try:
        return account.subscription
    except Subscription.DoesNotExist:
        return None


def plan_text(account: Account, sub: Subscription | None) -> tuple[str, str]:
    """(plan, note) in words for a table cell."""
    if sub is None or sub.state == State.TRIAL:
        if sub is not None and sub.plan:
            return "Trial", f"then {Plan(sub.plan).label.lower()}"
        if account.trial_ends_on:
            return "Trial", f"ends {account.trial_ends_on:%b} {account.trial_ends_on.day}"
        return ("Trial", "") if sub is not None else ("", "")
    if sub.state in (State.EXPIRED, State.PURGED):
        return "Trial ended", "data deleted" if sub.state == State.PURGED else "not subscribed"
    return (Plan(sub.plan).label if sub.plan else "", "")


def renewal_of(sub: Subscription | None) -> date | None:
    """Annual plans renew on `renews_on`; monthly ones pay on the next payment day."""
    if sub is None or not sub.plan or sub.state not in (State.SUBSCRIBED, State.TRIAL):
        return None
    if sub.plan == Plan.ANNUAL:
        return sub.renews_on or sub.next_payment_on
    return sub.next_payment_on


def account_rows(accounts: list[Account], on: date, currency: str) -> list[AccountRow]:
    """Rows for accounts read with their subscription (`select_related`): two queries in all."""
    billing = status.account_statuses([account.pk for account in accounts], on)
    rows = []
    for account in accounts:
        sub = _subscription(account)
        plan, note = plan_text(account, sub)
        live = sub is not None and bool(sub.plan) and sub.state in (State.SUBSCRIBED, State.TRIAL)
        rows.append(
            AccountRow(
                account=account,
                billing=billing[account.pk],
                subscription=sub,
                plan=plan,
                note=note,
                renews_on=renewal_of(sub),
                forecast=sub.forecast_amount if live and sub is not None else None,
                forecast_currency=(sub.forecast_currency if sub is not None else "") or currency,
            )
        )
    return rows


CSV_HEADER = (
    "Account name",
    "E-mail",
    "Billing status",
    "Subscription",
    "Renewal date",
    "Amount due",
    "Overdue",
    "Next payment forecast",
    "Currency",
)


def account_csv_rows(accounts: QuerySet[Account], on: date, currency: str, chunk: int = 500) -> Iterator[Any]:
    """Every filtered account as CSV rows, read in chunks (ids first, so no cursor stays open)."""
    yield CSV_HEADER
    ids = list(accounts.order_by("name", "pk").values_list("pk", flat=True))
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        found = {a.pk: a for a in Account.objects.filter(pk__in=part).select_related("subscription")}
        for row in account_rows([found[pk] for pk in part if pk in found], on, currency):
            row_currency = row.forecast_currency or currency
            yield (
                row.account.name,
                row.account.email,
                row.billing.label,
                row.plan,
                row.renews_on.isoformat() if row.renews_on else "",
                major(row.billing.amount_due, currency),
                major(row.billing.overdue, currency),
                major(row.forecast, row_currency) if row.forecast is not None else "",
                currency,
            )
