"""Settings > Security > SAML: activating by upload or URL, bad metadata, deactivating, audit and
who may open the page."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from allauth.socialaccount.models import SocialApp
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from backstop.audit.models import AuditEvent
from backstop.sso.models import SamlConnection
from tests.conftest import Personas
from tests.sso.conftest import browser
from tests.sso.idp import ENTITY_ID, TestIdP, certificate_sha256


class MetadataServer:
    """A tiny HTTP server in the test that serves whatever body a path is given."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = bodies.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/xml")
                self.end_headers()
                self.wfile.write(body or b"not here")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def metadata_server() -> Iterator[MetadataServer]:
    server = MetadataServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def insecure_urls(settings: Any) -> None:
    settings.BACKSTOP_SAML_INSECURE_METADATA_URLS = True


def page_url(personas: Personas) -> str:
    return f"/a/{personas.a.pk}/settings/security/saml/"


def upload(content: str | bytes, name: str = "idp-metadata.xml") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="application/xml")


def test_activate_by_upload(personas: Personas, idp: TestIdP) -> None:
    client = personas.client(personas.alice)
    page = client.get(page_url(personas))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Not active" in text
    # Our values to paste into the IdP, before anything is set up.
    assert f"/auth/saml/a{personas.a.pk}/acs/" in text and f"/auth/saml/a{personas.a.pk}/metadata/" in text

    done = client.post(
        page_url(personas), {"action": "activate", "metadata_file": upload(idp.metadata())}, follow=True
    )

    text = done.content.decode()
    assert "SAML single sign-on is on." in text
    assert re.search(r'data-testid="saml-state">Active<', text)
    assert ENTITY_ID in text
    assert certificate_sha256(idp.cert_file) in text  # the fingerprint to compare with the IdP's
    assert "uploaded file" in text
    assert "PRIVATE KEY" not in text and "BEGIN" not in text
    connection = SamlConnection.objects.get(account=personas.a)
    assert connection.is_active and connection.activated_by == personas.alice
    assert connection.certificate_not_after is not None
    app = SocialApp.objects.get(provider="saml", client_id=f"a{personas.a.pk}")
    assert app.provider_id == app.client_id and app.settings["hidden"] is True
    assert app.settings["idp"]["entity_id"] == ENTITY_ID
    assert app.settings["advanced"]["want_assertion_signed"] is True
    assert app.settings["advanced"]["reject_deprecated_algorithm"] is True
    assert app.settings["advanced"]["strict"] is True
    event = AuditEvent.objects.get(account=personas.a, activity="security_changed")
    assert "SAML single sign-on activated" in event.description and ENTITY_ID in event.description
    assert event.performed_by == "alice@acme.test"
    # Our SP metadata now answers, with the entity id shown on the page.
    sp = browser().get(f"/auth/saml/a{personas.a.pk}/metadata/")
    assert sp.status_code == 200 and b"AssertionConsumerService" in sp.content


def test_activate_by_url(
    personas: Personas, idp: TestIdP, metadata_server: MetadataServer, insecure_urls: None
) -> None:
    metadata_server.bodies["/idp/metadata.xml"] = idp.metadata().encode()
    url = metadata_server.url("/idp/metadata.xml")
    client = personas.client(personas.alice)
    done = client.post(page_url(personas), {"action": "activate", "metadata_url": url}, follow=True)
    text = done.content.decode()
    assert "SAML single sign-on is on." in text, text
    assert url in text and ENTITY_ID in text
    connection = SamlConnection.objects.get(account=personas.a)
    assert connection.metadata_url == url and connection.is_active
    assert url in AuditEvent.objects.get(account=personas.a, activity="security_changed").description


def test_a_plain_http_metadata_url_is_refused(personas: Personas) -> None:
    page = personas.client(personas.alice).post(
        page_url(personas), {"action": "activate", "metadata_url": "http://idp.example.test/metadata"}
    )
    assert "The metadata URL must start with https://." in page.content.decode()
    assert not SamlConnection.objects.exists()


def test_a_metadata_url_in_our_own_network_is_refused(personas: Personas) -> None:
    page = personas.client(personas.alice).post(
        page_url(personas), {"action": "activate", "metadata_url": "https://127.0.0.1:9/metadata"}
    )
    assert "127.0.0.1 resolves to a private or reserved address." in page.content.decode()
    assert not SamlConnection.objects.exists()


def _refused(personas: Personas, data: dict[str, object], message: str) -> None:
    page = personas.client(personas.alice).post(page_url(personas), {"action": "activate", **data})
    assert page.status_code == 200
    assert message in html.unescape(page.content.decode())
    assert not SamlConnection.objects.exists()
    assert not SocialApp.objects.exists()
    assert not AuditEvent.objects.filter(activity="security_changed").exists()


def test_unreachable_url_is_refused(
    personas: Personas, metadata_server: MetadataServer, insecure_urls: None
) -> None:
    _refused(
        personas,
        {"metadata_url": metadata_server.url("/missing.xml")},
        "The metadata URL answered HTTP 404, not the metadata.",
    )
    closed = metadata_server.url("/x").replace(str(metadata_server.server.server_address[1]), "9")
    _refused(personas, {"metadata_url": closed}, "Cannot fetch the metadata from 127.0.0.1")


