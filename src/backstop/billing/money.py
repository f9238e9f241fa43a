"""Money is an integer of the currency's minor unit (cents, pence); never a float.

Arithmetic that needs fractions (a quantity times a unit price, a discount, a share of a month,
a tax rate) is done in Decimal and rounded once, half up, to the minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    symbol: str
    exponent: int = 2
    # "Over 1,000 USD" may be paid by bank transfer: the same threshold in this currency.
    bank_transfer_from: int = 100_000


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("USD", "$"),
        Currency("EUR", "€", bank_transfer_from=95_000),
        Currency("GBP", "£", bank_transfer_from=80_000),
        Currency("CAD", "CA$", bank_transfer_from=140_000),
        Currency("AUD", "A$", bank_transfer_from=155_000),
        Currency("ILS", "₪", bank_transfer_from=370_000),
    )
}
CURRENCY_CHOICES = [(code, code) for code in CURRENCIES]
DEFAULT_CURRENCY = "USD"


def currency(code: str) -> Currency:
    return CURRENCIES[code]


def to_minor(value: Decimal, code: str = DEFAULT_CURRENCY) -> int:
    """Rounds an amount in minor units (a Decimal with fractions of a cent) half up."""
    del code  # every currency we sell in has the same minor unit today; kept for the call sites
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_major(text: str | Decimal, code: str = DEFAULT_CURRENCY) -> int:
    """ "12.34" → 1234 (for forms and fixtures)."""
    scale = Decimal(10) ** currency(code).exponent
    return to_minor(Decimal(text) * scale, code)


def major(amount: int, code: str = DEFAULT_CURRENCY) -> Decimal:
    """1234 → Decimal("12.34"), for CSV files and payment gateways that want major units."""
    exponent = currency(code).exponent
    return (Decimal(amount) / (Decimal(10) ** exponent)).quantize(Decimal(1).scaleb(-exponent))


def format_money(amount: int, code: str = DEFAULT_CURRENCY, symbol: bool = True) -> str:
    """1234567 USD → "$12,345.67"; -150 EUR → "-€1.50"; symbol=False → "12,345.67 USD"."""
    value = major(abs(amount), code)
    text = f"{value:,.{currency(code).exponent}f}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{currency(code).symbol}{text}" if symbol else f"{sign}{text} {code}"


def may_pay_by_bank_transfer(amount: int, code: str) -> bool:
    return amount > currency(code).bank_transfer_from
