"""Reading an identity provider's metadata: fetched from its URL (server-side) or uploaded.

Nothing is saved from here: `parse` returns what the connection needs, or raises `MetadataError`
with a message for the administrator.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from django.conf import settings
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

MAX_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 10.0


class MetadataError(ValueError):
    """The metadata cannot be used; the message says why, for the administrator."""


@dataclass(frozen=True, slots=True)
class IdpMetadata:
    xml: str
    entity_id: str
    sso_url: str
    slo_url: str
    certificate: str  # base64 DER, as in the metadata
    sha256: str  # AB:CD:... of the DER
    not_after: datetime


def allow_insecure_urls() -> bool:
    """Plain http and private addresses are for tests and the sandbox only."""
    return bool(settings.BACKSTOP_SAML_INSECURE_METADATA_URLS or settings.BACKSTOP_SANDBOX)


def fetch(url: str) -> str:
    """The metadata document at `url`: https only, at most 1 MB, within 10 seconds."""
    parts = urlsplit(url.strip())
    insecure = allow_insecure_urls()
    if parts.scheme != "https" and not (insecure and parts.scheme == "http"):
        raise MetadataError("The metadata URL must start with https://.")
    host = parts.hostname or ""
    if not host:
        raise MetadataError("The metadata URL has no host name.")
    if not insecure:
        _check_public_host(host, parts.port or 443)
    try:
        with (
            httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client,
            client.stream(
                "GET", url.strip(), headers={"Accept": "application/samlmetadata+xml, */*"}
            ) as response,
        ):
            if response.status_code != 200:
                raise MetadataError(
                    f"The metadata URL answered HTTP {response.status_code}, not the metadata."
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_BYTES:
                    raise MetadataError("The metadata is larger than 1 MB.")
    except httpx.TimeoutException:
        raise MetadataError(f"{host} did not answer within {TIMEOUT_SECONDS:.0f} seconds.") from None
    except httpx.HTTPError as exc:
        raise MetadataError(f"Cannot fetch the metadata from {host}: {_reason(exc)}.") from None
    return _text(bytes(body))


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("] ")[-1]


def _check_public_host(host: str, port: int) -> None:
    """The identity provider is on the internet: an address in our own network is refused."""
    try:
        infos = socket.getaddrinfo(host, port)
    except OSError:
        raise MetadataError(f"Cannot reach {host}: the name does not resolve.") from None
    for info in infos:
        if not ipaddress.ip_address(info[4][0]).is_global:
            raise MetadataError(f"{host} resolves to a private or reserved address.")


def _text(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise MetadataError("The metadata is larger than 1 MB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MetadataError("The metadata is not UTF-8 text; is it the XML metadata file?") from None


def read_upload(data: bytes) -> str:
    return _text(data)


def parse(xml: str) -> IdpMetadata:
    """The IdP's entity id, sign-in URL and signing certificate out of its metadata XML."""
    if not xml.strip():
        raise MetadataError("The metadata is empty.")
    try:
        found = OneLogin_Saml2_IdPMetadataParser.parse(
            xml.encode("utf-8"), required_sso_binding=OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT
        )
    except Exception:  # lxml and defusedxml raise many kinds; all mean "not metadata we can read"
        raise MetadataError("This is not XML metadata: the document cannot be read as XML.") from None
    idp = found.get("idp")
    if not idp:
        raise MetadataError("The metadata describes no identity provider (no IDPSSODescriptor).")
    entity_id = idp.get("entityId") or ""
    if not entity_id:
        raise MetadataError("The metadata has no entity ID.")
    sso_url = (idp.get("singleSignOnService") or {}).get("url") or ""
    if not sso_url:
        raise MetadataError("The metadata has no sign-in URL with the HTTP-Redirect binding.")
    if urlsplit(sso_url).scheme not in {"https", "http"} or (
        urlsplit(sso_url).scheme == "http" and not allow_insecure_urls()
    ):
        raise MetadataError("The identity provider's sign-in URL must start with https://.")
    certificate = idp.get("x509cert") or next(iter((idp.get("x509certMulti") or {}).get("signing", [])), "")
    if not certificate:
        raise MetadataError(
            "The metadata has no signing certificate, so signed assertions cannot be checked."
        )
    try:
        der = base64.b64decode(certificate, validate=True)
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise MetadataError("The signing certificate in the metadata cannot be read.") from None
    digest = hashlib.sha256(der).hexdigest().upper()
    return IdpMetadata(
        xml=xml,
        entity_id=entity_id,
        sso_url=sso_url,
        slo_url=(idp.get("singleLogoutService") or {}).get("url") or "",
        certificate=certificate,
        sha256=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
        not_after=cert.not_valid_after_utc,
    )
