"""In a real browser: a partner administrator adds a Custom partner user with two partner
operations and one accessible account, found with the picker's search among many; the invitee
confirms from the e-mail, signs in, sets their own password and sees only that account."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backstop.billing.models import BillingProfile
from backstop.tenancy.models import Membership
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD, AccountFactory, MembershipFactory, PartnerFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("transactional_db")]

Shoot = Callable[[str], Path]
MailLink = Callable[[str, str], tuple[str, Any]]

INVITEE = "gus@northwind.test"
CHOSEN_BY_ADMIN = "steady-Copper-kettle-5"
OWN_PASSWORD = "quiet-Harbour-lantern-8"


def sign_out(page: Page) -> None:
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("sign-out").click()
    expect(page).to_have_url(re.compile(r"/auth/login/"))


def test_admin_adds_a_custom_partner_user_limited_to_one_account(
    page: Page, live_server: Any, mail_link: MailLink, shoot: Shoot
) -> None:
    base = live_server.url
    page.set_default_timeout(30_000)
    partner = PartnerFactory(name="Northwind IT", email="office@northwind.test")
    BillingProfile.objects.create(partner=partner, email=partner.email, onboarded_at=timezone.now())
    for name in ("Acme", "Globex", "Initech", *(f"Customer {n:02d}" for n in range(1, 31))):
        AccountFactory(name=name, email=f"it@{name.lower().replace(' ', '')}.test", partner=partner)
    nora = UserFactory(email="nora@northwind.test", first_name="Nora", last_name="Quinn")
    MembershipFactory(user=nora, partner=partner, role=Membership.Role.ADMIN)

    # The administrator: Settings > Account, then Users > Add new user.
    sign_in(page, base, nora.email, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/$"))
    page.goto(f"{base}/p/{partner.pk}/settings/")
    expect(page.get_by_test_id("partner-code")).to_have_value(partner.code)
    expect(page.get_by_label("Trial with expiration")).to_be_checked()
    shoot("01-partner-account-settings")

    page.get_by_test_id("settings-tabs").get_by_role("link", name="Users").click()
    expect(page.get_by_test_id("user-row")).to_have_count(1)
    shoot("02-partner-users")
    page.get_by_test_id("add-user").click()
    form = page.get_by_test_id("user-form")
    form.get_by_label("E-mail").fill(INVITEE)
    expect(form.get_by_label("Credential type")).to_have_value("email")
    form.get_by_label("First name").fill("Gus")
    form.get_by_label("Last name").fill("Lee")
    form.get_by_label("Password").fill(CHOSEN_BY_ADMIN)
    form.get_by_label("Role").select_option("custom")
    # Account operations wait for an operation that opens accounts.
    expect(form.get_by_label("View account settings")).to_be_disabled()
    form.get_by_label("View the dashboard").check()
    form.get_by_label("Add new accounts").check()
    form.get_by_label("View account settings").check()
    form.get_by_label("All accounts").uncheck()
    # The picker shows a page of the 33 accounts, not all of them; "Show more" adds the next.
    chosen = form.get_by_test_id("chosen-accounts")
    results = form.get_by_test_id("account-results")
    expect(results.get_by_test_id("account-result")).to_have_count(20)
    results.get_by_test_id("more-accounts").click()
    expect(results.get_by_test_id("account-result")).to_have_count(33)
    # Ticked in the results, Acme joins the chosen ones; unticked there, it leaves them again.
    results.get_by_label(re.compile("^Acme")).check()
    expect(chosen.get_by_label(re.compile("^Acme"))).to_be_checked()
    expect(page.locator("#chosen-count")).to_have_text("1")
    chosen.get_by_label(re.compile("^Acme")).uncheck()
    expect(results.get_by_label(re.compile("^Acme"))).not_to_be_checked()
    expect(page.locator("#chosen-count")).to_have_text("0")
    # The search asks the server: only matching accounts come back.
    form.get_by_test_id("account-search").fill("init")
    expect(results.get_by_test_id("account-result")).to_have_count(1)
    results.get_by_label(re.compile("^Initech")).check()
    expect(chosen.get_by_label(re.compile("^Initech"))).to_be_checked()
    expect(page.locator("#chosen-count")).to_have_text("1")
    shoot("03-new-partner-user")
    page.get_by_test_id("save-user").click()
    row = page.get_by_test_id("user-row").filter(has_text=INVITEE)
    expect(row).to_contain_text("Awaiting confirmation")
    expect(row).to_contain_text("Custom")
    expect(row.get_by_test_id("user-accounts")).to_have_text("1 account")
    shoot("04-user-awaiting-confirmation")
    row.get_by_role("link", name=f"Edit {INVITEE}").click()
    form = page.get_by_test_id("user-form")
    expect(form.get_by_label("All accounts")).not_to_be_checked()
    chosen = form.get_by_test_id("chosen-accounts")
    expect(chosen.get_by_test_id("chosen-account")).to_have_count(1)
    expect(chosen.get_by_label(re.compile("^Initech"))).to_be_checked()
    expect(form.get_by_test_id("account-results").get_by_label(re.compile("^Acme"))).not_to_be_checked()
    shoot("05-edit-partner-user")
    form.get_by_role("link", name="Cancel").click()
    membership = Membership.objects.get(user__email=INVITEE)
    assert sorted(membership.operations) == [
        "partner.add_accounts",
        "partner.view_dashboard",
        "view_settings",
    ]
    assert [a.name for a in membership.accounts.all()] == ["Initech"]
    sign_out(page)

    # The invitee: the link from the e-mail, confirm, sign in.
    url, message = mail_link(INVITEE, "/auth/confirm-email/")
    assert message["Subject"] == "[Backstop] You were given access to Backstop"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert 'partner portal of "Northwind IT"' in body and "24 hours" in body
    page.goto(url)
    expect(page.get_by_text(INVITEE)).to_be_visible()
    shoot("06-confirm")
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/auth/login/"))
    sign_in(page, base, INVITEE, CHOSEN_BY_ADMIN)
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/$"))

    # Their own password instead of the one the administrator chose.
    page.goto(base + "/auth/password/change/")
    page.get_by_label("Current Password").fill(CHOSEN_BY_ADMIN)
    page.get_by_label("New Password", exact=True).fill(OWN_PASSWORD)
    page.get_by_label("New Password (again)").fill(OWN_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert").filter(has_text="Password successfully changed")).to_be_visible()
    sign_out(page)
    sign_in(page, base, INVITEE, OWN_PASSWORD)
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/$"))

    # Only Initech, anywhere they look.
    rows = page.get_by_test_id("account-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Initech")
    expect(page.get_by_text("Acme")).to_have_count(0)
    expect(page.get_by_text("Globex")).to_have_count(0)
    shoot("07-invitee-dashboard")
    response = page.goto(f"{base}/p/{partner.pk}/settings/users/")
    assert response is not None and response.status == 403
