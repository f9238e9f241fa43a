"""The sandbox payment processor's rules: test cards, signed tokens and references, signed webhooks.

Nothing is stored: a token, a kept card, a charge or a checkout is a blob signed with Django's
SECRET_KEY (one salt each) that carries what the processor needs to answer about it later. The only
state is in the shared cache: which one-time tokens were used and which checkouts were paid.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core import signing
from django.core.cache import cache
from django.utils import timezone
from django.utils.crypto import salted_hmac

TOKEN_SALT = "backstop.sandbox.payments.token"
CARD_SALT = "backstop.sandbox.payments.card"
CHARGE_SALT = "backstop.sandbox.payments.charge"
CHECKOUT_SALT = "backstop.sandbox.payments.checkout"
LINK_SALT = "backstop.sandbox.payments.link"
WEBHOOK_SALT = "backstop.sandbox.payments.webhook"

TOKEN_MAX_AGE = 15 * 60  # a browser token is used at once, like the big gateways' one-time tokens
CHECKOUT_MAX_AGE = 120 * 24 * 3600  # as long as the "Pay online" link of an invoice e-mail
SIGNATURE_HEADER = "Sandbox-Signature"
TOLERANCE = 300  # seconds a signed webhook stays acceptable (replays after that are refused)

DECLINED = "Your card was declined."
# The behaviours: "ok"; "pending" (charges resolve later, as succeeded); "charge_declined"
# (attaches, every charge is declined); the others refuse the card when it is tokenised.
OK, PENDING, CHARGE_DECLINED = "ok", "pending", "charge_declined"


@dataclass(frozen=True, slots=True)
class TestCard:
    brand: str
    behaviour: str = OK
    message: str = ""  # the refusal at tokenising, for the cards that are refused there


TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("Visa"),
    "5555555555554444": TestCard("Mastercard"),
    "378282246310005": TestCard("American Express"),
    "4000000000000002": TestCard("Visa", "declined", DECLINED),
    "4000000000009995": TestCard("Visa", "insufficient_funds", "Your card has insufficient funds."),
    "4000000000000069": TestCard("Visa", "expired_card", "Your card has expired."),
    "4000000000000341": TestCard("Visa", CHARGE_DECLINED),
    "4000000000000259": TestCard("Visa", PENDING),
}


class CardError(Exception):
    """The card is refused; `message` is for the person who typed it, `code` names the field/reason."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def check_card(data: dict[str, Any], today: date | None = None) -> tuple[TestCard, str, int, int]:
    """Checks a card like a processor would: its test card, number, expiry month and year.
    CardError when the card is refused."""
    today = today or timezone.now().date()
    number = "".join(ch for ch in str(data.get("number", "")) if ch not in " -")
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_ok(number):
        raise CardError("Your card number is incorrect.", "incorrect_number")
    card = TEST_CARDS.get(number)
    if card is None:
        raise CardError("The sandbox takes test card numbers only, such as 4242 4242 4242 4242.", "live_card")
    month, year = _int(data.get("exp_month")), _int(data.get("exp_year"))
    if year is not None and 0 <= year < 100:
        year += 2000
    if month is None or year is None or not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise CardError("Your card's expiration date is invalid.", "invalid_expiry")
    if (year, month) < (today.year, today.month):
        raise CardError("Your card has expired.", "expired_card")
    cvc = str(data.get("cvc", "")).strip()
    if not cvc.isdigit() or not 3 <= len(cvc) <= 4:
        raise CardError("Your card's security code is invalid.", "invalid_cvc")
    if card.message:
        raise CardError(card.message, card.behaviour)
    return card, number, month, year


def card_behaviour(data: dict[str, Any]) -> str:
    """How a card typed on the hosted checkout page behaves (CardError when it is refused)."""
    return check_card(data)[0].behaviour


def tokenise(data: dict[str, Any], today: date | None = None) -> str:
    """What POST /sandbox/payments/tokens does: a one-time token ("tok_…") for an accepted card.
    CardError when the card is refused."""
    card, number, month, year = check_card(data, today)
    holder = " ".join(str(data.get("holder", "")).split())[:100]
    blob = {"b": card.brand, "l": number[-4:], "m": month, "y": year, "h": holder, "x": card.behaviour}
    # The nonce makes each token unique, so "used once" can be remembered per token.
    blob["n"] = secrets.token_hex(6)
    return "tok_" + signing.dumps(blob, salt=TOKEN_SALT, compress=True)


