"""The Activity section in a browser: System Activity with its info pop-up, the Security Audit
filtered live (htmx) with the sign-in the browser just made, and a partner's audit."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backstop.audit.models import AuditEvent
from backstop.backups.models import ActivityEvent, BackupTask, Job
from backstop.tenancy import permissions as perms
from tests.audit.util import activity, audit, days_ago
from tests.conftest import Personas
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD, AccountFactory
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/backstop-activity")


def snap(page: Page, shoot: Callable[[str], Path], name: str) -> None:
    shoot(name)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def seed(personas: Personas) -> None:
    box = BackupTask.objects.create(account=personas.a, service="box", name="Company Box")
    mail = BackupTask.objects.create(account=personas.a, service="imap", name="Office mail")
    now = timezone.now()
    job = Job.objects.create(
        account=personas.a,
        kind=Job.Kind.BACKUP,
        task=box,
        status=Job.Status.SUCCEEDED,
        started_at=now - timedelta(minutes=3),
        ended_at=now - timedelta(seconds=15),
        result={"items": 2480, "size": 3 * 1024**3, "bytes_stored": 48 * 1024**2, "failed": []},
    )
    activity(
        box,
        "Dana Scully",
        at=now - timedelta(minutes=1),
        duration=timedelta(seconds=165),
        items=312,
        bytes=52 * 1024**2,
        summary="280 new, 30 changed, 2 removed",
        job=job,
    )
    for n, name in enumerate(("Fox Mulder", "Walter Skinner", "Monica Reyes")):
        activity(
            box,
            name,
            at=days_ago(1 + n),
            duration=timedelta(seconds=40 + n),
            items=10 * n,
            summary=f"{n} new, 0 changed, 0 removed",
        )
    activity(
        mail,
        "sales@acme.test",
        status=ActivityEvent.Status.FAILED,
        at=days_ago(2),
        summary="The IMAP server refused the password",
    )
    activity(
        box,
        "Dana Scully",
        kind="restore",
        status=ActivityEvent.Status.PARTIAL,
        at=days_ago(3),
        items=14,
        bytes=9 * 1024**2,
        summary="14 items restored, 1 skipped",
    )
    activity(mail, "ceo@acme.test", kind="export", at=days_ago(4), items=930, bytes=210 * 1024**2)

    a = personas.a
    audit("Account name changed from “Acme Ltd” to “Acme”", account=a, at=days_ago(1))
    audit(
        "Permissions of bob@acme.test changed: allowed: View account activity",
        account=a,
        activity="permissions_changed",
        at=days_ago(2),
    )
    audit(
        "Sign-in refused: wrong password (Firefox from 203.0.113.9)",
        account=a,
        activity="sign_in",
        status=AuditEvent.Status.FAILED,
        performed_by="bob@acme.test",
        ip="203.0.113.9",
        at=days_ago(2, 9),
    )
    audit(
        "Backup task “Old Box” deleted; its backups are purged after 7 days",
        account=a,
        activity="backup_deleted",
        service="box",
        task_name="Old Box",
        at=days_ago(5),
    )
    audit("Globex renamed", account=personas.b, performed_by="charlie@globex.test")


def test_activity_pages_filter_and_info(
    page: Page, live_server: Any, personas: Personas, shoot: Callable[[str], Path]
) -> None:
    seed(personas)
    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Activity").click()

    expect(page).to_have_url(re.compile(rf"/a/{personas.a.pk}/activity/$"))
    expect(nav.get_by_role("link", name="Activity")).to_have_attribute("aria-current", "page")
    rows = page.get_by_test_id("activity-row")
    expect(rows).to_have_count(7)
    expect(page.get_by_test_id("count-failed").get_by_test_id("count-value")).to_have_text("1")
    snap(page, shoot, "01-system-activity")

    rows.first.get_by_test_id("activity-info").click()
    dialog = page.locator("#activity-info")
    expect(dialog.get_by_test_id("info-duration")).to_contain_text("2 min 45 s")
    expect(dialog.get_by_test_id("info-size")).to_contain_text("48.0 MB")
    expect(dialog.get_by_test_id("info-items")).to_contain_text("2,480 items in the backup")
    expect(dialog.get_by_test_id("info-summary")).to_have_text("280 new, 30 changed, 2 removed")
    snap(page, shoot, "02-info-pop-up")
    dialog.get_by_role("button", name="Close").first.click()
    expect(dialog).to_be_hidden()

    page.get_by_label("Activity", exact=True).select_option("backup")
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("activity-item")).to_have_text("sales@acme.test")
    expect(page).to_have_url(re.compile(r"activity=backup&status=failed"))

    page.get_by_role("link", name="Security Audit").click()
    expect(page).to_have_url(re.compile(rf"/a/{personas.a.pk}/activity/audit/$"))
    expect(nav.get_by_role("link", name="Activity")).to_have_attribute("aria-current", "page")
    audit_rows = page.get_by_test_id("audit-row")
    expect(audit_rows).to_have_count(5)  # four seeded and the sign-in just made; never Globex's
    expect(audit_rows.first).to_contain_text("Signed in with password (Chrome from 127.0.0.1)")
    expect(page.get_by_text("Globex renamed")).to_have_count(0)
    snap(page, shoot, "03-security-audit")

    page.get_by_label("Activity", exact=True).select_option("sign_in")
    expect(audit_rows).to_have_count(2)
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(audit_rows).to_have_count(1)
    expect(audit_rows.first.get_by_test_id("audit-user")).to_have_text("bob@acme.test")
    expect(page.get_by_test_id("activity-export")).to_have_attribute(
        "href", re.compile(r"activity=sign_in&status=failed&format=csv$")
    )
    with page.expect_download() as download:
        page.get_by_test_id("activity-export").click()
    text = Path(download.value.path()).read_text()
    assert text.count("\n") == 2 and "Sign-in refused: wrong password" in text
    snap(page, shoot, "04-security-audit-filtered")


def test_partner_security_audit(
    page: Page, live_server: Any, personas: Personas, shoot: Callable[[str], Path]
) -> None:
    seed(personas)
    personas.pat_membership.operations = [perms.PARTNER_VIEW_DASHBOARD, perms.PARTNER_VIEW_AUDIT]
    personas.pat_membership.save()
    audit(  # Pat's own doing: a limited role sees the portal's events it did itself
        "Partner portal settings changed",
        partner=personas.partner,
        performed_by=personas.pat.email,
        user=personas.pat,
    )
    labs = AccountFactory(name="Acme Labs", email="it@acmelabs.test", partner=personas.partner)
    personas.pat_membership.accounts.add(labs)
    audit("Acme Labs settings changed", account=labs, performed_by="it@acmelabs.test")
    sign_in(page, live_server.url, personas.pat.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Security Audit").click()
    rows = page.get_by_test_id("audit-row")
    # Acme's four, Acme Labs', Pat's change to the portal, Pat's sign-in; Globex is hidden from Pat.
    expect(rows).to_have_count(7)
    expect(page.get_by_text("Globex renamed")).to_have_count(0)
    snap(page, shoot, "05-partner-audit")
    # The Account filter searches the accounts Pat reaches (never Globex) instead of listing them.
    search = page.get_by_label("Account", exact=True)
    search.fill("globex")
    expect(page.get_by_test_id("account-none")).to_have_text("No account matches “globex”.")
    search.fill("acm")
    matches = page.get_by_test_id("account-match")
    expect(matches).to_have_count(2)
    expect(matches.get_by_test_id("account-match-name")).to_have_text(["Acme", "Acme Labs"])
    expect(rows).to_have_count(7)  # typing searches accounts, it does not filter the events
    snap(page, shoot, "06-partner-audit-account-search")
    matches.first.click()
    expect(rows).to_have_count(4)
    expect(page.get_by_test_id("audit-account").first).to_have_text("Acme")
    expect(page.get_by_test_id("account-chosen-name")).to_have_text("Acme")
    expect(page).to_have_url(re.compile(rf"\?account={personas.a.pk}$"))
    snap(page, shoot, "07-partner-audit-account-chosen")
    # Cleared, every event again; the keyboard picks too: Enter takes the first match.
    page.get_by_test_id("account-clear").click()
    expect(rows).to_have_count(7)
    search = page.get_by_label("Account", exact=True)
    search.fill("labs")
    expect(matches).to_have_count(1)
    search.press("Enter")
    expect(page.get_by_test_id("account-chosen-name")).to_have_text("Acme Labs")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Acme Labs settings changed")


def test_a_distributor_searches_its_many_accounts_in_the_audit(
    page: Page, live_server: Any, hierarchy: Hierarchy, shoot: Callable[[str], Path]
) -> None:
    h = hierarchy
    for n in range(1, 46):
        reseller = h.alpha if n % 2 else h.beta
        account = AccountFactory(name=f"Customer {n:02d}", email=f"it@customer{n:02d}.test", partner=reseller)
        audit(f"Customer {n:02d} settings changed", account=account, performed_by=account.email)
    sign_in(page, live_server.url, h.gina.email, PASSWORD)
    page.goto(f"{live_server.url}/p/{h.globalnet.pk}/audit/")
    rows = page.get_by_test_id("audit-row")
    expect(rows).to_have_count(25)
    search = page.get_by_label("Account", exact=True)
    search.fill("customer")
    matches = page.get_by_test_id("account-match")
    # A page of matches, each with its reseller, and how many there are in all.
    expect(matches).to_have_count(20)
    expect(matches.first).to_contain_text("Customer 01")
    expect(matches.first.get_by_test_id("account-match-partner")).to_have_text("Alpha IT")
    expect(matches.nth(1).get_by_test_id("account-match-partner")).to_have_text("Beta IT")
    expect(page.get_by_test_id("account-match-count")).to_contain_text("First 20 of 45 accounts")
    snap(page, shoot, "08-distributor-account-search")
    search.fill("customer 12")
    expect(matches).to_have_count(1)
    search.press("ArrowDown")
    expect(matches.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("account-chosen")).to_contain_text("Customer 12 · Beta IT")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Customer 12 settings changed")
