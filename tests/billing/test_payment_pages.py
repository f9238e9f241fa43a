"""Subscribe, Payment details and partner onboarding: who may open them, what they change, and that
card numbers never reach the server (the card goes to the sandbox processor, the page gets a token)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.billing import payments, subscriptions
from backstop.billing.models import BillingProfile, Card, Invoice, Subscription
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from tests.conftest import Personas
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

DETAILS = {
    "action": "details",
    "currency": "USD",
    "title": "Ms",
    "first_name": "Dana",
    "last_name": "Scully",
    "email": "billing@direct.test",
    "company": "Direct Ltd",
    "tax_id": "",
    "address1": "1 Main Street",
    "address2": "",
    "address3": "",
    "country": "US",
    "state": "NY",
    "city": "New York",
    "postal_code": "10001",
    "phone": "+1 212 555 0100",
    "purchase_order": "",
    "payment_day": "",
    "delivery": "attachment",
}
CUSTOMER_PAGES = ("billing_account_subscribe", "billing_account_payment")
ALL_CUSTOMER_PAGES = (
    *("billing_account_status", "billing_account_subscribe", "billing_account_payment"),
    *("billing_account_unpaid", "billing_account_history"),
)
CUSTOMER_INVOICE_PAGES = (
    *("billing_account_invoice_pdf", "billing_account_receipt_pdf", "billing_account_pay"),
    "billing_account_email_invoice",
)


@dataclass
class Direct:
    account: Account
    admin: User
    client: Client

    def url(self, name: str) -> str:
        return reverse(name, args=[self.account.pk])


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def direct(db: None) -> Direct:
    """A customer that pays for itself (no partner), in its trial, with Dana as administrator."""
    account = AccountFactory(name="Direct Ltd", partner=None)
    dana = UserFactory(email="dana@direct.test", first_name="Dana")
    MembershipFactory(user=dana, account=account, role=Membership.Role.ADMIN)
    return Direct(account, dana, signed_in(dana))


def page(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def flashes(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def card_token(client: Client, number: str = "4242 4242 4242 4242", holder: str = "Dana Scully") -> Any:
    """What the card form's script does: the card goes to the processor as JSON, a token comes back."""
    return client.post(
        reverse("sandbox_payments_tokens"),
        json.dumps({"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123", "holder": holder}),
        content_type="application/json",
    )


def add_card(client: Client, url: str, number: str = "4242 4242 4242 4242") -> Any:
    token = card_token(Client(), number).json()["id"]  # the processor's API takes no cookies
    return client.post(url, {"action": "add_card", "holder": "Dana Scully", "token": token}, follow=True)


def billing_events(tenant: Account | Partner) -> list[str]:
    owner = {"account": tenant} if isinstance(tenant, Account) else {"partner": tenant, "account": None}
    events = AuditEvent.objects.filter(activity="billing_changed", **owner)
    return list(events.values_list("description", flat=True))


# -- subscribing --------------------------------------------------------------------------------


def test_subscribing_during_the_trial_keeps_the_plan_until_the_trial_ends(direct: Direct) -> None:
    url = direct.url("billing_account_subscribe")
    text = page(direct.client.get(url))
    assert "Subscribe monthly" in text and "Subscribe annually" in text
    assert "due within 30 days" in text and "Your free trial ends on" in text

    response = direct.client.post(url, {"plan": "monthly"}, follow=True)
    assert response.redirect_chain[-1][0] == direct.url("billing_account_payment")
    ends = direct.account.trial_ends_on
    assert ends is not None
    (message,) = flashes(response)
    assert f"paying starts when the trial ends on {ends:%b} {ends.day}, {ends.year}" in message
    subscription = Subscription.objects.get(account=direct.account)
    assert (subscription.plan, subscription.state) == ("monthly", "trial")
    assert subscription.subscribed_by == direct.admin
    (event,) = billing_events(direct.account)
    assert event.startswith("Subscribed to the monthly plan; paying starts when the trial ends on")
    assert "Monthly plan chosen; paying starts when the trial ends on" in page(response)

    # Subscribed: the page shows the plan; changing it is for support.
    text = page(direct.client.get(url))
    assert "You are subscribed to the monthly plan" in text and "contact support" in text
    assert 'name="plan"' not in text
    direct.client.post(url, {"plan": "annual"})
    subscription.refresh_from_db()
    assert subscription.plan == "monthly" and len(billing_events(direct.account)) == 1