def redeem(token: str) -> dict[str, Any]:
    """The card a one-time token stands for; a token is accepted once, within TOKEN_MAX_AGE.
    ValueError when it is forged, stale or used."""
    if not token.startswith("tok_"):
        raise ValueError("not a card token")
    try:
        blob: dict[str, Any] = signing.loads(token[4:], salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature as exc:
        raise ValueError("the card token is not valid or has expired") from exc
    used_key = "sandbox-payments-token-used:" + hashlib.sha256(token.encode()).hexdigest()
    if not cache.add(used_key, 1, timeout=TOKEN_MAX_AGE + 60):
        raise ValueError("the card token was used already")
    return blob


def sign(prefix: str, blob: dict[str, Any], salt: str) -> str:
    """A deterministic signed id (no timestamp): the same content always gives the same id."""
    return prefix + signing.Signer(salt=salt).sign_object(blob, compress=True)


def unsign(prefix: str, value: str, salt: str) -> dict[str, Any]:
    """ValueError when `value` is not an id this processor issued with `prefix`."""
    if not value.startswith(prefix):
        raise ValueError(f"not a {prefix} id")
    try:
        blob: dict[str, Any] = signing.Signer(salt=salt).unsign_object(value[len(prefix) :])
    except (signing.BadSignature, ValueError) as exc:
        raise ValueError("forged or damaged id") from exc
    return blob


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def link_reference(key: str) -> str:
    """The id of a checkout's payment: derived from the idempotency key, so paying twice reports the
    same payment."""
    return sign("cs_", {"k": key_digest(key)}, LINK_SALT)


def mark_link_paid(reference: str) -> None:
    cache.set("sandbox-payments-link-paid:" + reference, 1, timeout=CHECKOUT_MAX_AGE)


def link_paid(reference: str) -> bool:
    return bool(cache.get("sandbox-payments-link-paid:" + reference))


def checkout_token(checkout: dict[str, Any]) -> str:
    """The signed part of a hosted checkout's URL; timestamped, because a checkout expires."""
    return signing.dumps(checkout, salt=CHECKOUT_SALT, compress=True)


def read_checkout(token: str) -> dict[str, Any]:
    """ValueError when the checkout URL is forged or expired."""
    try:
        checkout: dict[str, Any] = signing.loads(token, salt=CHECKOUT_SALT, max_age=CHECKOUT_MAX_AGE)
    except signing.BadSignature as exc:
        raise ValueError("the checkout is not valid or has expired") from exc
    return checkout


# Webhooks: an HMAC-SHA256 over "{timestamp}.{body}" with a key derived from SECRET_KEY.


def _mac(timestamp: str, body: bytes) -> str:
    return salted_hmac(WEBHOOK_SALT, timestamp.encode() + b"." + body, algorithm="sha256").hexdigest()


def signed_event(
    kind: str, reference: str, invoice_number: int | None, message: str = "", timestamp: int | None = None
) -> tuple[bytes, str]:
    """A webhook body and its signature header value, as the processor sends them."""
    event = {
        "id": "evt_" + secrets.token_hex(8),
        "type": kind,
        "reference": reference,
        "invoice_number": invoice_number,
        "message": message,
    }
    body = json.dumps(event).encode()
    t = str(int(time.time()) if timestamp is None else timestamp)
    return body, f"t={t},v1={_mac(t, body)}"


def verify_event(body: bytes, header: str, now: float | None = None) -> dict[str, Any]:
    """The event of a signed webhook. ValueError when the signature is missing, wrong or stale."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    timestamp = (parts.get("t") or [""])[0]
    if not timestamp.isdigit():
        raise ValueError("no timestamp in the signature")
    expected = _mac(timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise ValueError("the signature does not match")
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE:
        raise ValueError("the signature is too old")
    event: dict[str, Any] = json.loads(body)
    return event
