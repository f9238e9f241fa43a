"""Real-browser tests: Debian's Chromium driven by Playwright against pytest-django's live_server.

Screenshots go to test-artifacts/e2e/ at the repository root (gitignored)."""

from __future__ import annotations

import email
import os
import re
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

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


def _read_mail(outbox: Path, to: str) -> list[EmailMessage]:
    """Messages for `to` in the outbox folder, oldest first."""
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        if to.lower() in str(message["To"]).lower():
            found.append(message)
    return found


def _link_from_mail(outbox: Path, to: str, path_contains: str, base_url: str) -> tuple[str, EmailMessage]:
    messages = _read_mail(outbox, to)
    assert messages, f"no e-mail to {to} in {outbox}"
    message = messages[-1]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    links = [link for link in URL_RE.findall(text) if path_contains in link]
    assert links, f"no link with {path_contains!r} in:\n{text}"
    parts = urlsplit(links[0])
    return base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else ""), message


MailLink = Callable[[str, str], tuple[str, EmailMessage]]


@pytest.fixture
def mail_link(outbox: Path, live_server: Any) -> MailLink:
    """mail_link(to, "/confirm-email/") -> (url, message): the link in the newest e-mail to `to`.

    The url is rebased on the live server, so the test does not depend on BACKSTOP_BASE_URL."""

    def find(to: str, path_contains: str) -> tuple[str, EmailMessage]:
        return _link_from_mail(outbox, to, path_contains, live_server.url)

    return find
