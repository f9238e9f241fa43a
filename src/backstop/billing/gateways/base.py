"""What Backstop asks of a payment gateway. Card numbers never reach Backstop: the browser hands
them to the gateway's own script or page, which answers with a token; Backstop keeps the token
and the card's brand, last four digits and expiry only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class GatewayError(Exception):
    """The gateway refused or could not be reached; the message may be shown to the user."""


@dataclass(frozen=True, slots=True)
class CardInfo:
    token: str  # the gateway's reusable payment method id
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder: str = ""


@dataclass(frozen=True, slots=True)
class ChargeResult:
    succeeded: bool
    reference: str  # the gateway's id of the charge
    message: str = ""  # why it failed, in words a user understands
    pending: bool = False  # the outcome comes later by webhook or status poll


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A payment outcome the gateway reported: `reference` is a charge's or a link's id."""

    kind: str  # "payment_succeeded" | "payment_failed" | "ignored"
    reference: str
    message: str = ""
    invoice_number: int | None = None


class Gateway(Protocol):
    name: str

    def browser_config(self) -> dict[str, str]:
        """What the card form's script needs (the tokenising endpoint, a publishable key)."""

    def ensure_customer(self, payer_name: str, email: str, existing: str) -> str:
        """The gateway's customer id for a payer, created when `existing` is empty."""

    def attach_card(self, customer: str, token: str) -> CardInfo:
        """Turns the browser's one-time token into a card kept for the customer."""

    def detach_card(self, customer: str, card_token: str) -> None: ...

    def charge(
        self, customer: str, card_token: str, amount: int, currency: str, description: str, key: str
    ) -> ChargeResult:
        """Charges a kept card off-session; `key` makes a retried call charge at most once."""

    def payment_link(self, amount: int, currency: str, description: str, key: str, return_url: str) -> str:
        """A hosted page (PayPal-style) where anyone with the link pays the amount."""

    def charge_status(self, reference: str) -> ChargeResult:
        """The current outcome of a charge or link (the scheduled status sync)."""

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> WebhookEvent:
        """Verifies the gateway's signature and reads the event; GatewayError when forged."""
