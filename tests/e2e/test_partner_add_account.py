"""A partner administrator adds a customer account in the browser: a data center and a trial,
the page that follows, and "Activate backups" into the new account's add-task page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from backstop.billing.models import Subscription
from backstop.tenancy.models import Account, Membership
from tests.conftest import Personas
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "kettle-orbit-lantern-42"


def test_partner_adds_a_trial_account_and_activates_backups(
    page: Page, live_server: Any, personas: Personas, shoot: Callable[[str], Path]
) -> None:
    olivia = UserFactory(email="olivia@northwind.test", first_name="Olivia")
    MembershipFactory(user=olivia, partner=personas.partner, role=Membership.Role.ADMIN)
    sign_in(page, live_server.url, olivia.email, PASSWORD)
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/p/{personas.partner.pk}/accounts/new/")
    expect(page.get_by_role("heading", name="Add account")).to_be_visible()

    # The customer's own storage shows its fields for the chosen kind only.
    page.get_by_test_id("where-own").check()
    expect(page.get_by_label("Secret access key")).to_be_visible()
    expect(page.get_by_label("Service account key (JSON)")).to_be_hidden()
    page.get_by_label("Storage", exact=True).select_option("azure")
    expect(page.get_by_label("Connection string")).to_be_visible()
    expect(page.get_by_label("Secret access key")).to_be_hidden()
    expect(page.locator("label[for=id_bucket]")).to_have_text("Container")
    shoot("01-own-storage")

    page.get_by_test_id("where-datacenter").check()
    expect(page.get_by_label("Data center", exact=True)).to_be_visible()
    expect(page.get_by_label("Connection string")).to_be_hidden()
    page.get_by_label("Account name", exact=True).fill("Initech")
    page.get_by_label("Account e-mail", exact=True).fill("it@initech.test")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Retype password").fill(NEW_PASSWORD)
    page.get_by_label("Data center", exact=True).select_option(label="EU (Paris)")
    # The partner's default (a trial with expiration) is preselected; no plan to pick for it.
    expect(page.get_by_test_id("subscription-trial")).to_be_checked()
    expect(page.get_by_label("Plan", exact=True)).to_be_hidden()
    page.get_by_test_id("subscription-trial_auto").check()
    expect(page.get_by_label("Plan", exact=True)).to_be_visible()
    page.get_by_test_id("subscription-trial").check()
    shoot("02-form")

    page.get_by_test_id("create-account").click()
    added = page.get_by_test_id("account-added")
    expect(added).to_be_visible()
    expect(page.get_by_test_id("added-name")).to_have_text("Initech is ready")
    expect(page.get_by_test_id("added-storage")).to_have_text("EU (Paris) data center")
    expect(page.get_by_test_id("added-subscription")).to_contain_text("Free trial")
    shoot("03-added")

    account = Account.objects.get(name="Initech")
    assert account.partner == personas.partner and account.region == "eu-paris"
    assert Subscription.objects.get(account=account).kind == "trial"

    page.get_by_test_id("activate-backups").click()
    expect(page).to_have_url(re.compile(rf"/a/{account.pk}/backups/new/$"))
    expect(page.get_by_test_id("tenant-name")).to_have_text("Initech")
    shoot("04-add-task")
