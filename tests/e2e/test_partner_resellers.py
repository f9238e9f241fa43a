"""In a real browser: a distributor's user opens Resellers from the portal's menu, searches the list
(htmx), exports what the search shows, opens a reseller's portal from its row and works inside one
of that reseller's customer accounts, under the banner saying who works where."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_distributor_finds_a_reseller_and_opens_its_portal(
    page: Page, live_server: object, hierarchy: Hierarchy, shoot: Callable[[str], Path]
) -> None:
    h = hierarchy
    base = str(live_server)
    sign_in(page, base, h.gina.email, PASSWORD)
    expect(page.get_by_test_id("user-menu")).to_be_visible()
    page.get_by_test_id("user-menu").click()
    page.locator(".dropdown-menu").get_by_role("link", name="Globalnet").click()
    expect(page).to_have_url(f"{base}/p/{h.globalnet.pk}/")
    # The distributor's dashboard says which reseller holds each account, and filters by it.
    accounts = page.get_by_test_id("account-row")
    expect(accounts).to_have_count(5)
    expect(accounts.filter(has_text="Alpha One").get_by_test_id("reseller")).to_have_text("Alpha IT")
    page.get_by_test_id("filter-reseller").select_option(label="Alpha IT")
    expect(accounts).to_have_count(2)
    expect(page).to_have_url(re.compile(rf"reseller={h.alpha.pk}"))
    shoot("00-distributor-dashboard-by-reseller")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Resellers").click()
    expect(page).to_have_url(f"{base}/p/{h.globalnet.pk}/resellers/")
    rows = page.get_by_test_id("reseller-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Alpha IT")
    expect(rows.nth(0).get_by_test_id("reseller-users")).to_have_text("2")
    expect(rows.nth(1)).to_contain_text("Beta IT")
    expect(page.get_by_text("Solo Services")).to_have_count(0)
    shoot("01-resellers")

    page.get_by_test_id("reseller-search").fill("bet")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("reseller-name")).to_have_text("Beta IT")
    expect(page).to_have_url(re.compile(r"\?q=bet$"))  # the search is in the address (a bookmark)
    with page.expect_download() as download:
        page.get_by_test_id("export-csv").click()
    text = Path(download.value.path()).read_text()
    assert [line.split(",")[0] for line in text.splitlines()] == ["Name", "Beta IT"]
    shoot("02-search")

    rows.first.get_by_test_id("open-portal").click()
    expect(page).to_have_url(f"{base}/p/{h.beta.pk}/")
    expect(page.locator(".bs-tenant-name")).to_have_text("Beta IT")
    expect(page.get_by_test_id("back-to-parent")).to_contain_text("Back to Globalnet")
    expect(page.get_by_test_id("account-row")).to_have_count(2)  # Beta's customers, not Alpha's
    shoot("03-reseller-portal")

    page.get_by_test_id("account-row").filter(has_text="Beta One").get_by_role(
        "link", name="Beta One"
    ).click()
    banner = page.get_by_test_id("partner-visit")
    expect(banner).to_contain_text("You are working in Beta One as Gina")
    expect(banner).to_contain_text("of Globalnet")
    expect(page.get_by_test_id("partner-visit-back")).to_contain_text("Back to Beta IT portal")
    shoot("04-working-in-a-resellers-customer")
