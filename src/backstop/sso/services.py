"""Activating and deactivating an account's SAML connection, and who may sign in through it.

allauth's SAML provider finds an identity provider through a `SocialApp(provider="saml")` whose
`client_id` is the organization slug in its URLs. The app is written from the connection on
Activate and deleted on Deactivate, so a deactivated connection's URLs answer 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from onelogin.saml2.constants import OneLogin_Saml2_Constants

from backstop.accounts.models import User
from backstop.sso.metadata import IdpMetadata
from backstop.sso.models import SamlConnection, slug_of
from backstop.tenancy.models import Account, Membership

PROVIDER = "saml"

# Where the e-mail address may be in the assertion; the NameID in emailAddress format counts too.
ATTRIBUTE_MAPPING: dict[str, list[str]] = {
    "uid": ["urn:oasis:names:tc:SAML:attribute:subject-id"],
    "email": [
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "email",
        "mail",
        "emailAddress",
    ],
    "first_name": [
        "urn:oid:2.5.4.42",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "givenName",
        "first_name",
    ],
    "last_name": [
        "urn:oid:2.5.4.4",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "sn",
        "surname",
        "last_name",
    ],
}

# What python3-saml enforces (allauth's "advanced" keys). We sign nothing ourselves.
ADVANCED: dict[str, Any] = {
    "strict": True,  # Destination, audience, dates, InResponseTo and issuer are checked
    "want_assertion_signed": True,  # an unsigned assertion is refused, signed response or not
    "want_message_signed": False,  # many IdPs sign the assertion only; it is the part that counts
    "reject_deprecated_algorithm": True,  # no SHA-1 signatures or digests
    "allow_repeat_attribute_name": True,
    "allow_single_label_domains": True,  # an installation may run on http://localhost:8000
    "want_attribute_statement": False,  # an IdP may send the NameID alone
    "want_name_id": True,
    "name_id_format": OneLogin_Saml2_Constants.NAMEID_EMAIL_ADDRESS,
    "reject_idp_initiated_sso": True,  # only answers to our own requests (InResponseTo checked)
    "authn_request_signed": False,
    "logout_request_signed": False,
    "logout_response_signed": False,
    "metadata_signed": False,
}


@dataclass(frozen=True, slots=True)
class ServiceProvider:
    """Our values to paste into the identity provider."""

    entity_id: str
    metadata_url: str
    acs_url: str
    sign_in_url: str


def service_provider(account_id: int) -> ServiceProvider:
    base = settings.BACKSTOP_BASE_URL.rstrip("/")
    slug = slug_of(account_id)
    metadata_url = base + reverse("saml_metadata", kwargs={"organization_slug": slug})
    return ServiceProvider(
        entity_id=metadata_url,
        metadata_url=metadata_url,
        acs_url=base + reverse("saml_acs", kwargs={"organization_slug": slug}),
        sign_in_url=base + reverse("saml_login", kwargs={"organization_slug": slug}),
    )


def app_settings(connection: SamlConnection) -> dict[str, Any]:
    idp: dict[str, str] = {
        "entity_id": connection.idp_entity_id,
        "sso_url": connection.sso_url,
        "x509cert": connection.certificate,
    }
    if connection.slo_url:
        idp["slo_url"] = connection.slo_url
    return {
        "hidden": True,  # never listed as a button on the sign-in page
        "verified_email": False,  # allauth's own e-mail matching stays off: see accounts.adapter
        "idp": idp,
        "sp": {"entity_id": service_provider(connection.account_id).entity_id},
        "advanced": dict(ADVANCED),
        "attribute_mapping": ATTRIBUTE_MAPPING,
    }


def activate(account: Account, metadata: IdpMetadata | None, *, url: str, by: User) -> SamlConnection:
    """Saves new metadata (when given) and turns sign-in through the IdP on."""
    with transaction.atomic():
        connection = SamlConnection.objects.select_for_update().filter(account=account).first()
        if connection is None:
            if metadata is None:
                raise ValueError("No metadata to activate.")
            connection = SamlConnection(account=account)
        if metadata is not None:
            connection.metadata_xml = metadata.xml
            connection.metadata_url = url
            connection.idp_entity_id = metadata.entity_id
            connection.sso_url = metadata.sso_url
            connection.slo_url = metadata.slo_url
            connection.certificate = metadata.certificate
            connection.certificate_sha256 = metadata.sha256
            connection.certificate_not_after = metadata.not_after
        now = timezone.now()
        if not connection.is_active:
            connection.activated_at = now
            connection.activated_by = by
        connection.is_active = True
        connection.updated_at = now
        connection.save()
        _write_app(connection)
    return connection


def deactivate(account: Account) -> SamlConnection | None:
    """Turns sign-in through the IdP off; the metadata stays for a later Activate."""
    with transaction.atomic():
        connection = SamlConnection.objects.select_for_update().filter(account=account).first()
        SocialApp.objects.filter(provider=PROVIDER, client_id=slug_of(account.pk)).delete()
        if connection is None or not connection.is_active:
            return None
        connection.is_active = False
        connection.updated_at = timezone.now()
        connection.save(update_fields=["is_active", "updated_at"])
    return connection


def _write_app(connection: SamlConnection) -> None:
    slug = connection.slug
    SocialApp.objects.update_or_create(
        provider=PROVIDER,
        client_id=slug,
        defaults={
            "provider_id": slug,
            "name": connection.account.name,
            "secret": "",
            "key": "",
            "settings": app_settings(connection),
        },
    )


def connection_for_slug(slug: str) -> SamlConnection | None:
    if not slug.startswith("a") or not slug[1:].isdigit():
        return None
    return (
        SamlConnection.objects.filter(account_id=int(slug[1:]), is_active=True)
        .select_related("account")
        .first()
    )


class Refused(Exception):
    """A signed, valid assertion for someone who may not sign in through this IdP."""


def member_for(connection: SamlConnection, email: str) -> User:
    """The account's member the IdP vouches for. Only users whose every role is on this account
    may sign in through its IdP: the IdP's administrators could otherwise sign in as someone who
    also reaches other accounts or a partner."""
    email = email.strip()
    if not email:
        raise Refused("The identity provider sent no e-mail address.")
    user = User.objects.filter(email__iexact=email).first()
    if user is None or not user.is_active:
        raise Refused(f"{email} is not a user of {connection.account.name}.")
    memberships = list(Membership.objects.filter(user=user))
    if not any(m.account_id == connection.account_id for m in memberships):
        raise Refused(f"{email} is not a user of {connection.account.name}.")
    if user.is_staff or user.is_superuser or any(m.account_id != connection.account_id for m in memberships):
        raise Refused(
            f"{email} also has access outside {connection.account.name}, so it cannot sign in through "
            "this account's identity provider. Sign in with your password instead."
        )
    return user


def connection_for_email(email: str) -> SamlConnection | None:
    """The active SAML connection of the account whose user has this address, if any."""
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        return None
    return (
        SamlConnection.objects.filter(is_active=True, account__memberships__user=user)
        .select_related("account")
        .order_by("account_id")
        .first()
    )
