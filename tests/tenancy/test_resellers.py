"""The Resellers page of a partner portal (P-TIERS): a distributor lists every partner below it,
deeper levels with their parent, counted from grouped queries; a reseller sees only its own
children (none: an empty state); nobody sees a sibling's, a parent's or another tree's partners,
on the page, in the search or in the CSV; the menu leads there."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backstop.billing.models import BillingProfile, Subscription
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.web import context as nav
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
ROW_RE = re.compile(r'<tr data-testid="reseller-row" data-partner="(\d+)">(.*?)</tr>', re.S)


def url(partner: Partner, query: str = "") -> str:
    return reverse("partner_resellers", args=[partner.pk]) + (f"?{query}" if query else "")


def cell(row: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}">(.*?)</t?[da]', row, re.S)
    assert found is not None, name
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def table(response: object) -> dict[str, dict[str, str]]:
    """The page's rows by partner name: its parent and counts as shown."""
    assert response.status_code == 200  # type: ignore[attr-defined]
    html = response.content.decode()  # type: ignore[attr-defined]
    rows = {}
    for _, row in ROW_RE.findall(html):
        rows[cell(row, "reseller-name")] = {
            key: cell(row, f"reseller-{key}")
            for key in ("parent", "accounts", "trials", "subscribed", "users")
        }
    return rows


def names(response: object) -> list[str]:
    return list(table(response))


def names_in(html: str) -> list[str]:
    return [cell(row, "reseller-name") for _, row in ROW_RE.findall(html)]


def csv_of(response: object) -> list[dict[str, str]]:
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("text/csv")  # type: ignore[index]
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(text)))


@dataclass
class Tree:
    h: Hierarchy
    gamma: Partner  # a sub-distributor under Globalnet
    shop: Partner  # a reseller under Gamma
    gus: object  # Gamma's administrator


@pytest.fixture
def tree(hierarchy: Hierarchy) -> Tree:
    """The personas plus a second level: Globalnet > Gamma Distribution > Gamma Shop."""
    gamma = PartnerFactory(
        name="Gamma Distribution", kind=Partner.Kind.DISTRIBUTOR, parent=hierarchy.globalnet
    )
    shop = PartnerFactory(name="Gamma Shop", kind=Partner.Kind.RESELLER, parent=gamma)
    for partner in (gamma, shop):
        BillingProfile.objects.create(partner=partner, email=partner.email, onboarded_at=timezone.now())
        partner.refresh_from_db()
    AccountFactory(name="Gamma Shop One", partner=shop)
    gus = UserFactory(email="gus@gamma.test")
    MembershipFactory(user=gus, partner=gamma, role=Membership.Role.ADMIN)
    return Tree(hierarchy, gamma, shop, gus)


def test_a_distributor_sees_its_whole_subtree_with_the_parents_and_the_counts(tree: Tree) -> None:
    h = tree.h
    alpha_two = h.account("Alpha Two")
    Subscription.objects.create(account=alpha_two, state=Subscription.State.SUBSCRIBED, plan="monthly")
    hidden = h.account("Beta Two")
    hidden.partner_access = False  # the customer removed the partner: no longer the partners' to count
    hidden.save()

    rows = table(h.client(h.gina).get(url(h.globalnet)))
    assert rows == {
        "Alpha IT": {"parent": "Globalnet", "accounts": "2", "trials": "1", "subscribed": "1", "users": "2"},
        "Beta IT": {"parent": "Globalnet", "accounts": "1", "trials": "1", "subscribed": "0", "users": "1"},
        "Gamma Distribution": {
            "parent": "Globalnet",
            "accounts": "0",
            "trials": "0",
            "subscribed": "0",
            "users": "1",
        },
        "Gamma Shop": {
            "parent": "Gamma Distribution",
            "accounts": "1",
            "trials": "1",
            "subscribed": "0",
            "users": "0",
        },
    }
    html = h.client(h.gina).get(url(h.globalnet)).content.decode()
    assert "Globalnet Labs" not in html and "Solo" not in html  # its own customers and other trees: no
    assert h.alpha.code in html
    # Each row opens that partner's portal, and the distributor's user gets in.
    portal = reverse("partner_dashboard", args=[h.alpha.pk])
    assert f'href="{portal}" data-testid="open-portal"' in html
    assert h.client(h.gina).get(portal).status_code == 200


