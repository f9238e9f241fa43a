"""An identity provider run inside the tests: pysaml2's IdP with a key made for the test.

It answers the AuthnRequests our Django app sends, the way a real IdP (Okta, Entra ID, ...) would:
a Response whose assertion is signed with its key, for the audience and ACS URL the SP metadata
gives. Knobs make the faulty ones: another key, a past NotOnOrAfter, another audience, no
signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

ENTITY_ID = "https://idp.example.test/saml/metadata"
SSO_URL = "https://idp.example.test/saml/sso"


def make_key_and_cert(folder: Path, name: str, common_name: str = "Test IdP") -> tuple[Path, Path]:
    """A 2048-bit RSA key and a self-signed certificate valid for a year, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def certificate_sha256(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass
class AuthnRequest:
    id: str
    acs_url: str
    issuer: str
    relay_state: str


class TestIdP:
    """One IdP identity (entity id + key). `impostor()` is the same entity id with another key."""

    __test__ = False  # not a test class for pytest

    def __init__(
        self, folder: Path, name: str = "idp", entity_id: str = ENTITY_ID, sso_url: str = SSO_URL
    ) -> None:
        assert shutil.which("xmlsec1"), "pysaml2 needs the xmlsec1 binary (Debian package xmlsec1)"
        self.folder = folder
        self.name = name
        self.entity_id = entity_id
        self.sso_url = sso_url
        self.key_file, self.cert_file = make_key_and_cert(folder, name)
        self.sp_metadata: list[str] = []

    def impostor(self) -> TestIdP:
        return TestIdP(
            self.folder, name=f"{self.name}-impostor", entity_id=self.entity_id, sso_url=self.sso_url
        )

    def _config(self, lifetime_minutes: int = 5) -> IdPConfig:
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (self.sso_url, BINDING_HTTP_REDIRECT),
                                (self.sso_url, BINDING_HTTP_POST),
                            ]
                        },
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": lifetime_minutes},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_URI,
                            }
                        },
                    }
                },
                "key_file": str(self.key_file),
                "cert_file": str(self.cert_file),
                "xmlsec_binary": shutil.which("xmlsec1"),
                "metadata": {"inline": self.sp_metadata} if self.sp_metadata else {},
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            }
        )
        return config

    def metadata(self) -> str:
        """The IdP's metadata XML, as an administrator downloads it from their IdP."""
        data = create_metadata_string(None, config=self._config(), valid=48)
        return data.decode("utf-8") if isinstance(data, bytes) else str(data)

    def trust_sp(self, sp_metadata: str) -> None:
        """Registers our SP's metadata, as an administrator does when creating the SAML app."""
        self.sp_metadata = [sp_metadata]

    def read_request(self, location: str) -> AuthnRequest:
        """The AuthnRequest from the SP's redirect to our sign-in URL (HTTP-Redirect binding)."""
        assert location.startswith(self.sso_url), location
        query = parse_qs(urlsplit(location).query)
        server = Server(config=self._config())
        parsed = server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        message = parsed.message
        return AuthnRequest(
            id=message.id,
            acs_url=message.assertion_consumer_service_url,
            issuer=message.issuer.text,
            relay_state=query.get("RelayState", [""])[0],
        )

    def response(
        self,
        request: AuthnRequest,
        email: str,
        *,
        sign_assertion: bool = True,
        sign_response: bool = False,
        audience: str | None = None,
        lifetime_minutes: int = 5,
        attributes: dict[str, list[str]] | None = None,
        name_id: str | None = None,
        name_id_format: str = NAMEID_FORMAT_EMAILADDRESS,
        in_response_to: str | None = "",
    ) -> str:
        """A base64 SAMLResponse for `email`, to be POSTed to the ACS URL."""
        server = Server(config=self._config(lifetime_minutes))
        response = server.create_authn_response(
            identity=attributes or {"mail": [email]},
            in_response_to=request.id if in_response_to == "" else in_response_to,
            destination=request.acs_url,
            sp_entity_id=audience or request.issuer,
            name_id=NameID(format=name_id_format, text=name_id or email),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        return base64.b64encode(str(response).encode("utf-8")).decode("ascii")
