"""The billing rules one at a time: usage, units, plan changes, consolidation, catching up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from backstop.backups.models import Entity
from backstop.billing import cycle, subscriptions
from backstop.billing.models import BillingProfile, BillingRun, Invoice, InvoiceLine, Subscription, UsageDay
from backstop.billing.money import format_money
from tests.billing.helpers import protect, run_days
from tests.factories import AccountFactory, PartnerFactory

S = Entity.Status
pytestmark = pytest.mark.django_db


def test_usage_counts_every_entity_and_bills_protected_and_paused_ones_only() -> None:
    account = AccountFactory()
    task = protect(account, "box", 3)  # active
    for status in (S.PAUSED, S.ARCHIVED, S.NOT_ACTIVE, S.SCHEDULED):
        Entity.objects.create(account=account, task=task, key=status, name=status, status=status, size=10)
    Entity.objects.create(account=account, task=task, key="dup", name="dup", status=S.OTHER_TASK)
    Entity.objects.create(account=account, task=task, key="gone", name="gone", deleted_at="2027-01-01T00:00Z")

    cycle.measure(date(2027, 1, 1))

    usage = UsageDay.objects.get(account=account, day=date(2027, 1, 1))
    # Total: 3 active + paused + archived + not active + scheduled; not the duplicate, not the deleted.
    assert (usage.total, usage.billable, usage.billable_bytes) == (7, 5, 20)


def test_measuring_twice_a_day_replaces_the_first_measure() -> None:
    account = AccountFactory()
    task = protect(account, "box", 2)
    cycle.measure(date(2027, 1, 1))
    Entity.objects.filter(task=task).update(status=S.ARCHIVED)
    cycle.measure(date(2027, 1, 1))
    assert list(UsageDay.objects.values_list("billable", flat=True)) == [0]


def test_services_sold_by_volume_bill_stored_gigabytes_rounded_up() -> None:
    assert cycle.quantity("gb", 2, 2_550_000_001) == Decimal("2.56")
    assert cycle.quantity("gb", 1, 0) == Decimal("0.00")
    assert cycle.quantity("user", 4, 10**12) == Decimal(4)


def test_a_volume_service_is_billed_per_gb_on_the_monthly_bill() -> None:
    account = AccountFactory(partner=None, trial_ends_on=None)
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "monthly", on=date(2027, 1, 1))
    protect(account, "salesforce", 1, size=2_550_000_000)
    BillingProfile.objects.create(account=account, method=BillingProfile.Method.INVOICE)

    run_days(date(2027, 1, 1), date(2027, 2, 1))

    line = InvoiceLine.objects.get()
    # $1.20 per GB and month: 2.55 GB → $3.06.
    assert (line.quantity, line.unit, line.unit_price, line.amount) == (Decimal("2.55"), "gb", 120, 306)


def test_a_partner_bills_in_its_currency_with_its_discount() -> None:
    partner = PartnerFactory()
    BillingProfile.objects.create(
        partner=partner, currency="EUR", discount_percent=Decimal("25"), method="invoice", payment_day=1
    )
    account = AccountFactory(partner=partner, trial_ends_on=None)
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "monthly", on=date(2027, 1, 1))
    protect(account, "exchange", 10)

    run_days(date(2027, 1, 1), date(2027, 2, 1))

    invoice = Invoice.objects.get()
    # €2.85 list price, 25% off: €2.14 (2.1375 rounded half up); 10 mailboxes: €21.40.
    assert (invoice.currency, invoice.lines.get().unit_price, invoice.total) == ("EUR", 214, 2140)
    assert format_money(invoice.total, invoice.currency) == "€21.40"


def test_consolidated_annual_bill_holds_new_years_and_next_months_renewals() -> None:
    partner = PartnerFactory()
    BillingProfile.objects.create(partner=partner, method="invoice", payment_day=5)
    new = AccountFactory(name="New", partner=partner, trial_ends_on=None)
    renewing = AccountFactory(name="Renewing", partner=partner, trial_ends_on=None)
    later = AccountFactory(name="Later", partner=partner, trial_ends_on=None)
    for account in (new, renewing, later):
        protect(account, "box", 1)
    subscriptions.start(renewing, Subscription.Kind.NO_TRIAL, "annual", on=date(2026, 3, 20))
    subscriptions.start(later, Subscription.Kind.NO_TRIAL, "annual", on=date(2026, 4, 10))
    # Their first years were billed before: record them as such.
    for account, start in ((renewing, date(2026, 3, 20)), (later, date(2026, 4, 10))):
        invoice = Invoice.objects.create(
            number=account.pk,
            key=f"old{account.pk}",
            partner=partner,
            plan="annual",
            method="invoice",
            issue_date=start,
            due_date=start,
            effective_date=start,
            period_end=start,
            currency="USD",
            status=Invoice.Status.PAID,
        )
        InvoiceLine.objects.create(
            invoice=invoice,
            account=account,
            account_name=account.name,
            service="box",
            description="",
            unit="user",
            quantity=1,
            unit_price=3240,
            amount=3240,
            starts_on=start,
            ends_on=start,
        )
    subscriptions.start(new, Subscription.Kind.NO_TRIAL, "annual", on=date(2027, 2, 14))

    run_days(date(2027, 3, 1), date(2027, 3, 5))

    bill = Invoice.objects.get(issue_date=date(2027, 3, 5))
    assert bill.consolidated and bill.due_date == date(2027, 4, 4)
    # The year begun on Feb 14 and the renewal of Mar 20 (before the next payment day, Apr 5);
    # the renewal of Apr 10 waits for the Apr 5 bill.
    assert list(bill.lines.values_list("account_name", "starts_on")) == [
        ("New", date(2027, 2, 14)),
        ("Renewing", date(2027, 3, 20)),
    ]
    run_days(date(2027, 3, 6), date(2027, 4, 5))
    april = Invoice.objects.get(issue_date=date(2027, 4, 5))
    assert list(april.lines.values_list("account_name", "starts_on")) == [("Later", date(2027, 4, 10))]


def test_monthly_to_annual_bills_the_last_monthly_days_then_the_year() -> None:
    account = AccountFactory(partner=None, trial_ends_on=None)
    BillingProfile.objects.create(account=account, method="invoice", payment_day=1)
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "monthly", on=date(2027, 1, 1))
    protect(account, "box", 2)
    run_days(date(2027, 1, 1), date(2027, 3, 10))
    subscriptions.change_plan(Subscription.objects.get(account=account), "annual", on=date(2027, 3, 11))
    run_days(date(2027, 3, 11), date(2027, 5, 2))

    rows = list(Invoice.objects.order_by("number").values_list("issue_date", "plan", "total"))
    assert rows == [
        (date(2027, 2, 1), "monthly", 600),
        (date(2027, 3, 1), "monthly", 600),
        (date(2027, 3, 11), "annual", 6480),  # the year starts the day support changed the plan
        (date(2027, 4, 1), "monthly", 194),  # Mar 1-10: 2 x $3.00 x 10 / 31
    ]


def test_annual_to_monthly_waits_for_the_renewal() -> None:
    account = AccountFactory(partner=None, trial_ends_on=None)
    BillingProfile.objects.create(account=account, method="invoice")
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "annual", on=date(2027, 1, 10))
    protect(account, "box", 1)
    run_days(date(2027, 1, 10), date(2027, 1, 10))
    subscriptions.change_plan(Subscription.objects.get(account=account), "monthly", on=date(2027, 6, 1))
    run_days(date(2027, 6, 1), date(2028, 2, 10))

    rows = list(Invoice.objects.order_by("number").values_list("issue_date", "plan", "effective_date"))
    assert rows == [
        (date(2027, 1, 10), "annual", date(2027, 1, 10)),
        (date(2027, 12, 11), "annual", date(2028, 1, 10)),  # the renewal was billed before the change
        (date(2028, 2, 10), "monthly", date(2028, 1, 10)),
    ]


def test_a_second_run_of_a_day_issues_nothing_more() -> None:
    partner = PartnerFactory()
    BillingProfile.objects.create(partner=partner, method="invoice", payment_day=1)
    account = AccountFactory(partner=partner, trial_ends_on=None)
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "monthly", on=date(2027, 1, 1))
    protect(account, "box", 1)
    run_days(date(2027, 1, 1), date(2027, 2, 1))
    run_days(date(2027, 2, 1), date(2027, 2, 1))
    assert Invoice.objects.count() == 1


def test_catch_up_runs_the_days_the_workers_missed() -> None:
    partner = PartnerFactory()
    BillingProfile.objects.create(partner=partner, method="invoice", payment_day=3)
    account = AccountFactory(partner=partner, trial_ends_on=None)
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "monthly", on=date(2027, 1, 1))
    protect(account, "box", 1)
    cycle.catch_up(date(2027, 1, 31))
    reports = cycle.catch_up(date(2027, 2, 4))  # down from Feb 1 to Feb 3

    assert [r["day"] for r in reports] == ["2027-02-01", "2027-02-02", "2027-02-03", "2027-02-04"]
    assert Invoice.objects.get().issue_date == date(2027, 2, 3)
    assert BillingRun.objects.count() == 5


def test_subscribing_in_the_grace_starts_paying_that_day_and_keeps_the_data() -> None:
    account = AccountFactory(partner=None, trial_ends_on=date(2027, 1, 15))
    BillingProfile.objects.create(account=account, method="invoice")
    protect(account, "box", 2)
    run_days(date(2027, 1, 1), date(2027, 1, 18))
    assert Subscription.objects.get(account=account).state == "expired"

    subscriptions.subscribe(account, "monthly", on=date(2027, 1, 19))
    run_days(date(2027, 1, 19), date(2027, 2, 19))

    sub = Subscription.objects.get(account=account)
    assert (sub.state, sub.starts_on) == ("subscribed", date(2027, 1, 19))
    assert Entity.objects.filter(account=account).count() == 2  # not purged on Jan 22
    assert Invoice.objects.get().issue_date == date(2027, 2, 19)


def test_subscribing_twice_changes_nothing() -> None:
    account = AccountFactory(partner=None, trial_ends_on=date(2027, 1, 15))
    subscriptions.subscribe(account, "monthly", on=date(2027, 1, 3))
    subscriptions.subscribe(account, "annual", on=date(2027, 1, 4))  # still in the trial: its choice
    run_days(date(2027, 1, 15), date(2027, 1, 15))
    subscriptions.subscribe(account, "monthly", on=date(2027, 1, 16))  # subscribed: support changes plans
    sub = Subscription.objects.get(account=account)
    assert (sub.plan, sub.starts_on) == ("annual", date(2027, 1, 15))


def test_a_year_that_begins_on_the_payment_day_is_billed_that_day() -> None:
    """An annual subscription starting on the partner's payment day is on that day's consolidated
    bill: a month earlier it did not yet begin before the next payment day."""
    partner = PartnerFactory()
    BillingProfile.objects.create(partner=partner, method="invoice", payment_day=5)
    account = AccountFactory(name="On the day", partner=partner, trial_ends_on=None)
    protect(account, "box", 1)
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "annual", on=date(2027, 3, 5))

    run_days(date(2027, 3, 5), date(2027, 3, 5))

    bill = Invoice.objects.get(partner=partner)
    assert (bill.issue_date, bill.due_date) == (date(2027, 3, 5), date(2027, 4, 4))
    assert list(bill.lines.values_list("account_name", "starts_on")) == [("On the day", date(2027, 3, 5))]


def test_a_plan_chosen_in_the_trial_forecasts_the_payment_on_the_trial_end_day() -> None:
    """A direct customer that subscribes monthly during its trial pays from the trial's end, so the
    forecast's next payment falls on that day of the month, a month later (bills are in arrears)."""
    account = AccountFactory(partner=None, trial_ends_on=date(2027, 3, 15))
    subscriptions.start(account)
    protect(account, "box", 2)
    subscriptions.subscribe(account, "monthly", on=date(2027, 3, 10))

    run_days(date(2027, 3, 10), date(2027, 3, 10))

    subscription = Subscription.objects.get(account=account)
    assert subscription.next_payment_on == date(2027, 4, 15) and subscription.forecast_amount == 600
    assert subscriptions.standing(account, date(2027, 3, 16)).label == "Subscribed · Monthly"
