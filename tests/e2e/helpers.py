"""Steps several browser tests share."""

from __future__ import annotations

from playwright.sync_api import Page


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Fills the sign-in form (opening it first unless the browser is already on it)."""
    if "/auth/login/" not in page.url:
        page.goto(base_url + "/auth/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
