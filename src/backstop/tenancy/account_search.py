"""The search behind the account pickers of partner pages (the partner user form's accessible
accounts, the Security Audit's account filter). A partner may reach 10,000 accounts: a picker
never loads them, it asks for one page of those matching what was typed."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from backstop.tenancy.models import Account

PAGE_SIZE = 20  # accounts per page of a picker's matches
QUERY_LIMIT = 100  # characters of search text kept: no name or address is longer


def search_text(value: object) -> str:
    return str(value or "").strip()[:QUERY_LIMIT]


def account_page(reach: QuerySet[Account], query: str, number: int | str | None = 1) -> Page:
    """One page, by name, of the accounts of `reach` whose name or e-mail holds `query`. Only
    `reach` is searched: the caller's tenant scoping is the whole of what can come back."""
    rows = reach.order_by("name", "pk")
    if query:
        rows = rows.filter(Q(name__icontains=query) | Q(email__icontains=query))
    return Paginator(rows, PAGE_SIZE).get_page(number)
