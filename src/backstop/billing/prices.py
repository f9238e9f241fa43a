"""The default price list, and looking prices up for a payer (with its partner discount).

Operators edit prices in the admin (Billing > Prices); the migration seeds the list below so an
embedded install bills something sensible. Monthly prices are per unit and month; annual prices
per unit and year (ten per cent below twelve months).
"""

from __future__ import annotations

from decimal import Decimal

from backstop.billing.models import Plan, Price, Unit
from backstop.billing.money import to_minor

# service → (unit, monthly price in US cents)
LIST_USD: dict[str, tuple[str, int]] = {
    "exchange": (Unit.MAILBOX, 300),
    "teams": (Unit.GROUP, 200),
    "sharepoint": (Unit.SITE, 300),
    "onedrive": (Unit.USER, 200),
    "google_account": (Unit.USER, 200),
    "google_workspace": (Unit.USER, 300),
    "google_shared_drives": (Unit.DRIVE, 200),
    "salesforce": (Unit.GB, 120),
    "dropbox": (Unit.USER, 300),
    "box": (Unit.USER, 300),
    "imap": (Unit.MAILBOX, 200),
}
# The list in other currencies: round figures, not a daily exchange rate.
RATES = {
    "USD": Decimal(1),
    "EUR": Decimal("0.95"),
    "GBP": Decimal("0.80"),
    "CAD": Decimal("1.40"),
    "AUD": Decimal("1.55"),
    "ILS": Decimal("3.70"),
}
ANNUAL_FACTOR = Decimal(12) * Decimal("0.9")


def default_prices() -> list[Price]:
    prices = []
    for service, (unit, cents) in LIST_USD.items():
        for code, rate in RATES.items():
            monthly = to_minor(Decimal(cents) * rate)
            prices.append(Price(service=service, unit=unit, currency=code, plan=Plan.MONTHLY, amount=monthly))
            annual = to_minor(Decimal(monthly) * ANNUAL_FACTOR)
            prices.append(Price(service=service, unit=unit, currency=code, plan=Plan.ANNUAL, amount=annual))
    return prices


class PriceBook:
    """Prices of one currency and discount, read once per billing run or page."""

    def __init__(self, currency: str, discount_percent: Decimal = Decimal(0)) -> None:
        self.currency = currency
        self.discount = Decimal(discount_percent)
        self._prices = {(p.service, p.plan): p for p in Price.objects.filter(currency=currency)}

    def unit(self, service: str) -> str:
        price = self._prices.get((service, Plan.MONTHLY)) or self._prices.get((service, Plan.ANNUAL))
        return price.unit if price else Unit.USER

    def unit_price(self, service: str, plan: str) -> int | None:
        """The discounted price of one unit for one period, rounded to the minor unit; None when the
        service has no price in this currency (it is then not billed)."""
        price = self._prices.get((service, plan))
        if price is None:
            return None
        return to_minor(Decimal(price.amount) * (Decimal(100) - self.discount) / Decimal(100))
