"""Prices, usage, subscriptions, invoices, cards and payments (A-BILLING, A-TRIAL, P-BILLING).

Money is stored as integers of the currency's minor unit (see `money.py`). A payer is a direct
customer account or a partner: rows that belong to a payer carry `account` xor `partner`
(`ONE_TENANT`), like the other tenant-owned settings. The rules that produce invoices live in
`cycle.py`; the statuses shown on the pages in `status.py`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from backstop.billing.money import CURRENCY_CHOICES, DEFAULT_CURRENCY
from backstop.tenancy.models import ONE_TENANT, Account, Partner
from backstop.tenancy.permissions import SERVICES
from backstop.tenancy.scoping import TenantQuerySet

SERVICE_CHOICES = [(s.code, s.label) for s in SERVICES]
DUE_DAYS = 30  # invoices are payable within 30 days
RENEWAL_NOTICE_DAYS = 30  # annual renewal invoices are issued 30 days before the renewal
EXPIRING_DAYS = 5  # a trial is "expiring" from 5 days before its end
GRACE_DAYS = 7  # after the trial, 7 days to subscribe before the backed-up data is purged


class Plan(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    ANNUAL = "annual", "Annual"


class Unit(models.TextChoices):
    USER = "user", "users"
    MAILBOX = "mailbox", "mailboxes"
    SITE = "site", "sites"
    GROUP = "group", "groups"
    DRIVE = "drive", "shared drives"
    GB = "gb", "GB"


class Price(models.Model):
    """The list price of one service's unit, per currency and plan (operators edit these)."""

    service = models.CharField(max_length=30, choices=SERVICE_CHOICES)
    unit = models.CharField(max_length=10, choices=Unit.choices)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    plan = models.CharField(max_length=10, choices=Plan.choices)
    amount = models.PositiveIntegerField(help_text="Per unit and period, in the currency's minor unit.")

    class Meta:
        ordering = ("service", "currency", "plan")
        constraints = (
            models.UniqueConstraint(fields=("service", "currency", "plan"), name="one_price_per_plan"),
        )

    def __str__(self) -> str:
        return f"{self.get_service_display()} {self.currency} {self.plan}: {self.amount}"


class TaxRate(models.Model):
    """Tax added to invoices of payers in a country (e.g. VAT for Israel)."""

    country = models.CharField(max_length=2, unique=True, help_text="ISO 3166 alpha-2 code.")
    name = models.CharField(max_length=40, default="VAT")
    percent = models.DecimalField(max_digits=5, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.country} {self.name} {self.percent}%"


class BillingProfile(models.Model):
    """Billing details and preferences of one payer: a direct account or a partner."""

    class Method(models.TextChoices):
        CARD = "card", "Credit card"
        INVOICE = "invoice", "Invoice"

    class AnnualBilling(models.TextChoices):
        CONSOLIDATED = "consolidated", "Consolidated bill"
        INDIVIDUAL = "individual", "Individual bills"

    class Delivery(models.TextChoices):
        LINK = "link", "Link"
        ATTACHMENT = "attachment", "Attachment"

    account = models.OneToOneField(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="billing_profile"
    )
    partner = models.OneToOneField(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="billing_profile"
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default=DEFAULT_CURRENCY)
    title = models.CharField(max_length=20, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField("billing e-mail", blank=True)
    company = models.CharField("company name", max_length=200, blank=True)
    tax_id = models.CharField("company tax id", max_length=50, blank=True)
    address1 = models.CharField("address line 1", max_length=200, blank=True)
    address2 = models.CharField("address line 2", max_length=200, blank=True)
    address3 = models.CharField("address line 3", max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    state = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField("zip code / postal code", max_length=20, blank=True)
    phone = models.CharField("phone number", max_length=40, blank=True)
    purchase_order = models.CharField("purchase order number", max_length=60, blank=True)
    payment_day = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text="Day of the month of the consolidated bill; empty: the day paying started.",
    )
    delivery = models.CharField(
        "e-mail invoice/receipt as", max_length=10, choices=Delivery.choices, default=Delivery.ATTACHMENT
    )
    method = models.CharField(
        "payment preference", max_length=10, choices=Method.choices, default=Method.CARD
    )
    annual_billing = models.CharField(
        max_length=15, choices=AnnualBilling.choices, default=AnnualBilling.CONSOLIDATED
    )
    discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Partner discount off the price list (operators set it).",
    )
    gateway_customer = models.CharField(max_length=100, blank=True, editable=False)
    onboarded_at = models.DateTimeField(null=True, blank=True, help_text="Partners: when onboarding ended.")
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = (models.CheckConstraint(condition=ONE_TENANT, name="billing_profile_one_tenant"),)

    def __str__(self) -> str:
        return f"billing of {self.account or self.partner}"

    @property
    def payer(self) -> Account | Partner:
        return self.account or self.partner  # type: ignore[return-value]

    @property
    def is_complete(self) -> bool:
        """The mandatory fields of the form are all filled (invoices can be addressed)."""
        required = (self.first_name, self.last_name, self.email, self.company, self.address1)
        required += (self.country, self.city, self.postal_code, self.phone)  # type: ignore[assignment]
        return all(required) and (self.country != "IL" or bool(self.tax_id))


