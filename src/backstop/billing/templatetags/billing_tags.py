"""`{{ amount|money:currency }}` shows integer minor units as "$1,234.56"."""

from __future__ import annotations

from django import template

from backstop.billing.money import format_money

register = template.Library()


@register.filter
def money(amount: int | None, currency: str = "USD") -> str:
    if amount is None:
        return "-"
    return format_money(int(amount), currency or "USD")
