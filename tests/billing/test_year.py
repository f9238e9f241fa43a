"""A whole year of billing, day by day, against tables written by hand.

The clock is the test's: `run_days` runs the daily billing run for each date, and usage changes,
payments and subscriptions happen on the dates the timeline says. Prices are the default list in
US dollars: Exchange mailbox $3.00 a month / $32.40 a year, Box user $3.00 / $32.40, IMAP mailbox
$2.00 / $21.60.

- M, a direct customer, subscribes monthly during its trial and pays by card (sandbox 4242): its
  trial ends Jan 15, so it is charged on the 15th for the month before, 3 mailboxes and from
  Mar 20 five (the highest count of the month is billed).
- A, a direct customer, subscribes annually during its trial: an invoice on Jan 15 due in 30
  days, paid through the payment link; the renewal invoice comes 30 days before Jan 15, 2028 and
  is left unpaid, so it is Overdue the day after.
- P, a partner in Israel (18% VAT) with a 10% discount, invoices, payment day 1, individual annual
  bills: P1 (trial with auto-subscription, monthly, 4 mailboxes) on the consolidated monthly bill,
  P2 (monthly without trial, 2 Box users) excluded from consolidation, P3 (annual without trial
  from Feb 10, 3 IMAP mailboxes) billed on its own. P pays its 2027 bills five days after they
  come, except the consolidated bill of Dec 1.
- T, a direct trial that nobody subscribes: expiring from Jan 10, expired Jan 15, its backups
  are purged on Jan 22.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from backstop.backups.models import BackupTask
from backstop.backups.repos import open_repository, repository_url
from backstop.billing import payments, subscriptions
from backstop.billing.models import BillingProfile, Invoice, Subscription
from backstop.billing.status import account_statuses
from backstop.billing.subscriptions import trial_info
from backstop.engine.stores import open_store
from backstop.tenancy.models import Account
from tests.billing.helpers import add_sandbox_card, grow, protect, run_days
from tests.factories import AccountFactory, PartnerFactory
from tests.helpers import messages_to

D = date
JAN1 = D(2027, 1, 1)
TRIAL_END = D(2027, 1, 15)
LAST_DAY = D(2028, 1, 16)

# (bill to, issue date, due date, effective date, period end, subtotal, tax, total, status on LAST_DAY)
M_BILLS = [
    ("M", D(2027, 2, 15), D(2027, 2, 15), D(2027, 1, 15), D(2027, 2, 14), 900, 0, 900, "paid"),
    ("M", D(2027, 3, 15), D(2027, 3, 15), D(2027, 2, 15), D(2027, 3, 14), 900, 0, 900, "paid"),
    ("M", D(2027, 4, 15), D(2027, 4, 15), D(2027, 3, 15), D(2027, 4, 14), 1500, 0, 1500, "paid"),
    ("M", D(2027, 5, 15), D(2027, 5, 15), D(2027, 4, 15), D(2027, 5, 14), 1500, 0, 1500, "paid"),
    ("M", D(2027, 6, 15), D(2027, 6, 15), D(2027, 5, 15), D(2027, 6, 14), 1500, 0, 1500, "paid"),
    ("M", D(2027, 7, 15), D(2027, 7, 15), D(2027, 6, 15), D(2027, 7, 14), 1500, 0, 1500, "paid"),
    ("M", D(2027, 8, 15), D(2027, 8, 15), D(2027, 7, 15), D(2027, 8, 14), 1500, 0, 1500, "paid"),
    ("M", D(2027, 9, 15), D(2027, 9, 15), D(2027, 8, 15), D(2027, 9, 14), 1500, 0, 1500, "paid"),
    ("M", D(2027, 10, 15), D(2027, 10, 15), D(2027, 9, 15), D(2027, 10, 14), 1500, 0, 1500, "paid"),
    ("M", D(2027, 11, 15), D(2027, 11, 15), D(2027, 10, 15), D(2027, 11, 14), 1500, 0, 1500, "paid"),
    ("M", D(2027, 12, 15), D(2027, 12, 15), D(2027, 11, 15), D(2027, 12, 14), 1500, 0, 1500, "paid"),
    ("M", D(2028, 1, 15), D(2028, 1, 15), D(2027, 12, 15), D(2028, 1, 14), 1500, 0, 1500, "paid"),
]
A_BILLS = [
    ("A", D(2027, 1, 15), D(2027, 2, 14), D(2027, 1, 15), D(2028, 1, 14), 6480, 0, 6480, "paid"),
    ("A", D(2027, 12, 16), D(2028, 1, 15), D(2028, 1, 15), D(2029, 1, 14), 6480, 0, 6480, "overdue"),
]
# P1 Feb 1: 4 x $2.70 x 17 of 31 days = $5.92; VAT 18% = $1.07. Then 4 x $2.70 = $10.80 + $1.94.
# P2: 2 x $2.70 = $5.40 + $0.97. P3: 3 x $19.44 = $58.32 + $10.50.
P_BILLS = [
    ("P", D(2027, 2, 1), D(2027, 3, 3), D(2027, 1, 1), D(2027, 1, 31), 592, 107, 699, "paid"),
    ("P2", D(2027, 2, 1), D(2027, 3, 3), D(2027, 1, 1), D(2027, 1, 31), 540, 97, 637, "paid"),
    ("P3", D(2027, 2, 10), D(2027, 3, 12), D(2027, 2, 10), D(2028, 2, 9), 5832, 1050, 6882, "paid"),
    ("P", D(2027, 3, 1), D(2027, 3, 31), D(2027, 2, 1), D(2027, 2, 28), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 3, 1), D(2027, 3, 31), D(2027, 2, 1), D(2027, 2, 28), 540, 97, 637, "paid"),
    ("P", D(2027, 4, 1), D(2027, 5, 1), D(2027, 3, 1), D(2027, 3, 31), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 4, 1), D(2027, 5, 1), D(2027, 3, 1), D(2027, 3, 31), 540, 97, 637, "paid"),
    ("P", D(2027, 5, 1), D(2027, 5, 31), D(2027, 4, 1), D(2027, 4, 30), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 5, 1), D(2027, 5, 31), D(2027, 4, 1), D(2027, 4, 30), 540, 97, 637, "paid"),
    ("P", D(2027, 6, 1), D(2027, 7, 1), D(2027, 5, 1), D(2027, 5, 31), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 6, 1), D(2027, 7, 1), D(2027, 5, 1), D(2027, 5, 31), 540, 97, 637, "paid"),
    ("P", D(2027, 7, 1), D(2027, 7, 31), D(2027, 6, 1), D(2027, 6, 30), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 7, 1), D(2027, 7, 31), D(2027, 6, 1), D(2027, 6, 30), 540, 97, 637, "paid"),
    ("P", D(2027, 8, 1), D(2027, 8, 31), D(2027, 7, 1), D(2027, 7, 31), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 8, 1), D(2027, 8, 31), D(2027, 7, 1), D(2027, 7, 31), 540, 97, 637, "paid"),
    ("P", D(2027, 9, 1), D(2027, 10, 1), D(2027, 8, 1), D(2027, 8, 31), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 9, 1), D(2027, 10, 1), D(2027, 8, 1), D(2027, 8, 31), 540, 97, 637, "paid"),
    ("P", D(2027, 10, 1), D(2027, 10, 31), D(2027, 9, 1), D(2027, 9, 30), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 10, 1), D(2027, 10, 31), D(2027, 9, 1), D(2027, 9, 30), 540, 97, 637, "paid"),
    ("P", D(2027, 11, 1), D(2027, 12, 1), D(2027, 10, 1), D(2027, 10, 31), 1080, 194, 1274, "paid"),
    ("P2", D(2027, 11, 1), D(2027, 12, 1), D(2027, 10, 1), D(2027, 10, 31), 540, 97, 637, "paid"),
    ("P", D(2027, 12, 1), D(2027, 12, 31), D(2027, 11, 1), D(2027, 11, 30), 1080, 194, 1274, "overdue"),
    ("P2", D(2027, 12, 1), D(2027, 12, 31), D(2027, 11, 1), D(2027, 11, 30), 540, 97, 637, "paid"),
    ("P", D(2028, 1, 1), D(2028, 1, 31), D(2027, 12, 1), D(2027, 12, 31), 1080, 194, 1274, "due"),
    ("P2", D(2028, 1, 1), D(2028, 1, 31), D(2027, 12, 1), D(2027, 12, 31), 540, 97, 637, "due"),
    ("P3", D(2028, 1, 11), D(2028, 2, 10), D(2028, 2, 10), D(2029, 2, 9), 5832, 1050, 6882, "due"),
]
# Account statuses on chosen days: (day, {account: (status, amount due, overdue amount)}).
STATUSES = [
    (D(2027, 1, 14), {"M": ("none", 0, 0), "A": ("none", 0, 0), "P1": ("none", 0, 0), "T": ("none", 0, 0)}),
    (D(2027, 1, 16), {"M": ("none", 0, 0), "A": ("due", 6480, 0), "P2": ("none", 0, 0)}),
    (
        D(2027, 2, 2),
        {"A": ("current", 0, 0), "P1": ("due", 699, 0), "P2": ("due", 637, 0), "P3": ("none", 0, 0)},
    ),
    (D(2027, 2, 14), {"P3": ("due", 6882, 0)}),
    (D(2027, 2, 15), {"M": ("current", 0, 0), "P1": ("current", 0, 0), "P3": ("current", 0, 0)}),
    (D(2027, 12, 31), {"P1": ("due", 1274, 0), "P2": ("current", 0, 0), "A": ("due", 6480, 0)}),
    (D(2028, 1, 1), {"P1": ("overdue", 2548, 1274)}),
    (
        LAST_DAY,
        {
            "M": ("current", 0, 0),
            "A": ("overdue", 6480, 6480),
            "P1": ("overdue", 2548, 1274),
            "P2": ("due", 637, 0),
            "P3": ("due", 6882, 0),
            "T": ("none", 0, 0),
        },
    ),
]
# The trial's road: (day, trial state shown, subscription state).
TRIAL_ROAD = [
    (D(2027, 1, 9), "in_progress", "trial"),
    (D(2027, 1, 10), "expiring", "trial"),
    (D(2027, 1, 14), "expiring", "trial"),
    (D(2027, 1, 15), "expired", "expired"),
    (D(2027, 1, 21), "expired", "expired"),
    (D(2027, 1, 22), "purged", "purged"),
]
# E-mails the trial's owner receives, by subject, in order.
TRIAL_MAILS = [
    "Your free trial ends soon",
    "Your free trial has ended: subscribe to keep your backups",
    "Your backups will be deleted soon",
    "Your backups were deleted after the trial",
]


def _account(name: str, **extra: object) -> Account:
    return AccountFactory(name=name, email=f"{name.lower()}@example.test", trial_ends_on=TRIAL_END, **extra)


@pytest.mark.django_db
def test_a_year_of_billing_matches_the_hand_written_tables(outbox: Path) -> None:
    m, a, t = _account("M"), _account("A"), _account("T")
    partner = PartnerFactory(name="P", email="billing@p.test")
    BillingProfile.objects.create(
        partner=partner,
        method=BillingProfile.Method.INVOICE,
        annual_billing=BillingProfile.AnnualBilling.INDIVIDUAL,
        payment_day=1,
        discount_percent=10,
        country="IL",
        tax_id="514596667",
        email="billing@p.test",
        delivery=BillingProfile.Delivery.LINK,
    )
    p1, p2 = _account("P1", partner=partner), _account("P2", partner=partner)
    p3 = AccountFactory(name="P3", email="p3@example.test", partner=partner, trial_ends_on=None)
    for account in (m, a, t, p1, p2, p3):
        subscriptions.subscription_of(account)
    subscriptions.start(p1, Subscription.Kind.TRIAL_AUTO, "monthly", on=JAN1)
    subscriptions.start(p2, Subscription.Kind.NO_TRIAL, "monthly", on=JAN1)
    Subscription.objects.filter(account=p2).update(exclude_from_consolidation=True)

    mailboxes = protect(m, "exchange", 3)
    protect(a, "box", 2)
    protect(t, "imap", 1)
    protect(p1, "exchange", 4)
    protect(p2, "box", 2)
    protect(p3, "imap", 3)
    open_repository(t)  # the trial has backed-up data in its repository
    assert open_store(repository_url(t)).list("")
    add_sandbox_card(m, "4242424242424242")

    names = {"M": m, "A": a, "T": t, "P1": p1, "P2": p2, "P3": p3}
    statuses = dict(STATUSES)
    road = {day: (shown, state) for day, shown, state in TRIAL_ROAD}
    day = JAN1
    while day <= LAST_DAY:
        if day == D(2027, 1, 5):
            subscriptions.subscribe(m, "monthly", on=day)
        if day == D(2027, 1, 10):
            subscriptions.subscribe(a, "annual", on=day)
        if day == D(2027, 2, 10):
            subscriptions.start(p3, Subscription.Kind.NO_TRIAL, "annual", on=day)
        if day == D(2027, 3, 20):
            grow(mailboxes, 2)
        run_days(day, day)
        if day == D(2027, 1, 20):
            payments.mark_paid(Invoice.objects.get(account=a), "Payment link")
        if day.year == 2027:
            _partner_pays_bills_of(day - timedelta(days=5), partner)
        if day in statuses:
            found = account_statuses([acc.pk for acc in names.values()], day)
            for name, (status, due, overdue) in statuses[day].items():
                got = found[names[name].pk]
                assert (got.status, got.amount_due, got.overdue) == (status, due, overdue), (day, name)
        if day in road:
            t.refresh_from_db()
            info = trial_info(t, Subscription.objects.get(account=t), day)
            assert (info.state, Subscription.objects.get(account=t).state) == road[day], day
        day += timedelta(days=1)

    assert _bills(m) + _bills(a) + _partner_bills(partner) == M_BILLS + A_BILLS + P_BILLS
    # The trial's data went through the engine: its repository is empty, its task is gone.
    assert open_store(repository_url(t)).list("") == []
    assert not BackupTask.objects.filter(account=t).exists()
    assert [msg["Subject"].removeprefix("[Backstop] ") for msg in messages_to(outbox, t.email)] == TRIAL_MAILS
    # M's card was charged twelve times: a receipt each time.
    receipts = [msg for msg in messages_to(outbox, m.email) if "Receipt" in msg["Subject"]]
    assert len(receipts) == 12


def _partner_pays_bills_of(issued: date, partner: object) -> None:
    for invoice in Invoice.objects.filter(partner=partner, issue_date=issued, status=Invoice.Status.OPEN):
        if not (invoice.consolidated and issued == D(2027, 12, 1)):
            payments.mark_paid(invoice, "Bank transfer")


def _row(label: str, invoice: Invoice, on: date) -> tuple[object, ...]:
    state = invoice.state_on(on)
    return (
        label,
        invoice.issue_date,
        invoice.due_date,
        invoice.effective_date,
        invoice.period_end,
        invoice.subtotal,
        invoice.tax,
        invoice.total,
        state,
    )


def _bills(account: Account) -> list[tuple[object, ...]]:
    return [
        _row(account.name, i, LAST_DAY) for i in Invoice.objects.filter(account=account).order_by("number")
    ]


def _partner_bills(partner: object) -> list[tuple[object, ...]]:
    rows = []
    for invoice in Invoice.objects.filter(partner=partner).order_by("number"):
        label = "P" if invoice.consolidated else invoice.for_account_name
        rows.append(_row(label, invoice, LAST_DAY))
    return rows
