"""The partner dashboard in a real browser: the tiles count the accounts, a click on a number filters
the list (htmx), and selected trial accounts are subscribed monthly while the others are skipped."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backstop.backups import summary
from backstop.backups.models import BackupTask, Entity
from backstop.billing.models import BillingProfile, Subscription
from backstop.tenancy.models import Account, Membership, Partner
from tests.e2e.helpers import sign_in
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.e2e
State = Subscription.State


def build() -> tuple[Partner, str]:
    today = timezone.now().date()
    partner = Partner.objects.create(name="Harbor IT", email="office@harbor.test")
    BillingProfile.objects.create(partner=partner, email=partner.email, onboarded_at=timezone.now())
    user = UserFactory(email="hana@harbor.test", first_name="Hana")
    MembershipFactory(user=user, partner=partner, role=Membership.Role.ADMIN)
    specs = [
        ("Bayview Dental", 12, State.TRIAL, "", "succeeded"),
        ("Cedar Legal", 3, State.TRIAL, "", "failed"),
        ("Dockside Foods", 2, State.TRIAL, "", ""),
        ("Elm Street Clinic", None, State.SUBSCRIBED, "annual", "partial"),
    ]
    for name, days, state, plan, result in specs:
        slug = name.lower().replace(" ", "-")
        ends = today + timedelta(days=days) if days is not None else None
        account = Account.objects.create(
            name=name, email=f"it@{slug}.test", partner=partner, trial_ends_on=ends
        )
        Subscription.objects.create(account=account, state=state, plan=plan)
        task = BackupTask.objects.create(account=account, service="box", name="Box")
        for i in range(3):
            Entity.objects.create(
                account=account,
                task=task,
                key=f"{slug}-{i}",
                name=f"user{i}@{slug}.test",
                status="active",
                last_result=result,
                size=(i + 1) * 700_000_000 if result else 0,
            )
        summary.refresh([account.pk])  # as the runner does when a backup ends
    return partner, user.email


def test_tiles_filter_the_list_and_subscribe_only_trials(
    page: Page, live_server: Any, transactional_db: None, shoot: Callable[[str], Path]
) -> None:
    partner, email = build()
    sign_in(page, live_server.url, email, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/p/{partner.pk}/$"))
    rows = page.get_by_test_id("account-row")
    expect(rows).to_have_count(4)
    trial = page.get_by_test_id("tile-trial")
    expect(trial.get_by_test_id("count-account-in_progress").get_by_test_id("count")).to_have_text("1")
    expect(trial.get_by_test_id("count-account-expiring").get_by_test_id("count")).to_have_text("2")
    backup = page.get_by_test_id("tile-backup")
    expect(backup.get_by_test_id("count-backup-failed").get_by_test_id("count")).to_have_text("1")
    shoot("01-dashboard")

    # A tile's number filters the list in place and the select follows.
    trial.get_by_test_id("count-account-expiring").click()
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"account=expiring"))
    expect(page.get_by_test_id("filter-account")).to_have_value("expiring")
    expect(page.get_by_test_id("account-list")).to_contain_text("Cedar Legal")
    expect(page.get_by_test_id("account-list")).not_to_contain_text("Bayview Dental")
    shoot("02-expiring")

    backup.get_by_test_id("count-backup-failed").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Cedar Legal")
    page.get_by_test_id("clear-filters").click()
    expect(rows).to_have_count(4)

    # Select two trial accounts and the subscribed one; Subscribe > Monthly changes the two.
    for name in ("Bayview Dental", "Dockside Foods", "Elm Street Clinic"):
        page.get_by_label(f"Select {name}").check()
    expect(page.get_by_test_id("bulk-count")).to_contain_text("3 selected (2 trials")
    page.get_by_test_id("subscribe-menu").click()
    shoot("03-subscribe-menu")
    page.get_by_role("button", name="Monthly", exact=True).click()
    expect(
        page.get_by_text("2 accounts subscribed to the Monthly plan; 1 skipped (not a trial).")
    ).to_be_visible()
    bayview = rows.filter(has_text="Bayview Dental")
    expect(bayview.get_by_test_id("account-status")).to_contain_text("Monthly")
    elm = rows.filter(has_text="Elm Street Clinic")
    expect(elm.get_by_test_id("account-status")).to_contain_text("Annual")
    expect(trial.get_by_test_id("count-account-expiring").get_by_test_id("count")).to_have_text("1")
    shoot("04-subscribed")
    plans = dict(Subscription.objects.filter(account__partner=partner).values_list("account__name", "plan"))
    assert plans == {
        "Bayview Dental": "monthly",
        "Cedar Legal": "",
        "Dockside Foods": "monthly",
        "Elm Street Clinic": "annual",
    }

    # The usage report asks for a confirmation first.
    page.get_by_test_id("export-report").click()
    expect(page.get_by_test_id("report-scope")).to_have_text("all 4 accounts the filters show")
    shoot("05-report-confirm")