def test_a_sub_distributor_sees_only_its_own_children(tree: Tree) -> None:
    gus = tree.h.client(tree.gus)  # type: ignore[arg-type]
    assert table(gus.get(url(tree.gamma))) == {
        "Gamma Shop": {
            "parent": "Gamma Distribution",
            "accounts": "1",
            "trials": "1",
            "subscribed": "0",
            "users": "0",
        }
    }
    assert gus.get(url(tree.h.globalnet)).status_code == 404  # its parent's list
    assert gus.get(url(tree.h.alpha)).status_code == 404  # a sibling's
    # The distributor's user opening Gamma's portal sees Gamma's subtree there, not its own.
    assert names(tree.h.client(tree.h.gina).get(url(tree.gamma))) == ["Gamma Shop"]


def test_a_reseller_without_children_gets_the_empty_state_and_never_a_siblings(tree: Tree) -> None:
    h = tree.h
    alan = h.client(h.alan)
    response = alan.get(url(h.alpha))
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="resellers-none"' in html
    assert "Alpha IT has no resellers." in html
    assert not ROW_RE.search(html) and "Beta IT" not in html and "Gamma" not in html
    for partner in (h.beta, h.globalnet, tree.gamma, tree.shop, h.solo):
        assert alan.get(url(partner)).status_code == 404
        assert alan.get(url(partner, "format=csv")).status_code == 404
    assert csv_of(alan.get(url(h.alpha, "format=csv"))) == []
    # The limited user of the same reseller: the same empty page, nothing more.
    assert 'data-testid="resellers-none"' in h.client(h.sam).get(url(h.alpha)).content.decode()


def test_a_direct_partner_never_sees_the_distributors_resellers(tree: Tree) -> None:
    h = tree.h
    sol = h.client(h.sol)
    html = sol.get(url(h.solo)).content.decode()
    assert "Solo Services has no resellers." in html and "Alpha IT" not in html
    assert sol.get(url(h.globalnet)).status_code == 404
    assert sol.get(url(h.globalnet, "format=csv")).status_code == 404
    # A search by a foreign partner's id finds nothing of it in one's own list either.
    assert csv_of(sol.get(url(h.solo, f"q={h.alpha.code}&format=csv"))) == []
    # The customer's own administrator is not a partner user.
    assert h.client(h.owners["Alpha One"]).get(url(h.alpha)).status_code == 404


def test_the_dashboard_permission_opens_the_page(tree: Tree) -> None:
    dora = tree.h.client(tree.h.dora)  # Globalnet, no dashboard
    assert dora.get(url(tree.h.globalnet)).status_code == 403
    assert dora.get(url(tree.h.globalnet, "format=csv")).status_code == 403
    assert tree.h.client(tree.h.gina).post(url(tree.h.globalnet)).status_code == 405


