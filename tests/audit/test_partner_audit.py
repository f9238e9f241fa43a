"""The partner's Security Audit (P-AUDIT) over the hierarchy personas: its own permission, the
reach of each role (the partner's own events and its customers', never a sibling's or a parent's),
and the CSV export holding exactly what the filtered page shows."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backstop.audit.models import AuditEvent
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership, Partner
from tests.audit.util import audit, csv_of, days_ago, page_of
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
DESCRIPTION_RE = re.compile(r'data-testid="audit-description">([^<\n]*)')
FAILED = AuditEvent.Status.FAILED


def url(partner: Partner, query: str = "") -> str:
    return reverse("partner_audit", args=[partner.pk]) + (f"?{query}" if query else "")


def shown(response: object) -> set[str]:
    return {html.unescape(t.strip()) for t in DESCRIPTION_RE.findall(page_of(response))}  # type: ignore[arg-type]


@pytest.fixture(name="events")
def events_fixture(hierarchy: Hierarchy) -> Hierarchy:
    """One event per account ("<account> event"), one of each partner's own portal ("<partner> own")."""
    for name, account in hierarchy.accounts.items():
        audit(f"{name} event", account=account, performed_by=f"owner@{name.lower().replace(' ', '-')}.test")
    for partner in (hierarchy.globalnet, hierarchy.alpha, hierarchy.beta, hierarchy.solo):
        audit(f"{partner.name} own", partner=partner, performed_by=partner.email)
    return hierarchy


def test_a_role_without_view_security_audit_is_refused(events: Hierarchy) -> None:
    sam_m = events.memberships["sam"]
    sam_m.operations = [op for op in sam_m.operations if op != perms.PARTNER_VIEW_AUDIT]
    sam_m.save()
    sam = events.client(events.sam)
    assert sam.get(url(events.alpha)).status_code == 403
    assert sam.get(url(events.alpha, "format=csv")).status_code == 403
    # Dora has the audit but no dashboard: the audit opens.
    assert events.client(events.dora).get(url(events.globalnet)).status_code == 200


def test_a_user_limited_to_some_accounts_sees_their_events_and_their_own_doings(events: Hierarchy) -> None:
    """Of the portal's events, a limited user sees only its own: the others' may name accounts
    hidden from it (a user added with their accessible accounts)."""
    sam = events.client(events.sam)  # Alpha IT, Alpha One only
    audit("User added: kim@alpha.test; accessible accounts: Alpha Two", partner=events.alpha)
    audit("Sam signed in", partner=events.alpha, activity="sign_in", user=events.sam)
    assert shown(sam.get(url(events.alpha))) == {"Alpha One event", "Sam signed in"}
    rows = csv_of(sam.get(url(events.alpha, "format=csv")))
    assert {r["Description"] for r in rows} == {"Alpha One event", "Sam signed in"}
    # Asking for the other account by its id shows nothing; the account filter does not offer it.
    two = events.account("Alpha Two").pk
    assert shown(sam.get(url(events.alpha, f"account={two}"))) == set()
    assert csv_of(sam.get(url(events.alpha, f"account={two}&format=csv"))) == []
    assert f'value="{two}"' not in page_of(sam.get(url(events.alpha)))


