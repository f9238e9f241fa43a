"""In a real browser: a reseller's user works inside a customer account and goes back to the portal;
a distributor's user opens a reseller's portal; the customer takes the partner's access away."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backstop.tenancy.models import Account
from tests.e2e.conftest import (  # noqa: F401 - the browser fixtures of tests/e2e, here too
    browser_context_args,
    browser_type_launch_args,
    shoot,
)
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_working_inside_an_account_and_taking_the_access_away(
    page: Page,
    live_server: object,
    hierarchy: Hierarchy,
    shoot: Callable[[str], Path],  # noqa: F811
) -> None:
    h = hierarchy
    base = str(live_server)
    alpha_one = h.account("Alpha One")

    sign_in(page, base, "alan@alpha.test", PASSWORD)
    page.goto(f"{base}/a/{alpha_one.pk}/")
    banner = page.get_by_test_id("partner-visit")
    expect(banner).to_contain_text("You are working in Alpha One as")
    expect(banner).to_contain_text("of Alpha IT")
    shoot("01-reseller-inside-account")
    page.get_by_test_id("partner-visit-back").click()
    expect(page).to_have_url(f"{base}/p/{h.alpha.pk}/")
    expect(page.get_by_text("Alpha Two").first).to_be_visible()
    page.context.clear_cookies()

    sign_in(page, base, "gina@globalnet.test", PASSWORD)
    page.goto(f"{base}/p/{h.beta.pk}/")
    expect(page.get_by_test_id("back-to-parent")).to_contain_text("Back to Globalnet")
    shoot("02-distributor-in-reseller-portal")
    page.get_by_test_id("user-menu").click()
    shoot("03-distributor-user-menu")
    page.context.clear_cookies()

    Account.objects.filter(pk=alpha_one.pk).update(customer_may_remove_partner=True)
    sign_in(page, base, "owner@alpha-one.test", PASSWORD)
    page.goto(f"{base}/a/{alpha_one.pk}/settings/")
    expect(page.get_by_test_id("partner-visit")).to_have_count(0)
    card = page.get_by_test_id("partner-access")
    expect(card).to_contain_text("managed by Alpha IT")
    shoot("04-customer-settings-partner-access")
    page.get_by_label("I understand that Alpha IT will no longer be able to open this account").check()
    page.get_by_test_id("remove-partner-access").click()
    expect(page.get_by_role("dialog")).to_contain_text("Remove Alpha IT's access?")
    shoot("05-confirm-removal")
    page.get_by_test_id("confirm-remove-partner").click()
    expect(page.get_by_test_id("partner-access-removed")).to_be_visible()
    shoot("06-access-removed")
    alpha_one.refresh_from_db()
    assert not alpha_one.partner_access
