"""Every page and action of the partner portal against people outside the portal's subtree: a 404,
never a hint, whatever the method; inside one's own portal, the ids of another subtree's accounts,
users, trusted addresses, recipients and bills are 404s too.

The URLs are read from the URLconf: a new portal URL is checked the day it is added, and one whose
extra argument has no foreign id below fails until it gets one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from backstop.billing.models import Invoice
from backstop.notify.models import Recipient
from backstop.security.models import TrustedAddress
from backstop.tenancy.models import Membership
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, str]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield str(pattern.name), prefix + str(pattern.pattern)


PORTAL = sorted(
    {(name, route) for name, route in _walk(get_resolver().url_patterns) if route.startswith("p/")}
)


def url(route: str, partner_id: int, ids: dict[str, int | str]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(2)
        return str(partner_id if name == "partner_id" else ids[name])

    return "/" + ARGUMENT.sub(fill, route)


def foreign_ids(h: Hierarchy) -> dict[str, int | str]:
    """Ids of Beta IT's things, for URLs of Alpha IT's portal."""
    beta_one = h.account("Beta One")
    entry = TrustedAddress.objects.create(partner=h.beta, addresses="203.0.113.9")
    recipient = Recipient.objects.create(partner=h.beta, email="ops@beta.test")
    bill = Invoice.objects.create(
        number=900_001,
        key="beta-bill",
        partner=h.beta,
        plan="monthly",
        method="invoice",
        issue_date=date(2027, 1, 1),
        due_date=date(2027, 1, 31),
        effective_date=date(2027, 1, 1),
        period_end=date(2027, 1, 1),
        currency="USD",
    )
    return {
        "account_id": beta_one.pk,
        "membership_id": Membership.objects.get(user=h.bea, partner=h.beta).pk,
        "entry_id": entry.pk,
        "recipient_id": recipient.pk,
        "number": bill.number,
        "token": "forged",
        "slug": "dashboard",  # a real guide: shared content, yet only inside one's own portal
    }


def test_the_portal_urls_are_all_checked_here() -> None:
    assert len(PORTAL) >= 37 and ("partner_dashboard", "p/<int:partner_id>/") in PORTAL


def test_outside_the_subtree_every_portal_url_is_a_404_whatever_the_method(hierarchy: Hierarchy) -> None:
    ids = foreign_ids(hierarchy)
    outsiders: list[tuple[str, Client, int]] = [
        ("a sibling reseller", hierarchy.client(hierarchy.bea), hierarchy.alpha.pk),
        ("a reseller in its parent's portal", hierarchy.client(hierarchy.alan), hierarchy.globalnet.pk),
        ("another partner", hierarchy.client(hierarchy.sol), hierarchy.alpha.pk),
        ("a customer of the portal", hierarchy.client(hierarchy.owners["Alpha One"]), hierarchy.alpha.pk),
        ("a limited user in another portal", hierarchy.client(hierarchy.sam), hierarchy.beta.pk),
    ]
    wrong = []
    for who, client, partner_id in outsiders:
        for name, route in PORTAL:
            target = url(route, partner_id, ids)
            for method in ("get", "post"):
                status = getattr(client, method)(target).status_code
                if status != 404:
                    wrong.append(f"{who}: {method.upper()} {name} {target} -> {status}")
    assert not wrong, "\n".join(wrong)


def test_inside_ones_own_portal_another_subtrees_ids_are_404(hierarchy: Hierarchy) -> None:
    ids = foreign_ids(hierarchy)
    alan = hierarchy.client(hierarchy.alan)
    wrong = []
    for name, route in PORTAL:
        if set(ARGUMENT.findall(route)) <= {("int", "partner_id"), ("slug", "slug")}:
            continue  # no id but the portal's own (a guide's slug names no tenant's row)
        target = url(route, hierarchy.alpha.pk, ids)
        for method in ("get", "post"):
            status = getattr(alan, method)(target).status_code
            if status not in (404, 405):  # 405: the URL takes the other method only
                wrong.append(f"{method.upper()} {name} {target} -> {status}")
    assert not wrong, "\n".join(wrong)
    # The foreign rows are untouched.
    assert TrustedAddress.objects.filter(pk=ids["entry_id"]).exists()
    assert Recipient.objects.filter(pk=ids["recipient_id"]).exists()
    assert not hierarchy.account("Beta One").is_removed


def test_a_distributor_opens_the_portals_below_it(hierarchy: Hierarchy) -> None:
    gina = hierarchy.client(hierarchy.gina)
    for partner in (hierarchy.globalnet, hierarchy.alpha, hierarchy.beta):
        assert gina.get(f"/p/{partner.pk}/").status_code == 200
    assert gina.get(f"/p/{hierarchy.solo.pk}/").status_code == 404
