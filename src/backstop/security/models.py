"""Security settings a tenant's administrators set for all its users (A-SECURITY,
A-IPRESTRICT, the security part of P-SETTINGS): enforced two-factor authentication, password
expiration, and the trusted addresses the tenant may be reached from."""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from backstop.tenancy.models import ONE_TENANT, Account, Partner
from backstop.tenancy.scoping import TenantQuerySet


class SecurityPolicy(models.Model):
    account = models.OneToOneField(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="security_policy"
    )
    partner = models.OneToOneField(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="security_policy"
    )
    require_mfa = models.BooleanField("enforce two-factor authentication on all users", default=False)
    password_max_age_days = models.PositiveIntegerField(
        "password expires after (days)", null=True, blank=True
    )
    ip_restriction = models.BooleanField("trusted IP addresses only", default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name_plural = "security policies"
        constraints = (models.CheckConstraint(condition=ONE_TENANT, name="policy_one_tenant"),)

    def __str__(self) -> str:
        return f"Security policy of {self.account or self.partner}"


class TrustedAddress(models.Model):
    """One entry of a tenant's trusted list: some single addresses, or one range (IPv4 only)."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="trusted_addresses"
    )
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="trusted_addresses"
    )
    description = models.CharField(max_length=200, blank=True)
    # Single addresses, comma-separated; or a range from `first` to `last` (then `addresses` is empty).
    addresses = models.TextField(blank=True)
    first = models.GenericIPAddressField(protocol="IPv4", null=True, blank=True)
    last = models.GenericIPAddressField(protocol="IPv4", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("created_at", "pk")
        constraints = (models.CheckConstraint(condition=ONE_TENANT, name="trusted_one_tenant"),)

    def __str__(self) -> str:
        return self.display

    @property
    def is_range(self) -> bool:
        return self.first is not None

    @property
    def display(self) -> str:
        return f"{self.first} to {self.last}" if self.is_range else ", ".join(self.address_list)

    @property
    def address_list(self) -> list[str]:
        return [item.strip() for item in self.addresses.split(",") if item.strip()]

    def trusts(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if address.version != 4:
            return False
        if self.is_range:
            first, last = ipaddress.IPv4Address(self.first), ipaddress.IPv4Address(self.last)
            return first <= address <= last
        return str(address) in self.address_list
