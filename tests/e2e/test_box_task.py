"""Alice adds a Box backup task in the browser: the service picker, the emulator's consent screen,
back on the task page with the discovered users; she activates two of them, runs Backup Now and
watches them become Active with their sizes, without reloading the page.

The Box emulator runs on its own port (live_server is a Django handler, not our WSGI mount) and the
queued jobs are run by a small loop in the test, standing in for `backstop worker`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from backstop.backups.models import BackupTask, Entity, Job
from backstop.sandbox.box import BoxSandbox
from tests.conftest import Personas
from tests.e2e.helpers import sign_in, worker
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("transactional_db")]


@pytest.fixture
def box(settings: Any, live_server: Any) -> Iterator[BoxSandbox]:
    sb = BoxSandbox().start()
    st = sb.state
    enterprise = st.enterprise("Acme Box Co")
    st.admin(enterprise, "Ada Admin", login="ada@acme.test")
    for name, login, files in (("Ben Box", "ben@acme.test", 4), ("Cleo Cloud", "cleo@acme.test", 6)):
        user = st.user(enterprise, name, login=login)
        docs = st.folder(None, "Documents", user=user)
        for i in range(files):
            st.file(docs, f"report-{i}.txt", (f"{name} report {i}\n".encode()) * 2000)
    settings.BACKSTOP_SANDBOX = True
    settings.BACKSTOP_SANDBOX_BOX_URL = sb.url
    settings.BACKSTOP_BOX_CLIENT_ID = settings.BACKSTOP_BOX_CLIENT_SECRET = ""
    settings.BACKSTOP_BASE_URL = live_server.url  # Box sends the browser back here
    try:
        yield sb
    finally:
        sb.stop()


def _row(page: Page, name: str) -> Any:
    return page.get_by_test_id("entity-row").filter(has_text=name)


def test_alice_adds_box_and_backs_up_two_users(
    page: Page,
    live_server: Any,
    personas: Personas,
    box: BoxSandbox,
    shoot: Callable[[str], Path],
) -> None:
    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    expect(page.get_by_test_id("no-tasks")).to_be_visible()
    shoot("01-home-empty")

    page.get_by_test_id("no-tasks").get_by_role("link", name="Add Backup Task").click()
    expect(page.get_by_test_id("service-picker")).to_be_visible()
    expect(page.get_by_test_id("service-dropbox")).to_contain_text("Coming later")
    expect(page.get_by_test_id("service-dropbox").get_by_role("link")).to_have_count(0)
    shoot("02-picker")

    page.get_by_test_id("service-box").click()
    page.get_by_label("Backup task name").fill("Acme Box")
    shoot("03-box-name")
    page.get_by_test_id("box-authenticate").click()

    # The emulator's consent screen, on its own port.
    expect(page).to_have_url(re.compile(re.escape(box.url) + r"/api/oauth2/authorize"))
    shoot("04-consent")
    page.locator("#consent_accept").click()

    task = BackupTask.objects.get(account=personas.a)
    expect(page).to_have_url(re.compile(rf"/a/{personas.a.pk}/backups/{task.pk}/$"))
    expect(page.get_by_test_id("task-name")).to_have_text("Acme Box")
    expect(page.get_by_test_id("connection-state")).to_contain_text("Connected")
    expect(page.get_by_test_id("entity-row")).to_have_count(3)
    expect(page.get_by_test_id("settings-card")).to_be_visible()  # a new task opens on its settings
    shoot("05-task-new")

    for name in ("Ben Box", "Cleo Cloud"):
        _row(page, name).get_by_role("checkbox").check()
    expect(page.locator("#selection-count")).to_have_text("2 selected")
    page.get_by_test_id("action-activate").click()
    for name in ("Ben Box", "Cleo Cloud"):
        expect(_row(page, name).get_by_test_id("entity-status")).to_have_text("Scheduled")
    expect(_row(page, "Ada Admin").get_by_test_id("entity-status")).to_have_text("Not Active")

    for name in ("Ben Box", "Cleo Cloud"):
        _row(page, name).get_by_role("checkbox").check()
    page.get_by_test_id("action-backup").click()
    expect(_row(page, "Ben Box").get_by_test_id("entity-progress")).to_contain_text("queued")
    expect(page.get_by_test_id("entity-table")).to_have_attribute("data-polling", "on")
    shoot("06-backup-queued")

    # Slow downloads keep each backup In Process long enough to be seen (four download at once).
    box.faults.add("latency", latency=2.5, path=r"/d/1/")
    with worker() as ran:
        # No reload from here: the table refreshes itself while backups run.
        expect(page.get_by_test_id("filter-in_process")).to_be_visible(timeout=20_000)
        shoot("07-in-progress")
        for name in ("Ben Box", "Cleo Cloud"):
            expect(_row(page, name).get_by_test_id("entity-status")).to_have_text("Active", timeout=60_000)
        expect(page.get_by_test_id("entity-table")).to_have_attribute("data-polling", "off", timeout=10_000)
    assert len(ran) == 2
    assert set(Job.objects.values_list("status", flat=True)) == {Job.Status.SUCCEEDED}
    expect(_row(page, "Ben Box").get_by_test_id("entity-size")).to_contain_text("KB")
    expect(_row(page, "Cleo Cloud").get_by_test_id("entity-size")).to_contain_text("KB")
    assert Entity.objects.get(task=task, name="Cleo Cloud").items == 6
    page.get_by_test_id("filter-active").click()
    expect(page.get_by_test_id("entity-row")).to_have_count(2)
    shoot("08-task-active")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Homepage").click()
    card = page.get_by_test_id("task-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Acme Box")
    expect(card).to_contain_text("2 Active")
    expect(card).to_contain_text("1 Not Active")
    shoot("09-home-card")
