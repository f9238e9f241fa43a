"""Security Audit events. Written only through the named functions in `events.py`, so each kind
of event reads the same wherever it is recorded."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from backstop.tenancy.models import Account, Partner
from backstop.tenancy.scoping import TenantQuerySet


class AuditEvent(models.Model):
    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    # A customer account's event, or a partner's own (then `account` is empty).
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    activity = models.CharField(max_length=40)
    service = models.CharField(max_length=30, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUCCEEDED)
    task_name = models.CharField(max_length=200, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    performed_by = models.CharField(max_length=300, blank=True, help_text="Kept when the user is removed.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-at", "-pk")
        indexes = (
            models.Index(fields=("account", "at"), name="audit_account_idx"),
            models.Index(fields=("partner", "at"), name="audit_partner_idx"),
        )

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.activity} by {self.performed_by}"
