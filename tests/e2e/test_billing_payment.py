"""Payment details in a real browser: the card goes from the page's script to the sandbox processor,
and only its token reaches Backstop (A-BILLING); a new partner sets up billing first, then sees
what it owes and the forecast of its next payments (P-ONBOARD, P-BILLING)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, Request, expect

from backstop.billing import cycle, subscriptions
from backstop.billing.models import BillingProfile, Card, Subscription
from backstop.tenancy.models import Membership
from tests.billing.helpers import protect
from tests.billing.test_payment_pages import open_invoice
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD, AccountFactory, MembershipFactory, PartnerFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def watch(page: Page) -> tuple[list[str], list[str]]:
    """(what the content security policy refused, form bodies posted to Backstop's pages)."""
    refused: list[str] = []
    posted: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)

    def keep(request: Request) -> None:
        if request.method == "POST" and "/sandbox/payments/" not in request.url:
            posted.append(request.post_data or "")

    page.on("request", keep)
    return refused, posted


def fill_card(page: Page, number: str, holder: str = "Dana Scully") -> None:
    form = page.get_by_test_id("card-form")
    form.get_by_label("Card holder's name").fill(holder)
    form.get_by_label("Card number").fill(number)
    form.get_by_label("Expiry date").fill("12 / 34")
    form.get_by_label("Security code").fill("123")
    form.get_by_test_id("add-card").click()


def test_a_direct_customer_subscribes_and_adds_a_card(
    page: Page, live_server: Any, shoot: Callable[[str], Path]
) -> None:
    account = AccountFactory(name="Direct Ltd", partner=None)
    dana = UserFactory(email="dana@direct.test", first_name="Dana", last_name="Scully")
    MembershipFactory(user=dana, account=account, role=Membership.Role.ADMIN)
    refused, posted = watch(page)
    sign_in(page, live_server.url, dana.email, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/a/{account.pk}/$"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Billing")).to_be_visible()

    page.goto(f"{live_server.url}/a/{account.pk}/billing/subscribe/")
    expect(page.get_by_test_id("trial-state")).to_contain_text("Your free trial ends on")
    shoot("01-subscribe")
    page.get_by_test_id("subscribe-monthly").click()
    expect(page).to_have_url(re.compile(rf"/a/{account.pk}/billing/payment/$"))
    expect(page.get_by_text("You subscribed to the monthly plan")).to_be_visible()
    expect(page.get_by_test_id("summary")).to_contain_text("Monthly plan chosen")
    expect(page.get_by_test_id("no-cards")).to_be_visible()
    shoot("02-payment-details")

    fill_card(page, "4000 0000 0000 0002")  # the sandbox's declined card
    expect(page.get_by_test_id("card-error")).to_have_text("Your card was declined.")
    assert not Card.objects.exists()
    shoot("03-declined")

    fill_card(page, "4242 4242 4242 4242")
    expect(page.get_by_text("Visa ****4242 was added")).to_be_visible()
    cards = page.get_by_test_id("cards")
    expect(cards).to_contain_text("****4242")
    expect(cards.get_by_test_id("default-card")).to_have_count(1)
    shoot("04-card-added")
    card = Card.objects.get(account=account)
    assert (card.last4, card.is_default, card.holder) == ("4242", True, "Dana Scully")
    # What the page posted to Backstop: a token and the holder, never the number or the code.
    (card_post,) = [body for body in posted if "action=add_card" in body]
    assert "token=tok_" in card_post and "holder=Dana" in card_post
    assert "4242" not in card_post and "cvc" not in card_post and "123" not in card_post.replace("tok_", "")

    form = page.get_by_test_id("details-form")
    form.get_by_label("Company name").fill("Direct Ltd")
    form.get_by_label("Country").select_option("IL")
    form.get_by_test_id("save-details").click()
    expect(page.get_by_text("Companies in Israel must give their tax id")).to_be_visible()
    shoot("05-details-errors")
    assert Subscription.objects.get(account=account).plan == "monthly"

    open_invoice(account, charge_failed_at=timezone.now())
    page.goto(f"{live_server.url}/a/{account.pk}/")
    banner = page.get_by_test_id("billing-banner")
    expect(banner).to_contain_text("we could not charge your card")
    expect(banner.get_by_role("link", name="View unpaid bills")).to_have_attribute(
        "href", f"/a/{account.pk}/billing/unpaid/"
    )
    shoot("06-banner")
    assert refused == []


