"""The partner's whole journey in a real browser: Alan of Alpha IT adds a customer account on a trial,
opens it, adds a Box task on the Box sandbox and backs it up, goes back to the portal and watches the
account's backup status turn Successful, subscribes it monthly, and exports the usage report, which
arrives as a zip at a real SMTP server.

The Box emulator and the job loop come from the Box task browser test; the usage report's queue task
is taken from the real (SQLite) queue and run the way `backstop worker` runs it."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from backstop.backups.models import BackupTask, Entity, Job
from backstop.billing.models import Subscription
from backstop.queue import huey
from backstop.sandbox.box import BoxSandbox
from backstop.tenancy.models import Account
from tests.e2e.helpers import sign_in, worker
from tests.e2e.test_box_task import box  # noqa: F401 - the Box sandbox fixture
from tests.factories import PASSWORD
from tests.hierarchy import Hierarchy, hierarchy_fixture  # noqa: F401 - the fixture
from tests.smtp_sink import SmtpSink, smtp_server, smtp_sink  # noqa: F401 - the fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("transactional_db")]

NEW_PASSWORD = "kettle-orbit-lantern-42"
BOX_USERS = ("Ada Admin", "Ben Box", "Cleo Cloud")  # what the sandbox fixture creates


@pytest.fixture
def queue() -> Iterator[None]:
    """An empty task queue (its SQLite file lives in the data dir and outlives a test run)."""
    huey.flush()
    yield
    huey.flush()


def run_queued_usage_reports(timeout: float = 30.0) -> int:
    """Takes the queue's messages and runs the usage report ones, as a worker would; returns how many."""
    ran = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = huey.dequeue()
        if task is None:
            if ran:
                return ran
            time.sleep(0.2)
            continue
        if task.name.endswith("usage_report"):
            huey.execute(task)
            ran += 1
    return ran


def _entity_row(page: Page, name: str) -> Any:
    return page.get_by_test_id("entity-row").filter(has_text=name)


