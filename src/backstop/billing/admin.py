# mypy: disable-error-code="type-arg"
"""Operators edit the price list, tax rates and discounts, and change plans, in the admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from backstop.audit import events
from backstop.billing.models import BillingProfile, Invoice, InvoiceLine, Plan, Price, Subscription, TaxRate
from backstop.billing.signals import bill_changed
from backstop.billing.subscriptions import change_plan


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("service", "unit", "currency", "plan", "amount")
    list_filter = ("currency", "plan", "service")
    list_editable = ("amount",)


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ("country", "name", "percent")


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    list_display = ("__str__", "currency", "method", "annual_billing", "payment_day", "discount_percent")
    search_fields = ("company", "email", "partner__name", "account__name")
    raw_id_fields = ("account", "partner")


def _change(request: HttpRequest, queryset: QuerySet[Subscription], plan: str) -> None:
    for subscription in queryset.select_related("account"):
        before = subscription.plan
        change_plan(subscription, plan)
        text = f"Subscription changed by support from {before or 'none'} to {plan}"
        events.billing_changed(request, subscription.account, text)
    messages.info(request, f"{queryset.count()} subscription(s) set to {plan}.")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "account",
        "kind",
        "state",
        "plan",
        "starts_on",
        "renews_on",
        "exclude_from_consolidation",
    )
    list_filter = ("state", "plan", "kind", "exclude_from_consolidation")
    search_fields = ("account__name", "account__email")
    raw_id_fields = ("account", "subscribed_by")
    actions = ("to_monthly", "to_annual")

    @admin.action(description="Change to monthly (from the renewal for annual plans)")
    def to_monthly(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        _change(request, queryset, Plan.MONTHLY)

    @admin.action(description="Change to annual (the year starts today)")
    def to_annual(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        _change(request, queryset, Plan.ANNUAL)


class LineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    readonly_fields = ("account_name", "service", "description", "quantity", "unit_price", "amount", "tax")
    fields = readonly_fields


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "partner",
        "account",
        "plan",
        "issue_date",
        "due_date",
        "total",
        "currency",
        "status",
    )
    list_filter = ("status", "plan", "method", "currency")
    search_fields = ("=number", "partner__name", "account__name")
    readonly_fields = ("number", "key", "subtotal", "tax", "total", "bill_to")
    inlines = (LineInline,)

    def save_model(self, request: HttpRequest, obj: Invoice, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        bill_changed.send_robust(Invoice, invoice=obj)  # voided or re-dated: dashboards read it again
