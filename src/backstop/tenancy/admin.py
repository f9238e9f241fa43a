"""Operators manage partners (the hierarchy) and customer accounts (the partner's access) here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from backstop.tenancy.models import Account, Partner


def _operator(request: HttpRequest) -> str:
    return f"by support ({getattr(request.user, 'email', '')})"


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "parent", "email", "region", "lineage")
    list_filter = ("kind", "region")
    search_fields = ("name", "email")
    readonly_fields = ("lineage",)
    raw_id_fields = ("parent",)
    ordering = ("lineage", "name")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "partner", "partner_access", "customer_may_remove_partner", "region")
    list_filter = ("partner_access", "customer_may_remove_partner", "region")
    search_fields = ("name", "email", "partner__name")
    raw_id_fields = ("partner", "removal_requested_by")
    fieldsets = (
        (None, {"fields": ("name", "email", "pending_email", "region", "trial_ends_on")}),
        (
            "Partner",
            {
                "fields": ("partner", "partner_access", "customer_may_remove_partner"),
                "description": "Turn partner access off and the partner's users no longer see or open the "
                "account; only the customer's own users do.",
            },
        ),
        ("Removal", {"fields": ("removal_requested_at", "removal_requested_by")}),
    )
    actions = ("remove_partner_access",)

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        before = (
            Account.objects.filter(pk=obj.pk).values("partner_access", "partner_id").first()
            if change
            else None
        )
        super().save_model(request, obj, form, change)
        if before is None or before["partner_access"] == obj.partner_access:
            return
        partner_id = before["partner_id"] or obj.partner_id
        partner = Partner.objects.filter(pk=partner_id).first() if partner_id else None
        if partner is not None:
            from backstop.tenancy.views.account import audit_partner_access

            audit_partner_access(request, obj, partner, removed=not obj.partner_access, by=_operator(request))

    @admin.action(description="Remove the partner's access to the selected accounts")
    def remove_partner_access(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        from backstop.tenancy.views.account import audit_partner_access

        changed = 0
        for account in queryset.filter(partner_access=True, partner__isnull=False).select_related("partner"):
            account.partner_access = False
            account.save(update_fields=["partner_access"])
            assert account.partner is not None
            audit_partner_access(request, account, account.partner, removed=True, by=_operator(request))
            changed += 1
        messages.info(request, f"Partner access removed from {changed} account(s).")
