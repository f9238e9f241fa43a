"""Tenants and who may act on them (X-TENANCY, P-TIERS).

A customer `Account` is the tenant root: every row that belongs to a customer reaches it through
an `account` foreign key and is read through `restrict(user, action)` (see `scoping.py`).
A `Partner` (distributor, reseller or direct) manages accounts. Partners form a tree of any
depth: a reseller (or a sub-distributor) sits under a distributor, and `Partner.lineage`
('/<root pk>/.../<own pk>/') names each partner's place so that a whole subtree is one prefix
match. A `Membership` gives one user a role on one account or one partner; a partner role reaches
the partner's subtree (see `scoping.reach_of`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models, transaction
from django.db.models import Q, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from backstop.regions import DEFAULT_REGION, REGION_CHOICES, region_label
from backstop.tenancy import permissions as perms
from backstop.tenancy.scoping import AccountQuerySet, PartnerQuerySet, TenantQuerySet, subtree_filter

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
        help_text="The distributor a reseller (or a sub-distributor) buys through.",
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

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Keeps `lineage` right: a new partner needs its pk first; moving a partner to another
        parent rewrites the lineage of everything below it, in one UPDATE."""
        with transaction.atomic():
            parent = Partner.objects.filter(pk=self.parent_id).first() if self.parent_id else None
            if self.pk is None:
                super().save(*args, **kwargs)
                self.lineage = _lineage_of(parent, self.pk)
                Partner.objects.filter(pk=self.pk).update(lineage=self.lineage)
                return
            self._refuse_cycle(parent)
            old = Partner.objects.filter(pk=self.pk).values_list("lineage", flat=True).first()
            self.lineage = _lineage_of(parent, self.pk)
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "lineage"}
            super().save(*args, **kwargs)
            if old and old != self.lineage:
                below = Partner.objects.filter(lineage__startswith=old).exclude(pk=self.pk)
                below.update(lineage=Concat(Value(self.lineage), Substr("lineage", len(old) + 1)))

    @property
    def code(self) -> str:
        """The partner id shown to the partner and quoted to support."""
        return f"P{self.pk:06d}"

    @property
    def depth(self) -> int:
        """0 for a partner at the top, 1 for a reseller under a distributor, and so on."""
        return max(self.lineage.count("/") - 2, 0)

    def ancestor_ids(self) -> list[int]:
        """The pks above this partner, the top one first (from the lineage: no query)."""
        ids = [int(part) for part in self.lineage.strip("/").split("/") if part]
        return ids[:-1] if ids and ids[-1] == self.pk else ids

    def is_within(self, other: Partner) -> bool:
        """True when this partner is `other` or sits anywhere below it."""
        if self.pk == other.pk:
            return True
        return other.lineage.endswith(f"/{other.pk}/") and self.lineage.startswith(other.lineage)

    def subtree(self) -> PartnerQuerySet:
        """This partner and every partner below it, at any depth."""
        return Partner.objects.filter(subtree_filter(self))

    def clean(self) -> None:
        """Any depth, no cycles: a reseller or a sub-distributor sits under a distributor; a direct
        partner sits under no one."""
        if self.parent_id is None:
            return
        parent = self.parent
        self._refuse_cycle(parent)
        if self.kind == self.Kind.DIRECT:
            message = "Only a reseller or a sub-distributor sits under a distributor."
            raise ValidationError({"parent": message})
        if parent is not None and parent.kind != self.Kind.DISTRIBUTOR:
            raise ValidationError({"parent": "A reseller's parent must be a distributor."})

    def _refuse_cycle(self, parent: Partner | None) -> None:
        if self.pk is None or parent is None:
            return
        if parent.pk == self.pk or f"/{self.pk}/" in _lineage_of(parent):
            raise ValidationError({"parent": "A partner cannot sit under itself or under its own reseller."})


def _lineage_of(parent: Partner | None, pk: int | None = None) -> str:
    """The lineage of partner `pk` under `parent`, or the parent's own without `pk`."""
    if parent is None:
        return f"/{pk}/" if pk is not None else ""
    base = parent.lineage
    if not base.endswith(f"/{parent.pk}/"):  # missing (a bulk insert) or not this row's: rebuild it
        base = rebuild_lineage(parent)
    return f"{base}{pk}/" if pk is not None else base


def rebuild_lineage(partner: Partner) -> str:
    """The lineage computed from the parents, walking up (for a row without one)."""
    chain: list[int] = []
    seen: set[int] = set()
    node: Partner | None = partner
    while node is not None and node.pk not in seen:
        seen.add(node.pk)
        chain.append(node.pk)
        node = node.parent
    return "/" + "/".join(str(pk) for pk in reversed(chain)) + "/"


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
        default=True,
        help_text="Off when the partner's access was removed (by support, or by the customer when allowed): "
        "then only the customer's own users open the account.",
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
    def storage_label(self) -> str:
        """Where the backups are kept, as people read it: the data center, or the customer's own
        bucket (BYOS, `backups.AccountStorage`)."""
        try:
            own = self.own_storage
        except ObjectDoesNotExist:
            return self.region_label
        return f"Own storage: {own.get_kind_display()}, {own.bucket}"

    @property
    def is_removed(self) -> bool:
        return self.removal_requested_at is not None

    @property
    def purge_after(self) -> datetime | None:
        if self.removal_requested_at is None:
            return None
        return self.removal_requested_at + REMOVAL_GRACE


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