def test_search_by_name_or_partner_id_and_sort_by_name_or_accounts(tree: Tree) -> None:
    h = tree.h
    gina = h.client(h.gina)
    assert names(gina.get(url(h.globalnet, "q=gamma"))) == ["Gamma Distribution", "Gamma Shop"]
    assert names(gina.get(url(h.globalnet, f"q={h.beta.code}"))) == ["Beta IT"]
    assert names(gina.get(url(h.globalnet, f"q={h.beta.pk}"))) == ["Beta IT"]
    none = gina.get(url(h.globalnet, "q=solo")).content.decode()
    assert "No partner below Globalnet matches “solo”." in none and not ROW_RE.search(none)
    # The search never reaches beyond the subtree: Solo Services is not below Globalnet.
    assert names(gina.get(url(h.globalnet, f"q={h.solo.code}"))) == []

    every = ["Alpha IT", "Beta IT", "Gamma Distribution", "Gamma Shop"]
    assert names(gina.get(url(h.globalnet))) == every
    assert names(gina.get(url(h.globalnet, "sort=-name"))) == every[::-1]
    by_accounts = names(gina.get(url(h.globalnet, "sort=-accounts")))
    assert by_accounts == ["Alpha IT", "Beta IT", "Gamma Shop", "Gamma Distribution"]
    by_fewest = names(gina.get(url(h.globalnet, "sort=accounts")))
    assert by_fewest == ["Gamma Distribution", "Gamma Shop", "Alpha IT", "Beta IT"]
    # The sort links: accounts start with the most, the current sort's link reverses it.
    html = gina.get(url(h.globalnet, "q=a")).content.decode()
    assert f'href="{url(h.globalnet)}?q=a&amp;sort=-accounts" hx-get' in html
    assert f'href="{url(h.globalnet)}?q=a&amp;sort=-name" hx-get' in html
    # An htmx search answers with the table alone.
    fragment = gina.get(url(h.globalnet, "q=alpha"), headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="reseller-list"' in fragment and "<html" not in fragment
    assert names_in(fragment) == ["Alpha IT"]


def test_the_csv_holds_exactly_the_filtered_rows(tree: Tree) -> None:
    h = tree.h
    gina = h.client(h.gina)
    rows = csv_of(gina.get(url(h.globalnet, "format=csv")))
    assert [(r["Name"], r["Parent"], r["Customer accounts"], r["Users"]) for r in rows] == [
        ("Alpha IT", "Globalnet", "2", "2"),
        ("Beta IT", "Globalnet", "2", "1"),
        ("Gamma Distribution", "Globalnet", "0", "1"),
        ("Gamma Shop", "Gamma Distribution", "1", "0"),
    ]
    assert rows[0]["Partner id"] == h.alpha.code and rows[3]["Parent partner id"] == tree.gamma.code
    assert rows[0]["On trial"] == "2" and rows[0]["Subscribed"] == "0"
    assert rows[0]["Created"] == timezone.localdate(h.alpha.created_at).isoformat()
    filtered = csv_of(gina.get(url(h.globalnet, "q=gamma&sort=-accounts&format=csv")))
    assert [r["Name"] for r in filtered] == ["Gamma Shop", "Gamma Distribution"]
    # The export link on the page carries the search.
    html = gina.get(url(h.globalnet, "q=gamma")).content.decode()
    assert f'href="{url(h.globalnet)}?q=gamma&amp;format=csv"' in html


def test_paging_by_25_and_the_queries_do_not_grow_with_the_resellers(tree: Tree) -> None:
    h = tree.h
    gina = h.client(h.gina)
    gina.get(url(h.globalnet))  # warm up: session, templates
    with CaptureQueriesContext(connection) as few:
        assert gina.get(url(h.globalnet)).status_code == 200
    for i in range(30):
        partner = PartnerFactory(name=f"Zeta {i:02}", kind=Partner.Kind.RESELLER, parent=h.globalnet)
        for n in range(i % 3):
            Account.objects.create(name=f"Zeta {i:02} customer {n}", partner=partner)
        MembershipFactory(user=UserFactory(), partner=partner, role=Membership.Role.ADMIN)
    with CaptureQueriesContext(connection) as many:
        response = gina.get(url(h.globalnet))
    assert len(names(response)) == 25 and "Showing 1\N{EN DASH}25 of 34" in response.content.decode()
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    with CaptureQueriesContext(connection) as exported:
        rows = csv_of(gina.get(url(h.globalnet, "sort=-accounts&format=csv")))
    assert len(rows) == 34 and len(exported) <= len(few)
    page2 = gina.get(url(h.globalnet, "page=2"))
    assert names(page2)[:2] == ["Zeta 21", "Zeta 22"] and len(names(page2)) == 9
    assert table(page2)["Zeta 23"] == {
        "parent": "Globalnet",
        "accounts": "2",
        "trials": "0",
        "subscribed": "0",
        "users": "1",
    }


# -- the menu ---------------------------------------------------------------------------------------


def main_menu(html: str) -> list[str]:
    nav_html = re.search(r'<nav[^>]*aria-label="Main".*?</nav>', html, re.S)
    assert nav_html is not None
    return [
        re.sub(r"<[^>]+>", "", label).strip()
        for label in re.findall(r"<a [^>]*>(.*?)</a>", nav_html.group(0))
    ]


def test_the_portal_menu_offers_resellers_where_there_are_some(tree: Tree) -> None:
    h = tree.h
    gina = h.client(h.gina)
    html = gina.get(reverse("partner_dashboard", args=[h.globalnet.pk])).content.decode()
    assert main_menu(html)[:2] == ["Dashboard", "Resellers"]
    assert f'href="{url(h.globalnet)}"' in html
    page = gina.get(url(h.globalnet)).content.decode()
    assert re.search(r'class="nav-link active" href="[^"]+resellers/" aria-current="page"', page)
    # A reseller's portal (no children) has no such entry, for its own user or the distributor's.
    assert "Resellers" not in main_menu(
        gina.get(reverse("partner_dashboard", args=[h.alpha.pk])).content.decode()
    )
    assert "Resellers" not in main_menu(
        h.client(h.alan).get(reverse("partner_dashboard", args=[h.alpha.pk])).content.decode()
    )
    # Gamma's portal has one, leading to Gamma's list; Dora (no dashboard) is not offered it.
    gamma = gina.get(reverse("partner_dashboard", args=[tree.gamma.pk])).content.decode()
    assert f'href="{url(tree.gamma)}"' in gamma
    dora = h.client(h.dora).get(reverse("partner_audit", args=[h.globalnet.pk])).content.decode()
    assert "Resellers" not in main_menu(dora)
    assert 'data-testid="all-resellers"' not in html  # every reachable partner fits in the menu


def test_the_user_menu_leads_to_all_resellers_when_they_do_not_fit(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = tree.h
    monkeypatch.setattr(nav, "NAV_PARTNERS_SHOWN", 3)  # Globalnet, Alpha, Beta: Gamma is cut
    html = h.client(h.gina).get(reverse("account_change_password")).content.decode()
    assert f'href="{url(h.globalnet)}" data-testid="all-resellers"' in html
    assert "Gamma Shop" not in html
    # Gamma's portal: its child was cut from the menu, the Resellers entry is still there.
    gamma = h.client(h.gina).get(reverse("partner_dashboard", args=[tree.gamma.pk])).content.decode()
    assert "Resellers" in main_menu(gamma)
    # Sol reaches one partner: no such entry.
    sol = h.client(h.sol).get(reverse("partner_dashboard", args=[h.solo.pk])).content.decode()
    assert 'data-testid="all-resellers"' not in sol


def test_a_role_limited_to_some_accounts_counts_only_those(hierarchy: Hierarchy) -> None:
    """The counts go through the role's reach: a distributor user limited to Beta One counts one
    account under Beta IT and none under Alpha IT (their names never show on this page anyway)."""
    h = hierarchy
    lena = h.limited_user(perms.PARTNER_VIEW_DASHBOARD, "Beta One")
    rows = table(h.client(lena).get(url(h.globalnet)))
    assert rows["Beta IT"]["accounts"] == "1" and rows["Alpha IT"]["accounts"] == "0"
    assert {key: rows[key]["accounts"] for key in rows} == {"Alpha IT": "0", "Beta IT": "1"}
    assert table(h.client(h.gina).get(url(h.globalnet)))["Alpha IT"]["accounts"] == "2"
