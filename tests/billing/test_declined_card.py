"""A monthly charge that fails: the bill turns Overdue, the payer is e-mailed, a banner shows on
every page; paying the bill clears the banner and sends a receipt."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop.audit.models import AuditEvent
from backstop.billing import payments, subscriptions
from backstop.billing.models import BillingProfile, Invoice, Subscription
from backstop.billing.status import account_statuses
from tests.billing.helpers import add_sandbox_card, protect, run_days, sandbox_token
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.helpers import messages_to

pytestmark = pytest.mark.django_db


def test_a_declined_card_makes_the_bill_overdue_until_it_is_paid(outbox: Path) -> None:
    today = timezone.now().date()
    payment_day = today.replace(day=min(today.day, 28))  # payment days are the 1st to the 28th
    started = subscriptions.add_months(payment_day, -1)
    account = AccountFactory(
        name="Declined Ltd", email="owner@declined.test", partner=None, trial_ends_on=None
    )
    admin = UserFactory(email="admin@declined.test")
    MembershipFactory(user=admin, account=account, role="admin")
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "monthly", on=started)
    protect(account, "box", 4)
    add_sandbox_card(account, "4000000000000341")  # attaches fine, every charge is declined
    client = Client()
    client.force_login(admin)

    run_days(started, today)  # the payment day is the day paying began, a month on

    invoice = Invoice.objects.get(account=account)
    assert (invoice.issue_date, invoice.total, invoice.status) == (payment_day, 1200, "open")
    assert invoice.state_on(today) == "overdue" and invoice.charge_failed_at is not None
    assert account_statuses([account.pk], today)[account.pk].status == "overdue"
    failed = [m for m in messages_to(outbox, account.email) if "Payment failed" in m["Subject"]]
    assert len(failed) == 1
    # The run's charge and its decline are in the Security Audit, though no person made them.
    audited = AuditEvent.objects.filter(account=account, activity="billing_changed", status="failed")
    assert [e.description for e in audited] == [
        f"Invoice {invoice.number}: payment of $12.00 with card ****0341 failed (Your card was declined.), "
        "charged on the payment day"
    ]
    for page in ("account_home", "billing_account_status", "account_settings"):
        body = client.get(reverse(page, args=[account.pk])).content.decode()
        assert 'data-testid="billing-banner"' in body and "could not charge your card" in body, page

    # Running the day again neither charges the same card again nor e-mails twice.
    run_days(today, today)
    assert invoice.payments.count() == 1
    assert len([m for m in messages_to(outbox, account.email) if "Payment failed" in m["Subject"]]) == 1

    # The customer adds a working card and pays the bill from the Pay Invoice page.
    response = client.post(
        reverse("billing_account_payment", args=[account.pk]),
        {"action": "add_card", "token": sandbox_token("4242424242424242"), "holder": "Ada Admin"},
    )
    assert response.status_code in (200, 302)
    response = client.post(
        reverse("billing_account_pay", args=[account.pk, invoice.number]), {"action": "card"}
    )
    assert response.status_code in (200, 302)

    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.paid_via.endswith("4242")
    assert account_statuses([account.pk], today)[account.pk].status == "current"
    body = client.get(reverse("account_home", args=[account.pk])).content.decode()
    assert 'data-testid="billing-banner"' not in body
    run_days(today, today)  # the worker sends the receipt
    assert [m for m in messages_to(outbox, account.email) if "Receipt" in m["Subject"]]


def test_a_new_default_card_is_charged_again_by_the_next_run(outbox: Path) -> None:
    account = AccountFactory(partner=None, trial_ends_on=None)
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "monthly", on=date(2027, 1, 10))
    protect(account, "box", 1)
    add_sandbox_card(account, "4000000000000341")
    run_days(date(2027, 1, 10), date(2027, 2, 10))
    invoice = Invoice.objects.get()
    assert invoice.state_on(date(2027, 2, 10)) == "overdue"
    run_days(date(2027, 2, 11), date(2027, 2, 11))  # same card: not tried again
    assert invoice.payments.count() == 1

    add_sandbox_card(account, "5555555555554444")
    run_days(date(2027, 2, 12), date(2027, 2, 12))

    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.charge_failed_at is None
    assert invoice.payments.count() == 2


def test_a_declined_card_on_a_bill_paid_by_invoice_leaves_it_due(outbox: Path) -> None:
    """A bill paid by invoice has 30 days: a card the payer tries on Pay Invoice and that is declined
    is reported on the page, and the bill stays Due, with no banner, no e-mail and no retry."""
    account = AccountFactory(partner=None, trial_ends_on=None)
    profile = payments.profile_of(account)
    profile.method = BillingProfile.Method.INVOICE
    profile.save()
    subscriptions.start(account, Subscription.Kind.NO_TRIAL, "monthly", on=date(2027, 1, 10))
    protect(account, "box", 1)
    run_days(date(2027, 1, 10), date(2027, 2, 10))
    invoice = Invoice.objects.get()
    assert invoice.method == "invoice" and invoice.payments.count() == 0  # not charged on the payment day

    card = add_sandbox_card(account, "4000000000000341")
    payment = payments.charge(invoice, card)
    run_days(date(2027, 2, 11), date(2027, 2, 12))

    invoice.refresh_from_db()
    assert payment.status == "failed" and invoice.charge_failed_at is None
    assert invoice.state_on(date(2027, 2, 12)) == "due" and invoice.payments.count() == 1
    assert account_statuses([account.pk], date(2027, 2, 12))[account.pk].status == "due"
    assert not [m for m in messages_to(outbox, account.email) if "Payment failed" in m["Subject"]]
