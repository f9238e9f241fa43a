"""The partner Security Audit's Account filter (P-AUDIT): a search over the accounts the role
reaches instead of a list of all of them. What it finds per persona, what a chosen id shows (an
id from elsewhere: no rows and no name), and a page that costs the same at 60 accounts as at 5."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backstop.accounts.models import User
from backstop.tenancy import permissions as perms
from backstop.tenancy.account_search import PAGE_SIZE
from backstop.tenancy.models import Partner
from tests.audit.test_partner_audit import events_fixture, shown, url  # noqa: F401 - the fixture
from tests.audit.util import HTMX, audit, page_of
from tests.factories import AccountFactory, PartnerFactory
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
MATCH_RE = re.compile(r'<a class="bs-account-match".*?</a>', re.S)
NAME_RE = re.compile(r'data-testid="account-match-name">([^<]*)<')
PARTNER_RE = re.compile(r'data-testid="account-match-partner">([^<]*)<')
CHOSEN_RE = re.compile(r'data-testid="account-chosen-name">([^<]*)<')


def search_url(partner: Partner, query: str = "") -> str:
    return reverse("partner_audit_accounts", args=[partner.pk]) + (f"?{query}" if query else "")


def matches(response: object) -> list[tuple[str, str | None]]:
    """(name, partner label or None) of each match offered, in order."""
    found = []
    for block in MATCH_RE.findall(page_of(response)):  # type: ignore[arg-type]
        name, partner = NAME_RE.search(block), PARTNER_RE.search(block)
        assert name is not None
        found.append((html.unescape(name.group(1)), html.unescape(partner.group(1)) if partner else None))
    return found


def names(response: object) -> set[str]:
    return {name for name, _ in matches(response)}


def found(h: Hierarchy, user: User, partner: Partner, text: str = "") -> set[str]:
    return names(h.client(user).get(search_url(partner, f"account_search={text}" if text else ""), **HTMX))


def chosen(response: object) -> str | None:
    name = CHOSEN_RE.search(page_of(response))  # type: ignore[arg-type]
    return html.unescape(name.group(1)) if name else None


def test_the_search_finds_only_accounts_the_role_reaches(hierarchy: Hierarchy) -> None:
    h = hierarchy
    alpha = {"Alpha One", "Alpha Two"}
    under_globalnet = {"Globalnet Labs", *alpha, "Beta One", "Beta Two"}
    assert found(h, h.gina, h.globalnet) == under_globalnet
    assert found(h, h.dora, h.globalnet) == under_globalnet
    assert found(h, h.gina, h.alpha) == alpha  # in a reseller's portal, that reseller's only
    assert found(h, h.alan, h.alpha) == alpha
    assert found(h, h.bea, h.beta) == {"Beta One", "Beta Two"}
    assert found(h, h.sol, h.solo) == {"Solo One", "Solo Two"}
    # Sam's role is limited to Alpha One: the other account is not found, whatever the text.
    assert found(h, h.sam, h.alpha) == {"Alpha One"}
    assert found(h, h.sam, h.alpha, "two") == set()
    # By name or e-mail, and never a sibling's, the parent's own or another partner's account.
    assert found(h, h.alan, h.alpha, "one") == {"Alpha One"}
    assert found(h, h.alan, h.alpha, "backup@alpha-two") == {"Alpha Two"}
    for text in ("beta", "globalnet", "solo", ".test"):
        assert found(h, h.alan, h.alpha, text) <= alpha, text
    assert found(h, h.gina, h.globalnet, "one") == {"Alpha One", "Beta One"}
    assert found(h, h.gina, h.globalnet, "solo") == set()
    # An account whose partner access was removed is out of every partner role's reach.
    two = h.account("Alpha Two")
    two.partner_access = False
    two.save()
    assert found(h, h.alan, h.alpha) == {"Alpha One"}
    assert found(h, h.gina, h.globalnet, "alpha") == {"Alpha One"}


def test_the_search_is_behind_the_audits_own_permission_and_portal(hierarchy: Hierarchy) -> None:
    h = hierarchy
    alan, sol = h.client(h.alan), h.client(h.sol)
    for client, partner in ((alan, h.beta), (alan, h.globalnet), (sol, h.alpha), (h.client(h.gina), h.solo)):
        assert client.get(search_url(partner, "account_search=one"), **HTMX).status_code == 404
    sam_m = h.memberships["sam"]
    sam_m.operations = [op for op in sam_m.operations if op != perms.PARTNER_VIEW_AUDIT]
    sam_m.save()
    assert h.client(h.sam).get(search_url(h.alpha), **HTMX).status_code == 403
    assert h.client(h.owners["Alpha One"]).get(search_url(h.alpha), **HTMX).status_code == 404


def test_a_distributors_matches_carry_their_partners_name(hierarchy: Hierarchy) -> None:
    h = hierarchy
    # Two resellers' customers may share a name: the label tells them apart.
    AccountFactory(name="Alpha One", email="other@beta.test", partner=h.beta)
    response = h.client(h.gina).get(search_url(h.globalnet, "account_search=alpha one"), **HTMX)
    assert sorted(matches(response), key=lambda m: m[1] or "") == [
        ("Alpha One", "Alpha IT"),
        ("Alpha One", "Beta IT"),
    ]
    # A reseller's audit has no partner below: no label.
    assert matches(h.client(h.alan).get(search_url(h.alpha, "account_search=one"), **HTMX)) == [
        ("Alpha One", None)
    ]


def test_a_match_links_to_the_page_filtered_by_it_keeping_the_other_filters(events: Hierarchy) -> None:
    h = events
    one = h.account("Alpha One")
    response = h.client(h.alan).get(search_url(h.alpha, "account_search=one&status=failed&q=x"), **HTMX)
    links = re.findall(r'href="([^"]*)"', page_of(response))
    assert [html.unescape(link) for link in links] == [url(h.alpha, f"status=failed&account={one.pk}&q=x")]


def test_picking_an_account_shows_its_events_and_its_name(events: Hierarchy) -> None:
    h = events
    gina = h.client(h.gina)
    one = h.account("Alpha One")
    response = gina.get(url(h.globalnet, f"account={one.pk}"))
    assert shown(response) == {"Alpha One event"}
    assert chosen(response) == "Alpha One"
    assert "Alpha IT</span>" in page_of(response)  # the chosen account's partner, for a distributor
    # The htmx answer to a filter change brings the filter back with the name the server found.
    fragment = page_of(gina.get(url(h.globalnet, f"account={one.pk}"), **HTMX))
    assert 'id="account-filter" data-testid="account-filter" hx-swap-oob="true"' in fragment
    assert f'name="account" id="f-account" value="{one.pk}"' in fragment
    assert chosen(gina.get(url(h.globalnet, f"account={one.pk}"), **HTMX)) == "Alpha One"
    # Clearing it: every event again, the search box back.
    clear = re.search(r'href="([^"]*)" data-account-clear', page_of(response))
    assert clear is not None and html.unescape(clear.group(1)) == url(h.globalnet)
    again = gina.get(url(h.globalnet))
    assert len(shown(again)) == 8 and chosen(again) is None
    assert 'data-testid="account-search"' in page_of(again)


@pytest.mark.parametrize(
    ("user", "partner", "other"),
    [
        ("alan", "alpha", "Beta One"),  # a sibling reseller's customer
        ("alan", "alpha", "Globalnet Labs"),  # the parent's own customer
        ("sam", "alpha", "Alpha Two"),  # outside a limited role's accounts
        ("gina", "globalnet", "Solo One"),  # another partner's customer
        ("bea", "beta", "Alpha One"),
    ],
)
def test_an_account_id_outside_the_reach_shows_no_rows_and_no_name(
    events: Hierarchy, user: str, partner: str, other: str
) -> None:
    h = events
    client = h.client(getattr(h, user))
    target = h.account(other)
    for headers in ({}, HTMX):
        response = client.get(url(getattr(h, partner), f"account={target.pk}"), **headers)
        assert shown(response) == set()
        assert chosen(response) == "Account not found"
        assert other not in page_of(response)


def test_the_page_costs_the_same_whatever_the_number_of_accounts(events: Hierarchy) -> None:
    h = events
    gina = h.client(h.gina)
    reseller = Partner.Kind.RESELLER
    shops = [PartnerFactory(name=f"Shop {i}", kind=reseller, parent=h.globalnet) for i in range(3)]

    def add(count: int) -> None:
        for i in range(count):
            account = AccountFactory(name=f"Customer {i:03d}", partner=shops[i % 3])
            audit(f"Customer {i:03d} event", account=account)

    add(5)
    gina.get(url(h.globalnet))
    with CaptureQueriesContext(connection) as few:
        gina.get(url(h.globalnet))
    with CaptureQueriesContext(connection) as few_search:
        gina.get(search_url(h.globalnet, "account_search=customer"), **HTMX)
    add(60)  # names clash with the first five's: another 60 accounts, 65 of them "Customer ..."
    with CaptureQueriesContext(connection) as many:
        page = page_of(gina.get(url(h.globalnet)))
    with CaptureQueriesContext(connection) as many_search:
        response = gina.get(search_url(h.globalnet, "account_search=customer"), **HTMX)
    assert len(many) == len(few)
    assert len(many_search) == len(few_search)
    # Neither the page nor the search lists every account: the page's rows name a page of them
    # at most, the search answers with the first page and says how many more there are.
    assert sum(f"Customer {i:03d}<" in page for i in range(60)) <= 25
    assert len(matches(response)) == PAGE_SIZE
    assert "First 20 of 65 accounts" in page_of(response)


def test_a_page_without_rows_names_none_of_the_accounts(hierarchy: Hierarchy) -> None:
    """The account filter used to be a list of every account: the page named them all."""
    h = hierarchy
    page = page_of(h.client(h.gina).get(url(h.globalnet)))
    for name in h.names_under(h.globalnet):
        assert name not in page, name


def test_without_javascript_the_submitted_search_shows_its_matches(events: Hierarchy) -> None:
    h = events
    lena = h.limited_user(perms.PARTNER_VIEW_AUDIT, "Beta One")
    response = h.client(lena).get(url(h.globalnet, "account_search=one&status=succeeded"))
    assert matches(response) == [("Beta One", "Beta IT")]
    assert f"account={h.account('Beta One').pk}" in page_of(response)
    assert "Alpha One" not in page_of(response)
    # Once an account is chosen, the search text is not a filter and shows nothing more.
    beta_one = h.account("Beta One").pk
    response = h.client(lena).get(url(h.globalnet, f"account={beta_one}&account_search=alpha"))
    assert shown(response) == {"Beta One event"} and matches(response) == []


def test_an_accounts_own_audit_has_no_account_filter(events: Hierarchy) -> None:
    h = events
    owner = h.client(h.owners["Alpha One"])
    response = owner.get(reverse("account_audit", args=[h.account("Alpha One").pk]))
    assert shown(response) == {"Alpha One event"}
    page = page_of(response)
    assert 'data-testid="account-filter"' not in page and "partner_audit_accounts" not in page
