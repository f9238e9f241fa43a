"""Payment gateways: the interface, and the one configured (`BACKSTOP_PAYMENT_GATEWAY`)."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from backstop.billing.gateways.base import Gateway

GATEWAYS = {
    "sandbox": "backstop.billing.gateways.sandbox.SandboxGateway",
    "stripe": "backstop.billing.gateways.stripe.StripeGateway",
}


@cache
def _gateway(name: str) -> Gateway:
    return import_string(GATEWAYS[name])()


def gateway() -> Gateway:
    """The configured gateway (the sandbox on the embedded default and in the tests)."""
    return _gateway(settings.BACKSTOP_PAYMENT_GATEWAY)