def test_subscribing_after_the_trial_starts_paying_today(direct: Direct) -> None:
    today = subscriptions.today()
    direct.account.trial_ends_on = today - timedelta(days=2)
    direct.account.save()
    url = direct.url("billing_account_subscribe")
    text = page(direct.client.get(url))
    assert "Your free trial ended on" in text and "Paying starts today" in text

    response = direct.client.post(url, {"plan": "annual"}, follow=True)
    assert "paying starts today" in flashes(response)[0]
    subscription = Subscription.objects.get(account=direct.account)
    assert (subscription.plan, subscription.state, subscription.starts_on) == ("annual", "subscribed", today)
    renewal = subscriptions.add_years(today)
    assert f"Annual subscription, renewal date: {renewal:%b} {renewal.day}, {renewal.year}" in page(response)


def test_a_monthly_subscriber_sees_the_next_payment_date(direct: Direct) -> None:
    subscriptions.start(direct.account, Subscription.Kind.NO_TRIAL, "monthly")
    Subscription.objects.filter(account=direct.account).update(
        next_payment_on=subscriptions.today() + timedelta(days=9)
    )
    text = page(direct.client.get(direct.url("billing_account_payment")))
    day = subscriptions.today() + timedelta(days=9)
    assert f"Monthly subscription, next payment: {day:%b} {day.day}, {day.year}" in text


def test_no_plan_is_refused_with_a_message(direct: Direct) -> None:
    response = direct.client.post(direct.url("billing_account_subscribe"), {"plan": "weekly"})
    assert "Choose Monthly or Annual." in page(response)
    assert not Subscription.objects.filter(account=direct.account).exclude(plan="").exists()


# -- who may open the pages ---------------------------------------------------------------------


def test_customers_billed_through_a_partner_have_no_billing_pages(personas: Personas) -> None:
    alice = personas.client(personas.alice)
    for name in ALL_CUSTOMER_PAGES:
        assert alice.get(reverse(name, args=[personas.a.pk])).status_code == 404, name
        assert alice.post(reverse(name, args=[personas.a.pk]), {"plan": "monthly"}).status_code == 404
    for name in CUSTOMER_INVOICE_PAGES:
        assert alice.get(reverse(name, args=[personas.a.pk, 10001])).status_code == 404, name
    home = page(alice.get(reverse("account_home", args=[personas.a.pk])))
    assert "Billing" not in re.sub(r"<head>.*?</head>", "", home, flags=re.S)
    assert not Subscription.objects.exclude(plan="").exists()


def test_another_tenants_user_gets_404(direct: Direct, personas: Personas) -> None:
    charlie = personas.client(personas.charlie)
    for name in CUSTOMER_PAGES:
        assert charlie.get(direct.url(name)).status_code == 404
        assert charlie.post(direct.url(name), {**DETAILS, "plan": "monthly"}).status_code == 404
    assert not BillingProfile.objects.filter(account=direct.account, company="Direct Ltd").exists()


def test_a_custom_user_needs_view_billing(direct: Direct) -> None:
    eve = UserFactory(email="eve@direct.test")
    membership = MembershipFactory(
        user=eve, account=direct.account, role=Membership.Role.CUSTOM, operations=[perms.VIEW_SETTINGS]
    )
    client = signed_in(eve)
    for name in CUSTOMER_PAGES:
        assert client.get(direct.url(name)).status_code == 403
        assert client.post(direct.url(name), {"plan": "monthly"}).status_code == 403
    home = page(client.get(reverse("account_home", args=[direct.account.pk])))
    assert direct.url("billing_account_status") not in home

    membership.operations = [perms.VIEW_BILLING]
    membership.save()
    for name in CUSTOMER_PAGES:
        assert client.get(direct.url(name)).status_code == 200
    home = page(client.get(reverse("account_home", args=[direct.account.pk])))
    assert direct.url("billing_account_status") in home


def test_the_billing_pages_light_up_billing_in_the_navigation(direct: Direct) -> None:
    text = page(direct.client.get(direct.url("billing_account_payment")))
    status = direct.url("billing_account_status")
    assert f'class="nav-link active" href="{status}"' in text


# -- billing details ----------------------------------------------------------------------------


