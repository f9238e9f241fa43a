"""The partner's Security Audit (P-AUDIT) over the hierarchy personas: its own permission, the
reach of each role (the partner's own events and its customers', never a sibling's or a parent's),
and the CSV export holding exactly what the filtered page shows."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from backstop.audit.models import AuditEvent
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Partner
from tests.audit.util import audit, csv_of, days_ago, page_of
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
DESCRIPTION_RE = re.compile(r'data-testid="audit-description">([^<\n]*)')
FAILED = AuditEvent.Status.FAILED


def url(partner: Partner, query: str = "") -> str:
    return reverse("partner_audit", args=[partner.pk]) + (f"?{query}" if query else "")


def shown(response: object) -> set[str]:
    return {html.unescape(t.strip()) for t in DESCRIPTION_RE.findall(page_of(response))}  # type: ignore[arg-type]


@pytest.fixture
def events(hierarchy: Hierarchy) -> Hierarchy:
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


def test_a_user_limited_to_some_accounts_sees_their_events_and_the_partners_own(events: Hierarchy) -> None:
    sam = events.client(events.sam)  # Alpha IT, Alpha One only
    assert shown(sam.get(url(events.alpha))) == {"Alpha One event", "Alpha IT own"}
    rows = csv_of(sam.get(url(events.alpha, "format=csv")))
    assert {r["Description"] for r in rows} == {"Alpha One event", "Alpha IT own"}
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
    # The distributor's audit covers every customer under it, and its own events.
    gina = events.client(events.gina)
    under = {f"{name} event" for name in events.names_under(events.globalnet)}
    assert shown(gina.get(url(events.globalnet))) == under | {"Globalnet own"}
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
