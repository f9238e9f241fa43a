"""POST /billing/webhooks/<gateway>/: signed payment outcomes settle invoices; anything forged,
stale or addressed to a gateway that is not configured changes nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backstop.billing import payments
from backstop.billing.gateways.stripe import signature_header
from backstop.billing.models import Invoice, Payment
from backstop.sandbox.payments import processor
from tests.billing.helpers import add_sandbox_card
from tests.billing.test_gateways import Notices, make_invoice
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

URL = "/billing/webhooks/sandbox/"


@pytest.fixture
def notices() -> Notices:
    return Notices()


@pytest.fixture(autouse=True)
def _sandbox(settings: Any) -> None:
    settings.BACKSTOP_PAYMENT_GATEWAY = "sandbox"


def post(client: Client, body: bytes, signature: str, url: str = URL) -> Any:
    return client.post(url, body, content_type="application/json", HTTP_SANDBOX_SIGNATURE=signature)


def test_the_url_is_the_one_the_gateways_are_given() -> None:
    assert reverse("billing_webhook", args=["sandbox"]) == URL


def test_a_signed_event_with_the_invoice_number_settles_the_invoice(client: Client, notices: Notices) -> None:
    invoice = make_invoice(AccountFactory.create())
    body, signature = processor.signed_event(
        "payment_succeeded", processor.link_reference("k1"), invoice.number
    )
    response = post(client, body, signature)
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.paid_via == "Payment link"
    payment = Payment.objects.get(invoice=invoice)
    assert payment.status == Payment.Status.SUCCEEDED and payment.gateway == "sandbox"
    assert notices.receipts == [invoice.number]


def test_an_event_for_a_pending_charge_settles_it_by_its_reference(client: Client, notices: Notices) -> None:
    account = AccountFactory.create()
    add_sandbox_card(account, "4000000000000259")
    invoice = make_invoice(account)
    pending = payments.charge(invoice)
    assert pending.status == Payment.Status.PENDING
    body, signature = processor.signed_event("payment_succeeded", pending.reference, None)
    assert post(client, body, signature).status_code == 200
    invoice.refresh_from_db()
    pending.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.paid_via == "Visa ****0259"
    assert pending.status == Payment.Status.SUCCEEDED and Payment.objects.filter(invoice=invoice).count() == 1


def test_a_failed_payment_event_makes_the_invoice_overdue(client: Client, notices: Notices) -> None:
    account = AccountFactory.create()
    add_sandbox_card(account, "4000000000000259")
    invoice = make_invoice(account)
    pending = payments.charge(invoice)
    body, signature = processor.signed_event(
        "payment_failed", pending.reference, None, "Your card was declined."
    )
    assert post(client, body, signature).status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and invoice.failure_message == "Your card was declined."
    assert notices.failures == [invoice.number] and notices.receipts == []


def test_replaying_an_event_is_harmless(client: Client, notices: Notices) -> None:
    invoice = make_invoice(AccountFactory.create())
    body, signature = processor.signed_event(
        "payment_succeeded", processor.link_reference("k2"), invoice.number
    )
    assert post(client, body, signature).status_code == 200
    paid_at = Invoice.objects.get(pk=invoice.pk).paid_at
    assert post(client, body, signature).status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.paid_at == paid_at
    assert notices.receipts == [invoice.number]
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_unknown_references_and_event_kinds_are_accepted_and_ignored(
    client: Client, notices: Notices
) -> None:
    invoice = make_invoice(AccountFactory.create())
    for kind, number in (
        ("payment_succeeded", None),
        ("payment_succeeded", 99999),
        ("refund", invoice.number),
    ):
        body, signature = processor.signed_event(kind, "cs_someone_else", number)
        assert post(client, body, signature).status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and not Payment.objects.exists()


def _refused(client: Client, invoice: Invoice, response: Any, status: int) -> None:
    assert response.status_code == status
    assert response.content == b""  # nothing about why
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and not Payment.objects.filter(invoice=invoice).exists()


def test_forged_tampered_or_unsigned_events_are_refused(client: Client, notices: Notices) -> None:
    invoice = make_invoice(AccountFactory.create())
    body, signature = processor.signed_event("payment_succeeded", "cs_x", invoice.number)
    t, v1 = signature.split(",")
    forged = f"{t},v1={'0' * 64}"
    _refused(client, invoice, post(client, body, forged), 400)
    other_body, _ = processor.signed_event("payment_succeeded", "cs_x", invoice.number)
    _refused(client, invoice, post(client, other_body, signature), 400)  # another event's signature
    _refused(client, invoice, post(client, body.replace(b"cs_x", b"cs_y"), signature), 400)
    _refused(client, invoice, post(client, body, v1), 400)  # no timestamp
    _refused(client, invoice, client.post(URL, body, content_type="application/json"), 400)
    assert notices.receipts == []


def test_a_stale_event_is_refused(client: Client) -> None:
    invoice = make_invoice(AccountFactory.create())
    old = int(time.time()) - processor.TOLERANCE - 1
    body, signature = processor.signed_event("payment_succeeded", "cs_x", invoice.number, timestamp=old)
    _refused(client, invoice, post(client, body, signature), 400)
    recent = int(time.time()) - processor.TOLERANCE + 30
    body, signature = processor.signed_event("payment_succeeded", "cs_x", invoice.number, timestamp=recent)
    assert post(client, body, signature).status_code == 200


def test_only_the_configured_gateway_is_listened_to(client: Client, settings: Any) -> None:
    invoice = make_invoice(AccountFactory.create())
    body, signature = processor.signed_event("payment_succeeded", "cs_x", invoice.number)
    _refused(client, invoice, post(client, body, signature, url="/billing/webhooks/stripe/"), 404)
    _refused(client, invoice, post(client, body, signature, url="/billing/webhooks/paypal/"), 404)
    settings.BACKSTOP_PAYMENT_GATEWAY = "stripe"
    settings.BACKSTOP_STRIPE_WEBHOOK_SECRET = "whsec_test"
    _refused(client, invoice, post(client, body, signature), 404)  # the sandbox is off


def test_post_only_and_at_most_a_megabyte(client: Client) -> None:
    invoice = make_invoice(AccountFactory.create())
    assert client.get(URL).status_code == 405
    body, signature = processor.signed_event("payment_succeeded", "cs_x", invoice.number)
    padded = body[:-1] + b', "pad": "' + b"x" * (1024 * 1024) + b'"}'
    _refused(client, invoice, post(client, padded, signature), 413)


def test_a_stripe_event_through_the_view(client: Client, settings: Any, notices: Notices) -> None:
    settings.BACKSTOP_PAYMENT_GATEWAY = "stripe"
    settings.BACKSTOP_STRIPE_WEBHOOK_SECRET = "whsec_test"
    invoice = make_invoice(AccountFactory.create(), number=10077)
    session = {"id": "cs_test_9", "payment_status": "paid", "metadata": {"invoice_number": "10077"}}
    body = json.dumps(
        {"id": "evt_9", "type": "checkout.session.completed", "data": {"object": session}}
    ).encode()
    url = "/billing/webhooks/stripe/"
    forged = signature_header(body, "whsec_wrong")
    _refused(client, invoice, client.post(url, body, "application/json", HTTP_STRIPE_SIGNATURE=forged), 400)
    stale = signature_header(body, "whsec_test", timestamp=int(time.time()) - 301)
    _refused(client, invoice, client.post(url, body, "application/json", HTTP_STRIPE_SIGNATURE=stale), 400)
    good = signature_header(body, "whsec_test")
    assert client.post(url, body, "application/json", HTTP_STRIPE_SIGNATURE=good).status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and notices.receipts == [10077]
    assert Payment.objects.get(invoice=invoice).reference == "cs_test_9"
    # The sandbox's URL is closed while Stripe is configured.
    sandbox_body, sandbox_signature = processor.signed_event("payment_succeeded", "cs_x", 10077)
    assert post(client, sandbox_body, sandbox_signature).status_code == 404