def test_billing_details_need_the_mandatory_fields(direct: Direct) -> None:
    url = direct.url("billing_account_payment")
    response = direct.client.post(url, {"action": "details", "currency": "USD", "delivery": "link"})
    text = page(response)
    for message in (
        "Enter the first name.",
        "Enter the last name.",
        "Enter the billing e-mail.",
        "Enter the company name.",
        "Enter the address line 1.",
        "Choose the country.",
        "Enter the city.",
        "Enter the zip / postal code.",
        "Enter the phone number.",
    ):
        assert message in text
    assert BillingProfile.objects.get(account=direct.account).first_name == ""
    assert billing_events(direct.account) == []


def test_companies_in_israel_must_give_their_tax_id(direct: Direct) -> None:
    url = direct.url("billing_account_payment")
    text = page(direct.client.post(url, {**DETAILS, "country": "IL", "tax_id": " "}))
    assert "Companies in Israel must give their tax id" in text
    assert not BillingProfile.objects.get(account=direct.account).is_complete

    response = direct.client.post(url, {**DETAILS, "country": "IL", "tax_id": "515151515"})
    assert response.status_code == 302
    assert BillingProfile.objects.get(account=direct.account).is_complete


def test_saving_billing_details_is_audited_by_field_names(direct: Direct) -> None:
    url = direct.url("billing_account_payment")
    response = direct.client.post(url, {**DETAILS, "payment_day": "15"}, follow=True)
    assert flashes(response) == ["The billing details were saved."]
    profile = BillingProfile.objects.get(account=direct.account)
    assert (profile.company, profile.country, profile.payment_day) == ("Direct Ltd", "US", 15)
    (event,) = billing_events(direct.account)
    assert event.startswith("Billing details changed: ") and "company name" in event
    assert "Direct Ltd" not in event and "555" not in event  # names of fields, not their values

    direct.client.post(url, {**DETAILS, "payment_day": "15", "city": "Albany"})
    assert billing_events(direct.account)[0] == "Billing details changed: city"
    assert page(direct.client.post(url, {**DETAILS, "payment_day": "31"})).count("Choose a day from 1 to 28.")
    response = direct.client.post(url, {**DETAILS, "payment_day": "15", "city": "Albany"}, follow=True)
    assert flashes(response) == ["Nothing was changed."] and len(billing_events(direct.account)) == 2


def test_the_currency_is_fixed_once_an_invoice_exists(direct: Direct) -> None:
    url = direct.url("billing_account_payment")
    direct.client.post(url, {**DETAILS, "currency": "EUR"})
    assert BillingProfile.objects.get(account=direct.account).currency == "EUR"
    open_invoice(direct.account)
    text = page(direct.client.get(url))
    assert re.search(r'<select[^>]*name="currency"[^>]*disabled', text)
    assert "Support changes the currency once an invoice exists." in text
    direct.client.post(url, {**DETAILS, "currency": "GBP", "city": "Boston"})
    profile = BillingProfile.objects.get(account=direct.account)
    assert (profile.currency, profile.city) == ("EUR", "Boston")


# -- cards --------------------------------------------------------------------------------------


def test_a_card_is_added_through_the_processor_token(direct: Direct) -> None:
    url = direct.url("billing_account_payment")
    text = page(direct.client.get(url))
    form = re.search(r"<form[^>]*data-card-form[^>]*>(.*?)</form>", text, re.S)
    assert form is not None
    assert 'data-gateway="sandbox"' in form.group(0)
    assert f'data-tokens-url="{reverse("sandbox_payments_tokens")}"' in form.group(0)
    for field in ("number", "exp", "cvc"):
        (tag,) = re.findall(rf'<input[^>]*data-field="{field}"[^>]*>', form.group(1))
        assert " name=" not in tag  # the browser never submits them
    assert re.search(r'<input type="hidden" name="token">', form.group(1))
    assert "billing/cardform.js" in text and "js.stripe.com" not in text

    response = add_card(direct.client, url)
    text = page(response)
    assert flashes(response) == ["Visa ****4242 was added and is now the card we charge."]
    (card,) = Card.objects.filter(account=direct.account)
    assert (card.last4, card.brand, card.exp_month, card.exp_year, card.is_default) == (
        "4242",
        "Visa",
        12,
        2034,
        True,
    )
    assert card.holder == "Dana Scully" and "4242424242424242" not in card.token
    assert "Visa ****4242" in text and "12/34" in text and 'data-testid="default-card"' in text
    assert billing_events(direct.account) == ["Card Visa ****4242 added and made the default card"]