def test_a_new_partner_sets_up_billing_on_first_sign_in(
    page: Page, live_server: Any, shoot: Callable[[str], Path]
) -> None:
    partner = PartnerFactory(name="Contoso Resale")
    paula = UserFactory(email="paula@contoso.test", first_name="Paula")
    MembershipFactory(user=paula, partner=partner, role=Membership.Role.ADMIN)
    # Two customers already: one paying monthly for 4 Box users ($3.00 each), one in its trial.
    today = timezone.now().date()
    initech = AccountFactory(name="Initech", email="it@initech.test", partner=partner, trial_ends_on=None)
    subscriptions.start(initech, Subscription.Kind.NO_TRIAL, "monthly", on=today)
    protect(initech, "box", 4)
    hooli = AccountFactory(name="Hooli", email="it@hooli.test", partner=partner)
    subscriptions.start(hooli)
    protect(hooli, "box", 2)
    cycle.run_day(today)  # the day's usage measured, the forecasts worked out
    refused, _ = watch(page)
    sign_in(page, live_server.url, paula.email, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/billing/start/$"))
    card_step = page.get_by_test_id("onboarding-card")
    expect(card_step).to_be_visible()  # card is the preselected way to pay
    shoot("01-onboarding-card")

    fill_card(page, "4242 4242 4242 4242", holder="Paula Jones")
    expect(page.get_by_text("Visa ****4242 was added")).to_be_visible()
    page.get_by_text("Send me an invoice").click()
    expect(card_step).to_be_hidden()
    page.get_by_text("Pay with credit card").click()
    expect(card_step).to_be_visible()
    expect(card_step.get_by_test_id("cards")).to_contain_text("****4242")
    page.get_by_text("Individual bills").click()
    form = page.get_by_test_id("onboarding-form")
    for label, value in (
        ("First name", "Paula"),
        ("Last name", "Jones"),
        ("Billing e-mail", "billing@contoso.test"),
        ("Phone number", "+44 20 7946 0000"),
        ("Company name", "Contoso Resale Ltd"),
        ("Address line 1", "1 High Street"),
        ("City", "London"),
        ("Zip / postal code", "EC1A 1BB"),
        ("Payment day", "15"),
    ):
        form.get_by_label(label).fill(value)
    form.get_by_label("Country").select_option("GB")
    shoot("02-onboarding-invoice")
    form.get_by_test_id("finish-onboarding").click()
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/billing/$"))
    profile = BillingProfile.objects.get(partner=partner)
    assert (profile.method, profile.annual_billing, profile.payment_day) == ("card", "individual", 15)
    assert profile.onboarded_at is not None
    assert Card.objects.get(partner=partner).is_default

    # Billing > Status: nothing owed yet, the next payment forecast per account and in total.
    expect(page.get_by_test_id("total-due")).to_have_text("$0.00")
    expect(page.get_by_test_id("total-forecast")).to_have_text("$12.00")
    rows = page.get_by_test_id("account-row")
    expect(rows).to_have_count(2)
    initech_row = rows.filter(has_text="Initech")
    expect(initech_row.get_by_test_id("plan")).to_contain_text("Monthly")
    expect(initech_row.get_by_test_id("forecast")).to_have_text("$12.00")
    paid_on = cycle.next_payment_day(15, today + timedelta(days=1))  # the payment day just chosen
    expect(initech_row.get_by_test_id("renewal")).to_have_text(f"{paid_on:%b} {paid_on.day}, {paid_on.year}")
    expect(rows.filter(has_text="Hooli").get_by_test_id("plan")).to_contain_text("Trial")
    shoot("03-status-forecast")
    initech_row.get_by_test_id("account-link").click()
    expect(page.get_by_test_id("forecast-row")).to_have_count(1)
    expect(page.get_by_test_id("forecast-row")).to_contain_text("4")
    expect(page.get_by_test_id("forecast-total")).to_have_text("$12.00")
    shoot("04-account-forecast")

    page.goto(f"{live_server.url}/p/{partner.pk}/billing/payment/")
    expect(page.get_by_test_id("preferences")).to_contain_text("Individual bills")
    expect(page.get_by_test_id("cards")).to_contain_text("****4242")
    shoot("05-partner-payment-details")
    page.goto(f"{live_server.url}/p/{partner.pk}/")
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/$"))
    assert refused == []