def test_each_partner_sees_its_subtree_and_never_a_siblings_events(events: Hierarchy) -> None:
    alan = events.client(events.alan)
    assert shown(alan.get(url(events.alpha))) == {"Alpha One event", "Alpha Two event", "Alpha IT own"}
    bea = events.client(events.bea)
    assert shown(bea.get(url(events.beta))) == {"Beta One event", "Beta Two event", "Beta IT own"}
    sol = events.client(events.sol)
    assert shown(sol.get(url(events.solo))) == {"Solo One event", "Solo Two event", "Solo Services own"}
    # The distributor's audit covers its whole subtree: every customer under it, its own portal's
    # events and its resellers' portals' events.
    gina = events.client(events.gina)
    under = {f"{name} event" for name in events.names_under(events.globalnet)}
    portals = {"Globalnet own", "Alpha IT own", "Beta IT own"}
    assert shown(gina.get(url(events.globalnet))) == under | portals
    # In a reseller's portal, the distributor's user sees that reseller's subtree, not its own.
    assert shown(gina.get(url(events.alpha))) == {"Alpha One event", "Alpha Two event", "Alpha IT own"}
    assert not any("Solo" in text for text in shown(gina.get(url(events.globalnet))))

    # A sibling's, a parent's or an unrelated partner's audit is not found, page or CSV.
    for client, partner in (
        (alan, events.beta),
        (alan, events.globalnet),
        (bea, events.alpha),
        (sol, events.alpha),
    ):
        assert client.get(url(partner)).status_code == 404
        assert client.get(url(partner, "format=csv")).status_code == 404
    assert gina.get(url(events.solo)).status_code == 404
    # A sibling's account id in the filter finds nothing.
    beta_one = events.account("Beta One").pk
    assert shown(alan.get(url(events.alpha, f"account={beta_one}"))) == set()
    assert csv_of(alan.get(url(events.alpha, f"account={beta_one}&format=csv"))) == []
    # A customer's own administrator is not a partner user.
    assert events.client(events.owners["Alpha One"]).get(url(events.alpha)).status_code == 404


def test_the_csv_holds_exactly_what_the_filtered_page_shows(events: Hierarchy) -> None:
    one, two = events.account("Alpha One"), events.account("Alpha Two")
    audit("Old sign-in refused", account=one, activity="sign_in", status=FAILED, at=days_ago(20))
    audit("Recent sign-in refused", account=one, activity="sign_in", status=FAILED, at=days_ago(2))
    audit("Recent sign-in", account=one, activity="sign_in", at=days_ago(2))
    audit("Alpha Two refused", account=two, activity="sign_in", status=FAILED, at=days_ago(2))
    alan = events.client(events.alan)
    since = days_ago(7).date().isoformat()
    cases = [
        f"status={FAILED}",
        f"status={FAILED}&from={since}",
        f"activity=sign_in&account={one.pk}",
        "q=refused",
        f"user={events.alpha.email}",
    ]
    for query in cases:
        on_page = shown(alan.get(url(events.alpha, query)))
        rows = csv_of(alan.get(url(events.alpha, query + "&format=csv")))
        assert {r["Description"] for r in rows} == on_page, query
        assert len(rows) == len(on_page), query
    rows = csv_of(alan.get(url(events.alpha, f"status={FAILED}&from={since}&format=csv")))
    assert {(r["Account"], r["Description"]) for r in rows} == {
        ("Alpha One", "Recent sign-in refused"),
        ("Alpha Two", "Alpha Two refused"),
    }
    own = csv_of(alan.get(url(events.alpha, f"user={events.alpha.email}&format=csv")))
    assert [(r["Account"], r["Description"]) for r in own] == [("", "Alpha IT own")]


PARTNER_RE = re.compile(r'data-testid="audit-partner">([^<]*)<')


def whose(response: object) -> set[tuple[str, str]]:
    """(partner column, description) of each row on the page."""
    html = page_of(response)  # type: ignore[arg-type]
    rows = re.findall(r'<tr data-testid="audit-row".*?</tr>', html, re.S)
    result = set()
    for row in rows:
        owner = PARTNER_RE.search(row)
        text = DESCRIPTION_RE.search(row)
        assert owner is not None and text is not None
        result.add((html_text(owner.group(1)), html_text(text.group(1))))
    return result


def html_text(value: str) -> str:
    return html.unescape(value.strip())


