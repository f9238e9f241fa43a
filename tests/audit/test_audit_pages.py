"""The Security Audit pages (A-AUDIT, P-AUDIT): who sees which events, the filters, paging, the
status counts and the CSV export of exactly the filtered rows."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from backstop.audit.models import AuditEvent
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership
from tests.audit.util import CHROME, HTMX, audit, csv_of, days_ago, page_of
from tests.conftest import Personas
from tests.factories import AccountFactory, MembershipFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db
FAILED = AuditEvent.Status.FAILED
DESCRIPTION_RE = re.compile(r'data-testid="audit-description">([^<\n]*)')


def descriptions(response: object) -> set[str]:
    return {html.unescape(text.strip()) for text in DESCRIPTION_RE.findall(page_of(response))}  # type: ignore[arg-type]


def audit_url(personas: Personas, account_pk: int | None = None) -> str:
    return reverse("account_audit", args=[account_pk or personas.a.pk])


def partner_url(partner_pk: int) -> str:
    return reverse("partner_audit", args=[partner_pk])


def test_an_administrator_sees_the_accounts_events_and_no_other_accounts(personas: Personas) -> None:
    audit("Account name changed", account=personas.a, ip="10.1.2.3", user_agent=CHROME)
    audit("Globex renamed", account=personas.b, performed_by="charlie@globex.test")
    audit("Partner settings", partner=personas.partner, performed_by="pat@northwind.test")
    alice = personas.client(personas.alice)

    response = alice.get(audit_url(personas))
    assert descriptions(response) == {"Account name changed"}
    page = page_of(response)
    assert "Chrome" in page and "10.1.2.3" in page  # the browser and address of the event
    assert 'data-testid="audit-status">Succeeded' in page
    # "Activity" in the navigation, highlighted on both tabs.
    activity_link = f'class="nav-link active" href="{reverse("account_activity", args=[personas.a.pk])}"'
    assert activity_link in page
    assert activity_link in page_of(alice.get(reverse("account_activity", args=[personas.a.pk])))


def test_a_custom_user_needs_view_activity_and_another_account_is_not_found(personas: Personas) -> None:
    audit("Globex renamed", account=personas.b)
    bob = personas.client(personas.bob)  # view settings and support only
    assert bob.get(audit_url(personas)).status_code == 403
    assert bob.get(audit_url(personas) + "?format=csv").status_code == 403
    assert "bi-activity" not in page_of(bob.get(reverse("account_settings", args=[personas.a.pk])))

    personas.bob_membership.operations = [perms.VIEW_ACTIVITY]
    personas.bob_membership.save()
    assert bob.get(audit_url(personas)).status_code == 200

    alice = personas.client(personas.alice)
    assert alice.get(audit_url(personas, personas.b.pk)).status_code == 404
    assert alice.get(audit_url(personas, personas.b.pk) + "?format=csv").status_code == 404
    # The account filter of a customer page cannot reach another account's events either.
    assert descriptions(alice.get(audit_url(personas) + f"?account={personas.b.pk}")) == set()


def test_events_about_a_service_the_role_cannot_see_are_left_out(personas: Personas) -> None:
    audit("Restore of Box files", account=personas.a, activity="restore_requested", service="box")
    audit("Restore of mail", account=personas.a, activity="restore_requested", service="imap")
    audit("Sign-in", account=personas.a, activity="sign_in")
    personas.bob_membership.operations = [perms.VIEW_ACTIVITY]
    personas.bob_membership.all_services = False
    personas.bob_membership.services = ["box"]
    personas.bob_membership.save()
    bob = personas.client(personas.bob)
    assert descriptions(bob.get(audit_url(personas))) == {"Restore of Box files", "Sign-in"}


def partner_world(personas: Personas) -> dict[str, object]:
    """Northwind (personas.partner) with Acme, Globex and Initech; a sibling partner with its own
    customer; Pat may see the audit but only Acme; Paula sees every Northwind account."""
    initech = AccountFactory(name="Initech", partner=personas.partner)
    sibling = PartnerFactory(name="Contoso Partners")
    umbrella = AccountFactory(name="Umbrella", partner=sibling)
    personas.pat_membership.operations = [*personas.pat_membership.operations, perms.PARTNER_VIEW_AUDIT]
    personas.pat_membership.save()
    paula = UserFactory(email="paula@northwind.test")
    MembershipFactory(user=paula, partner=personas.partner, role=Membership.Role.ADMIN)
    audit("Northwind own", partner=personas.partner, performed_by="paula@northwind.test")
    audit("Acme event", account=personas.a)
    audit("Globex event", account=personas.b, performed_by="charlie@globex.test")
    audit("Initech event", account=initech, status=FAILED, performed_by="ian@initech.test")
    audit("Sibling own", partner=sibling, performed_by="sam@contoso.test")
    audit("Umbrella event", account=umbrella, performed_by="uma@umbrella.test")
    return {"initech": initech, "sibling": sibling, "umbrella": umbrella, "paula": paula}


def test_partner_audit_shows_own_and_reachable_customers_events_only(personas: Personas) -> None:
    world = partner_world(personas)
    pat = personas.client(personas.pat)
    # Pat is limited to Acme: of the portal's events, only its own doings (none here).
    assert descriptions(pat.get(partner_url(personas.partner.pk))) == {"Acme event"}
    # A hidden account cannot be asked for by id.
    assert descriptions(pat.get(partner_url(personas.partner.pk) + f"?account={personas.b.pk}")) == set()

    paula = personas.client(world["paula"])  # type: ignore[arg-type]
    response = paula.get(partner_url(personas.partner.pk))
    assert descriptions(response) == {"Northwind own", "Acme event", "Globex event", "Initech event"}
    page = page_of(response)
    assert 'data-testid="audit-account">Globex' in page  # the Account column
    assert "Partner portal" in page  # the partner's own event has no account
    assert "Umbrella" not in page and "Sibling own" not in page
    # The account filter lists the partner's customers, never the sibling's.
    assert f'<option value="{world["umbrella"].pk}"' not in page  # type: ignore[attr-defined]
    only_globex = paula.get(partner_url(personas.partner.pk) + f"?account={personas.b.pk}")
    assert descriptions(only_globex) == {"Globex event"}

    # Another partner's audit is not found; a partner role without the permission is refused.
    assert paula.get(partner_url(world["sibling"].pk)).status_code == 404  # type: ignore[attr-defined]
    personas.pat_membership.operations = [perms.PARTNER_VIEW_DASHBOARD]
    personas.pat_membership.save()
    assert pat.get(partner_url(personas.partner.pk)).status_code == 403
    assert pat.get(partner_url(personas.partner.pk) + "?format=csv").status_code == 403


def test_partner_users_without_access_to_an_account_lose_its_events_when_access_is_removed(
    personas: Personas,
) -> None:
    world = partner_world(personas)
    personas.b.partner_access = False  # support took the partner's access away
    personas.b.save()
    paula = personas.client(world["paula"])  # type: ignore[arg-type]
    assert "Globex event" not in descriptions(paula.get(partner_url(personas.partner.pk)))


def test_the_partner_nav_shows_security_audit_only_with_the_permission(personas: Personas) -> None:
    pat = personas.client(personas.pat)
    dashboard = reverse("partner_dashboard", args=[personas.partner.pk])
    assert "Security Audit" not in page_of(pat.get(dashboard))
    personas.pat_membership.operations = [perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_VIEW_AUDIT]
    personas.pat_membership.save()
    assert "Security Audit" in page_of(pat.get(dashboard))
    page = page_of(pat.get(partner_url(personas.partner.pk)))
    assert f'class="nav-link active" href="{partner_url(personas.partner.pk)}"' in page


def filtered_world(personas: Personas) -> None:
    a = personas.a
    audit("old sign-in", account=a, activity="sign_in", at=days_ago(20), performed_by="alice@acme.test")
    audit(
        "refused sign-in",
        account=a,
        activity="sign_in",
        status=FAILED,
        at=days_ago(5),
        performed_by="bob@acme.test",
    )
    audit("renamed to Acme Corp", account=a, at=days_ago(5), performed_by="alice@acme.test")
    audit("added gus@acme.test", account=a, activity="user_added", at=days_ago(3))
    audit(
        "deleted task Mail",
        account=a,
        activity="backup_deleted",
        task_name="Office mail",
        service="imap",
        at=days_ago(1),
        performed_by="bob@acme.test",
    )
    audit("today's sign-in", account=a, activity="sign_in", at=days_ago(0, hour=0))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("activity=sign_in", {"old sign-in", "refused sign-in", "today's sign-in"}),
        ("status=failed", {"refused sign-in"}),
        ("user=bob@acme.test", {"refused sign-in", "deleted task Mail"}),
        ("user=BOB@acme.test&activity=sign_in", {"refused sign-in"}),
        ("from={d6}&to={d3}", {"refused sign-in", "renamed to Acme Corp", "added gus@acme.test"}),
        ("from={d1}", {"deleted task Mail", "today's sign-in"}),
        ("to={d20}", {"old sign-in"}),
        ("q=gus", {"added gus@acme.test"}),
        ("q=CORP", {"renamed to Acme Corp"}),
        ("q=office", {"deleted task Mail"}),
        ("activity=nonsense&status=maybe&from=yesterday", None),  # bad values are ignored
    ],
)
def test_filters_narrow_the_table(personas: Personas, query: str, expected: set[str] | None) -> None:
    filtered_world(personas)
    dates = {f"d{n}": days_ago(n).date().isoformat() for n in (0, 1, 3, 6, 20)}
    alice = personas.client(personas.alice)
    everything = descriptions(alice.get(audit_url(personas)))
    assert len(everything) == 6
    shown = descriptions(alice.get(audit_url(personas) + "?" + query.format(**dates)))
    assert shown == (everything if expected is None else expected)


def test_the_audit_csv_of_a_filtered_view_contains_exactly_the_filtered_rows(personas: Personas) -> None:
    filtered_world(personas)
    alice = personas.client(personas.alice)
    since, until = days_ago(6).date().isoformat(), days_ago(1).date().isoformat()
    query = f"from={since}&to={until}&status=succeeded&q=e"
    expected = descriptions(alice.get(audit_url(personas) + "?" + query))
    assert expected == {"renamed to Acme Corp", "added gus@acme.test", "deleted task Mail"}
    rows = csv_of(alice.get(audit_url(personas) + "?" + query + "&format=csv"))
    assert {row["Description"] for row in rows} == expected
    assert len(rows) == len(expected)
    deleted = next(row for row in rows if row["Description"] == "deleted task Mail")
    assert deleted["Activity"] == "Backup deleted"
    assert deleted["Service"] == "IMAP"
    assert deleted["Task"] == "Office mail"
    assert deleted["Status"] == "Succeeded"
    assert deleted["Performed by"] == "bob@acme.test"
    assert list(rows[0]) == [
        "Date",
        "Activity",
        "Service",
        "Status",
        "Task",
        "Performed by",
        "IP address",
        "Browser",
        "Description",
    ]
    # Another account's CSV is not found; an unfiltered CSV has every row.
    assert len(csv_of(alice.get(audit_url(personas) + "?format=csv"))) == 6


def test_the_partner_csv_honours_the_account_filter_and_names_the_account(personas: Personas) -> None:
    world = partner_world(personas)
    paula = personas.client(world["paula"])  # type: ignore[arg-type]
    rows = csv_of(paula.get(partner_url(personas.partner.pk) + "?format=csv&status=failed"))
    assert [(row["Account"], row["Description"]) for row in rows] == [("Initech", "Initech event")]
    rows = csv_of(paula.get(partner_url(personas.partner.pk) + "?format=csv"))
    assert {row["Account"] for row in rows} == {"", "Acme", "Globex", "Initech"}


def test_csv_cells_that_would_be_formulas_are_neutralised(personas: Personas) -> None:
    audit('=HYPERLINK("http://evil.test","click")', account=personas.a, task_name="+cmd|' /C calc'!A0")
    audit("-2+3", account=personas.a, performed_by="@SUM(A1:A9)")
    rows = csv_of(personas.client(personas.alice).get(audit_url(personas) + "?format=csv"))
    by_description = {row["Description"]: row for row in rows}
    assert set(by_description) == {'\'=HYPERLINK("http://evil.test","click")', "'-2+3"}
    assert by_description['\'=HYPERLINK("http://evil.test","click")']["Task"] == "'+cmd|' /C calc'!A0"
    assert by_description["'-2+3"]["Performed by"] == "'@SUM(A1:A9)"


def test_paging_status_counts_and_htmx_fragment(personas: Personas) -> None:
    for n in range(27):
        audit(
            f"event {n:02d}",
            account=personas.a,
            status=FAILED if n % 9 == 0 else "succeeded",
            at=days_ago(0, hour=0).replace(minute=n),
        )
    alice = personas.client(personas.alice)
    first = alice.get(audit_url(personas))
    assert len(descriptions(first)) == 25
    assert "event 26" in descriptions(first)
    second = alice.get(audit_url(personas) + "?page=2")
    assert descriptions(second) == {"event 01", "event 00"}
    page = page_of(first)
    assert re.search(r'data-testid="count-succeeded".*?data-testid="count-value">24<', page, re.S)
    assert re.search(r'data-testid="count-failed".*?data-testid="count-value">3<', page, re.S)

    fragment = page_of(alice.get(audit_url(personas) + "?status=failed", **HTMX))
    assert "<html" not in fragment
    assert descriptions(alice.get(audit_url(personas) + "?status=failed", **HTMX)) == {
        "event 00",
        "event 09",
        "event 18",
    }
    assert 'hx-swap-oob="true"' in fragment  # the counts come along
    assert re.search(r'data-testid="count-succeeded".*?data-testid="count-value">24<', fragment, re.S)
    assert f'href="{audit_url(personas)}?status=failed&amp;format=csv"' in fragment  # the export follows
