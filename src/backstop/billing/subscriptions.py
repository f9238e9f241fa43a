"""Trials and plans of customer accounts (A-TRIAL, A-BILLING subscribe, P-ADD subscription types).

Dates are days (the billing day is UTC). `Account.trial_ends_on` is the first day after the
trial: a 14-day trial opened on the 1st ends on the 15th, and the 15th is the first paid day.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from backstop.billing.models import EXPIRING_DAYS, GRACE_DAYS, Plan, Subscription
from backstop.tenancy.models import Account

Kind = Subscription.Kind
State = Subscription.State


def today() -> date:
    return timezone.now().date()


def add_years(day: date, years: int = 1) -> date:
    """The same day `years` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, or that month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def subscription_of(account: Account) -> Subscription:
    """The account's subscription row, created as a trial the first time it is needed."""
    try:
        return account.subscription
    except Subscription.DoesNotExist:
        subscription, _ = Subscription.objects.get_or_create(account=account)
        account.subscription = subscription
        return subscription


def start(account: Account, kind: str = Kind.TRIAL, plan: str = "", on: date | None = None) -> Subscription:
    """Sets up a new account's subscription: a trial with expiration, a trial that subscribes itself
    to `plan` when it ends, or `plan` straight away without a trial (P-ADD)."""
    on = on or today()
    subscription = subscription_of(account)
    subscription.kind = kind
    if kind == Kind.NO_TRIAL:
        Account.objects.filter(pk=account.pk).update(trial_ends_on=None)
        account.trial_ends_on = None
        _subscribe(subscription, plan or Plan.MONTHLY, on)
    else:
        subscription.plan = plan if kind == Kind.TRIAL_AUTO else ""
        subscription.state = State.TRIAL
    subscription.save()
    return subscription


def _subscribe(subscription: Subscription, plan: str, starts_on: date) -> None:
    subscription.state = State.SUBSCRIBED
    subscription.plan = plan
    subscription.starts_on = subscription.plan_since = starts_on
    subscription.renews_on = add_years(starts_on) if plan == Plan.ANNUAL else None


def subscribe(account: Account, plan: str, by: object = None, on: date | None = None) -> Subscription:
    """The customer (or its partner) subscribes. During the trial the plan is kept and paying starts
    when the trial ends; after it (in the grace, or even after the purge) paying starts today.
    Subscribing again while subscribed changes nothing: changing plans is an operator action."""
    on = on or today()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_of(account).pk)
        if subscription.state == State.SUBSCRIBED:
            return subscription
        subscription.subscribed_at = timezone.now()
        subscription.subscribed_by = by if getattr(by, "pk", None) else None  # type: ignore[assignment]
        trial_end = account.trial_ends_on
        if subscription.state == State.TRIAL and trial_end is not None and on < trial_end:
            subscription.plan = plan
            subscription.kind = Kind.TRIAL_AUTO
        else:
            _subscribe(subscription, plan, on)
        subscription.save()
    account.subscription = subscription
    return subscription


def change_plan(subscription: Subscription, plan: str, on: date | None = None) -> Subscription:
    """Operators move a subscribed account between monthly and annual (the guides: "contact
    support"). Monthly → annual starts the year today (the monthly days so far are still billed on
    the next payment day); annual → monthly waits for the renewal, the year being paid for."""
    on = on or today()
    if subscription.state != State.SUBSCRIBED or subscription.plan == plan:
        if subscription.state == State.TRIAL:
            subscription.plan = plan
            subscription.save(update_fields=["plan"])
        return subscription
    if plan == Plan.ANNUAL:
        subscription.monthly_ended_on = on
        subscription.plan = Plan.ANNUAL
        subscription.plan_since = on
        subscription.renews_on = add_years(on)
        subscription.next_plan = ""
    else:
        subscription.next_plan = Plan.MONTHLY
    subscription.save()
    return subscription


@dataclass(frozen=True, slots=True)
class TrialInfo:
    state: str  # "in_progress" | "expiring" | "expired" | "purged" | ""
    ends_on: date | None
    purge_on: date | None
    days_left: int


def trial_info(account: Account, subscription: Subscription, on: date | None = None) -> TrialInfo:
    """Where an unsubscribed account stands: in progress; expiring from 5 days before the end;
    expired (7 days' grace to subscribe); purged. Empty state once subscribed."""
    on = on or today()
    ends = account.trial_ends_on
    if subscription.state == State.SUBSCRIBED or ends is None:
        return TrialInfo("", ends, None, 0)
    purge_on = ends + timedelta(days=GRACE_DAYS)
    if subscription.state == State.PURGED:
        return TrialInfo("purged", ends, purge_on, 0)
    if on >= ends:
        return TrialInfo("expired", ends, purge_on, max((purge_on - on).days, 0))
    left = (ends - on).days
    return TrialInfo("expiring" if left <= EXPIRING_DAYS else "in_progress", ends, purge_on, left)


@dataclass(frozen=True, slots=True)
class Standing:
    """How an account's subscription reads in the page header, its home and the partner's list."""

    state: str  # "in_progress" | "expiring" | "expired" | "purged" | "subscribed" | "none"
    label: str
    style: str  # Bootstrap colour
    detail: str


def standing(account: Account, on: date | None = None) -> Standing:
    """The subscription of `account` as people read it; no row is created for an account without one."""
    on = on or today()
    try:
        subscription = account.subscription
    except Subscription.DoesNotExist:
        subscription = Subscription(account=account)
    if subscription.state == State.SUBSCRIBED:
        since = f"since {subscription.starts_on:%b %-d, %Y}" if subscription.starts_on else ""
        return Standing("subscribed", f"Subscribed · {subscription.get_plan_display()}", "success", since)
    trial = trial_info(account, subscription, on)
    if subscription.plan and trial.state == "expired":
        # The plan chosen during the trial starts at its end; the daily run records it.
        since = f"since {trial.ends_on:%b %-d, %Y}" if trial.ends_on else ""
        return Standing("subscribed", f"Subscribed · {subscription.get_plan_display()}", "success", since)
    if trial.state == "purged":
        return Standing("purged", "Trial ended · data purged", "secondary", "Subscribe to back up again.")
    if trial.state == "expired":
        detail = f"Subscribe by {trial.purge_on:%b %-d, %Y} to keep the backed-up data."
        return Standing("expired", "Trial expired", "danger", detail)
    if trial.state:
        days = f"{trial.days_left} day{'' if trial.days_left == 1 else 's'} left"
        then = f"then {subscription.get_plan_display()}" if subscription.plan else "not subscribed yet"
        style = "warning" if trial.state == "expiring" else "info"
        return Standing(
            trial.state, f"Free trial · {days}", style, f"Until {trial.ends_on:%b %-d, %Y}, {then}."
        )
    return Standing("none", "No subscription", "secondary", "")
