"""Stripe, through its HTTP API (form-encoded POSTs, a Bearer secret key): no SDK needed.

Card details never touch Backstop: Stripe.js in the browser turns the card into a PaymentMethod
("pm_…"), which `attach_card` attaches to the payer's Customer. Charges are PaymentIntents
confirmed off-session; payment links are Checkout Sessions. Webhooks are verified with the
`Stripe-Signature` scheme Stripe documents (HMAC-SHA256 of "{t}.{payload}", 300 s tolerance).

Pages that show the card form must allow Stripe.js in the content security policy (script-src
and frame-src https://js.stripe.com, connect-src https://api.stripe.com).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any

import httpx
from django.conf import settings

from backstop.billing.gateways.base import CardInfo, ChargeResult, GatewayError, WebhookEvent
from backstop.billing.gateways.sandbox import invoice_number_of

log = logging.getLogger(__name__)

API_VERSION = "2024-06-20"  # the response shapes this adapter reads
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TOLERANCE = 300  # seconds, Stripe's default for webhook timestamps
UNREACHABLE = "The payment service could not be reached. Please try again later."
REFUSED = "The payment service refused the request. Please try again later or contact support."
STRIPE_ID = re.compile(r"^[a-z]+_[A-Za-z0-9_]+$")  # ids go into URL paths: nothing else may
BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "cartes_bancaires": "Cartes Bancaires",
}


class StripeCardError(GatewayError):
    """A card_error (HTTP 402): Stripe's message is written for the card holder."""

    def __init__(self, message: str, payment_intent: str = "") -> None:
        super().__init__(message)
        self.payment_intent = payment_intent


