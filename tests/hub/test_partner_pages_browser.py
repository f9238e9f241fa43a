"""In a real browser: a partner administrator sets the report on its customers to one file per
customer and adds a recipient of the trial accounts report (Settings > Notifications), opens the
Learning Hub and filters it to videos, and reads the Security Audit where those changes landed;
and reads the built-in guides from the Learning Hub on to the page a guide describes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.utils import timezone
from playwright.sync_api import Page, expect

from backstop.billing.models import BillingProfile
from backstop.hub import guides
from backstop.hub.models import Resource
from backstop.notify.models import Recipient, ReportSettings
from backstop.tenancy.models import Membership
from tests.e2e.conftest import browser_context_args, browser_type_launch_args, shoot  # noqa: F401 - fixtures
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD, AccountFactory, MembershipFactory, PartnerFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("transactional_db")]

Shoot = Callable[[str], Path]


def test_partner_notifications_learning_hub_and_audit(
    page: Page,
    live_server: Any,
    shoot: Shoot,  # noqa: F811 - the fixture imported above
    settings: LazySettings,
) -> None:
    settings.BACKSTOP_SUPPORT_URL = "https://help.backstop.example/"
    settings.BACKSTOP_PARTNER_ZONE_URL = "https://partners.backstop.example/"
    base = live_server.url
    page.set_default_timeout(30_000)
    partner = PartnerFactory(name="Northwind IT", email="office@northwind.test")
    BillingProfile.objects.create(partner=partner, email=partner.email, onboarded_at=timezone.now())
    for name in ("Acme", "Globex"):
        AccountFactory(name=name, email=f"it@{name.lower()}.test", partner=partner)
    nora = UserFactory(email="nora@northwind.test", first_name="Nora", last_name="Quinn")
    MembershipFactory(user=nora, partner=partner, role=Membership.Role.ADMIN)
    Recipient.objects.create(partner=partner, email="ops@northwind.test", name="Ops", exceptions=True)
    Resource.objects.all().delete()
    for kind, order, title, text in (
        ("guide", 1, "Your first customer account", "Add an account and start its trial."),
        ("guide", 2, "Reading the dashboard", "Trial, backup and billing status at a glance."),
        ("video", 1, "Activating backups for a customer", "Connect a service and run the first backup."),
        ("video", 2, "Restoring a mailbox", "Pick the point in time and restore it."),
    ):
        Resource.objects.create(kind=kind, order=order, title=title, description=text, link=f"/docs/{order}/")

    sign_in(page, base, nora.email, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/$"))

    page.goto(f"{base}/p/{partner.pk}/settings/notifications/")
    page.get_by_label("One file per customer").check()
    page.get_by_label("Download link").check()
    page.get_by_test_id("save-report-settings").click()
    expect(page.get_by_text("Report settings saved.")).to_be_visible()
    page.get_by_test_id("add-recipient").click()
    page.get_by_label("E-mail").fill("sales@northwind.test")
    page.get_by_label("Display name").fill("Sales")
    page.get_by_label("Summary report").uncheck()
    page.get_by_label("Trial accounts report").check()
    shoot("01-new-recipient")
    page.get_by_test_id("save-recipient").click()
    expect(page.get_by_test_id("recipient-row")).to_have_count(2)
    shoot("02-partner-notifications")
    saved = ReportSettings.objects.get(partner=partner)
    assert (saved.layout, saved.delivery) == ("per_customer", "link")
    assert Recipient.objects.get(partner=partner, email="sales@northwind.test").trial_report

    page.goto(f"{base}/p/{partner.pk}/hub/")
    expect(page.get_by_test_id("hub-entry")).to_have_count(4)
    expect(page.get_by_test_id("partner-zone-link")).to_have_attribute("target", "_blank")
    shoot("03-learning-hub")
    page.get_by_test_id("kind-video").click()
    expect(page.get_by_test_id("hub-entry")).to_have_count(2)

    page.goto(f"{base}/p/{partner.pk}/audit/")
    expect(page.get_by_text("Recipient sales@northwind.test added")).to_be_visible()
    shoot("04-partner-audit")


def test_a_partner_user_reads_a_guide_and_goes_on_to_the_page_it_describes(
    page: Page,
    live_server: Any,
    shoot: Shoot,  # noqa: F811 - the fixture imported above
) -> None:
    base = live_server.url
    page.set_default_timeout(30_000)
    partner = PartnerFactory(name="Northwind IT", email="office@northwind.test")
    BillingProfile.objects.create(partner=partner, email=partner.email, onboarded_at=timezone.now())
    nora = UserFactory(email="nora@northwind.test", first_name="Nora", last_name="Quinn")
    MembershipFactory(user=nora, partner=partner, role=Membership.Role.ADMIN)
    # The install's entries (an earlier browser test may have emptied the table).
    Resource.objects.all().delete()
    for order, guide in enumerate(guides.GUIDES):
        Resource.objects.create(
            kind="guide", order=order, title=guide.title, description=guide.summary, link=guide.path
        )

    sign_in(page, base, nora.email, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/$"))
    page.get_by_role("link", name="Learning Hub").click()
    expect(page.get_by_test_id("hub-guide-link")).to_have_count(len(guides.GUIDES))
    shoot("01-hub-guides")

    page.get_by_role("link", name="Your first customer account").click()  # same tab
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/hub/guides/add-account/$"))
    expect(page.get_by_test_id("guide-title")).to_have_text("Your first customer account")
    expect(page.locator(".bs-sidebar .nav-link.active")).to_have_text(re.compile("Learning Hub"))
    shoot("02-guide-add-account")

    page.get_by_test_id("guide-next").click()
    expect(page.get_by_test_id("guide-title")).to_have_text("Reading the dashboard")
    page.get_by_test_id("guide-list").get_by_role("link", name="Reports and notifications").click()
    expect(page.get_by_test_id("guide-title")).to_have_text("Reports and notifications")
    shoot("03-guide-notifications")
    page.get_by_test_id("guide-open").click()
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/settings/notifications/$"))
    expect(page.get_by_test_id("add-recipient")).to_be_visible()
