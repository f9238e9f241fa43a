"""Removing an account in the browser: the approval tick, the "are you sure?" step, the grace
banner, and cancelling the removal."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from backstop.tenancy.models import Account
from tests.conftest import Personas
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


def test_remove_then_cancel(
    page: Page, live_server: Any, personas: Personas, shoot: Callable[[str], Path]
) -> None:
    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(rf"/a/{personas.a.pk}/settings/$"))

    # Without the tick, "Yes, remove" is refused by the browser and nothing happens.
    page.get_by_test_id("remove-account").click()
    expect(page.get_by_role("heading", name="Are you sure?")).to_be_visible()
    page.get_by_test_id("confirm-remove").click()
    assert Account.objects.get(pk=personas.a.pk).removal_requested_at is None
    page.get_by_role("button", name="No, keep it").click()

    page.get_by_label("I approve the removal of my data").check()
    page.get_by_test_id("remove-account").click()
    shoot("01-are-you-sure")
    page.get_by_test_id("confirm-remove").click()
    expect(page.get_by_test_id("removal-badge")).to_be_visible()
    shoot("02-scheduled-for-removal")
    assert Account.objects.get(pk=personas.a.pk).removal_requested_at is not None

    page.get_by_test_id("cancel-removal").click()
    expect(page.get_by_text("The removal was cancelled")).to_be_visible()
    expect(page.get_by_test_id("removal-badge")).to_have_count(0)
    assert Account.objects.get(pk=personas.a.pk).removal_requested_at is None
