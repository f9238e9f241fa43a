"""Fixtures for SAML: a test IdP, account A (Acme) using it, and the SP-initiated round trip."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client

from backstop.sso import metadata, services
from backstop.sso.models import SamlConnection
from tests.conftest import Personas
from tests.sso.idp import AuthnRequest, TestIdP


@pytest.fixture
def idp(tmp_path: Path) -> TestIdP:
    folder = tmp_path / "idp"
    folder.mkdir()
    return TestIdP(folder)


@pytest.fixture
def acme_sso(personas: Personas, idp: TestIdP) -> SamlConnection:
    """Account A with SAML active for the test IdP (as its administrator Alice activated it), and
    the IdP trusting our SP metadata (as the IdP's administrator set it up)."""
    connection = services.activate(personas.a, metadata.parse(idp.metadata()), url="", by=personas.alice)
    sp_metadata = browser().get(f"/auth/saml/{connection.slug}/metadata/")
    assert sp_metadata.status_code == 200
    idp.trust_sp(sp_metadata.content.decode())
    return connection


def browser() -> Client:
    """A test client that sends a Host header, as every browser does (allauth's SAML views read it)."""
    return Client(HTTP_HOST="testserver")


@dataclass
class Started:
    client: Client
    location: str


def start(slug: str, client: Client | None = None) -> Started:
    """The browser asks to sign in through the account's IdP and is redirected there."""
    client = client or browser()
    response = client.post(f"/auth/saml/{slug}/login/")
    assert response.status_code == 302, response.content[:500]
    return Started(client, response["Location"])


def post_to_acs(client: Client, request: AuthnRequest, saml_response: str) -> HttpResponse:
    """The browser POSTs the IdP's form to our ACS, then follows allauth's hop to /acs/finish/."""
    posted = client.post(request.acs_url, {"SAMLResponse": saml_response, "RelayState": request.relay_state})
    assert posted.status_code == 302, posted.content[:500]
    return client.get(posted["Location"])  # type: ignore[return-value]
