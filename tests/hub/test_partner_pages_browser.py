"""In a real browser: a partner administrator sets the report on its customers to one file per
customer and adds a recipient of the trial accounts report (Settings > Notifications), opens the
Learning Hub and filters it to videos, and reads the Security Audit where those changes landed."""

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
