"""The Resellers page of a partner portal (P-TIERS): every partner below the portal's partner, with
its customer accounts and users counted, search, sort, paging, CSV export, and a way into each one's
portal.

It is behind the dashboard's permission: it is the dashboard one level up (the same people open a
reseller's portal from here as open the accounts from the dashboard). A partner without resellers
gets the page with an empty state rather than a 404: the page shows nothing but the partner's own
subtree, so it tells nobody anything, and its address keeps working on the day a first reseller
is added (a 404 in the portal means "out of your reach").
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from backstop.billing import subscriptions
from backstop.tenancy import dashboard as board
from backstop.tenancy import permissions as perms
from backstop.tenancy import resellers
from backstop.tenancy.models import Membership, Partner
from backstop.tenancy.scoping import partners_below
from backstop.tenancy.views.decorators import is_htmx, partner_view
from backstop.web import csvexport

SLOT = board.SLOT  # no partner has this id: the portal URL is reversed once and filled in per row


@partner_view(perms.PARTNER_VIEW_DASHBOARD)
@require_safe
@vary_on_headers("HX-Request")  # the same URL answers with a fragment or a page
def reseller_list(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    filters = resellers.Filters.parse(request.GET)
    listed = resellers.rows(partner, membership, filters, subscriptions.today())
    if request.GET.get("format") == "csv":
        name = f"resellers-{partner.code}-{timezone.localdate().isoformat()}.csv"
        return csvexport.response(name, resellers.csv_rows(listed))
    url = reverse("partner_resellers", args=[partner.pk])
    page = Paginator(listed, resellers.PAGE_SIZE).get_page(request.GET.get("page"))
    portal = reverse("partner_dashboard", args=[SLOT])
    context: dict[str, Any] = {
        "partner": partner,
        "membership": membership,
        "filters": filters,
        "page": page,
        "rows": [(row, portal.replace(str(SLOT), str(row.partner.pk))) for row in page],
        "pager_query": filters.query(),
        "results_url": url,
        "sort_name": filters.sort_query("name"),
        "sort_accounts": filters.sort_query("accounts"),
        "any_below": bool(listed) or bool(filters.q and partners_below(partner).exists()),
    }
    if is_htmx(request):
        return render(request, "tenancy/resellers/_rows.html", context)
    return render(request, "tenancy/resellers/list.html", context)
