"""The partner dashboard (P-DASH): status tiles, the customer account list with its filters, and the
actions on accounts (subscribe trials, delete with the 7-day grace, export the usage report).

Every read and every action goes through `board.reached(membership)` (`scoping.reach_of`): an
account the role does not reach is never listed, counted, changed or reported; ids of other
tenants' accounts in a POST are ignored, and a row action on one is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from backstop.audit import events
from backstop.audit.models import AuditEvent
from backstop.billing import status as billing_status
from backstop.billing import subscriptions
from backstop.billing.models import Plan
from backstop.tenancy import dashboard as board
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import REMOVAL_GRACE, Account, Membership, Partner
from backstop.tenancy.services import cancel_removal, request_removal
from backstop.tenancy.views.decorators import is_htmx, partner_view

PAGE_SIZE = board.PAGE_SIZE
MAX_SELECTED = 500  # ids one POST may name (a page holds 25)


def _add_account_url(partner: Partner) -> str:
    """The Add account page, when it exists (it is built beside this one)."""
    try:
        return reverse("partner_add_account", args=[partner.pk])
    except NoReverseMatch:
        return ""


@partner_view(perms.PARTNER_VIEW_DASHBOARD)
@require_safe
@vary_on_headers("HX-Request")  # the same URL answers with a fragment or a page
def dashboard(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    if not is_htmx(request) and _billing_pending(partner):
        # A new partner starts at Billing (P-ONBOARD): how it pays, before anything is billed.
        if membership.allows(perms.PARTNER_VIEW_BILLING):
            return redirect("billing_partner_onboarding", partner.pk)
        messages.warning(
            request, "Billing of this partner portal is not set up yet: ask an administrator to set it up."
        )
    today = subscriptions.today()
    filters = board.Filters.parse(request.GET)
    accounts = filters.apply(board.reached(membership), partner, today)
    # The filtered ids in order (one query, whatever the filter), then the page's rows.
    ids = filters.ordered_ids(accounts, partner, today)
    page = Paginator(ids, PAGE_SIZE).get_page(request.GET.get("page"))
    billing = board.billings(partner, today)  # read once: the rows and the tiles both show it
    url = reverse("partner_dashboard", args=[partner.pk])
    context: dict[str, Any] = {
        "partner": partner,
        "membership": membership,
        "filters": filters,
        "page": page,
        "rows": board.rows(partner, list(page), today, billing),
        "pager_query": filters.query(),
        "results_url": url,
        "query": filters.q,
        "account_choices": board.ACCOUNT_LABELS,
        "backup_choices": board.BACKUP_LABELS,
        "billing_choices": board.BILLING_LABELS,
        "resellers": board.resellers(partner),
        "resellers_listed": board.RESELLERS_LISTED,
        "can_subscribe": membership.allows(perms.PARTNER_SUBSCRIBE),
        "can_delete": membership.allows(perms.MANAGE_ACCOUNT),
        "can_billing": membership.allows(perms.PARTNER_VIEW_BILLING),
        "back": request.get_full_path(),
        "sort_name": filters.sort_query("name"),
        "sort_status": filters.sort_query("status"),
        "sort_size": filters.sort_query("size"),
        "currency": billing_status.payer_of_currency(partner),
    }
    if is_htmx(request):
        context["oob"] = True
        return render(request, "tenancy/partials/partner_rows.html", context)
    context.update(
        tiles=board.tiles(partner, membership, today, context["currency"], billing),
        add_account_url=_add_account_url(partner) if membership.allows(perms.PARTNER_ADD_ACCOUNTS) else "",
    )
    return render(request, "tenancy/partner_dashboard.html", context)


def _billing_pending(partner: Partner) -> bool:
    from backstop.billing.models import BillingProfile

    onboarded = BillingProfile.objects.filter(partner=partner, onboarded_at__isnull=False)
    return not onboarded.exists()


def _back(request: HttpRequest, partner: Partner) -> str:
    """Where an action returns to: the dashboard with the filters it was posted from."""
    root = reverse("partner_dashboard", args=[partner.pk])
    value = request.POST.get("back", "")
    if value.startswith(root) and url_has_allowed_host_and_scheme(value, allowed_hosts=None):
        return value
    return root


def _selected(request: HttpRequest) -> list[int]:
    ids: list[int] = []
    for value in request.POST.getlist("ids")[:MAX_SELECTED]:
        try:
            ids.append(int(value))
        except ValueError:
            continue
    return ids


def _account_in_reach(membership: Membership, account_id: int) -> Account:
    account = board.reached(membership).filter(pk=account_id).select_related("subscription").first()
    if account is None:
        raise Http404("No such account")
    return account


# -- Subscribe > Monthly / Annual -----------------------------------------------------------------


@partner_view(perms.PARTNER_SUBSCRIBE)
@require_POST
def subscribe(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    """Subscribes the selected trial accounts; the others (already subscribed) are skipped and
    ids out of reach are ignored."""
    plan = request.POST.get("plan", "")
    if plan not in (Plan.MONTHLY, Plan.ANNUAL):
        messages.error(request, "Choose Monthly or Annual.")
        return redirect(_back(request, partner))
    ids = _selected(request)
    if not ids:
        messages.error(request, "Select the trial accounts to subscribe first.")
        return redirect(_back(request, partner))
    selected = (
        board.reached(membership)
        .filter(pk__in=ids)
        .select_related("subscription", "partner")
        .order_by("name")
    )
    eligible = set(selected.filter(board.subscribable()).values_list("pk", flat=True))
    changed: list[Account] = []
    skipped = 0
    label = Plan(plan).label
    for account in selected:
        if account.pk not in eligible:
            skipped += 1
            continue
        subscriptions.subscribe(account, plan, by=request.user)
        changed.append(account)
        text = f"Subscribed to the {label.lower()} plan from the partner portal of {partner.name}"
        events.billing_changed(request, account, text, partner=partner)
    if changed:
        # The portal's summary names no account: a role limited to some accounts reads the
        # portal's events, and each account's own event (above) names it where it may be seen.
        events.billing_changed(
            request,
            partner,
            f"Subscribed {len(changed)} trial account(s) to the {label.lower()} plan (each in its own event)",
        )
    text = f"{len(changed)} account{'' if len(changed) == 1 else 's'} subscribed to the {label} plan"
    if skipped:
        text += f"; {skipped} skipped (not a trial)"
    (messages.success if changed else messages.warning)(request, text + ".")
    return redirect(_back(request, partner))


# -- Delete (the 7-day grace) ---------------------------------------------------------------------


@partner_view(perms.MANAGE_ACCOUNT)
def delete_account(
    request: HttpRequest, partner: Partner, membership: Membership, account_id: int
) -> HttpResponse:
    """GET: the confirmation; POST: the removal request (the data is kept for the grace)."""
    account = _account_in_reach(membership, account_id)
    if request.method == "POST":
        if request.POST.get("confirm") != account.name:
            messages.error(request, "Type the account name to confirm the deletion.")
            return redirect("partner_account_delete", partner.pk, account.pk)
        request_removal(account, by=request.user)  # type: ignore[arg-type]
        text = (
            f"Account removal requested from the partner portal of {partner.name}: its data is deleted "
            f"after {REMOVAL_GRACE.days} days unless cancelled"
        )
        events.settings_changed(request, account, text, partner=partner)
        messages.warning(
            request,
            f"{account.name} is scheduled for deletion. Its data is kept for {REMOVAL_GRACE.days} days; "
            "you can cancel the deletion until then.",
        )
        return redirect(_back(request, partner))
    if request.method != "GET":
        return HttpResponse(status=405)
    today = subscriptions.today()
    context = {
        "partner": partner,
        "membership": membership,
        "customer": account,
        "state": board.ACCOUNT_LABELS[board.account_state(account, today)],
        "grace_days": REMOVAL_GRACE.days,
        "back": _safe_back(request.GET.get("back", ""), partner),
    }
    return render(request, "tenancy/dashboard/delete.html", context)


def _safe_back(value: str, partner: Partner) -> str:
    root = reverse("partner_dashboard", args=[partner.pk])
    if value.startswith(root) and url_has_allowed_host_and_scheme(value, allowed_hosts=None):
        return value
    return root


@partner_view(perms.MANAGE_ACCOUNT)
@require_POST
def cancel_delete(
    request: HttpRequest, partner: Partner, membership: Membership, account_id: int
) -> HttpResponse:
    account = _account_in_reach(membership, account_id)
    if cancel_removal(account):
        events.settings_changed(
            request,
            account,
            f"Account removal cancelled from the partner portal of {partner.name}",
            partner=partner,
        )
        messages.success(request, f"The deletion of {account.name} was cancelled. Nothing was deleted.")
    else:
        text = "Cancelling the account removal was refused: the grace period is over"
        events.settings_changed(request, account, text, partner=partner, status=AuditEvent.Status.FAILED)
        messages.error(request, "The grace period is over: the account's data is being deleted.")
    return redirect(_back(request, partner))


# -- Export usage report --------------------------------------------------------------------------


@partner_view(perms.PARTNER_VIEW_DASHBOARD)
@require_POST
def usage_report(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    """Queues the usage report of the selected accounts, or of every account the filters show;
    it arrives by e-mail as a zipped CSV."""
    from backstop.tenancy import report_tasks

    ids = _selected(request)
    filters = board.Filters.parse(request.POST)
    today = subscriptions.today()
    accounts = board.reached(membership)
    accounts = accounts.filter(pk__in=ids) if ids else filters.apply(accounts, partner, today)
    count = accounts.count()
    if not count:
        messages.error(request, "No account to report on: select accounts or change the filters.")
        return redirect(_back(request, partner))
    what = (
        f"{count} selected account{'' if count == 1 else 's'}"
        if ids
        else (
            f"all {count} account{'' if count == 1 else 's'}"
            + (" matching the filters" if filters.any else "")
        )
    )
    email = getattr(request.user, "email", "")
    events.record(
        request,
        events.EXPORT_REQUESTED,
        account=None,
        partner=partner,
        description=f"Usage report requested for {what}; sent to {email}",
    )
    report_tasks.queue_usage_report(
        partner_id=partner.pk,
        user_id=request.user.pk,  # type: ignore[arg-type]
        account_ids=ids,
        filters=dict(filters.pairs()),
    )
    messages.success(
        request, f"The usage report of {what} is being prepared: it will be e-mailed to {email}."
    )
    return redirect(_back(request, partner))
