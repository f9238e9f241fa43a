"""The payment gateways: the sandbox (its processor's endpoints, test cards, charges, hosted
checkout) end to end through `payments`, and the Stripe adapter's HTTP requests and webhook
signatures against a recorded fake of Stripe's API (Stripe cannot run here)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from backstop.billing import payments
from backstop.billing.gateways import gateway
from backstop.billing.gateways.base import GatewayError
from backstop.billing.gateways.sandbox import SandboxGateway
from backstop.billing.gateways.stripe import REFUSED, UNREACHABLE, StripeGateway, signature_header
from backstop.billing.models import Invoice, Payment
from backstop.billing.pay_views import pay_link
from backstop.sandbox.payments import processor
from backstop.tenancy.models import Account
from tests.factories import AccountFactory

TOKENS = "/sandbox/payments/tokens"
NEXT_YEAR = timezone.now().year + 1


# Shared set-up.


class Notices:
    """The e-mails queued on invoices for the worker (the e-mails themselves are tested elsewhere)."""

    def _queued(self, kind: str) -> list[int]:
        return [inv.number for inv in Invoice.objects.order_by("pk") for k in inv.mail_queue if k == kind]

    @property
    def receipts(self) -> list[int]:
        return self._queued("receipt")

    @property
    def failures(self) -> list[int]:
        return self._queued("charge_failed")


@pytest.fixture
def notices() -> Notices:
    return Notices()


@pytest.fixture
def sandbox(settings: Any) -> SandboxGateway:
    settings.BACKSTOP_PAYMENT_GATEWAY = "sandbox"
    settings.BACKSTOP_BASE_URL = "http://backstop.test"
    gw = gateway()
    assert isinstance(gw, SandboxGateway)
    return gw


def make_invoice(account: Account, number: int = 10001, total: int = 12345, currency: str = "USD") -> Invoice:
    today = timezone.now().date()
    return Invoice.objects.create(
        number=number,
        key=f"test-invoice-{number}",
        account=account,
        plan="monthly",
        method="card",
        issue_date=today,
        due_date=today + timedelta(days=30),
        effective_date=today,
        period_end=today + timedelta(days=30),
        currency=currency,
        subtotal=total,
        total=total,
    )


def tokenise(client: Client, number: str, **overrides: Any) -> Any:
    card = {"number": number, "exp_month": 12, "exp_year": NEXT_YEAR, "cvc": "123", "holder": "Ada Lovelace"}
    return client.post(TOKENS, {**card, **overrides}, content_type="application/json")


def token_for(client: Client, number: str) -> str:
    response = tokenise(client, number)
    assert response.status_code == 200, response.content
    token: str = response.json()["id"]
    assert token.startswith("tok_")
    return token


# The sandbox: tokenising in the browser.


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "overrides", "message"),
    [
        ("4000000000000002", {}, "Your card was declined."),
        ("4000000000009995", {}, "Your card has insufficient funds."),
        ("4000000000000069", {}, "Your card has expired."),
        ("4242424242424241", {}, "Your card number is incorrect."),
        ("1234", {}, "Your card number is incorrect."),
        ("4111111111111111", {}, "The sandbox takes test card numbers only"),
        ("4242424242424242", {"exp_year": 2020}, "Your card has expired."),
        ("4242424242424242", {"exp_month": 13}, "Your card's expiration date is invalid."),
        ("4242424242424242", {"cvc": "12"}, "Your card's security code is invalid."),
        ("4242424242424242", {"cvc": "12345"}, "Your card's security code is invalid."),
        ("4242424242424242", {"cvc": "abc"}, "Your card's security code is invalid."),
    ],
)
def test_the_sandbox_refuses_cards_at_tokenising_with_the_gateways_words(
    client: Client, sandbox: SandboxGateway, number: str, overrides: dict[str, Any], message: str
) -> None:
    response = tokenise(client, number, **overrides)
    assert response.status_code == 402
    assert response.json()["error"]["message"].startswith(message)
    assert "id" not in response.json()


@pytest.mark.django_db
def test_the_tokens_endpoint_takes_json_posts_only_and_only_when_the_sandbox_is_configured(
    client: Client, settings: Any
) -> None:
    assert client.get(TOKENS).status_code == 405
    bad = client.post(TOKENS, "number=4242", content_type="application/x-www-form-urlencoded")
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]["message"]
    assert client.post(TOKENS, "[1, 2]", content_type="application/json").status_code == 400
    # Two-digit years, spaces in the number and a 4-digit CVC (American Express) are fine.
    amex = tokenise(client, "3782 822463 10005", exp_year=NEXT_YEAR % 100, cvc="1234")
    assert amex.status_code == 200
    settings.BACKSTOP_PAYMENT_GATEWAY = "stripe"
    assert tokenise(client, "4242424242424242").status_code == 404


@pytest.mark.django_db
def test_browser_config_points_the_card_form_at_the_tokens_endpoint(sandbox: SandboxGateway) -> None:
    assert sandbox.browser_config() == {"gateway": "sandbox", "tokens_url": TOKENS}


# The sandbox: cards kept and charged, through `payments` as the pages and the daily run use it.


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("number", "brand"), [("4242424242424242", "Visa"), ("5555555555554444", "Mastercard")]
)
def test_a_good_card_is_kept_and_charging_it_pays_the_invoice(
    client: Client, sandbox: SandboxGateway, notices: Notices, number: str, brand: str
) -> None:
    account = AccountFactory.create()
    card = payments.add_card(account, token_for(client, number))
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == (brand, number[-4:], 12, NEXT_YEAR)
    assert card.holder == "Ada Lovelace" and card.is_default and card.gateway == "sandbox"
    assert card.token.startswith("pm_") and len(card.token) <= 200 and number not in card.token
    invoice = make_invoice(account)
    payment = payments.charge(invoice)
    invoice.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED and payment.reference.startswith("ch_")
    assert len(payment.reference) <= 200
    assert invoice.status == Invoice.Status.PAID and invoice.paid_via == f"{brand} ****{number[-4:]}"
    assert notices.receipts == [invoice.number] and notices.failures == []


@pytest.mark.django_db
def test_the_0341_card_attaches_but_every_charge_is_declined_so_the_invoice_is_overdue(
    client: Client, sandbox: SandboxGateway, notices: Notices
) -> None:
    account = AccountFactory.create()
    payments.add_card(account, token_for(client, "4000000000000341"))
    invoice = make_invoice(account)
    payment = payments.charge(invoice)
    invoice.refresh_from_db()
    assert payment.status == Payment.Status.FAILED and payment.message == "Your card was declined."
    assert invoice.status == Invoice.Status.OPEN and invoice.state_on(timezone.now().date()) == "overdue"
    assert invoice.failure_message == "Your card was declined."
    assert notices.failures == [invoice.number] and notices.receipts == []
    # The retry of the daily run is declined again; the payer is told once.
    payments.charge(invoice)
    assert notices.failures == [invoice.number]


@pytest.mark.django_db
def test_the_0259_card_charges_as_pending_and_the_status_sync_settles_it(
    client: Client, sandbox: SandboxGateway, notices: Notices
) -> None:
    account = AccountFactory.create()
    payments.add_card(account, token_for(client, "4000000000000259"))
    invoice = make_invoice(account)
    payment = payments.charge(invoice)
    invoice.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and payment.reference.startswith("ch_")
    assert invoice.status == Invoice.Status.OPEN and invoice.charge_failed_at is None
    assert sandbox.charge_status(payment.reference).succeeded
    assert payments.sync_pending() == 1
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.paid_via == "Visa ****0259"
    assert payment.status == Payment.Status.SUCCEEDED
    assert payments.sync_pending() == 0 and notices.receipts == [invoice.number]


@pytest.mark.django_db
def test_a_charge_is_idempotent_per_key(client: Client, sandbox: SandboxGateway) -> None:
    customer = sandbox.ensure_customer("Acme", "billing@acme.test", "")
    assert (
        customer.startswith("cus_") and sandbox.ensure_customer("Acme", "x@acme.test", customer) == customer
    )
    card = sandbox.attach_card(customer, token_for(client, "4242424242424242"))
    first = sandbox.charge(customer, card.token, 500, "USD", "Backstop invoice 1", "invoice-1-payment-1")
    again = sandbox.charge(customer, card.token, 500, "USD", "Backstop invoice 1", "invoice-1-payment-1")
    other = sandbox.charge(customer, card.token, 500, "USD", "Backstop invoice 1", "invoice-1-payment-2")
    assert first == again and first.succeeded
    assert other.succeeded and other.reference != first.reference
    declining = sandbox.attach_card(customer, token_for(client, "4000000000000341"))
    no = sandbox.charge(customer, declining.token, 500, "USD", "x", "invoice-1-payment-3")
    assert no == sandbox.charge(customer, declining.token, 500, "USD", "x", "invoice-1-payment-3")
    assert not no.succeeded and no.message == "Your card was declined."
    assert sandbox.charge_status(no.reference) == no


@pytest.mark.django_db
def test_tokens_are_one_time_and_cards_belong_to_their_customer(
    client: Client, sandbox: SandboxGateway
) -> None:
    token = token_for(client, "4242424242424242")
    card = sandbox.attach_card("cus_a", token)
    with pytest.raises(GatewayError):
        sandbox.attach_card("cus_a", token)  # used already
    with pytest.raises(GatewayError):
        sandbox.attach_card("cus_a", token[:-2] + ("aa" if not token.endswith("aa") else "bb"))
    with pytest.raises(GatewayError):
        sandbox.attach_card("cus_a", card.token)  # a kept card is not a browser token
    with pytest.raises(GatewayError):
        sandbox.charge("cus_b", card.token, 100, "USD", "x", "k")  # someone else's card
    forged = card.token.replace("pm_", "pm_x")
    with pytest.raises(GatewayError):
        sandbox.charge("cus_a", forged, 100, "USD", "x", "k")
    with pytest.raises(GatewayError):
        sandbox.charge_status("ch_forged")
    sandbox.detach_card("cus_a", card.token)


@pytest.mark.django_db
def test_a_stale_browser_token_is_refused(client: Client, sandbox: SandboxGateway, monkeypatch: Any) -> None:
    token = token_for(client, "4242424242424242")
    monkeypatch.setattr(processor, "TOKEN_MAX_AGE", -1)
    with pytest.raises(GatewayError):
        sandbox.attach_card("cus_a", token)


@pytest.mark.django_db
def test_expiry_is_checked_against_the_current_month() -> None:
    this_month = {"number": "4242424242424242", "exp_month": 3, "exp_year": 2031, "cvc": "123"}
    assert processor.tokenise(this_month, today=date(2031, 3, 31)).startswith("tok_")
    with pytest.raises(processor.CardError, match="expired"):
        processor.tokenise(this_month, today=date(2031, 4, 1))


# The sandbox's hosted checkout (the PayPal-style payment link).


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "backstop.test"
    return parts.path


@pytest.mark.django_db
def test_the_checkout_page_shows_the_amount_and_paying_settles_the_invoice(
    client: Client, sandbox: SandboxGateway, notices: Notices
) -> None:
    invoice = make_invoice(AccountFactory.create(), number=10042, total=123456, currency="EUR")
    url = payments.payment_link(invoice, return_url="http://backstop.test/billing/pay/back/")
    page = client.get(_path(url))
    assert page.status_code == 200
    html = page.content.decode()
    assert "€1,234.56" in html and "Backstop invoice 10042" in html
    assert "Pay with PayPal (sandbox)" in html and "Pay by card (sandbox)" in html
    paid = client.post(_path(url), {"method": "paypal"})
    assert paid.status_code == 302 and paid["Location"] == "http://backstop.test/billing/pay/back/"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.paid_via == "Payment link"
    assert notices.receipts == [10042]
    settled = Payment.objects.get(invoice=invoice, status=Payment.Status.SUCCEEDED)
    assert settled.reference.startswith("cs_")
    assert sandbox.charge_status(settled.reference).succeeded
    # Opening or posting the page again pays nothing twice.
    again = client.post(_path(url), {"method": "paypal"})
    assert again.status_code == 200 and "Paid." in again.content.decode()
    assert notices.receipts == [10042]
    assert Payment.objects.filter(invoice=invoice, status=Payment.Status.SUCCEEDED).count() == 1


@pytest.mark.django_db
def test_paying_the_checkout_by_card_follows_the_test_cards(
    client: Client, sandbox: SandboxGateway, notices: Notices
) -> None:
    invoice = make_invoice(AccountFactory.create())
    url = _path(payments.payment_link(invoice, return_url="http://backstop.test/done/"))
    card = {"method": "card", "exp": f"12/{NEXT_YEAR % 100}", "cvc": "123"}
    declined = client.post(url, {**card, "number": "4000 0000 0000 0341"})
    assert declined.status_code == 402 and "Your card was declined." in declined.content.decode()
    wrong = client.post(url, {**card, "number": "4242 4242 4242 4241"})
    assert wrong.status_code == 402 and "Your card number is incorrect." in wrong.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and invoice.charge_failed_at is None
    assert notices.failures == []
    paid = client.post(url, {**card, "number": "4242 4242 4242 4242"})
    assert paid.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and notices.receipts == [invoice.number]


@pytest.mark.django_db
def test_the_pay_online_link_of_an_invoice_email_leads_to_the_sandbox_checkout(
    client: Client, sandbox: SandboxGateway, notices: Notices
) -> None:
    invoice = make_invoice(AccountFactory.create())
    opened = client.get(_path(pay_link(invoice)))
    assert opened.status_code == 302
    checkout = _path(opened["Location"])
    assert checkout.startswith("/sandbox/payments/checkout/")
    back = client.post(checkout, {"method": "paypal"})
    assert back.status_code == 302
    page = client.get(_path(back["Location"]))
    assert page.status_code == 200 and "This invoice is paid" in page.content.decode()


@pytest.mark.django_db
def test_a_forged_checkout_or_another_configured_gateway_is_a_404(
    client: Client, sandbox: SandboxGateway, settings: Any, notices: Notices
) -> None:
    invoice = make_invoice(AccountFactory.create())
    url = _path(payments.payment_link(invoice, return_url="http://backstop.test/done/"))
    assert client.get(url.replace("/checkout/", "/checkout/x")).status_code == 404
    assert client.post(url.rstrip("/") + "x/", {"method": "paypal"}).status_code == 404
    settings.BACKSTOP_PAYMENT_GATEWAY = "stripe"
    assert client.get(url).status_code == 404
    assert client.post(url, {"method": "paypal"}).status_code == 404
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and notices.receipts == []


# Stripe: the adapter's requests, against a fake of Stripe's API that checks and records them.


@dataclass
class StripeFake:
    """Answers each request with the next (status, JSON) queued for its method and path."""

    answers: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    fail: Callable[[httpx.Request], None] | None = None

    def on(self, method: str, path: str, status: int, body: dict[str, Any]) -> None:
        self.answers.setdefault((method, path), []).append((status, body))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail:
            self.fail(request)
        status, body = self.answers[(request.method, request.url.path)].pop(0)
        return httpx.Response(status, json=body)

    def form(self, index: int = -1) -> dict[str, str]:
        request = self.requests[index]
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


@pytest.fixture
def stripe(settings: Any) -> tuple[StripeGateway, StripeFake]:
    settings.BACKSTOP_STRIPE_SECRET_KEY = "sk_test_secret"
    settings.BACKSTOP_STRIPE_PUBLISHABLE_KEY = "pk_test_public"
    settings.BACKSTOP_STRIPE_WEBHOOK_SECRET = "whsec_test"
    settings.BACKSTOP_STRIPE_API_BASE = "https://api.stripe.test"
    fake = StripeFake()
    return StripeGateway(transport=httpx.MockTransport(fake)), fake


def _headers_ok(request: httpx.Request, key: str | None = None) -> None:
    assert request.url.host == "api.stripe.test" and request.url.scheme == "https"
    assert request.headers["Authorization"] == "Bearer sk_test_secret"
    assert request.headers.get("Idempotency-Key") == key


PM = {
    "id": "pm_1Card",
    "object": "payment_method",
    "type": "card",
    "billing_details": {"name": "Ada Lovelace"},
    "card": {"brand": "mastercard", "last4": "4444", "exp_month": 4, "exp_year": 2031},
}
CARD_DECLINED = {
    "error": {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
        "payment_intent": {
            "id": "pi_3Declined",
            "object": "payment_intent",
            "status": "requires_payment_method",
        },
    }
}


def test_stripe_browser_config_gives_the_publishable_key_only(
    stripe: tuple[StripeGateway, StripeFake],
) -> None:
    gw, _ = stripe
    assert gw.browser_config() == {"gateway": "stripe", "publishable_key": "pk_test_public"}


def test_stripe_customers_and_cards(stripe: tuple[StripeGateway, StripeFake]) -> None:
    gw, fake = stripe
    fake.on("POST", "/v1/customers", 200, {"id": "cus_New", "object": "customer"})
    assert gw.ensure_customer("Acme Ltd", "billing@acme.test", "") == "cus_New"
    request = fake.requests[-1]
    assert (request.method, request.url.path) == ("POST", "/v1/customers")
    _headers_ok(request)
    assert fake.form() == {"name": "Acme Ltd", "email": "billing@acme.test"}
    assert gw.ensure_customer("Acme Ltd", "billing@acme.test", "cus_Old") == "cus_Old"
    assert len(fake.requests) == 1  # a known customer costs no call

    fake.on("POST", "/v1/payment_methods/pm_1Card/attach", 200, PM)
    card = gw.attach_card("cus_New", "pm_1Card")
    assert (card.token, card.brand, card.last4, card.exp_month, card.exp_year, card.holder) == (
        "pm_1Card",
        "Mastercard",
        "4444",
        4,
        2031,
        "Ada Lovelace",
    )
    assert fake.form() == {"customer": "cus_New"}
    _headers_ok(fake.requests[-1])

    fake.on("POST", "/v1/payment_methods/pm_1Card/detach", 200, {**PM, "customer": None})
    gw.detach_card("cus_New", "pm_1Card")
    assert fake.requests[-1].url.path == "/v1/payment_methods/pm_1Card/detach"

    fake.on("POST", "/v1/payment_methods/pm_2Bad/attach", 402, CARD_DECLINED)
    with pytest.raises(GatewayError, match=r"^Your card was declined\.$"):
        gw.attach_card("cus_New", "pm_2Bad")
    count = len(fake.requests)
    for forged in ("tok_visa", "pm_x/../../v1/customers", "pm_1?expand=x", ""):
        with pytest.raises(GatewayError):
            gw.attach_card("cus_New", forged)
    assert len(fake.requests) == count  # ids that could leave the path are never sent


def test_stripe_charge_is_a_confirmed_off_session_payment_intent(
    stripe: tuple[StripeGateway, StripeFake],
) -> None:
    gw, fake = stripe
    fake.on(
        "POST",
        "/v1/payment_intents",
        200,
        {"id": "pi_3Ok", "object": "payment_intent", "status": "succeeded"},
    )
    result = gw.charge(
        "cus_1", "pm_1Card", 123456, "EUR", "Backstop invoice 10042", "invoice-10042-payment-7"
    )
    assert result.succeeded and result.reference == "pi_3Ok" and not result.pending
    _headers_ok(fake.requests[-1], key="invoice-10042-payment-7")
    assert fake.form() == {
        "amount": "123456",
        "currency": "eur",
        "customer": "cus_1",
        "payment_method": "pm_1Card",
        "confirm": "true",
        "off_session": "true",
        "description": "Backstop invoice 10042",
        "metadata[backstop_key]": "invoice-10042-payment-7",
        "metadata[invoice_number]": "10042",
    }


def test_stripe_declines_and_pending_charges(stripe: tuple[StripeGateway, StripeFake]) -> None:
    gw, fake = stripe
    fake.on("POST", "/v1/payment_intents", 402, CARD_DECLINED)
    declined = gw.charge("cus_1", "pm_1", 500, "USD", "x", "invoice-1-payment-1")
    assert not declined.succeeded and not declined.pending
    assert (declined.reference, declined.message) == ("pi_3Declined", "Your card was declined.")

    failed_intent = {
        "id": "pi_3Failed",
        "status": "requires_payment_method",
        "last_payment_error": {"type": "card_error", "message": "Your card has insufficient funds."},
    }
    fake.on("POST", "/v1/payment_intents", 200, failed_intent)
    failed = gw.charge("cus_1", "pm_1", 500, "USD", "x", "invoice-1-payment-2")
    assert (failed.succeeded, failed.message) == (False, "Your card has insufficient funds.")

    fake.on("POST", "/v1/payment_intents", 200, {"id": "pi_3Slow", "status": "requires_action"})
    assert "confirm" in gw.charge("cus_1", "pm_1", 500, "USD", "x", "invoice-1-payment-3").message

    fake.on("POST", "/v1/payment_intents", 200, {"id": "pi_3Slow", "status": "processing"})
    pending = gw.charge("cus_1", "pm_1", 500, "USD", "x", "invoice-1-payment-4")
    assert pending.pending and not pending.succeeded and pending.reference == "pi_3Slow"
    fake.on("GET", "/v1/payment_intents/pi_3Slow", 200, {"id": "pi_3Slow", "status": "processing"})
    fake.on("GET", "/v1/payment_intents/pi_3Slow", 200, {"id": "pi_3Slow", "status": "succeeded"})
    assert gw.charge_status("pi_3Slow").pending
    request = fake.requests[-1]
    assert request.method == "GET" and request.content == b"" and "Idempotency-Key" not in request.headers
    assert gw.charge_status("pi_3Slow").succeeded
    with pytest.raises(GatewayError):
        gw.charge_status("pi_3Slow/../../customers")


def test_stripe_errors_become_readable_gateway_errors(stripe: tuple[StripeGateway, StripeFake]) -> None:
    gw, fake = stripe
    invalid = {
        "error": {"type": "invalid_request_error", "message": "No such customer: 'cus_secret_internal'"}
    }
    fake.on("POST", "/v1/payment_intents", 400, invalid)
    with pytest.raises(GatewayError) as refused:
        gw.charge("cus_1", "pm_1", 500, "USD", "x", "k1")
    assert str(refused.value) == REFUSED  # Stripe's developer-facing text is logged, not shown

    fake.on("POST", "/v1/payment_intents", 500, {"error": {"type": "api_error", "message": "boom"}})
    with pytest.raises(GatewayError, match=UNREACHABLE):
        gw.charge("cus_1", "pm_1", 500, "USD", "x", "k2")

    fake.on("POST", "/v1/customers", 401, {"error": {"type": "invalid_request_error", "message": "Bad key"}})
    with pytest.raises(GatewayError, match=REFUSED):
        gw.ensure_customer("Acme", "a@acme.test", "")

    def time_out(request: httpx.Request) -> None:
        raise httpx.ReadTimeout("timed out", request=request)

    fake.fail = time_out
    with pytest.raises(GatewayError, match=UNREACHABLE):
        gw.charge("cus_1", "pm_1", 500, "USD", "x", "k3")


def test_stripe_payment_link_is_a_checkout_session(stripe: tuple[StripeGateway, StripeFake]) -> None:
    gw, fake = stripe
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "url": "https://checkout.stripe.com/c/pay/cs_test_1",
    }
    fake.on("POST", "/v1/checkout/sessions", 200, session)
    url = gw.payment_link(
        9900, "GBP", "Backstop invoice 10007", "invoice-10007-link-3", "https://bs.test/back/"
    )
    assert url == "https://checkout.stripe.com/c/pay/cs_test_1"
    _headers_ok(fake.requests[-1], key="invoice-10007-link-3")
    assert fake.form() == {
        "mode": "payment",
        "line_items[0][price_data][currency]": "gbp",
        "line_items[0][price_data][unit_amount]": "9900",
        "line_items[0][price_data][product_data][name]": "Backstop invoice 10007",
        "line_items[0][quantity]": "1",
        "success_url": "https://bs.test/back/",
        "cancel_url": "https://bs.test/back/",
        "metadata[backstop_key]": "invoice-10007-link-3",
        "metadata[invoice_number]": "10007",
    }
    fake.on(
        "GET",
        "/v1/checkout/sessions/cs_test_1",
        200,
        {**session, "status": "open", "payment_status": "unpaid"},
    )
    fake.on(
        "GET",
        "/v1/checkout/sessions/cs_test_1",
        200,
        {**session, "status": "complete", "payment_status": "paid"},
    )
    assert gw.charge_status("cs_test_1").pending
    assert gw.charge_status("cs_test_1").succeeded


# Stripe's webhook signatures: https://docs.stripe.com/webhooks#verify-manually


def _event(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"id": "evt_1", "object": "event", "type": kind, "data": {"object": obj}}).encode()


def test_stripe_webhooks_are_read_when_signed_with_the_endpoint_secret(
    stripe: tuple[StripeGateway, StripeFake],
) -> None:
    gw, fake = stripe
    intent = {"id": "pi_3Ok", "object": "payment_intent", "metadata": {"invoice_number": "10042"}}
    body = _event("payment_intent.succeeded", intent)
    event = gw.parse_webhook(body, {"Stripe-Signature": signature_header(body, "whsec_test")})
    assert (event.kind, event.reference, event.invoice_number) == ("payment_succeeded", "pi_3Ok", 10042)

    failed = {"id": "pi_3No", "metadata": {}, "last_payment_error": {"message": "Your card was declined."}}
    body = _event("payment_intent.payment_failed", failed)
    event = gw.parse_webhook(body, {"stripe-signature": signature_header(body, "whsec_test")})
    assert (event.kind, event.reference, event.message, event.invoice_number) == (
        "payment_failed",
        "pi_3No",
        "Your card was declined.",
        None,
    )

    session = {"id": "cs_test_1", "payment_status": "paid", "metadata": {"invoice_number": "10007"}}
    body = _event("checkout.session.completed", session)
    event = gw.parse_webhook(body, {"Stripe-Signature": signature_header(body, "whsec_test")})
    assert (event.kind, event.reference, event.invoice_number) == ("payment_succeeded", "cs_test_1", 10007)

    body = _event("customer.created", {"id": "cus_1"})
    assert (
        gw.parse_webhook(body, {"Stripe-Signature": signature_header(body, "whsec_test")}).kind == "ignored"
    )
    assert fake.requests == []  # reading a webhook costs no API call

    # While the secret is rolled, Stripe signs with both: any matching v1 is enough.
    body = _event("payment_intent.succeeded", intent)
    good = signature_header(body, "whsec_test")
    t, v1 = good.split(",")
    rolled = f"{t},v1={'0' * 64},{v1},v0=ignored"
    assert gw.parse_webhook(body, {"Stripe-Signature": rolled}).kind == "payment_succeeded"


def test_stripe_webhooks_with_a_forged_or_stale_signature_are_refused(
    stripe: tuple[StripeGateway, StripeFake],
) -> None:
    gw, _ = stripe
    body = _event("payment_intent.succeeded", {"id": "pi_3Ok", "metadata": {"invoice_number": "10042"}})
    now = int(timezone.now().timestamp())
    refused = [
        signature_header(body, "whsec_other"),  # another secret
        signature_header(body, "whsec_test", timestamp=now - 301),  # stale t
        signature_header(body, "whsec_test").replace("t=", "t=1"),  # t changed after signing
        f"t={now}",  # no v1
        signature_header(body, "whsec_test").replace("v1=", "v0="),  # only the old scheme
        "",
    ]
    for header in refused:
        with pytest.raises(GatewayError):
            gw.parse_webhook(body, {"Stripe-Signature": header})
    tampered = body.replace(b"pi_3Ok", b"pi_3Evil")
    with pytest.raises(GatewayError):
        gw.parse_webhook(tampered, {"Stripe-Signature": signature_header(body, "whsec_test")})
    with pytest.raises(GatewayError):
        gw.parse_webhook(body, {})
    # Within the tolerance is fine.
    fresh = signature_header(body, "whsec_test", timestamp=now - 250)
    assert gw.parse_webhook(body, {"Stripe-Signature": fresh}).kind == "payment_succeeded"
