"""SAML in a real browser: the administrator activates the IdP by its metadata URL, then a user
signs in through "Sign in with SSO", the IdP's page posting the signed response back cross-site
(the way the browser's SameSite cookie rules and our content security policy really apply)."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from backstop.sso.models import SamlConnection
from tests.conftest import PASSWORD, Personas
from tests.e2e import conftest as e2e
from tests.e2e.helpers import sign_in
from tests.sso.idp import TestIdP

# The browser fixtures of tests/e2e (Debian's Chromium, screenshots), used here too.
browser_type_launch_args = e2e.browser_type_launch_args
browser_context_args = e2e.browser_context_args
shoot = e2e.shoot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class IdpServer:
    """The IdP's web front: its metadata, and a sign-in page that answers an AuthnRequest with a
    form posting the signed response to our ACS. Served on `localhost`, another site than the
    live server's 127.0.0.1."""

    def __init__(self, folder: Path, live_server_url: str) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://localhost:{self.server.server_address[1]}"
        self.idp = TestIdP(folder, sso_url=self.base + "/sso")
        self.live_server_url = live_server_url
        self.user = ""
        self.pages: dict[str, str] = {}  # per AuthnRequest: a reload shows the same response
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metadata":
                    self._send(outer.idp.metadata(), "application/samlmetadata+xml")
                elif self.path.startswith("/sso?"):
                    self._send(outer.sign_in_page(outer.base + self.path), "text/html")
                else:
                    self.send_error(404)

            def _send(self, body: str, kind: str) -> None:
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def sign_in_page(self, location: str) -> str:
        query = parse_qs(urlsplit(location).query)
        slug = re.search(r"/auth/saml/([^/]+)/", self.idp.read_request(location).acs_url)
        assert slug is not None
        if not self.idp.sp_metadata:  # the IdP's administrator loaded our SP metadata once
            sp = httpx.get(f"{self.live_server_url}/auth/saml/{slug.group(1)}/metadata/")
            self.idp.trust_sp(sp.text)
        request = self.idp.read_request(location)
        if request.id not in self.pages:
            self.pages[request.id] = self._page(request, self.idp.response(request, self.user), query)
        return self.pages[request.id]

    def _page(self, request: Any, saml_response: str, query: dict[str, list[str]]) -> str:
        return (
            "<!doctype html><title>Example IdP</title><h1>Example IdP</h1>"
            f'<form method="post" action="{html.escape(request.acs_url)}">'
            f'<input type="hidden" name="SAMLResponse" value="{saml_response}">'
            f'<input type="hidden" name="RelayState" value="{html.escape(query.get("RelayState", [""])[0])}">'
            f"<button type=submit>Continue as {html.escape(self.user)}</button></form>"
        )


@pytest.fixture
def idp_server(tmp_path: Path, live_server: Any, settings: Any) -> Iterator[IdpServer]:
    settings.BACKSTOP_SAML_INSECURE_METADATA_URLS = True  # plain http on this machine
    folder = tmp_path / "idp"
    folder.mkdir()
    server = IdpServer(folder, live_server.url)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_activate_by_url_then_sign_in_with_sso(
    page: Page, live_server: Any, personas: Personas, idp_server: IdpServer, shoot: Callable[[str], Path]
) -> None:
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    page.goto(f"{live_server.url}/a/{personas.a.pk}/settings/security/saml/")
    expect(page.get_by_test_id("saml-state")).to_have_text("Not active")
    page.get_by_label("Metadata URL").fill(idp_server.base + "/metadata")
    page.get_by_test_id("saml-activate").click()
    expect(page.get_by_test_id("saml-state")).to_have_text("Active")
    expect(page.get_by_test_id("saml-fingerprint")).not_to_be_empty()
    shoot("01-saml-active")
    assert SamlConnection.objects.get(account=personas.a).is_active

    page.context.clear_cookies()  # another person, another browser session
    idp_server.user = "bob@acme.test"
    page.goto(live_server.url + "/auth/login/")
    page.get_by_test_id("sso-login").click()
    page.get_by_label("Work e-mail address").fill("bob@acme.test")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"^http://localhost:\d+/sso\?SAMLRequest="))
    page.get_by_role("button", name="Continue as bob@acme.test").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(live_server.url)}/a/{personas.a.pk}/"))
    expect(page.get_by_test_id("tenant-name")).to_have_text("Acme")
    shoot("02-signed-in-through-the-idp")
    assert not blocked

    # The same response posted again (the back button, or someone who captured it) is refused.
    page.context.clear_cookies()
    page.go_back()
    expect(page).to_have_url(re.compile(r"^http://localhost:\d+/sso\?SAMLRequest="))
    page.get_by_role("button", name="Continue as bob@acme.test").click()
    expect(page.get_by_test_id("sso-refused")).to_contain_text("already used")
    shoot("03-replay-refused")
    page.goto(f"{live_server.url}/a/{personas.a.pk}/")
    expect(page).to_have_url(re.compile(r"/auth/login/"))