def test_card_numbers_posted_to_the_page_are_refused_and_never_kept(direct: Direct) -> None:
    url = direct.url("billing_account_payment")
    # What a browser without the script would send if the inputs had names.
    raw = {"action": "add_card", "holder": "Dana", "number": "4242 4242 4242 4242", "exp": "12/34"}
    text = page(direct.client.post(url, {**raw, "cvc": "123"}))
    assert "Card numbers are never sent to us" in text
    text = page(direct.client.post(url, {"action": "add_card", "holder": "Dana", "token": ""}))
    assert "The card was not confirmed by the payment processor." in text
    token = card_token(Client()).json()["id"]
    text = page(direct.client.post(url, {**raw, "cvc": "123", "token": token}))
    assert "Card numbers are never sent to us" in text
    text = page(direct.client.post(url, {"action": "add_card", "holder": "4242424242424242", "token": token}))
    assert "Card numbers are never sent to us" in text
    assert not Card.objects.exists() and billing_events(direct.account) == []
    assert "4242 4242 4242 4242" not in text and "4242424242424242" not in text  # not echoed back


def test_a_declined_card_shows_the_processors_message_and_stores_nothing(direct: Direct) -> None:
    refused = card_token(Client(), "4000 0000 0000 0002")
    assert refused.status_code == 402
    assert refused.json()["error"]["message"] == "Your card was declined."
    # A token the processor does not honour (forged, or used twice) is the gateway's error on the page.
    token = card_token(Client()).json()["id"]
    url = direct.url("billing_account_payment")
    assert (
        direct.client.post(url, {"action": "add_card", "holder": "Dana", "token": token}).status_code == 302
    )
    text = page(direct.client.post(url, {"action": "add_card", "holder": "Dana", "token": token}))
    assert "The card could not be saved; please enter it again." in text
    text = page(direct.client.post(url, {"action": "add_card", "holder": "Dana", "token": "tok_forged"}))
    assert "The card could not be saved" in text
    assert Card.objects.filter(account=direct.account).count() == 1


def test_activate_and_delete_cards(direct: Direct) -> None:
    subscriptions.subscribe(direct.account, "monthly")
    url = direct.url("billing_account_payment")
    add_card(direct.client, url, "4242 4242 4242 4242")
    add_card(direct.client, url, "5555 5555 5555 4444")
    visa, master = Card.objects.get(last4="4242"), Card.objects.get(last4="4444")
    assert master.is_default and not Card.objects.get(pk=visa.pk).is_default

    response = direct.client.post(url, {"action": "activate_card", "card": visa.pk}, follow=True)
    assert flashes(response) == ["Visa ****4242 is now the card we charge."]
    assert payments.default_card(direct.account) == visa
    assert billing_events(direct.account)[0] == "Card Visa ****4242 made the default card"

    # Deleting needs the confirmation.
    direct.client.post(url, {"action": "delete_card", "card": visa.pk})
    assert Card.objects.filter(pk=visa.pk).exists()
    direct.client.post(url, {"action": "delete_card", "card": visa.pk, "confirm": "yes"})
    assert list(Card.objects.filter(account=direct.account)) == [Card.objects.get(pk=master.pk)]
    assert payments.default_card(direct.account) == master
    assert billing_events(direct.account)[0] == (
        "Card Visa ****4242 deleted; Mastercard ****4444 is now the default card"
    )

    # The only card of a monthly subscriber: allowed, with a warning.
    text = page(direct.client.get(url))
    assert "This is your only card and your monthly bills are charged to a card" in text
    response = direct.client.post(
        url, {"action": "delete_card", "card": master.pk, "confirm": "yes"}, follow=True
    )
    assert "No card is left" in flashes(response)[0]
    assert not Card.objects.exists()