class Subscription(models.Model):
    """One customer account's trial and plan."""

    class Kind(models.TextChoices):
        TRIAL = "trial", "Trial with expiration"
        TRIAL_AUTO = "trial_auto", "Trial with auto-subscription"
        NO_TRIAL = "no_trial", "Auto-subscription without trial"

    class State(models.TextChoices):
        TRIAL = "trial", "Trial"
        SUBSCRIBED = "subscribed", "Subscribed"
        EXPIRED = "expired", "Expired"
        PURGED = "purged", "Data purged"

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="subscription")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TRIAL)
    plan = models.CharField(
        max_length=10, choices=Plan.choices, blank=True, help_text="Empty until the account subscribes."
    )
    plan_since = models.DateField(null=True, blank=True, help_text="The first day paid on this plan.")
    next_plan = models.CharField(
        max_length=10, choices=Plan.choices, blank=True, help_text="Annual to monthly: from the renewal."
    )
    monthly_ended_on = models.DateField(
        null=True, blank=True, help_text="Monthly to annual: the last monthly days are still billed."
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.TRIAL)
    starts_on = models.DateField(null=True, blank=True, help_text="The first day that is paid for.")
    renews_on = models.DateField(null=True, blank=True, help_text="Annual plans: the next renewal.")
    exclude_from_consolidation = models.BooleanField(
        default=False, help_text="Partner accounts billed on a bill of their own."
    )
    subscribed_at = models.DateTimeField(null=True, blank=True)
    subscribed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expired_on = models.DateField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    # Refreshed by the daily run (the billing status is updated once a day, as the guides say).
    forecast_amount = models.BigIntegerField(default=0)
    forecast_currency = models.CharField(max_length=3, blank=True)
    next_payment_on = models.DateField(null=True, blank=True)
    # Trial e-mails already sent ("expiring", "expired", "purge_soon"): each goes once.
    notices_sent = models.JSONField(default=list, blank=True)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = (models.Index(fields=("state", "plan"), name="subscription_state_idx"),)

    def __str__(self) -> str:
        return f"{self.account}: {self.get_state_display()} {self.plan}"


