"""The sandbox gateway: the embedded default and the tests' gateway. It takes the big gateways' test
card numbers and moves no money.

It is the client side of the in-process sandbox processor (`backstop.sandbox.payments`): the
browser tokenises a card at POST /sandbox/payments/tokens, and this class turns the one-time token
into a kept card, charges it, opens hosted checkouts and verifies the processor's webhooks. Cards,
charges and checkouts are signed blobs (see `processor`), so there is nothing to store.
"""

from __future__ import annotations

import re
import secrets

from django.urls import reverse

from backstop.billing.gateways.base import CardInfo, ChargeResult, GatewayError, WebhookEvent
from backstop.notify.mailer import absolute
from backstop.sandbox.payments import processor
from backstop.sandbox.payments.processor import CARD_SALT, CHARGE_SALT

INVOICE_KEY = re.compile(r"^invoice-(\d+)-")
EVENT_KINDS = {"payment_succeeded", "payment_failed"}


def invoice_number_of(key: str) -> int | None:
    """The invoice a payment's idempotency key belongs to (`payments` writes "invoice-<n>-…")."""
    match = INVOICE_KEY.match(key)
    return int(match.group(1)) if match else None


class SandboxGateway:
    name = "sandbox"

    def browser_config(self) -> dict[str, str]:
        return {"gateway": self.name, "tokens_url": reverse("sandbox_payments_tokens")}

    def ensure_customer(self, payer_name: str, email: str, existing: str) -> str:
        return existing or "cus_" + secrets.token_hex(8)

    def attach_card(self, customer: str, token: str) -> CardInfo:
        try:
            card = processor.redeem(token)
        except ValueError as exc:
            raise GatewayError("The card could not be saved; please enter it again.") from exc
        # The kept card is bound to its customer; the holder stays in our Card row, which keeps the
        # token short enough for it.
        kept = {k: card[k] for k in ("b", "l", "m", "y", "x")} | {"u": customer}
        return CardInfo(
            token=processor.sign("pm_", kept, CARD_SALT),
            brand=card["b"],
            last4=card["l"],
            exp_month=card["m"],
            exp_year=card["y"],
            holder=card.get("h", ""),
        )

    def _card(self, customer: str, card_token: str) -> dict[str, object]:
        try:
            card = processor.unsign("pm_", card_token, CARD_SALT)
        except ValueError as exc:
            raise GatewayError("This card is not known to the payment service.") from exc
        if card.get("u") != customer:
            raise GatewayError("This card is not on file for this customer.")
        return card

    def detach_card(self, customer: str, card_token: str) -> None:
        self._card(customer, card_token)  # nothing is kept; an unknown card is still an error

    def charge(
        self, customer: str, card_token: str, amount: int, currency: str, description: str, key: str
    ) -> ChargeResult:
        card = self._card(customer, card_token)
        if amount <= 0:
            raise GatewayError("The amount to charge must be positive.")
        # Deterministic (no timestamp, no randomness): a retry with the same key gives the same
        # reference and the same outcome, which is what an idempotency key promises.
        blob = {"k": processor.key_digest(key), "a": amount, "c": currency.upper(), "x": card["x"]}
        blob["l"] = card["l"]
        reference = processor.sign("ch_", blob, CHARGE_SALT)
        return self._outcome(reference, str(card["x"]), first=True)

    @staticmethod
    def _outcome(reference: str, behaviour: str, first: bool) -> ChargeResult:
        if behaviour == processor.CHARGE_DECLINED:
            return ChargeResult(False, reference, processor.DECLINED)
        if behaviour == processor.PENDING and first:
            return ChargeResult(False, reference, pending=True)
        return ChargeResult(True, reference)

    def payment_link(self, amount: int, currency: str, description: str, key: str, return_url: str) -> str:
        if amount <= 0:
            raise GatewayError("The amount to pay must be positive.")
        checkout = {
            "a": amount,
            "c": currency.upper(),
            "d": description[:200],
            "k": key,
            "n": invoice_number_of(key),
            "r": return_url,
        }
        return absolute(reverse("sandbox_payments_checkout", args=[processor.checkout_token(checkout)]))

    def charge_status(self, reference: str) -> ChargeResult:
        if reference.startswith("cs_"):
            try:
                processor.unsign("cs_", reference, processor.LINK_SALT)
            except ValueError as exc:
                raise GatewayError("This payment is not known to the payment service.") from exc
            if processor.link_paid(reference):
                return ChargeResult(True, reference)
            return ChargeResult(False, reference, pending=True)
        try:
            charge = processor.unsign("ch_", reference, CHARGE_SALT)
        except ValueError as exc:
            raise GatewayError("This payment is not known to the payment service.") from exc
        # A pending charge has settled by the time anyone asks (the status sync runs later).
        return self._outcome(reference, str(charge["x"]), first=False)

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> WebhookEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            event = processor.verify_event(body, lowered.get(processor.SIGNATURE_HEADER.lower(), ""))
        except ValueError as exc:
            raise GatewayError(f"webhook refused: {exc}") from exc
        kind = event.get("type")
        reference = event.get("reference")
        number = event.get("invoice_number")
        if kind not in EVENT_KINDS or not isinstance(reference, str) or not reference:
            return WebhookEvent("ignored", str(reference or ""))
        return WebhookEvent(
            str(kind),
            reference,
            str(event.get("message") or ""),
            number if isinstance(number, int) and not isinstance(number, bool) else None,
        )
