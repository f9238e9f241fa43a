"""Subscribe, Payment details and partner onboarding (A-BILLING, P-ONBOARD, P-BILLING payment).

A direct customer (no partner) subscribes and keeps its cards and billing details here; accounts
billed through a partner have no billing pages at all (404). A partner sets its preferences once,
at onboarding, and keeps its cards and billing details on Payment details. Card numbers never
reach these views: the card form's script tokenises them with the gateway in the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from backstop.audit import events
from backstop.billing import cycle, subscriptions
from backstop.billing.forms import BillingDetailsForm, PlanForm, PreferencesForm
from backstop.billing.models import BillingProfile, Plan, Subscription
from backstop.billing.views.payment_page import (
    PayerScope,
    account_summary,
    card_action,
    details_action,
    gateway_csp,
    page_context,
    switch_action,
)
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership, Partner
from backstop.tenancy.scoping import AccountAccess
from backstop.tenancy.views.decorators import account_view, partner_view

State = Subscription.State
Method = BillingProfile.Method


def direct_account_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """View billing on an account that pays for itself; one billed through a partner has none."""

    @account_view(perms.VIEW_BILLING)
    @wraps(view)
    def wrapper(request: HttpRequest, access: AccountAccess, *args: Any, **kwargs: Any) -> HttpResponse:
        if access.account.partner_id is not None:
            raise Http404("Billing of this account goes through its partner.")
        return view(request, access, *args, **kwargs)

    return wrapper


# -- customers --------------------------------------------------------------------------------


@direct_account_view
@require_http_methods(["GET", "POST"])
def account_subscribe(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    account = access.account
    subscription = subscriptions.subscription_of(account)
    trial = subscriptions.trial_info(account, subscription)
    chosen = bool(subscription.plan)  # subscribed, or a plan chosen during the trial
    form = PlanForm(request.POST or None)
    if request.method == "POST" and not chosen and form.is_valid():
        plan = form.cleaned_data["plan"]
        subscription = subscriptions.subscribe(account, plan, by=request.user)
        cycle.refresh_forecasts(subscriptions.today(), account)  # the forecast shows at once
        label = Plan(subscription.plan).label.lower()
        if subscription.state == State.TRIAL and account.trial_ends_on:
            starts = f"paying starts when the trial ends on {account.trial_ends_on:%b %-d, %Y}"
        else:
            starts = "paying starts today"
        events.billing_changed(request, account, f"Subscribed to the {label} plan; {starts}")
        follow = (
            "Add a card below: monthly bills are charged to it."
            if subscription.plan == Plan.MONTHLY
            else "Complete your billing details below: the annual invoice is e-mailed, due in 30 days."
        )
        messages.success(request, f"You subscribed to the {label} plan: {starts}. {follow}")
        return redirect("billing_account_payment", account.pk)
    if request.method == "POST" and chosen:
        messages.info(request, "The plan is already chosen: to change it, contact support.")
        return redirect("billing_account_subscribe", account.pk)
    return render(
        request,
        "billing/payment/subscribe.html",
        {
            "account": account,
            "access": access,
            "billing_scope": "account",
            "billing_pk": account.pk,
            "tab": "subscribe",
            "subscription": subscription,
            "trial": trial,
            "chosen": chosen,
            "form": form,
            "summary": account_summary(account, subscription),
        },
    )


@direct_account_view
@require_http_methods(["GET", "POST"])
@gateway_csp
def account_payment(request: HttpRequest, access: AccountAccess) -> HttpResponse:
    scope = PayerScope(access.account)
    return payment_page(request, scope, {"account": access.account, "access": access})


# -- partners ---------------------------------------------------------------------------------


@partner_view(perms.PARTNER_VIEW_BILLING)
@require_http_methods(["GET", "POST"])
@gateway_csp
def partner_payment(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    scope = PayerScope(partner)
    return payment_page(request, scope, {"partner": partner, "membership": membership})


def payment_page(request: HttpRequest, scope: PayerScope, extra: dict[str, Any]) -> HttpResponse:
    """Payment details of either payer: cards, billing details, the banner switch."""
    forms: dict[str, Any] = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        handlers = {
            "add_card": card_action,
            "activate_card": card_action,
            "delete_card": card_action,
            "details": details_action,
            "banners": switch_action,
        }
        handler = handlers.get(action)
        if handler is None:
            messages.error(request, "Unknown request: reload the page and try again.")
            return redirect(scope.url("payment"))
        outcome = handler(request, scope, action)
        if isinstance(outcome, HttpResponse):
            return outcome
        forms = outcome
    return render(request, "billing/payment/payment.html", {**page_context(request, scope, forms), **extra})


@partner_view(perms.PARTNER_VIEW_BILLING)
@require_http_methods(["GET", "POST"])
@gateway_csp
def partner_onboarding(request: HttpRequest, partner: Partner, membership: Membership) -> HttpResponse:
    scope = PayerScope(partner)
    profile = scope.profile
    if profile.onboarded_at is not None:
        return redirect(scope.url("payment"))
    forms: dict[str, Any] = {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "add_card":
            outcome = card_action(request, scope, action, after="onboarding")
            if isinstance(outcome, HttpResponse):
                return outcome
            forms = outcome
        elif action == "finish":
            outcome = _finish(request, scope)
            if isinstance(outcome, HttpResponse):
                return outcome
            forms = outcome
        else:
            return redirect(scope.url("onboarding"))
    context = page_context(request, scope, forms)
    context.setdefault("preferences_form", PreferencesForm(instance=profile, prefix="pref"))
    context.update(partner=partner, membership=membership, onboarding=True)
    return render(request, "billing/payment/onboarding.html", context)


def _finish(request: HttpRequest, scope: PayerScope) -> HttpResponse | dict[str, Any]:
    profile = scope.profile
    preferences = PreferencesForm(request.POST, instance=profile, prefix="pref")
    details = BillingDetailsForm(request.POST, instance=profile, **scope.form_options)
    valid = preferences.is_valid() & details.is_valid()  # both, so every error shows at once
    if valid and preferences.cleaned_data["method"] == Method.CARD and not scope.cards:
        preferences.add_error(
            None, "Add your credit card above before finishing, or choose to receive invoices instead."
        )
        valid = False
    if not valid:
        return {"preferences_form": preferences, "details_form": details}
    profile = details.save(commit=False)
    profile.method = preferences.cleaned_data["method"]
    profile.annual_billing = preferences.cleaned_data["annual_billing"]
    profile.onboarded_at = timezone.now()
    profile.save()
    cycle.refresh_forecasts(subscriptions.today(), scope.payer)  # in its currency, on its payment day
    method = "pays by credit card" if profile.method == Method.CARD else "pays by invoice"
    annual = profile.get_annual_billing_display().lower()
    day = f"payment day {profile.payment_day}" if profile.payment_day else "payment day the 1st"
    events.billing_changed(
        request,
        scope.payer,
        f"Billing set up: {method}, annual billing by {annual}, {day}; billing details entered",
    )
    messages.success(request, "Billing is set up. You can now subscribe your customers' accounts.")
    return redirect("billing_partner_status", scope.payer.pk)
