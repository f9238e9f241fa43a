"""The partner portal's first page: the accounts a partner user may open (P-DASH grows here)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.vary import vary_on_headers

from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import reach_of
from backstop.tenancy.views.decorators import is_htmx, partner_view

PAGE_SIZE = 25


@vary_on_headers("HX-Request")  # the same URL answers with a fragment or a page
@partner_view(perms.PARTNER_VIEW_DASHBOARD)
def dashboard(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    if not is_htmx(request) and _billing_pending(partner):
        # A new partner starts at Billing (P-ONBOARD): how it pays, before anything is billed.
        if membership.allows(perms.PARTNER_VIEW_BILLING):
            return redirect("billing_partner_onboarding", partner.pk)
        messages.warning(
            request, "Billing of this partner portal is not set up yet: ask an administrator to set it up."
        )
    query = request.GET.get("q", "").strip()
    # The partner role's own reach: not accounts the user may open as a direct member.
    accounts = (
        Account.objects.filter(reach_of(membership))
        .distinct()
        .select_related("subscription")
        .order_by("name")
    )
    if query:
        accounts = accounts.filter(Q(name__icontains=query) | Q(email__icontains=query))
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "tenancy/partials/partner_rows.html" if is_htmx(request) else "tenancy/partner_dashboard.html"
    return render(
        request, template, {"partner": partner, "membership": membership, "page": page, "query": query}
    )


def _billing_pending(partner: Partner) -> bool:
    from backstop.billing.models import BillingProfile

    onboarded = BillingProfile.objects.filter(partner=partner, onboarded_at__isnull=False)
    return not onboarded.exists()
