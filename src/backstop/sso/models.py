"""SAML single sign-on: one identity provider per customer account, and the assertions already used."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from backstop.tenancy.scoping import TenantQuerySet


class SamlConnection(models.Model):
    """The account's identity provider, as read from its metadata. Only public material is kept:
    the IdP's metadata and signing certificate; we sign nothing, so there is no private key."""

    account = models.OneToOneField(
        "tenancy.Account", on_delete=models.CASCADE, related_name="saml_connection"
    )
    metadata_xml = models.TextField(help_text="The identity provider's metadata, as fetched or uploaded.")
    metadata_url = models.URLField(max_length=1000, blank=True, help_text="Where the metadata came from.")
    idp_entity_id = models.CharField("IdP entity ID", max_length=1000)
    sso_url = models.URLField("IdP sign-in URL", max_length=1000)
    slo_url = models.URLField("IdP sign-out URL", max_length=1000, blank=True)
    certificate = models.TextField(help_text="The IdP's signing certificate (base64 DER, public).")
    certificate_sha256 = models.CharField(max_length=95)
    certificate_not_after = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = "SAML connection"

    def __str__(self) -> str:
        return f"SAML for {self.account}"

    @property
    def slug(self) -> str:
        """The organization slug in allauth's SAML URLs (/auth/saml/<slug>/...)."""
        return slug_of(self.account_id)


def slug_of(account_id: int) -> str:
    return f"a{account_id}"


class UsedAssertion(models.Model):
    """An assertion (or response) id already accepted, kept until it expires: a replayed response
    is refused even when signature and dates are still valid."""

    key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the issuer and the id.")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key