@pytest.fixture
def deeper(events: Hierarchy) -> Partner:
    """A second level under Globalnet: the sub-distributor Gamma and its reseller Gamma Shop, each
    with a portal event, the shop with a customer and its event."""
    gamma = PartnerFactory(name="Gamma", kind=Partner.Kind.DISTRIBUTOR, parent=events.globalnet)
    shop = PartnerFactory(name="Gamma Shop", kind=Partner.Kind.RESELLER, parent=gamma)
    customer = AccountFactory(name="Gamma Shop One", partner=shop)
    audit("Gamma own", partner=gamma, performed_by="gus@gamma.test")
    audit("Gamma Shop own", partner=shop, performed_by="gil@shop.test")
    audit("Gamma Shop One event", account=customer, performed_by="owner@shop-one.test")
    gamma.refresh_from_db()
    return gamma


def test_a_distributors_audit_says_whose_each_event_is_and_filters_by_partner(
    events: Hierarchy, deeper: Partner
) -> None:
    gina = events.client(events.gina)
    h = events
    # A distributor's user visiting a reseller's customer: the account's event, so Alpha IT's.
    audit("Gina in Alpha One", account=h.account("Alpha One"), partner=h.globalnet, performed_by="gina")
    assert whose(gina.get(url(h.globalnet))) == {
        ("Globalnet", "Globalnet own"),
        ("Globalnet", "Globalnet Labs event"),
        ("Alpha IT", "Alpha IT own"),
        ("Alpha IT", "Alpha One event"),
        ("Alpha IT", "Alpha Two event"),
        ("Alpha IT", "Gina in Alpha One"),
        ("Beta IT", "Beta IT own"),
        ("Beta IT", "Beta One event"),
        ("Beta IT", "Beta Two event"),
        ("Gamma", "Gamma own"),
        ("Gamma Shop", "Gamma Shop own"),
        ("Gamma Shop", "Gamma Shop One event"),
    }
    # The Partner filter: the events that belong to that partner (its portal, its own customers).
    alpha_only = {"Alpha IT own", "Alpha One event", "Alpha Two event", "Gina in Alpha One"}
    assert shown(gina.get(url(h.globalnet, f"partner={h.alpha.pk}"))) == alpha_only
    assert shown(gina.get(url(h.globalnet, f"partner={h.globalnet.pk}"))) == {
        "Globalnet own",
        "Globalnet Labs event",
    }
    assert shown(gina.get(url(h.globalnet, f"partner={deeper.pk}"))) == {"Gamma own"}
    # With the other filters, and in the CSV: the same rows, with their partner and its id.
    query = f"partner={h.alpha.pk}&q=alpha"
    on_page = shown(gina.get(url(h.globalnet, query)))
    rows = csv_of(gina.get(url(h.globalnet, query + "&format=csv")))
    assert on_page == {"Alpha IT own", "Alpha One event", "Alpha Two event", "Gina in Alpha One"}
    assert {(r["Partner"], r["Partner id"], r["Account"], r["Description"]) for r in rows} == {
        ("Alpha IT", h.alpha.code, "", "Alpha IT own"),
        ("Alpha IT", h.alpha.code, "Alpha One", "Alpha One event"),
        ("Alpha IT", h.alpha.code, "Alpha Two", "Alpha Two event"),
        ("Alpha IT", h.alpha.code, "Alpha One", "Gina in Alpha One"),
    }
    # Another tree's partner in the filter finds nothing.
    assert shown(gina.get(url(h.globalnet, f"partner={h.solo.pk}"))) == set()
    assert csv_of(gina.get(url(h.globalnet, f"partner={h.solo.pk}&format=csv"))) == []

    # The Partner filter offers the subtree as a tree.
    page = page_of(gina.get(url(h.globalnet)))
    partner_select = re.search(r'<select[^>]*name="partner".*?</select>', page, re.S)
    assert partner_select is not None
    options = [
        html.unescape(o) for o in re.findall(r'<option value="\d+"[^>]*>([^<]*)<', partner_select.group(0))
    ]
    indent = "\N{NO-BREAK SPACE}" * 4
    assert options == [
        "Globalnet",
        f"{indent}Alpha IT",
        f"{indent}Beta IT",
        f"{indent}Gamma",
        f"{indent * 2}Gamma Shop",
    ]
    # The accounts are searched, not listed (test_partner_audit_accounts.py): no account list.
    assert 'name="account" id="f-account" value=""' in page
    assert "Gamma Shop One" not in page.split('id="activity-results"')[0]


