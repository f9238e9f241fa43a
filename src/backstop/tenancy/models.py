"""Tenants and who may act on them (X-TENANCY, P-TIERS).

A customer `Account` is the tenant root: every row that belongs to a customer reaches it through
an `account` foreign key and is read through `restrict(user, action)` (see `scoping.py`).
A `Partner` (distributor, reseller or direct) manages accounts; a reseller may sit under a
distributor. A `Membership` gives one user a role on one account or one partner.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from backstop.regions import DEFAULT_REGION, REGION_CHOICES, region_label
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountQuerySet, PartnerQuerySet, TenantQuerySet

TRIAL_DAYS = 14
# A row that belongs to exactly one tenant: an account, or a partner (its own portal).
ONE_TENANT = Q(account__isnull=False, partner__isnull=True) | Q(account__isnull=True, partner__isnull=False)
REMOVAL_GRACE = timedelta(days=7)
# The subscription types of accounts a partner adds (billing.Subscription.Kind holds the same codes).
SUBSCRIPTION_KINDS = (
    ("trial", "Trial with expiration"),
    ("trial_auto", "Trial with auto-subscription"),
    ("no_trial", "Auto-subscription without trial"),
)
SUBSCRIPTION_PLANS = (("monthly", "Monthly"), ("annual", "Annual"))


class Partner(models.Model):
    class Kind(models.TextChoices):
        DISTRIBUTOR = "distributor", "Distributor"
        RESELLER = "reseller", "Reseller"
        DIRECT = "direct", "Direct partner"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DIRECT)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="resellers",
        help_text="The distributor a reseller buys through.",
    )
    lineage = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="The partner's place in the hierarchy, '/<root pk>/.../<own pk>/': a subtree is a prefix.",
    )
    email = models.EmailField()
    region = models.CharField(max_length=20, choices=REGION_CHOICES, default=DEFAULT_REGION)
    address = models.CharField(max_length=300, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    default_subscription_kind = models.CharField(
        max_length=10,
        choices=SUBSCRIPTION_KINDS,
        default="trial",
        help_text="Preselected when the partner adds an account (P-ADD, P-SETTINGS).",
    )
    default_subscription_plan = models.CharField(
        max_length=10, choices=SUBSCRIPTION_PLANS, default="monthly", help_text="For the auto-subscriptions."
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[PartnerQuerySet] = PartnerQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def code(self) -> str:
        """The partner id shown to the partner and quoted to support."""
        return f"P{self.pk:06d}"

    def clean(self) -> None:
        if self.parent_id is not None:
            if self.kind != self.Kind.RESELLER:
                raise ValidationError({"parent": "Only a reseller sits under a distributor."})
            if self.parent is not None and self.parent.kind != self.Kind.DISTRIBUTOR:
                raise ValidationError({"parent": "A reseller's parent must be a distributor."})


class Account(models.Model):
    """A customer backup account: the tenant."""

    name = models.CharField(max_length=200)
    email = models.EmailField(help_text="Where account notices are sent.")
    pending_email = models.EmailField(
        blank=True, help_text="A new e-mail address waiting for its confirmation link."
    )
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    partner_access = models.BooleanField(
        default=True, help_text="Off when support removed the partner's access to this account."
    )
    customer_may_remove_partner = models.BooleanField(
        default=False, help_text="The customer's administrators may remove the partner's access themselves."
    )
    region = models.CharField("data center", max_length=20, choices=REGION_CHOICES, default=DEFAULT_REGION)
    trial_ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    removal_requested_at = models.DateTimeField(null=True, blank=True)
    removal_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar[AccountQuerySet] = AccountQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("name",)
        indexes = (models.Index(fields=("removal_requested_at",), name="account_removal_idx"),)

    def __str__(self) -> str:
        return self.name

    @property
    def region_label(self) -> str:
        return region_label(self.region)

    @property
    def is_removed(self) -> bool:
        return self.removal_requested_at is not None

    @property
    def purge_after(self) -> datetime | None:
        if self.removal_requested_at is None:
            return None
        return self.removal_requested_at + REMOVAL_GRACE

    def trial_days_left(self, today: datetime | None = None) -> int | None:
        if self.trial_ends_on is None:
            return None
        today_date = (today or timezone.now()).date()
        return max((self.trial_ends_on - today_date).days, 0)


class Membership(models.Model):
    """A user's role on exactly one account or one partner."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Administrator"
        CUSTOM = "custom", "Custom"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )

    class Credential(models.TextChoices):
        PASSWORD = "password", "E-mail and password"
        GOOGLE = "google", "Google"
        MICROSOFT = "microsoft", "Microsoft"

    role = models.CharField(max_length=10, choices=Role.choices, default=Role.CUSTOM)
    credential = models.CharField(
        "credential type",
        max_length=10,
        choices=Credential.choices,
        default=Credential.PASSWORD,
        help_text="How the user signs in (partner users, P-SETTINGS).",
    )
    operations = models.JSONField(
        default=list, blank=True, help_text="Operation codes a custom member holds."
    )
    all_services = models.BooleanField(default=True)
    services = models.JSONField(default=list, blank=True, help_text="Service codes, if not all.")
    all_accounts = models.BooleanField(
        default=True,
        help_text="Partner members: every account of the partner, or only those listed.",
    )
    accounts = models.ManyToManyField(
        Account, blank=True, related_name="partner_members", help_text="Accessible accounts."
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Account memberships are tenant rows like any other: read through restrict(user, action).
    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = (
            models.CheckConstraint(condition=ONE_TENANT, name="membership_one_tenant"),
            models.UniqueConstraint(
                fields=("user", "account"),
                condition=Q(account__isnull=False),
                name="one_role_per_account",
            ),
            models.UniqueConstraint(
                fields=("user", "partner"),
                condition=Q(partner__isnull=False),
                name="one_role_per_partner",
            ),
        )

    def __str__(self) -> str:
        return f"{self.user} → {self.account or self.partner} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    def allows(self, action: str) -> bool:
        """True when this role may perform `action` (an operation code)."""
        if action == perms.VIEW or self.is_admin:
            return True
        if action in (perms.MANAGE_ACCOUNT, perms.MANAGE_USERS):
            return False
        return action in self.operations

    def allows_service(self, service: str) -> bool:
        return self.is_admin or self.all_services or service in self.services

    def grants(self, action: str, service: str | None = None) -> bool:
        """True when this one role grants `action`, and `service` when given."""
        return self.allows(action) and (service is None or self.allows_service(service))