def test_partner_adds_a_trial_backs_it_up_subscribes_and_exports_the_usage_report(
    page: Page,
    live_server: Any,
    hierarchy: Hierarchy,
    box: BoxSandbox,  # noqa: F811 - the imported fixture
    smtp_sink: SmtpSink,  # noqa: F811 - the imported fixture
    queue: None,
    shoot: Callable[[str], Path],
) -> None:
    alpha, alan = hierarchy.alpha, hierarchy.alan
    sign_in(page, live_server.url, alan.email, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/p/{alpha.pk}/$"))
    rows = page.get_by_test_id("account-row")
    expect(rows).to_have_count(2)  # Alpha One and Alpha Two
    shoot("01-dashboard")

    # Add account: a trial in a data center.
    page.get_by_test_id("add-account").click()
    expect(page.get_by_role("heading", name="Add account")).to_be_visible()
    page.get_by_test_id("where-datacenter").check()
    page.get_by_label("Account name", exact=True).fill("Initech")
    page.get_by_label("Account e-mail", exact=True).fill("it@initech.test")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Retype password").fill(NEW_PASSWORD)
    page.get_by_label("Data center", exact=True).select_option(label="EU (Paris)")
    page.get_by_test_id("subscription-trial").check()
    shoot("02-add-account")
    page.get_by_test_id("create-account").click()
    expect(page.get_by_test_id("added-name")).to_have_text("Initech is ready")
    expect(page.get_by_test_id("added-subscription")).to_contain_text("Free trial")
    shoot("03-added")
    account = Account.objects.get(name="Initech")
    assert account.partner == alpha

    # The new account is on the dashboard, never backed up yet.
    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page).to_have_url(re.compile(rf"/p/{alpha.pk}/$"))
    expect(rows).to_have_count(3)
    initech = rows.filter(has_text="Initech")
    expect(initech.get_by_test_id("backup-status")).to_have_text("No backup")
    expect(initech.get_by_test_id("account-status")).to_contain_text("Trial")
    # The tiles count it at once (their cached figures are refreshed by the addition).
    trials = page.get_by_test_id("tile-trial").get_by_test_id("count").first
    expect(trials).to_have_text("3")
    expect(page.get_by_test_id("tile-backup").get_by_test_id("count").first).to_have_text("3")
    shoot("04-dashboard-new-account")

    # Open it: the banner says who works in it and for which partner.
    initech.get_by_role("link", name="Initech", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/a/{account.pk}/$"))
    expect(page.get_by_test_id("tenant-name")).to_have_text("Initech")
    banner = page.get_by_test_id("partner-visit")
    expect(banner).to_contain_text("You are working in Initech as")
    expect(banner).to_contain_text(alan.email)
    expect(banner).to_contain_text("of Alpha IT")
    shoot("05-in-account")

    # A Box task on the sandbox: consent on the emulator, then back on the task page.
    page.get_by_test_id("no-tasks").get_by_role("link", name="Add Backup Task").click()
    page.get_by_test_id("service-box").click()
    page.get_by_label("Backup task name").fill("Initech Box")
    page.get_by_test_id("box-authenticate").click()
    expect(page).to_have_url(re.compile(re.escape(box.url) + r"/api/oauth2/authorize"))
    page.locator("#consent_accept").click()
    task = BackupTask.objects.get(account=account)
    expect(page).to_have_url(re.compile(rf"/a/{account.pk}/backups/{task.pk}/$"))
    expect(page.get_by_test_id("entity-row")).to_have_count(len(BOX_USERS))
    shoot("06-task-new")

    # Every user of the Box enterprise is activated and backed up now.
    for name in BOX_USERS:
        _entity_row(page, name).get_by_role("checkbox").check()
    page.get_by_test_id("action-activate").click()
    for name in BOX_USERS:
        expect(_entity_row(page, name).get_by_test_id("entity-status")).to_have_text("Scheduled")
    for name in BOX_USERS:
        _entity_row(page, name).get_by_role("checkbox").check()
    page.get_by_test_id("action-backup").click()
    expect(_entity_row(page, "Ben Box").get_by_test_id("entity-progress")).to_contain_text("queued")
    with worker() as ran:
        for name in BOX_USERS:
            expect(_entity_row(page, name).get_by_test_id("entity-status")).to_have_text(
                "Active", timeout=90_000
            )
        expect(page.get_by_test_id("entity-table")).to_have_attribute("data-polling", "off", timeout=15_000)
    assert len(ran) == len(BOX_USERS)
    assert set(Job.objects.filter(account=account).values_list("status", flat=True)) == {Job.Status.SUCCEEDED}
    shoot("07-task-backed-up")

    # Back to the portal with the banner's button: the backup status has turned Successful.
    back = page.get_by_test_id("partner-visit-back")
    expect(back).to_have_text(re.compile(r"Back to Alpha IT portal"))
    back.click()
    expect(page).to_have_url(re.compile(rf"/p/{alpha.pk}/$"))
    initech = rows.filter(has_text="Initech")
    status = initech.get_by_test_id("backup-status")
    deadline = time.monotonic() + 60
    while status.inner_text().strip() != "Successful" and time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        page.reload()
    expect(status, "the dashboard should show the finished backup as Successful").to_have_text(
        "Successful", timeout=15_000
    )
    expect(initech.get_by_test_id("size")).to_contain_text("KB")
    shoot("08-dashboard-successful")

    # Subscribe > Monthly.
    page.get_by_label("Select Initech").check()
    expect(page.get_by_test_id("bulk-count")).to_contain_text("1 selected (1 trial")
    page.get_by_test_id("subscribe-menu").click()
    page.get_by_role("button", name="Monthly", exact=True).click()
    expect(page.get_by_text("1 account subscribed to the Monthly plan.")).to_be_visible()
    initech = rows.filter(has_text="Initech")
    expect(initech.get_by_test_id("account-status")).to_contain_text("Monthly")
    shoot("09-subscribed")
    assert Subscription.objects.get(account=account).plan == "monthly"

    # Export the usage report of that account; it arrives by e-mail as a zip.
    page.get_by_label("Select Initech").check()
    page.get_by_test_id("export-report").click()
    expect(page.get_by_test_id("report-scope")).to_have_text("the 1 selected account")
    shoot("10-report-confirm")
    page.get_by_test_id("confirm-report").click()
    expect(page.get_by_text("The usage report of 1 selected account is being prepared")).to_be_visible()
    expect(page.get_by_text(f"it will be e-mailed to {alan.email}")).to_be_visible()
    shoot("11-report-requested")

    assert run_queued_usage_reports() == 1, "the report request should have queued one usage report task"
    # The new account's owner was asked to confirm their e-mail on the way; the report went to Alan.
    reports = [m for m in smtp_sink.messages if "Usage report" in m.subject]
    assert len(reports) == 1, [(m.to, m.subject) for m in smtp_sink.messages]
    (message,) = reports
    assert message.to == [alan.email]
    assert message.subject.endswith("Usage report of Alpha IT: 1 account")
    attachments = message.attachments()
    assert len(attachments) == 1
    ((name, data),) = attachments.items()
    assert name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (member,) = archive.namelist()
        text = archive.read(member).decode("utf-8")
    report = list(csv.DictReader(io.StringIO(text)))
    backed_up = Entity.objects.filter(task=task, last_backup_at__isnull=False)
    assert sorted(r["Entity"] for r in report) == sorted(BOX_USERS) == sorted(e.name for e in backed_up)
    for row in report:
        assert row["Account name"] == "Initech" and row["Account e-mail"] == "it@initech.test"
        assert row["Service"] == "Box" and row["Status"] == "Active"
        assert row["Last backup (UTC)"], row
