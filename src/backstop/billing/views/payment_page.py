"""The parts of Payment details that customers and partners share: the payer, the summary line,
the card actions, the billing details form, the banner switch and the card form's CSP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property, wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.dateformat import format as format_date
from django.views.decorators.csp import csp_override

from backstop.accounts.models import User
from backstop.audit import events
from backstop.billing import cycle, payments, subscriptions
from backstop.billing.forms import BannerSwitchForm, BillingDetailsForm, CardTokenForm
from backstop.billing.gateways import gateway
from backstop.billing.gateways.base import GatewayError
from backstop.billing.models import BillingProfile, Card, Invoice, Plan, Subscription
from backstop.tenancy.models import Account, Partner

State = Subscription.State
Method = BillingProfile.Method
STRIPE_JS = "https://js.stripe.com"


def day(value: date | None) -> str:
    return format_date(value, "M j, Y") if value else ""


class PayerScope:
    """The payer a page is about, with what its pages read once per request."""

    def __init__(self, payer: Account | Partner) -> None:
        self.payer = payer
        self.kind = "account" if isinstance(payer, Account) else "partner"

    def url(self, name: str) -> str:
        return reverse(f"billing_{self.kind}_{name}", args=[self.payer.pk])

    @cached_property
    def profile(self) -> BillingProfile:
        return payments.profile_of(self.payer)

    @cached_property
    def cards(self) -> list[Card]:
        return payments.cards_of(self.payer)

    @cached_property
    def subscription(self) -> Subscription | None:
        if isinstance(self.payer, Account):
            return subscriptions.subscription_of(self.payer)
        return None

    @cached_property
    def currency_locked(self) -> bool:
        """Once an invoice exists, only support changes the currency."""
        owner = {"account": self.payer} if self.kind == "account" else {"partner": self.payer}
        return Invoice.objects.filter(**owner).exists()

    @property
    def form_options(self) -> dict[str, bool]:
        return {"currency_locked": self.currency_locked, "partner": self.kind == "partner"}

    @property
    def monthly_by_card(self) -> bool:
        """Monthly bills of this payer are charged to its default card."""
        if self.subscription is not None:
            return self.subscription.plan == Plan.MONTHLY
        return self.profile.method == Method.CARD


@dataclass(frozen=True)
class Summary:
    """The one line at the top of Payment details."""

    text: str
    on: date | None = None
    note: str = ""
    level: str = "info"
    subscribe: bool = False  # offer the Subscribe page
    sep: str = ": "  # between the text and the date


def account_summary(account: Account, subscription: Subscription, today: date | None = None) -> Summary:
    today = today or subscriptions.today()
    plan = subscription.plan
    if subscription.state == State.SUBSCRIBED and plan == Plan.ANNUAL:
        return Summary("Annual subscription, renewal date", subscription.renews_on)
    if subscription.state == State.SUBSCRIBED:
        return Summary("Monthly subscription, next payment", _next_monthly(account, subscription, today))
    info = subscriptions.trial_info(account, subscription, today)
    if plan and info.state in ("in_progress", "expiring"):
        label = Plan(plan).label
        return Summary(f"{label} plan chosen; paying starts when the trial ends on", info.ends_on, sep=" ")
    if info.state == "expired":
        note = f"Subscribe by {day(info.purge_on)}, or the backed-up data is deleted."
        return Summary("The free trial ended on", info.ends_on, note, "danger", True, " ")
    if info.state == "purged":
        note = "The backed-up data was deleted. Subscribe to back up again."
        return Summary("The free trial ended on", info.ends_on, note, "danger", True, " ")
    if info.state:
        left = f"{info.days_left} day{'s' if info.days_left != 1 else ''} left"
        level = "warning" if info.state == "expiring" else "info"
        note = f"{left}. Subscribe to keep your backups."
        return Summary("Free trial, ends on", info.ends_on, note, level, True, " ")
    return Summary("Not subscribed", None, "Subscribe to keep your backups.", "warning", subscribe=True)


def _next_monthly(account: Account, subscription: Subscription, today: date) -> date:
    """The stored next payment (refreshed by the daily run), else the date the run will store."""
    if subscription.next_payment_on and subscription.next_payment_on >= today:
        return subscription.next_payment_on
    profile = BillingProfile.objects.filter(account=account).first()
    starts = subscription.starts_on or account.trial_ends_on or today
    payment_day = cycle.payment_day(profile, False, subscription)
    return cycle.next_payment_day(payment_day, max(today, starts) + timedelta(days=1))


def partner_summary(profile: BillingProfile, today: date | None = None) -> Summary:
    today = today or subscriptions.today()
    payment_day = cycle.payment_day(profile, True, None)
    on = cycle.next_payment_day(payment_day, today + timedelta(days=1))
    how = "charged to your card" if profile.method == Method.CARD else "invoiced, due in 30 days"
    return Summary("Consolidated monthly bill, next payment day", on, f"Monthly bills are {how}.")


@dataclass(frozen=True)
class CardRow:
    card: Card
    label: str
    expires: str
    expired: bool


def card_rows(cards: list[Card], today: date) -> list[CardRow]:
    rows = []
    for card in cards:
        expired = (card.exp_year, card.exp_month) < (today.year, today.month)
        label = f"{card.brand or 'Card'} ****{card.last4}"
        rows.append(CardRow(card, label, f"{card.exp_month:02d}/{card.exp_year % 100:02d}", expired))
    return rows


def card_label(card: Card) -> str:
    return f"{card.brand or 'Card'} ****{card.last4}"


def page_context(request: HttpRequest, scope: PayerScope, forms: dict[str, Any]) -> dict[str, Any]:
    """Everything the payment page (and onboarding) shows; `forms` are bound forms with errors."""
    today = subscriptions.today()
    profile = scope.profile
    if scope.subscription is not None:
        assert isinstance(scope.payer, Account)
        summary = account_summary(scope.payer, scope.subscription, today)
    else:
        summary = partner_summary(profile, today)
    user = cast(User, request.user)
    config = gateway().browser_config()
    card_form = forms.get("card_form") or CardTokenForm()
    return {
        "billing_scope": scope.kind,
        "billing_pk": scope.payer.pk,
        "tab": "payment",
        "scope": scope,
        "payer": scope.payer,
        "profile": profile,
        "summary": summary,
        "subscription": scope.subscription,
        "cards": card_rows(scope.cards, today),
        "monthly_by_card": scope.monthly_by_card,
        "card_form": card_form,
        "card_errors": forms.get("card_errors")
        or [*card_form.non_field_errors(), *card_form["token"].errors],
        "details_form": forms.get("details_form")
        or BillingDetailsForm(instance=profile, **scope.form_options),
        "switch_form": BannerSwitchForm(initial={"show_billing_banners": user.show_billing_banners}),
        "discount": format(profile.discount_percent.normalize(), "f") if profile.discount_percent else "",
        "gateway": config,
        "stripe": settings.BACKSTOP_PAYMENT_GATEWAY == "stripe",
        **{k: v for k, v in forms.items() if k not in ("card_form", "details_form")},
    }


# -- actions (each returns a redirect when done, or the bound forms to show with their errors) --

Outcome = HttpResponse | dict[str, Any]


def _card_id(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("card", ""))
    except ValueError:
        raise Http404("No such card") from None


def card_action(request: HttpRequest, scope: PayerScope, action: str, after: str = "payment") -> Outcome:
    payer = scope.payer
    if action == "add_card":
        form = CardTokenForm(request.POST)
        if not form.is_valid():
            if form.has_error("__all__", "card_number_posted"):  # echo nothing of what was posted
                return {"card_form": CardTokenForm(), "card_errors": form.non_field_errors()}
            return {"card_form": form}
        try:
            card = payments.add_card(payer, form.cleaned_data["token"])
        except GatewayError as exc:
            form.add_error(None, str(exc) or "The card was refused. Check its details or use another card.")
            return {"card_form": form}
        holder = form.cleaned_data["holder"].strip()
        if holder and not card.holder:
            Card.objects.filter(pk=card.pk).update(holder=holder)
        events.billing_changed(request, payer, f"Card {card_label(card)} added and made the default card")
        messages.success(request, f"{card_label(card)} was added and is now the card we charge.")
        return redirect(scope.url(after))
    if action == "activate_card":
        try:
            card = payments.activate_card(payer, _card_id(request))
        except Card.DoesNotExist:
            raise Http404("No such card") from None
        events.billing_changed(request, payer, f"Card {card_label(card)} made the default card")
        messages.success(request, f"{card_label(card)} is now the card we charge.")
        return redirect(scope.url(after))
    # delete_card
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Confirm the deletion of the card.")
        return redirect(scope.url(after))
    try:
        card = payments.delete_card(payer, _card_id(request))
    except Card.DoesNotExist:
        raise Http404("No such card") from None
    left = payments.default_card(payer)
    text = f"Card {card_label(card)} deleted"
    if left is not None and card.is_default:
        text += f"; {card_label(left)} is now the default card"
    events.billing_changed(request, payer, text)
    if left is None and scope.monthly_by_card:
        messages.warning(
            request,
            f"{card_label(card)} was deleted. No card is left: add one before the next payment day, or "
            "the monthly bill cannot be charged.",
        )
    else:
        messages.success(request, f"{card_label(card)} was deleted.")
    return redirect(scope.url(after))


def details_action(request: HttpRequest, scope: PayerScope, action: str) -> Outcome:
    del action
    form = BillingDetailsForm(request.POST, instance=scope.profile, **scope.form_options)
    if not form.is_valid():
        return {"details_form": form}
    changed = form.changed_labels()
    form.save()
    if changed:
        cycle.refresh_forecasts(subscriptions.today(), scope.payer)  # currency or payment day
        what = ", ".join(label[0].lower() + label[1:] for label in changed)
        events.billing_changed(request, scope.payer, f"Billing details changed: {what}")
        messages.success(request, "The billing details were saved.")
    else:
        messages.info(request, "Nothing was changed.")
    return redirect(scope.url("payment") + "#billing-details")


def switch_action(request: HttpRequest, scope: PayerScope, action: str) -> Outcome:
    del action
    form = BannerSwitchForm(request.POST)
    form.is_valid()  # a checkbox: absent means off
    show = bool(form.cleaned_data.get("show_billing_banners"))
    user = cast(User, request.user)
    if user.show_billing_banners != show:
        user.show_billing_banners = show
        user.save(update_fields=["show_billing_banners"])
    messages.success(
        request, "Billing banners are shown to you." if show else "Billing banners are hidden for you."
    )
    return redirect(scope.url("payment"))


# -- the card form's scripts --------------------------------------------------------------------


def _stripe_policy() -> dict[str, list[str]]:
    base: dict[str, Any] = settings.SECURE_CSP
    policy: dict[str, list[str]] = {key: list(value) for key, value in base.items()}
    policy["script-src"] = [*policy.get("script-src", []), STRIPE_JS]
    policy["frame-src"] = [*policy.get("frame-src", ["'self'"]), STRIPE_JS, "https://hooks.stripe.com"]
    policy["connect-src"] = [*policy.get("connect-src", []), "https://api.stripe.com"]
    return policy


def gateway_csp(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages with the card form load Stripe.js when Stripe is the gateway: the content security
    policy of those responses (Django's per-view override) allows Stripe's script, frames and API."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.BACKSTOP_PAYMENT_GATEWAY != "stripe":
            return view(request, *args, **kwargs)
        return cast(HttpResponse, csp_override(_stripe_policy())(view)(request, *args, **kwargs))

    return wrapper
