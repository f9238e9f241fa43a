"""Alice gets files back in the browser (A-RECOVER, A-RESTORE): a Box user backed up yesterday
and today, a file deleted in between. She finds yesterday's snapshot on the Recovery page,
opens its Documents folder, ticks the file and restores it non-destructively; the Jobs page
shows the restore succeed and the file is back in a "Restored <date>" folder with its bytes and
modified time. Then she finds a file by search and restores it in place over a changed live copy
(Replace: the old content comes back as a new version), and restores a file that exists with
Bypass (left alone, and the job's log says it was skipped).

The Box emulator runs on its own port; the queued jobs are run by a small loop in the test,
standing in for `backstop worker`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backstop.backups.models import BackupTask, Entity, Job, Snapshot
from backstop.backups.services import create_task, discover
from backstop.sandbox.box import BoxSandbox, Item, State, User, client_settings
from tests.backups.sandbox import backed_up
from tests.conftest import Personas
from tests.e2e.helpers import sign_in, worker
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("transactional_db")]

MODIFIED = "2026-03-04T05:06:07Z"
BUDGET = b"quarter,amount\nQ1,1200\nQ2,1350\n" * 400
NOTES = b"meeting notes, first draft\n" * 300
REPORT = b"annual report\n" * 500


@pytest.fixture
def box(settings: Any) -> Iterator[BoxSandbox]:
    sb = BoxSandbox().start()
    settings.BACKSTOP_SANDBOX = True
    try:
        yield sb
    finally:
        sb.stop()


def child(st: State, folder: Item, name: str) -> Item:
    found = [item for item in st.children(folder) if item.name == name]
    assert found, f"{name} is not in {folder.name}: {[i.name for i in st.children(folder)]}"
    return found[0]


def seeded(box: BoxSandbox) -> tuple[State, User, dict[str, Item]]:
    st = box.state
    enterprise = st.enterprise("Acme Box Co")
    st.admin(enterprise, "Ada Admin", login="ada@acme.test")
    ben = st.user(enterprise, "Ben Box", login="ben@acme.test")
    docs = st.folder(None, "Documents", user=ben)
    archive = st.folder(docs, "Archive")
    files = {
        "budget": st.file(docs, "budget.csv", BUDGET, content_modified_at=MODIFIED),
        "notes": st.file(docs, "notes.txt", NOTES, content_modified_at=MODIFIED),
        "report": st.file(docs, "report.txt", REPORT, content_modified_at=MODIFIED),
        "old": st.file(archive, "old-plan.txt", b"an old plan\n" * 50, content_modified_at=MODIFIED),
    }
    return st, ben, files


def box_task(personas: Personas, box: BoxSandbox, ada: User) -> BackupTask:
    token = box.state.issue_token(ada)
    task = create_task(
        personas.a,
        "box",
        "Acme Box",
        connector_settings=client_settings(box.url, "http://127.0.0.1/backups/oauth/box/"),
        secrets={
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": time.time() + 3000,
        },
        source_tenant="box-sandbox",
    )
    discover(task)
    return task


def wait_for_job(page: Page, kind: str, count: int) -> Any:
    """The newest job row of `kind` once `count` such jobs are listed, after it succeeded."""
    rows = page.locator(f'[data-testid="job-row"][data-kind="{kind}"]')
    expect(rows).to_have_count(count, timeout=15_000)
    newest = rows.first
    expect(newest.get_by_test_id("job-status")).to_have_text("Succeeded", timeout=60_000)
    return newest


def test_alice_restores_a_deleted_file_from_yesterday_then_replaces_and_bypasses(
    page: Page,
    live_server: Any,
    personas: Personas,
    box: BoxSandbox,
    shoot: Callable[[str], Path],
) -> None:
    st, ben, files = seeded(box)
    ada = next(u for u in st.users.values() if u.login == "ada@acme.test")
    task = box_task(personas, box, ada)
    entity = Entity.objects.get(task=task, key=str(ben.id))

    # Yesterday's backup (the first snapshot, dated back a day), then the file is deleted and
    # today's backup no longer has it.
    backed_up(entity)
    yesterday = timezone.now() - timedelta(days=1)
    Snapshot.objects.filter(entity=entity).update(time=yesterday)
    Entity.objects.filter(pk=entity.pk).update(first_backup_at=yesterday)
    st.delete(files["budget"])
    backed_up(entity)
    assert Snapshot.objects.filter(entity=entity).count() == 2

    sign_in(page, live_server.url, personas.alice.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Recovery").click()
    expect(page.get_by_test_id("recovery-row")).to_have_count(1)
    expect(page.get_by_test_id("recovery-row")).to_contain_text("Ben Box")
    expect(page.get_by_test_id("recovery-row").get_by_test_id("entity-status")).to_have_text("Active")
    shoot("01-recovery-home")

    # The snapshots: two, the older one yesterday; drill down into it.
    page.get_by_test_id("recovery-open").click()
    expect(page.get_by_test_id("snapshot-row")).to_have_count(2)
    day = timezone.localdate(yesterday).isoformat()
    older = page.locator(f'[data-testid="snapshot-row"][data-day="{day}"]')
    expect(older).to_have_count(1)
    expect(page.get_by_test_id("snapshot-row").first).to_contain_text("1 removed")
    shoot("02-snapshots")
    older.get_by_test_id("snapshot-browse").click()
    expect(page.get_by_test_id("snapshot-time")).to_be_visible()
    page.get_by_test_id("folder-row").filter(has_text="Documents").get_by_test_id("folder-open").click()
    expect(page.get_by_test_id("folder-crumbs")).to_contain_text("Documents")
    rows = page.get_by_test_id("item-row")
    expect(rows).to_have_count(3)
    expect(page.locator('[data-testid="folder-row"][data-name="Archive"]')).to_have_count(1)
    expect(page.get_by_test_id("restore-selected")).to_be_disabled()
    page.locator('[data-testid="item-row"][data-name="budget.csv"]').get_by_test_id("item-pick").check()
    expect(page.get_by_test_id("selection-count")).to_have_text("1 item selected")
    shoot("03-browse-older-snapshot")

    # Restore, non-destructive (the default).
    page.get_by_test_id("restore-selected").click()
    expect(page.get_by_test_id("restore-form")).to_be_visible()
    expect(page.get_by_test_id("selection-items")).to_have_text("1")
    expect(page.get_by_test_id("mode-new")).to_be_checked()
    expect(page.get_by_test_id("restore-target")).to_have_value(str(entity.pk))
    shoot("04-restore-form")
    with worker():
        page.get_by_test_id("restore-submit").click()
        expect(page).to_have_url(re.compile(rf"/a/{personas.a.pk}/jobs/"))
        wait_for_job(page, "restore", 1)
        shoot("05-jobs-restored")

    job = Job.objects.get(kind=Job.Kind.RESTORE)
    restored_folder = job.params["target"]["restored_folder"]
    assert re.fullmatch(r"Restored \d{4}-\d{2}-\d{2} \d{2}-\d{2}", restored_folder)
    back = child(st, child(st, child(st, st.root(ben), restored_folder), "Documents"), "budget.csv")
    assert back.current.blob.read() == BUDGET
    modified = datetime.fromtimestamp(back.content_modified_at or 0, UTC)
    assert modified == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), "the original modified time"
    assert not [i for i in st.children(child(st, st.root(ben), "Documents")) if i.name == "budget.csv"]

    # Replace: the live notes were overwritten after the backups; found by search, put back.
    st.new_version(files["notes"], b"ransomware was here")
    versions = len(files["notes"].versions)
    page.goto(f"{live_server.url}/a/{personas.a.pk}/recovery/{entity.pk}/?tab=search")
    page.get_by_test_id("search-text").fill("notes")
    page.get_by_test_id("search-submit").click()
    found = page.get_by_test_id("found-row")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("notes.txt")
    expect(found.get_by_test_id("found-snapshots")).to_contain_text("2 snapshots")
    found.get_by_test_id("found-pick").check()
    shoot("06-search")
    page.get_by_test_id("restore-selected").click()
    page.get_by_test_id("mode-replace").check()
    with worker():
        page.get_by_test_id("restore-submit").click()
        wait_for_job(page, "restore", 2)
    assert files["notes"].current.blob.read() == NOTES
    assert len(files["notes"].versions) == versions + 1, "the old content came back as a new version"

    # Bypass: the report exists, so it is left alone and counted as skipped.
    report_versions = len(files["report"].versions)
    latest = Snapshot.objects.filter(entity=entity).order_by("-pk").first()
    assert latest is not None
    page.goto(
        f"{live_server.url}/a/{personas.a.pk}/recovery/{entity.pk}/snapshots/{latest.pk}/?folder=Documents"
    )
    page.locator('[data-testid="item-row"][data-name="report.txt"]').get_by_test_id("item-pick").check()
    page.get_by_test_id("restore-selected").click()
    page.get_by_test_id("mode-bypass").check()
    with worker():
        page.get_by_test_id("restore-submit").click()
        newest = wait_for_job(page, "restore", 3)
    third = Job.objects.filter(kind=Job.Kind.RESTORE).order_by("-pk").first()
    assert third is not None and third.result["skipped"] == 1 and third.result["restored"] == 0
    assert len(files["report"].versions) == report_versions and files["report"].current.blob.read() == REPORT
    newest.get_by_test_id("job-log").click()
    expect(page.get_by_text(re.compile(r"Skipped Documents/report\.txt"))).to_be_visible()
    shoot("07-bypass-log")

    # The export form of a whole snapshot, for the record.
    page.goto(f"{live_server.url}/a/{personas.a.pk}/recovery/{entity.pk}/")
    page.get_by_test_id("snapshot-export").first.click()
    expect(page.get_by_test_id("export-form")).to_be_visible()
    page.get_by_label("Destination").select_option("s3_compatible")
    expect(page.get_by_label("Endpoint URL")).to_be_visible()
    shoot("08-export-form")
