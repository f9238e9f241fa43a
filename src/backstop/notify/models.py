"""Notification settings of a tenant (A-NOTIFY, P-NOTIFY): how the summary report looks and who
receives which notice.

Both models belong to exactly one customer account or one partner (a check constraint says so,
like `Membership`); the partner rows wait for the partner portal page (P-NOTIFY) and reuse the
same code. Account rows are tenant rows read through `restrict(user, action)`.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from backstop.tenancy.models import ONE_TENANT, Account, Partner
from backstop.tenancy.scoping import TenantQuerySet


class ReportSettings(models.Model):
    """How and when one tenant's summary report is sent."""

    class Format(models.TextChoices):
        OVERVIEW = "overview", "Task overview"
        FAILURES = "failures", "Failure details"

    class Delivery(models.TextChoices):
        ATTACHMENT = "attachment", "CSV attachment"
        LINK = "link", "Download link"

    class Layout(models.TextChoices):
        CONSOLIDATED = "consolidated", "Consolidated file: all customers in one file"
        PER_CUSTOMER = "per_customer", "One file per customer"

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly (Mondays)"
        MONTHLY = "monthly", "Monthly (on the 1st)"

    account = models.OneToOneField(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="report_settings"
    )
    partner = models.OneToOneField(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="report_settings"
    )
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.OVERVIEW)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.ATTACHMENT)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    only_on_failure = models.BooleanField(
        default=False, help_text="Send nothing when every backup of the period succeeded."
    )
    last_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last report was sent (or skipped as all-clear)."
    )
    layout = models.CharField(
        max_length=12,
        choices=Layout.choices,
        default=Layout.CONSOLIDATED,
        help_text="A partner's report on its customers: one file for all, or one per customer.",
    )
    trial_report_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="A partner's last daily trial accounts report."
    )

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = "report settings"
        verbose_name_plural = "report settings"
        constraints = (models.CheckConstraint(condition=ONE_TENANT, name="report_settings_one_tenant"),)

    def __str__(self) -> str:
        return f"Report settings of {self.account or self.partner}"


class Recipient(models.Model):
    """One address and the notices it receives."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="notification_recipients"
    )
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="notification_recipients"
    )
    email = models.EmailField()
    name = models.CharField("display name", max_length=150, blank=True)
    summary_report = models.BooleanField("summary report", default=True)
    recovery = models.BooleanField("recovery", default=False)
    exceptions = models.BooleanField("exceptions", default=True)
    auto_discovery = models.BooleanField("auto-discovery", default=False)
    smart_alerts = models.BooleanField("smart alerts", default=False)
    trial_report = models.BooleanField(
        "trial accounts report", default=False, help_text="A partner's daily list of its trial accounts."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("email",)
        constraints = (
            models.CheckConstraint(condition=ONE_TENANT, name="recipient_one_tenant"),
            models.UniqueConstraint(
                Lower("email"),
                "account",
                condition=Q(account__isnull=False),
                name="recipient_unique_per_account",
            ),
            models.UniqueConstraint(
                Lower("email"),
                "partner",
                condition=Q(partner__isnull=False),
                name="recipient_unique_per_partner",
            ),
        )

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class ExceptionNotice(models.Model):
    """When a task's last exception e-mail went out, so that failures coalesce: at most one
    e-mail per task per `notices.COALESCE` window, the failures held in between sent as a digest."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    task = models.OneToOneField("backups.BackupTask", on_delete=models.CASCADE, related_name="+")
    last_sent_at = models.DateTimeField()
    pending = models.BooleanField(default=False, help_text="Failures arrived since the last e-mail.")

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = (models.Index(fields=("pending", "last_sent_at"), name="notice_pending_idx"),)

    def __str__(self) -> str:
        return f"Exception notices of task {self.task_id}"