def test_another_payers_card_is_404(direct: Direct, personas: Personas) -> None:
    other = AccountFactory(partner=None)
    theirs = Card.objects.create(
        account=other,
        gateway="sandbox",
        token="pm_x",
        last4="1111",
        exp_month=1,
        exp_year=2030,
        is_default=False,
    )
    partners = Card.objects.create(
        partner=personas.partner, gateway="sandbox", token="pm_y", last4="2222", exp_month=1, exp_year=2030
    )
    url = direct.url("billing_account_payment")
    for card in (theirs, partners):
        assert direct.client.post(url, {"action": "activate_card", "card": card.pk}).status_code == 404
        payload = {"action": "delete_card", "card": card.pk, "confirm": "yes"}
        assert direct.client.post(url, payload).status_code == 404
    assert (
        direct.client.post(url, {"action": "delete_card", "card": "x", "confirm": "yes"}).status_code == 404
    )
    assert Card.objects.filter(pk__in=[theirs.pk, partners.pk], is_default=False).count() == 2


def test_the_banner_switch_is_the_users_own(direct: Direct) -> None:
    colleague = UserFactory()
    MembershipFactory(user=colleague, account=direct.account, role=Membership.Role.ADMIN)
    url = direct.url("billing_account_payment")
    response = direct.client.post(url, {"action": "banners"}, follow=True)
    assert flashes(response) == ["Billing banners are hidden for you."]
    direct.admin.refresh_from_db()
    colleague.refresh_from_db()
    assert not direct.admin.show_billing_banners and colleague.show_billing_banners
    assert not re.search(r'id="id_show_billing_banners"[^>]*checked', page(response))
    direct.client.post(url, {"action": "banners", "show_billing_banners": "on"})
    direct.admin.refresh_from_db()
    assert direct.admin.show_billing_banners


@pytest.mark.parametrize("action", ["", "nonsense"])
def test_an_unknown_action_changes_nothing(direct: Direct, action: str) -> None:
    response = direct.client.post(direct.url("billing_account_payment"), {**DETAILS, "action": action})
    assert response.status_code == 302
    assert billing_events(direct.account) == []


def test_stripe_pages_load_stripe_js_and_their_policy_allows_it(direct: Direct, settings: Any) -> None:
    settings.BACKSTOP_PAYMENT_GATEWAY = "stripe"
    settings.BACKSTOP_STRIPE_PUBLISHABLE_KEY = "pk_test_123"
    response = direct.client.get(direct.url("billing_account_payment"))
    text = page(response)
    assert '<script src="https://js.stripe.com/v3/">' in text
    assert 'data-gateway="stripe"' in text and 'data-publishable-key="pk_test_123"' in text
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert "https://js.stripe.com" in policy["script-src"] and "'nonce-" in policy["script-src"]
    assert (
        "https://js.stripe.com" in policy["frame-src"] and "https://api.stripe.com" in policy["connect-src"]
    )
    # Other pages keep the site's policy.
    home = direct.client.get(reverse("account_home", args=[direct.account.pk]))
    assert "stripe" not in home["Content-Security-Policy"]


# -- partners -----------------------------------------------------------------------------------


@dataclass
class NewPartner:
    partner: Partner
    admin: User
    client: Client

    def url(self, name: str) -> str:
        return reverse(name, args=[self.partner.pk])


@pytest.fixture
def new_partner(db: None) -> NewPartner:
    partner = PartnerFactory(name="Contoso Resale")
    paula = UserFactory(email="paula@contoso.test", first_name="Paula")
    MembershipFactory(user=paula, partner=partner, role=Membership.Role.ADMIN)
    return NewPartner(partner, paula, signed_in(paula))


def test_a_new_partner_is_sent_to_billing_onboarding_once(new_partner: NewPartner) -> None:
    dashboard = new_partner.url("partner_dashboard")
    onboarding = new_partner.url("billing_partner_onboarding")
    response = new_partner.client.get(dashboard)
    assert response.status_code == 302 and response["Location"] == onboarding
    text = page(new_partner.client.get(onboarding))
    for words in ("Pay with credit card", "Send me an invoice", "Consolidated bill", "Individual bills"):
        assert words in text
    assert "Payment day" in text and "data-card-form" in text

    payload = {**DETAILS, "action": "finish", "pref-method": "invoice", "pref-annual_billing": "individual"}
    payload["payment_day"] = "10"
    response = new_partner.client.post(onboarding, payload)
    assert response.status_code == 302
    assert response["Location"] == new_partner.url("billing_partner_status")
    profile = BillingProfile.objects.get(partner=new_partner.partner)
    assert (profile.method, profile.annual_billing, profile.payment_day) == ("invoice", "individual", 10)
    assert profile.onboarded_at is not None and profile.is_complete
    (event,) = billing_events(new_partner.partner)
    assert event.startswith("Billing set up: pays by invoice, annual billing by individual bills")

    assert new_partner.client.get(dashboard).status_code == 200
    response = new_partner.client.get(onboarding)
    assert response.status_code == 302 and response["Location"] == new_partner.url("billing_partner_payment")


