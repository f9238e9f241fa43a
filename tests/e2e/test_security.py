"""Two-factor authentication and IP restrictions in a real browser (A-SECURITY, A-IPRESTRICT)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from backstop.security.models import SecurityPolicy, TrustedAddress
from tests.conftest import PASSWORD, Personas
from tests.e2e.helpers import sign_in
from tests.security import totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_out(page: Page) -> None:
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("sign-out").click()
    expect(page).to_have_url(re.compile(r"/auth/login/"))


def fresh_window(seconds_needed: float = 12) -> None:
    """Waits, when needed, until the current 30-second TOTP window has this much time left."""
    left = 30 - time.time() % 30
    if left < seconds_needed:
        time.sleep(left + 0.5)


def confirm_password_if_asked(page: Page) -> None:
    """allauth asks the password again before 2FA changes unless the sign-in was very recent."""
    page.wait_for_load_state()
    if "/auth/reauthenticate/" in page.url:
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()


def enter_code(page: Page, code: str) -> None:
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name=re.compile("Sign In|Verify", re.I)).click()


def test_2fa_is_enabled_from_the_shown_key_then_asked_at_sign_in_and_refuses_wrong_or_replayed_codes(
    page: Page, live_server: Any, personas: Personas, shoot: Callable[[str], Path]
) -> None:
    refused: list[str] = []  # what the content security policy blocked, if anything
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security" in message.text else None,
    )
    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    page.goto(f"{live_server.url}/a/{personas.a.pk}/settings/security/")
    expect(page.get_by_test_id("mfa-off")).to_be_visible()
    shoot("01-security")
    page.get_by_test_id("activate-2fa").click()
    confirm_password_if_asked(page)
    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    expect(page.get_by_role("img", name=secret)).to_be_visible()  # the QR code
    shoot("02-activate")
    page.get_by_label("Authenticator code").fill("000000" if totp.code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    fresh_window()
    page.get_by_label("Authenticator code").fill(totp.code(secret))
    page.get_by_role("button", name="Activate").click()
    page.goto(f"{live_server.url}/a/{personas.a.pk}/settings/security/")
    expect(page.get_by_test_id("mfa-on")).to_be_visible()

    # Next sign-in: the password is not enough any more.
    sign_out(page)
    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    expect(page).to_have_url(re.compile(r"/auth/2fa/authenticate/"))
    shoot("03-asked-for-code")
    enter_code(page, "123456" if totp.code(secret) != "123456" else "654321")
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    # The activation code is spent: wait for the next window's code.
    time.sleep(30 - time.time() % 30 + 0.5)
    fresh_window()
    code = totp.code(secret)
    enter_code(page, code)
    expect(page.get_by_test_id("tenant-name")).to_have_text("Acme")

    # The same code a second time, still inside its window, is refused as a replay.
    sign_out(page)
    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    assert totp.code(secret) == code, "the window moved on; the replay would not be a replay"
    enter_code(page, code)
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/auth/2fa/authenticate/"))
    assert refused == []


def test_enforced_2fa_leads_a_user_without_it_to_set_it_up_at_sign_in(
    page: Page, live_server: Any, personas: Personas, shoot: Callable[[str], Path]
) -> None:
    SecurityPolicy.objects.create(account=personas.a, require_mfa=True)
    sign_in(page, live_server.url, personas.bob.email, PASSWORD)
    expect(page.get_by_text("Two-factor authentication is required for your account.")).to_be_visible()
    confirm_password_if_asked(page)
    expect(page).to_have_url(re.compile(r"/auth/2fa/totp/activate/"))
    shoot("01-forced-setup")
    # Any other page leads back here until it is done.
    page.goto(f"{live_server.url}/a/{personas.a.pk}/recovery/")
    confirm_password_if_asked(page)
    expect(page).to_have_url(re.compile(r"/auth/2fa/totp/activate/"))
    secret = page.locator("#authenticator_secret").input_value()
    fresh_window()
    page.get_by_label("Authenticator code").fill(totp.code(secret))
    page.get_by_role("button", name="Activate").click()
    page.goto(f"{live_server.url}/a/{personas.a.pk}/")
    expect(page.get_by_test_id("tenant-name")).to_have_text("Acme")


@contextmanager
def from_address(target_url: str, source: str) -> Iterator[str]:
    """A TCP relay on 127.0.0.1 whose connections reach the live server from `source`: the
    browser talks to the relay, the server sees the other loopback address as its client."""
    target = urlsplit(target_url)
    server_address = (socket.gethostbyname(target.hostname or "localhost"), target.port or 80)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.bind((source, 0))
            upstream.connect(server_address)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_sign_in_from_an_untrusted_loopback_address_is_denied(
    page: Page, live_server: Any, personas: Personas, shoot: Callable[[str], Path]
) -> None:
    TrustedAddress.objects.create(account=personas.a, addresses="127.0.0.1", description="This machine")
    SecurityPolicy.objects.create(account=personas.a, ip_restriction=True)
    with from_address(live_server.url, "127.0.0.2") as relay:
        sign_in(page, relay, personas.alice.email, PASSWORD)
        expect(page.get_by_test_id("access-denied")).to_be_visible()
        expect(page.get_by_test_id("denied-address")).to_have_text("127.0.0.2")
        shoot("01-access-denied")
        page.goto(f"{relay}/a/{personas.a.pk}/")
        expect(page).to_have_url(re.compile(r"/auth/login/"))  # never signed in
    # From the trusted address the same person gets in and sees the list.
    page.goto(f"{live_server.url}/auth/login/")
    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    page.goto(f"{live_server.url}/a/{personas.a.pk}/settings/security/ip/")
    expect(page.get_by_test_id("ip-state")).to_have_text("On")
    expect(page.get_by_test_id("my-address")).to_have_text("127.0.0.1")
    shoot("02-ip-restrictions")