def test_a_resellers_audit_never_shows_its_parents_or_a_siblings_events(
    events: Hierarchy, deeper: Partner
) -> None:
    h = events
    alan = h.client(h.alan)
    mine = {"Alpha One event", "Alpha Two event", "Alpha IT own"}
    assert shown(alan.get(url(h.alpha))) == mine
    # No partner column or filter for a partner with no one below it.
    page = page_of(alan.get(url(h.alpha)))
    assert 'data-testid="audit-partner"' not in page and 'name="partner"' not in page
    # Asking for the parent's, a sibling's or a cousin's events by id finds nothing, page or CSV.
    for other in (h.globalnet, h.beta, deeper, h.solo):
        assert shown(alan.get(url(h.alpha, f"partner={other.pk}"))) == set()
        assert csv_of(alan.get(url(h.alpha, f"partner={other.pk}&format=csv"))) == []
    assert {r["Description"] for r in csv_of(alan.get(url(h.alpha, "format=csv")))} == mine
    # The sub-distributor's own user: its portal, its reseller's and that reseller's customer only.
    gus = UserFactory(email="gus@gamma.test")
    MembershipFactory(user=gus, partner=deeper, role=Membership.Role.ADMIN)
    below = {"Gamma own", "Gamma Shop own", "Gamma Shop One event"}
    assert shown(h.client(gus).get(url(deeper))) == below
    assert h.client(gus).get(url(h.globalnet)).status_code == 404


def test_a_distributor_role_limited_to_some_accounts_sees_only_their_customer_events(
    events: Hierarchy,
) -> None:
    """The account subset limits the events to its accounts': portal events name other accounts
    (a user added with their accessible accounts, an account's access removed), so they are out."""
    h = events
    lena = h.limited_user(perms.PARTNER_VIEW_AUDIT, "Beta One")
    client = h.client(lena)
    audit("User added: sam@alpha.test, Custom; accessible accounts: Alpha One", partner=h.alpha)
    assert shown(client.get(url(h.globalnet))) == {"Beta One event"}
    assert shown(client.get(url(h.beta))) == {"Beta One event"}
    assert shown(client.get(url(h.globalnet, f"account={h.account('Alpha One').pk}"))) == set()
    page = page_of(client.get(url(h.globalnet)))
    assert "Alpha One" not in page and "Beta Two" not in page


def test_the_distributors_audit_reads_the_same_statements_whatever_the_rows(
    events: Hierarchy, deeper: Partner
) -> None:
    gina = events.client(events.gina)
    gina.get(url(events.globalnet))
    with CaptureQueriesContext(connection) as few:
        gina.get(url(events.globalnet))
    for i in range(12):
        shop = PartnerFactory(name=f"Shop {i}", kind=Partner.Kind.RESELLER, parent=events.globalnet)
        audit(f"Shop {i} own", partner=shop)
        audit(f"Shop {i} customer", account=AccountFactory(name=f"Shop {i} customer", partner=shop))
    with CaptureQueriesContext(connection) as many:
        response = gina.get(url(events.globalnet))
    assert len(shown(response)) == 25
    assert len(many) == len(few)


def test_performed_by_takes_any_address_and_suggests_a_bounded_few(events: Hierarchy) -> None:
    """A big partner has thousands of actors: the page suggests a few, the box takes any address."""
    for i in range(80):
        audit(f"Change {i}", account=events.account("Alpha One"), performed_by=f"tech{i:02}@alpha.test")
    alan = events.client(events.alan)
    page = page_of(alan.get(url(events.alpha)))
    assert page.count('@alpha.test"></option>') <= 50
    assert shown(alan.get(url(events.alpha, "user=TECH79@alpha.test"))) == {"Change 79"}