class UsageDay(models.Model):
    """What one account protected of one service on one day (measured daily from the entities)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    service = models.CharField(max_length=30, choices=SERVICE_CHOICES)
    day = models.DateField()
    total = models.PositiveIntegerField(default=0, help_text="Entities the task knows.")
    billable = models.PositiveIntegerField(default=0, help_text="Entities billed (see cycle.BILLABLE).")
    billable_bytes = models.BigIntegerField(default=0, help_text="Stored size of the billable entities.")

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("account", "day", "service"), name="one_usage_per_day"),
        )
        # The latest measured day is looked up by the statements and the run: no full scan.
        indexes = (models.Index(fields=("day",), name="usage_day"),)

    def __str__(self) -> str:
        return f"{self.account_id} {self.service} {self.day}: {self.billable}/{self.total}"


class Invoice(models.Model):
    """A bill: consolidated (many accounts of a partner) or for one account; paid by card charge,
    by a payment link or by bank transfer."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    number = models.PositiveIntegerField(unique=True, help_text="The reference number.")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="invoices"
    )
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="invoices"
    )
    for_account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The one account billed; empty on a consolidated bill.",
    )
    for_account_name = models.CharField(max_length=200, blank=True)
    plan = models.CharField(max_length=10, choices=Plan.choices)
    consolidated = models.BooleanField(default=False)
    method = models.CharField(max_length=10, choices=BillingProfile.Method.choices)
    issue_date = models.DateField()
    due_date = models.DateField()
    effective_date = models.DateField(help_text="The first day of the period paid for.")
    period_end = models.DateField(help_text="The last day of the period paid for.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    subtotal = models.BigIntegerField(default=0)
    tax = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    tax_name = models.CharField(max_length=40, blank=True)
    tax_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(0))
    bill_to = models.JSONField(default=dict, help_text="The billing details as they were on issue.")
    status = models.CharField(max_length=5, choices=Status.choices, default=Status.OPEN)
    charge_failed_at = models.DateTimeField(null=True, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    paid_via = models.CharField(max_length=60, blank=True, help_text="Card ****4242, payment link, transfer.")
    emailed_at = models.DateTimeField(null=True, blank=True)
    # E-mails waiting to go ("invoice", "receipt", "charge_failed"): the billing run and payments
    # only note them, a worker sends them (a PDF takes a few hundred ms to render).
    mail_queue = models.JSONField(default=list, blank=True)
    mail_pending = models.BooleanField(default=False)
    key = models.CharField(max_length=120, unique=True, help_text="What the bill is for: one bill, once.")
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-issue_date", "-number")
        constraints = (models.CheckConstraint(condition=ONE_TENANT, name="invoice_one_payer"),)
        indexes = (
            models.Index(fields=("partner", "status", "due_date"), name="invoice_partner_idx"),
            models.Index(fields=("account", "status", "due_date"), name="invoice_account_idx"),
            models.Index(fields=("status", "method"), name="invoice_status_idx"),
            models.Index(fields=("mail_pending",), condition=Q(mail_pending=True), name="invoice_mail_idx"),
        )

    def __str__(self) -> str:
        return f"invoice {self.number}"

    @property
    def payer(self) -> Account | Partner:
        return self.account or self.partner  # type: ignore[return-value]

    def state_on(self, today: date) -> str:
        """ "paid", "void", "overdue" (past due or its charge failed) or "due"."""
        if self.status != self.Status.OPEN:
            return str(self.status)
        if self.charge_failed_at is not None or self.due_date < today:
            return "overdue"
        return "due"


class InvoiceLine(models.Model):
    """One account's one service on an invoice; tax is kept per line so that an account's share of
    a consolidated bill is exact."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    account = models.ForeignKey(Account, null=True, on_delete=models.SET_NULL, related_name="+")
    account_name = models.CharField(max_length=200)
    account_email = models.CharField(max_length=254, blank=True)
    service = models.CharField(max_length=30, choices=SERVICE_CHOICES)
    description = models.CharField(max_length=300)
    unit = models.CharField(max_length=10, choices=Unit.choices)
    quantity = models.DecimalField(max_digits=14, decimal_places=2)
    unit_price = models.BigIntegerField(help_text="After the partner discount, per unit and period.")
    starts_on = models.DateField(help_text="The first day this line pays for.")
    ends_on = models.DateField(help_text="The last day this line pays for.")
    days = models.PositiveSmallIntegerField(default=0, help_text="Days paid, when less than the period.")
    period_days = models.PositiveSmallIntegerField(default=0)
    amount = models.BigIntegerField()
    tax = models.BigIntegerField(default=0)

    class Meta:
        ordering = ("account_name", "service", "pk")
        indexes = (
            models.Index(fields=("account", "invoice"), name="invoice_line_account_idx"),
            models.Index(fields=("account", "starts_on"), name="invoice_line_period_idx"),
        )

    def __str__(self) -> str:
        return f"{self.account_name} {self.service}: {self.amount}"


class Card(models.Model):
    """A payment card as the gateway knows it: a token and what may be shown, never the number."""

    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    gateway = models.CharField(max_length=20)
    token = models.CharField(max_length=200)
    brand = models.CharField(max_length=20, blank=True)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=200, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[TenantQuerySet] = TenantQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ("-is_default", "-created_at")
        constraints = (
            models.CheckConstraint(condition=ONE_TENANT, name="card_one_tenant"),
            models.UniqueConstraint(
                fields=("account",), condition=Q(is_default=True), name="one_default_card_account"
            ),
            models.UniqueConstraint(
                fields=("partner",), condition=Q(is_default=True), name="one_default_card_partner"
            ),
        )

    def __str__(self) -> str:
        return f"{self.brand or 'Card'} ****{self.last4} ({self.exp_month:02d}/{self.exp_year})"


class Payment(models.Model):
    """One attempt to collect an invoice: a card charge, a payment link, a transfer booked."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payments")
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    gateway = models.CharField(max_length=20)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reference = models.CharField(max_length=200, blank=True, help_text="The gateway's id.")
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = (models.Index(fields=("gateway", "reference"), name="payment_reference_idx"),)

    def __str__(self) -> str:
        return f"{self.gateway} {self.reference or self.pk}: {self.status}"


class InvoiceCounter(models.Model):
    """The last reference number handed out; read under a lock so numbers have no gaps."""

    last = models.PositiveIntegerField(default=10000)

    def __str__(self) -> str:
        return f"last invoice number {self.last}"


class BillingRun(models.Model):
    """A day the daily run finished: the scheduler runs every day since the last one, so a day
    missed while the workers were down is still billed, and a day is never billed twice."""

    day = models.DateField(unique=True)
    finished_at = models.DateTimeField(default=timezone.now)
    report = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"billing run of {self.day}"