def test_metadata_larger_than_a_megabyte_is_refused(
    personas: Personas, metadata_server: MetadataServer, insecure_urls: None
) -> None:
    metadata_server.bodies["/big.xml"] = b"<x>" + b" " * (1024 * 1024) + b"</x>"
    _refused(personas, {"metadata_url": metadata_server.url("/big.xml")}, "The metadata is larger than 1 MB.")
    _refused(
        personas,
        {"metadata_file": upload(b" " * (1024 * 1024 + 1))},
        "The metadata file is larger than 1 MB.",
    )


def test_bad_metadata_is_refused_and_nothing_saved(personas: Personas, idp: TestIdP) -> None:
    good = idp.metadata()
    _refused(personas, {"metadata_file": upload("this is not xml <")}, "This is not XML metadata")
    _refused(personas, {}, "Give the identity provider's metadata URL or upload its file.")
    sp_only = browser_sp_metadata_like(good)
    _refused(personas, {"metadata_file": upload(sp_only)}, "no IDPSSODescriptor")
    no_key = re.sub(r"<ns0:KeyDescriptor.*?</ns0:KeyDescriptor>", "", good, flags=re.S)
    assert no_key != good
    _refused(personas, {"metadata_file": upload(no_key)}, "The metadata has no signing certificate")
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&e;"/>'
    )
    _refused(personas, {"metadata_file": upload(xxe)}, "This is not XML metadata")


def browser_sp_metadata_like(idp_metadata: str) -> str:
    """The same document with the IdP role renamed to an SP role: no IDPSSODescriptor left."""
    return idp_metadata.replace("IDPSSODescriptor", "SPSSODescriptor")


def test_deactivate_and_activate_again(personas: Personas, idp: TestIdP) -> None:
    client = personas.client(personas.alice)
    client.post(page_url(personas), {"action": "activate", "metadata_file": upload(idp.metadata())})
    slug = f"a{personas.a.pk}"

    done = client.post(page_url(personas), {"action": "deactivate"}, follow=True)
    assert "SAML single sign-on is off." in done.content.decode()
    assert re.search(r'data-testid="saml-state">Not active<', done.content.decode())
    assert not SocialApp.objects.exists()
    assert browser().post(f"/auth/saml/{slug}/login/").status_code == 404
    assert browser().get(f"/auth/saml/{slug}/metadata/").status_code == 404
    descriptions = list(
        AuditEvent.objects.filter(account=personas.a, activity="security_changed").values_list(
            "description", flat=True
        )
    )
    assert any(d == "SAML single sign-on deactivated" for d in descriptions)

    # The metadata was kept: Activate without giving it again.
    again = client.post(page_url(personas), {"action": "activate"}, follow=True)
    assert "SAML single sign-on is on." in again.content.decode()
    assert SocialApp.objects.filter(client_id=slug).exists()
    assert browser().get(f"/auth/saml/{slug}/metadata/").status_code == 200


def test_new_metadata_replaces_the_certificate(personas: Personas, idp: TestIdP, tmp_path: Path) -> None:
    client = personas.client(personas.alice)
    client.post(page_url(personas), {"action": "activate", "metadata_file": upload(idp.metadata())})
    rotated = idp.impostor()  # the IdP rolled its key over
    done = client.post(
        page_url(personas), {"action": "activate", "metadata_file": upload(rotated.metadata())}, follow=True
    )
    assert "SAML single sign-on is updated." in done.content.decode()
    assert certificate_sha256(rotated.cert_file) in done.content.decode()
    assert certificate_sha256(idp.cert_file) not in done.content.decode()
    app = SocialApp.objects.get(client_id=f"a{personas.a.pk}")
    assert app.settings["idp"]["x509cert"] == SamlConnection.objects.get().certificate
    assert AuditEvent.objects.filter(description__startswith="SAML single sign-on updated").exists()


def test_custom_users_get_403_and_other_accounts_404(personas: Personas, idp: TestIdP) -> None:
    bob = personas.client(personas.bob)  # may view settings, but is not an administrator
    assert bob.get(page_url(personas)).status_code == 403
    assert (
        bob.post(
            page_url(personas), {"action": "activate", "metadata_file": upload(idp.metadata())}
        ).status_code
        == 403
    )
    charlie = personas.client(personas.charlie)  # administrator of Globex
    assert charlie.get(page_url(personas)).status_code == 404
    assert charlie.post(page_url(personas), {"action": "deactivate"}).status_code == 404
    pat = personas.client(personas.pat)  # partner user reaching Acme without the admin role
    assert pat.get(page_url(personas)).status_code == 403
    anonymous = Client().get(page_url(personas))
    assert anonymous.status_code == 302 and "/auth/login/" in anonymous["Location"]
    assert not SamlConnection.objects.exists()
    # Charlie's own page is his own account's.
    own = charlie.get(f"/a/{personas.b.pk}/settings/security/saml/")
    assert own.status_code == 200 and f"/auth/saml/a{personas.b.pk}/acs/" in own.content.decode()


def test_the_settings_tabs_and_crumbs(personas: Personas) -> None:
    text = personas.client(personas.alice).get(page_url(personas)).content.decode()
    assert 'data-testid="saml-crumbs"' in text and "SAML</nav>" in text
    assert "User management" in text  # the settings tabs are there