def test_paying_by_card_needs_a_card_before_finishing(new_partner: NewPartner) -> None:
    onboarding = new_partner.url("billing_partner_onboarding")
    payload = {**DETAILS, "action": "finish", "pref-method": "card", "pref-annual_billing": "consolidated"}
    text = page(new_partner.client.post(onboarding, payload))
    assert "Add your credit card above before finishing" in text
    assert BillingProfile.objects.get(partner=new_partner.partner).onboarded_at is None

    response = add_card(new_partner.client, onboarding)
    assert response.redirect_chain[-1][0] == onboarding and "Visa ****4242" in page(response)
    assert new_partner.client.post(onboarding, payload).status_code == 302
    profile = BillingProfile.objects.get(partner=new_partner.partner)
    assert profile.method == "card" and profile.onboarded_at is not None
    assert payments.default_card(new_partner.partner) is not None


def test_onboarding_shows_every_error_at_once(new_partner: NewPartner) -> None:
    onboarding = new_partner.url("billing_partner_onboarding")
    text = page(new_partner.client.post(onboarding, {"action": "finish", "pref-method": "cash"}))
    assert "Select a valid choice." in text and "Enter the company name." in text


def test_partner_users_without_billing_see_the_dashboard_with_a_note(personas: Personas) -> None:
    pat = personas.client(personas.pat)
    response = pat.get(reverse("partner_dashboard", args=[personas.partner.pk]))
    assert "ask an administrator to set it up" in page(response)
    for name in ("billing_partner_onboarding", "billing_partner_payment"):
        assert pat.get(reverse(name, args=[personas.partner.pk])).status_code == 403
    # Another partner's user, or a customer, cannot even see them.
    alice = personas.client(personas.alice)
    assert alice.get(reverse("billing_partner_payment", args=[personas.partner.pk])).status_code == 404


def test_the_partner_payment_page_shows_the_preferences_read_only(new_partner: NewPartner) -> None:
    BillingProfile.objects.create(
        partner=new_partner.partner,
        method="invoice",
        annual_billing="consolidated",
        discount_percent="12.50",
        onboarded_at=timezone.now(),
        payment_day=5,
    )
    text = page(new_partner.client.get(new_partner.url("billing_partner_payment")))
    assert "Invoice, due in 30 days" in text and "Consolidated bill" in text
    assert "12.5% off the price list" in text and "contact support" in text
    assert 'name="pref-method"' not in text and 'name="method"' not in text
    assert "Consolidated monthly bill, next payment day" in text
    # Partners' details and cards are theirs.
    url = new_partner.url("billing_partner_payment")
    assert new_partner.client.post(url, {**DETAILS, "payment_day": "28"}).status_code == 302
    add_card(new_partner.client, url)
    assert Card.objects.get(partner=new_partner.partner).last4 == "4242"
    assert BillingProfile.objects.get(partner=new_partner.partner).payment_day == 28
    assert len(billing_events(new_partner.partner)) == 2


def test_a_partner_not_yet_onboarded_is_pointed_to_the_set_up(new_partner: NewPartner) -> None:
    text = page(new_partner.client.get(new_partner.url("billing_partner_payment")))
    assert new_partner.url("billing_partner_onboarding") in text


def open_invoice(payer: Account | Partner, **fields: Any) -> Invoice:
    today = subscriptions.today()
    owner = {"account": payer} if isinstance(payer, Account) else {"partner": payer}
    number = 20000 + Invoice.objects.count()
    values: dict[str, Any] = {
        "number": number,
        "key": f"test-{number}",
        "plan": "monthly",
        "method": "card",
        "issue_date": today,
        "due_date": today + timedelta(days=30),
        "effective_date": today - timedelta(days=30),
        "period_end": today - timedelta(days=1),
        "currency": "USD",
        "total": 12_345,
        **owner,
        **fields,
    }
    return Invoice.objects.create(**values)
