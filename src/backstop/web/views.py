"""Entry points of the shell: where a signed-in person lands."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Partner


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Sends a person to their account, or to their partner portal, or says they have none."""
    last = request.session.get("account_id")
    accounts = Account.objects.restrict(request.user, perms.VIEW)
    if last and accounts.filter(pk=last).exists():
        return redirect("account_home", account_id=last)
    # The user's own portal first (a distributor's user lands on the distributor's, not on the
    # first of its resellers by name), then any portal below it they reach.
    portals = Partner.objects.restrict(request.user, perms.PARTNER_VIEW_DASHBOARD)
    own = portals.filter(memberships__user=request.user.pk).order_by("name", "pk")
    partner = own.first() or portals.first()
    if partner is not None:
        return redirect("partner_dashboard", partner_id=partner.pk)
    account = accounts.first()
    if account is not None:
        return redirect("account_home", account_id=account.pk)
    return render(request, "web/no_access.html", status=200)


def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
