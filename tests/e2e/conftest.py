"""Real-browser tests: Debian's Chromium driven by Playwright against pytest-django's live_server.

Screenshots go to test-artifacts/e2e/ at the repository root (gitignored)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.helpers import newest_link

# Sync Playwright runs an event loop in the test thread; Django's ORM refuses that without this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM", "/usr/bin/chromium")  # Debian package `chromium`
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
URL_RE = re.compile(r"https?://[^\s<>\"']+")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}}


@pytest.fixture
def shoot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """shoot("03-home") saves a full-page screenshot named after the test and the step."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    folder.mkdir(parents=True, exist_ok=True)

    def take(step: str) -> Path:
        path = folder / f"{step}.png"
        # From the top: a fixed sidebar is drawn where the page was scrolled to otherwise.
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


MailLink = Callable[[str, str], tuple[str, EmailMessage]]


@pytest.fixture
def mail_link(outbox: Path, live_server: Any) -> MailLink:
    """mail_link(to, "/confirm-email/") -> (url, message): the link in the newest e-mail to `to`.

    The url is rebased on the live server, so the test does not depend on BACKSTOP_BASE_URL."""

    def find(to: str, path_contains: str) -> tuple[str, EmailMessage]:
        path, message = newest_link(outbox, to, path_contains)
        return live_server.url + path, message

    return find