def _form(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding of nested parameters: a[b][0][c]=…"""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            pairs += _form(value, name)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                pairs += (
                    _form(item, f"{name}[{i}]") if isinstance(item, dict) else [(f"{name}[{i}]", str(item))]
                )
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


def _metadata(key: str) -> dict[str, str]:
    number = invoice_number_of(key)
    return {"backstop_key": key} | ({"invoice_number": str(number)} if number is not None else {})


def _check_id(value: str) -> None:
    if not STRIPE_ID.match(value):
        raise GatewayError("This payment is not known to the payment service.")


class StripeGateway:
    name = "stripe"

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        # Settings are read per call, so the one cached instance follows the configuration.
        self._transport = transport

    # The HTTP side.

    def _request(
        self, method: str, path: str, data: dict[str, Any] | None = None, key: str = ""
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {settings.BACKSTOP_STRIPE_SECRET_KEY}"}
        headers["Stripe-Version"] = API_VERSION
        if key:
            headers["Idempotency-Key"] = key
        try:
            with httpx.Client(
                base_url=settings.BACKSTOP_STRIPE_API_BASE, transport=self._transport, timeout=TIMEOUT
            ) as client:
                form = None if data is None else dict(_form(data))
                response = client.request(method, path, headers=headers, data=form)
        except httpx.HTTPError as exc:
            log.warning("stripe %s %s: %s", method, path, exc)
            raise GatewayError(UNREACHABLE) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        if response.is_success:
            return payload
        error = payload.get("error")
        if not isinstance(error, dict):
            error = {}
        log.warning(
            "stripe %s %s: %s %s %s",
            method,
            path,
            response.status_code,
            error.get("type"),
            error.get("code"),
        )
        if error.get("type") == "card_error":
            intent = error.get("payment_intent")
            raise StripeCardError(
                str(error.get("message") or "Your card was declined."),
                str(intent.get("id", "")) if isinstance(intent, dict) else "",
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise GatewayError(UNREACHABLE)
        raise GatewayError(REFUSED)

    # The Gateway protocol.

    def browser_config(self) -> dict[str, str]:
        return {"gateway": self.name, "publishable_key": settings.BACKSTOP_STRIPE_PUBLISHABLE_KEY or ""}

    def ensure_customer(self, payer_name: str, email: str, existing: str) -> str:
        if existing:
            return existing
        customer = self._request("POST", "/v1/customers", {"name": payer_name, "email": email})
        return str(customer["id"])

    def attach_card(self, customer: str, token: str) -> CardInfo:
        if not token.startswith("pm_") or not STRIPE_ID.match(token):
            raise GatewayError("The card could not be saved; please enter it again.")
        method = self._request("POST", f"/v1/payment_methods/{token}/attach", {"customer": customer})
        card = method.get("card") or {}
        billing = method.get("billing_details") or {}
        return CardInfo(
            token=str(method["id"]),
            brand=BRANDS.get(str(card.get("brand", "")), str(card.get("brand", "")).title()),
            last4=str(card.get("last4", "")),
            exp_month=int(card.get("exp_month") or 0),
            exp_year=int(card.get("exp_year") or 0),
            holder=str(billing.get("name") or ""),
        )

    def detach_card(self, customer: str, card_token: str) -> None:
        _check_id(card_token)
        self._request("POST", f"/v1/payment_methods/{card_token}/detach", {})

    def charge(
        self, customer: str, card_token: str, amount: int, currency: str, description: str, key: str
    ) -> ChargeResult:
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": card_token,
            "confirm": True,
            "off_session": True,
            "description": description,
            "metadata": _metadata(key),
        }
        try:
            intent = self._request("POST", "/v1/payment_intents", params, key=key)
        except StripeCardError as exc:
            return ChargeResult(False, exc.payment_intent, str(exc))
        return self._intent_result(intent)

    @staticmethod
    def _intent_result(intent: dict[str, Any]) -> ChargeResult:
        reference, status = str(intent.get("id", "")), intent.get("status")
        if status == "succeeded":
            return ChargeResult(True, reference)
        if status in ("processing", "requires_capture"):
            return ChargeResult(False, reference, pending=True)
        if status == "requires_action":
            # Off-session, nobody is there to authenticate: the payer pays by the invoice's link.
            message = "Your bank asks you to confirm this payment: pay the invoice online instead."
            return ChargeResult(False, reference, message)
        error = intent.get("last_payment_error") or {}
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
        return ChargeResult(False, reference, message or "Your card was declined.")

    def payment_link(self, amount: int, currency: str, description: str, key: str, return_url: str) -> str:
        params = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount,
                        "product_data": {"name": description},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": return_url,
            "cancel_url": return_url,
            # Not copied to the PaymentIntent: its own payment_intent.succeeded then matches nothing,
            # and only checkout.session.completed settles the invoice.
            "metadata": _metadata(key),
        }
        session = self._request("POST", "/v1/checkout/sessions", params, key=key)
        url = session.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise GatewayError(REFUSED)
        return url

    def charge_status(self, reference: str) -> ChargeResult:
        _check_id(reference)
        if reference.startswith("cs_"):
            session = self._request("GET", f"/v1/checkout/sessions/{reference}")
            if session.get("payment_status") in ("paid", "no_payment_required"):
                return ChargeResult(True, reference)
            if session.get("status") == "expired":
                return ChargeResult(False, reference, "The payment page expired without a payment.")
            return ChargeResult(False, reference, pending=True)
        return self._intent_result(self._request("GET", f"/v1/payment_intents/{reference}"))

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> WebhookEvent:
        header = {k.lower(): v for k, v in headers.items()}.get("stripe-signature", "")
        verify_signature(body, header, settings.BACKSTOP_STRIPE_WEBHOOK_SECRET or "")
        try:
            event = json.loads(body)
            kind, obj = str(event["type"]), event["data"]["object"]
        except (ValueError, KeyError, TypeError) as exc:
            raise GatewayError("webhook refused: not a Stripe event") from exc
        reference = str(obj.get("id", "")) if isinstance(obj, dict) else ""
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        raw_number = metadata.get("invoice_number") if isinstance(metadata, dict) else None
        number = int(raw_number) if isinstance(raw_number, str) and raw_number.isdigit() else None
        if kind == "payment_intent.succeeded":
            return WebhookEvent("payment_succeeded", reference, invoice_number=number)
        if kind == "payment_intent.payment_failed":
            error = obj.get("last_payment_error") or {}
            message = str(error.get("message") or "") if isinstance(error, dict) else ""
            return WebhookEvent("payment_failed", reference, message or "The payment failed.", number)
        if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            if kind == "checkout.session.completed" and obj.get("payment_status") == "unpaid":
                return WebhookEvent("ignored", reference)  # a delayed method: the async event follows
            return WebhookEvent("payment_succeeded", reference, invoice_number=number)
        if kind == "checkout.session.async_payment_failed":
            return WebhookEvent("payment_failed", reference, "The payment failed.", number)
        return WebhookEvent("ignored", reference)


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` value as Stripe computes it (for tests and local tooling)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(body: bytes, header: str, secret: str, now: float | None = None) -> None:
    """Stripe's scheme: t=<unix time>, one or more v1=<hex HMAC-SHA256 of "{t}.{payload}"> (several
    while a secret is rolled), compared in constant time; older than TOLERANCE is refused."""
    if not secret:
        raise GatewayError("webhook refused: no webhook secret is configured")
    timestamp, candidates = "", []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            candidates.append(value)
    if not timestamp.isdigit() or not candidates:
        raise GatewayError("webhook refused: malformed Stripe-Signature header")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise GatewayError("webhook refused: no matching signature")
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE:
        raise GatewayError("webhook refused: timestamp outside the tolerance")
