"""`{{ amount|money:currency }}` shows integer minor units as "$1,234.56"; `account_standing` reads
an account's trial or plan."""

from __future__ import annotations

from django import template

from backstop.billing.money import format_money
from backstop.billing.subscriptions import Standing, standing
from backstop.tenancy.models import Account

register = template.Library()


@register.filter
def money(amount: int | None, currency: str = "USD") -> str:
    if amount is None:
        return "-"
    return format_money(int(amount), currency or "USD")


@register.simple_tag
def account_standing(account: Account) -> Standing:
    """`{% account_standing account as standing %}`: the trial or plan of a customer account."""
    return standing(account)
