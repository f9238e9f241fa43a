"""The partner portal's first page: the accounts a partner user may open (P-DASH grows here)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership, Partner
from backstop.tenancy.scoping import reach_of
from backstop.tenancy.views.decorators import is_htmx, partner_view

PAGE_SIZE = 25


@vary_on_headers("HX-Request")  # the same URL answers with a fragment or a page
@partner_view(perms.PARTNER_VIEW_DASHBOARD)
def dashboard(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    # The partner role's own reach: not accounts the user may open as a direct member.
    accounts = Account.objects.filter(reach_of(membership)).distinct().order_by("name")
    if query:
        accounts = accounts.filter(Q(name__icontains=query) | Q(email__icontains=query))
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "tenancy/partials/partner_rows.html" if is_htmx(request) else "tenancy/partner_dashboard.html"
    return render(
        request, template, {"partner": partner, "membership": membership, "page": page, "query": query}
    )
