"""A partner user in the browser: the dashboard lists only the accounts they may open, search
narrows it live (htmx), and opening an account shows that account with a way back."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Personas
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


def test_partner_user_sees_only_accessible_accounts(
    page: Page, live_server: Any, personas: Personas, shoot: Callable[[str], Path]
) -> None:
    sign_in(page, live_server.url, personas.pat.email, PASSWORD)

    expect(page).to_have_url(re.compile(rf"/p/{personas.partner.pk}/$"))
    rows = page.get_by_test_id("account-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Acme")
    expect(page.get_by_text("Globex")).to_have_count(0)
    shoot("01-dashboard")

    page.get_by_placeholder("Search name or e-mail").fill("zzz")
    expect(page.get_by_text("No account matches")).to_be_visible()
    page.get_by_placeholder("Search name or e-mail").fill("acm")
    expect(rows).to_have_count(1)

    rows.first.get_by_role("link", name="Acme").click()
    expect(page).to_have_url(re.compile(rf"/a/{personas.a.pk}/$"))
    expect(page.get_by_test_id("tenant-name")).to_have_text("Acme")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Homepage", "Settings", "Support"])
    shoot("02-partner-in-account")

    back = page.get_by_role("link", name=re.compile("Back to Northwind IT"))
    expect(back).to_have_count(2)  # the sidebar and the banner
    page.get_by_test_id("partner-visit-back").click()
    expect(page).to_have_url(re.compile(rf"/p/{personas.partner.pk}/$"))

    response = page.goto(f"{live_server.url}/a/{personas.b.pk}/")
    assert response is not None and response.status == 404
