"""The Jobs page (A-JOBS): restores and exports of the last seven days, tiles, filters, cancel,
log, results; and who may see which jobs."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop.accounts.models import User
from backstop.backups.models import BackupTask, Entity, Job, JobLog
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Account, Membership
from tests.conftest import Personas
from tests.factories import MembershipFactory, UserFactory

JS = Job.Status
HTMX = {"HTTP_HX_REQUEST": "true"}


def task_of(account: Account, service: str = "box", name: str = "Company Box") -> BackupTask:
    return BackupTask.objects.create(account=account, service=service, name=name)


def entity_of(task: BackupTask, name: str = "Dana Scully", email: str = "dana@acme.test") -> Entity:
    return Entity.objects.create(account=task.account, task=task, key=f"k-{name}", name=name, email=email)


def make_job(
    task: BackupTask,
    kind: str = Job.Kind.RESTORE,
    status: str = JS.SUCCEEDED,
    *,
    label: str = "Quarterly reports",
    initiator: User | None = None,
    age: timedelta = timedelta(hours=1),
    entity: Entity | None = None,
    params: dict[str, Any] | None = None,
    **fields: Any,
) -> Job:
    now = timezone.now()
    base: dict[str, Any] = {"label": label, "backup_date": "2026-11-20T02:00:00+00:00"}
    if kind == Job.Kind.RESTORE:
        base["target"] = {
            "entity": 1,
            "entity_name": "Dana Scully",
            "folder": "Restored files",
            "mode": "new",
        }
    elif kind == Job.Kind.EXPORT:
        base["destination"] = {"kind": "download"}
    return Job.objects.create(
        account=task.account,
        task=task,
        entity=entity,
        kind=kind,
        status=status,
        initiator=initiator,
        params={**base, **(params or {})},
        created_at=now - age,
        started_at=None if status == JS.PENDING else now - age,
        ended_at=now - age + timedelta(minutes=5) if status in Job.FINISHED else None,
        **fields,
    )


def jobs_url(account: Account, **query: Any) -> str:
    url = reverse("account_jobs", args=[account.pk])
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


def job_url(name: str, job: Job, account: Account | None = None) -> str:
    return reverse(name, args=[(account or job.account).pk, job.pk])


def shown(client: Client, url: str) -> list[int]:
    """The ids of the job rows on the page, in order."""
    page = client.get(url).content.decode()
    return [int(pk) for pk in re.findall(r'data-testid="job-row" data-job="(\d+)"', page)]


def tile_counts(page: str) -> dict[str, int]:
    found = re.findall(r'data-testid="tile-(\w+)".*?data-testid="tile-count">([\d,]+)<', page, re.S)
    return {code: int(count.replace(",", "")) for code, count in found}


def custom_user(account: Account, operations: list[str], services: list[str] | None = None) -> User:
    user = UserFactory()
    MembershipFactory(
        user=user,
        account=account,
        role=Membership.Role.CUSTOM,
        operations=operations,
        all_services=services is None,
        services=services or [],
    )
    return user


@pytest.fixture
def box(personas: Personas) -> BackupTask:
    return task_of(personas.a)


# -- the list ----------------------------------------------------------------------------------


def test_rows_show_type_name_service_account_dates_destination_and_counts(
    personas: Personas, box: BackupTask
) -> None:
    dana = entity_of(box)
    make_job(
        box,
        Job.Kind.RESTORE,
        JS.SUCCEEDED,
        label="Contracts folder",
        entity=dana,
        initiator=personas.alice,
        params={
            "target": {
                "entity": dana.pk,
                "entity_name": "Fox Mulder",
                "folder": "Restore Nov 20",
                "mode": "bypass",
            },
            "items_total": 40,
            "bytes_total": 4 * 1024 * 1024,
        },
        items_done=40,
        bytes_done=4 * 1024 * 1024,
    )
    make_job(
        box,
        Job.Kind.EXPORT,
        JS.FAILED,
        label="Mail export",
        params={"destination": {"kind": "s3", "bucket": "archive", "prefix": "acme/2026"}},
        items_done=3,
        items_failed=2,
        error="Access denied by the bucket",
    )
    page = personas.client(personas.alice).get(jobs_url(personas.a)).content.decode()
    assert page.count('data-testid="job-row"') == 2
    assert "Restore</div>" in page and "Export</div>" in page
    assert "Contracts folder" in page and "Mail export" in page
    assert 'data-testid="job-service">Box<' in page
    assert "Dana Scully" in page  # the account whose data it is
    assert "Backup of Nov 20, 2026" in page
    assert "alice@acme.test" in page
    assert "Fox Mulder" in page and "Restore Nov 20" in page and ">Bypass<" in page
    assert "Amazon S3" in page and "archive/acme/2026" in page
    assert "/ 40</span> items" in page and "4.0\xa0MB / 4.0\xa0MB" in page
    assert "2 failed" in page
    assert "text-bg-success" in page and "text-bg-danger" in page
    assert "Access denied by the bucket" in page


def test_download_export_and_non_destructive_restore_destinations(
    personas: Personas, box: BackupTask
) -> None:
    make_job(box, Job.Kind.EXPORT, JS.RUNNING)
    make_job(box, Job.Kind.RESTORE, JS.RUNNING)
    page = personas.client(personas.alice).get(jobs_url(personas.a)).content.decode()
    assert "Download (zip)" in page
    assert ">Non-destructive<" in page and "Restored files" in page


def test_tiles_count_by_outcome_and_filter_the_list(personas: Personas, box: BackupTask) -> None:
    pending = make_job(box, status=JS.PENDING)
    running = make_job(box, status=JS.RUNNING)
    ok = [make_job(box, status=JS.SUCCEEDED) for _ in range(3)]
    partial = make_job(box, status=JS.PARTIAL)
    failed = make_job(box, Job.Kind.EXPORT, status=JS.FAILED)
    canceled = make_job(box, status=JS.CANCELED)
    client = personas.client(personas.alice)
    page = client.get(jobs_url(personas.a)).content.decode()
    assert tile_counts(page) == {"open": 2, "succeeded": 3, "problem": 2, "canceled": 1}
    # A tile links to the list filtered by its status.
    assert f'href="{jobs_url(personas.a, status="problem")}"' in page
    assert set(shown(client, jobs_url(personas.a, status="open"))) == {pending.pk, running.pk}
    assert set(shown(client, jobs_url(personas.a, status="succeeded"))) == {job.pk for job in ok}
    assert set(shown(client, jobs_url(personas.a, status="problem"))) == {partial.pk, failed.pk}
    assert shown(client, jobs_url(personas.a, status="canceled")) == [canceled.pk]
    # The active tile takes its filter off again; the counts follow the other filters.
    page = client.get(jobs_url(personas.a, status="open", activity="export")).content.decode()
    assert f'href="{jobs_url(personas.a, activity="export")}"' in page
    assert tile_counts(page) == {"open": 0, "succeeded": 0, "problem": 1, "canceled": 0}


def test_each_filter(personas: Personas, box: BackupTask) -> None:
    mail = task_of(personas.a, "imap", "Office mail")
    other = UserFactory(email="mo@acme.test")
    MembershipFactory(user=other, account=personas.a, role=Membership.Role.ADMIN)
    r1 = make_job(box, Job.Kind.RESTORE, JS.SUCCEEDED, initiator=personas.alice, label="Budget")
    e1 = make_job(box, Job.Kind.EXPORT, JS.FAILED, initiator=other, label="Legal hold")
    r2 = make_job(
        mail, Job.Kind.RESTORE, JS.RUNNING, initiator=other, label="Inbox", entity=entity_of(mail, "Walter")
    )
    e2 = make_job(mail, Job.Kind.EXPORT, JS.PENDING, initiator=personas.alice, label="Archive")
    client = personas.client(personas.alice)
    a = personas.a
    assert set(shown(client, jobs_url(a, initiator=personas.alice.pk))) == {r1.pk, e2.pk}
    assert set(shown(client, jobs_url(a, initiator=other.pk))) == {e1.pk, r2.pk}
    assert set(shown(client, jobs_url(a, activity="restore"))) == {r1.pk, r2.pk}
    assert set(shown(client, jobs_url(a, activity="export"))) == {e1.pk, e2.pk}
    assert set(shown(client, jobs_url(a, service="imap"))) == {r2.pk, e2.pk}
    assert set(shown(client, jobs_url(a, service="box"))) == {r1.pk, e1.pk}
    assert shown(client, jobs_url(a, status="running")) == [r2.pk]
    assert shown(client, jobs_url(a, status="pending")) == [e2.pk]
    assert shown(client, jobs_url(a, status="failed")) == [e1.pk]
    assert set(shown(client, jobs_url(a, task=mail.pk))) == {r2.pk, e2.pk}
    assert shown(client, jobs_url(a, q="legal")) == [e1.pk]
    assert shown(client, jobs_url(a, q="walter")) == [r2.pk]  # the account's name
    assert shown(client, jobs_url(a, service="imap", activity="export", initiator=personas.alice.pk)) == [
        e2.pk
    ]
    # Unknown values are ignored rather than failing.
    assert len(shown(client, jobs_url(a, status="nope", service="fax", initiator="x", sort="sideways"))) == 4
    # The form offers the initiators, services and tasks of the account.
    page = client.get(jobs_url(a, service="imap")).content.decode()
    assert '<option value="imap" selected>IMAP</option>' in page
    assert f'<option value="{other.pk}">mo@acme.test</option>' in page
    assert f'<option value="{mail.pk}">Office mail (IMAP)</option>' in page


def test_sort_newest_or_oldest_first(personas: Personas, box: BackupTask) -> None:
    old = make_job(box, age=timedelta(days=3))
    new = make_job(box, age=timedelta(minutes=5))
    middle = make_job(box, age=timedelta(days=1))
    client = personas.client(personas.alice)
    assert shown(client, jobs_url(personas.a)) == [new.pk, middle.pk, old.pk]
    assert shown(client, jobs_url(personas.a, sort="oldest")) == [old.pk, middle.pk, new.pk]


def test_only_restores_and_exports_of_the_last_seven_days(personas: Personas, box: BackupTask) -> None:
    recent = make_job(box, age=timedelta(days=6, hours=23))
    make_job(box, age=timedelta(days=7, hours=1))
    stuck = make_job(box, status=JS.RUNNING, age=timedelta(days=9))  # still running: still shown
    entity = entity_of(box)
    make_job(box, Job.Kind.BACKUP, JS.SUCCEEDED, entity=entity)
    make_job(box, Job.Kind.PURGE, JS.SUCCEEDED)
    make_job(box, Job.Kind.REPORT, JS.FAILED)
    client = personas.client(personas.alice)
    assert shown(client, jobs_url(personas.a)) == [recent.pk, stuck.pk]
    assert tile_counts(client.get(jobs_url(personas.a)).content.decode())["succeeded"] == 1


def test_paging_keeps_the_filters(personas: Personas, box: BackupTask) -> None:
    for i in range(23):
        make_job(box, Job.Kind.EXPORT, age=timedelta(minutes=i))
    make_job(box, Job.Kind.RESTORE)
    client = personas.client(personas.alice)
    page = client.get(jobs_url(personas.a, activity="export")).content.decode()
    assert page.count('data-testid="job-row"') == 20
    assert "?page=2&activity=export" in page
    assert len(shown(client, jobs_url(personas.a, activity="export", page=2))) == 3


def test_htmx_gets_the_fragment_which_polls_only_while_a_job_is_open(
    personas: Personas, box: BackupTask
) -> None:
    job = make_job(box, status=JS.RUNNING, params={"items_total": 200}, items_done=50)
    client = personas.client(personas.alice)
    fragment = client.get(jobs_url(personas.a, activity="restore"), **HTMX).content.decode()
    assert fragment.startswith('<div id="jobs-results"')
    assert "<html" not in fragment and 'id="jobs-filter"' not in fragment
    assert 'data-polling="on"' in fragment and 'hx-trigger="every 3s"' in fragment
    assert 'id="job-tiles"' in fragment and 'hx-swap-oob="true"' in fragment  # the tiles follow along
    assert "activity=restore&amp;page=1" in fragment  # it polls with the filters it shows
    assert 'aria-valuenow="25"' in fragment and 'data-testid="job-progress"' in fragment
    Job.objects.filter(pk=job.pk).update(status=JS.SUCCEEDED, ended_at=timezone.now())
    fragment = client.get(jobs_url(personas.a), **HTMX).content.decode()
    assert 'data-polling="off"' in fragment and "every 3s" not in fragment
    page = client.get(jobs_url(personas.a)).content.decode()
    assert 'id="jobs-filter"' in page and 'hx-get="' in page


def test_navigation_links_the_jobs_page_for_roles_that_view_tasks(personas: Personas) -> None:
    home = reverse("account_home", args=[personas.a.pk])
    assert jobs_url(personas.a) in personas.client(personas.alice).get(home).content.decode()
    assert jobs_url(personas.a) not in personas.client(personas.bob).get(home).content.decode()
    assert personas.client(personas.bob).get(jobs_url(personas.a)).status_code == 403
    page = personas.client(personas.alice).get(jobs_url(personas.a)).content.decode()
    assert 'aria-current="page"><i class="bi bi-list-check"></i> Jobs' in page


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_a_running_job_asks_it_to_stop(personas: Personas, box: BackupTask) -> None:
    job = make_job(box, status=JS.RUNNING)
    client = personas.client(personas.alice)
    response = client.post(job_url("account_job_cancel", job), {"query": "status=open&page=1"})
    assert response.status_code == 302
    assert response["Location"] == jobs_url(personas.a, status="open", page=1)
    job.refresh_from_db()
    assert job.cancel_requested and job.status == JS.RUNNING
    page = client.get(jobs_url(personas.a)).content.decode()
    assert "Canceling…" in page


def test_cancel_a_pending_job_ends_it_and_htmx_gets_the_fragment(personas: Personas, box: BackupTask) -> None:
    job = make_job(box, Job.Kind.EXPORT, status=JS.PENDING)
    client = personas.client(personas.alice)
    page = client.get(jobs_url(personas.a)).content.decode()
    assert job_url("account_job_cancel", job) in page
    response = client.post(job_url("account_job_cancel", job), {"query": "activity=export"}, **HTMX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.startswith('<div id="jobs-results"')
    assert "was canceled" in fragment
    assert tile_counts(fragment)["canceled"] == 1
    job.refresh_from_db()
    assert job.status == JS.CANCELED and job.ended_at is not None
    assert job_url("account_job_cancel", job) not in fragment
    assert client.get(job_url("account_job_cancel", job)).status_code == 405


def test_cancel_needs_the_operation_of_the_job_or_cancel_tasks(personas: Personas, box: BackupTask) -> None:
    restore = make_job(box, Job.Kind.RESTORE, JS.RUNNING)
    export = make_job(box, Job.Kind.EXPORT, JS.RUNNING)
    viewer = personas.client(custom_user(personas.a, [perms.VIEW_TASKS]))
    assert job_url("account_job_cancel", restore) not in viewer.get(jobs_url(personas.a)).content.decode()
    assert viewer.post(job_url("account_job_cancel", restore)).status_code == 403
    restorer = personas.client(custom_user(personas.a, [perms.VIEW_TASKS, perms.RESTORE]))
    page = restorer.get(jobs_url(personas.a)).content.decode()
    assert job_url("account_job_cancel", restore) in page
    assert job_url("account_job_cancel", export) not in page
    assert restorer.post(job_url("account_job_cancel", export)).status_code == 403
    assert restorer.post(job_url("account_job_cancel", restore)).status_code == 302
    canceler = personas.client(custom_user(personas.a, [perms.VIEW_TASKS, perms.CANCEL_TASKS]))
    assert canceler.post(job_url("account_job_cancel", export)).status_code == 302
    assert Job.objects.filter(pk__in=[restore.pk, export.pk], cancel_requested=True).count() == 2


# -- log and results ---------------------------------------------------------------------------


def _log(job: Job, *lines: tuple[str, str]) -> None:
    start = timezone.now() - timedelta(minutes=10)
    for i, (level, text) in enumerate(lines):
        JobLog.objects.create(
            account=job.account, job=job, level=level, text=text, at=start + timedelta(seconds=i)
        )


def test_view_log_shows_the_lines(personas: Personas, box: BackupTask) -> None:
    job = make_job(box, status=JS.PARTIAL, items_done=9, items_failed=1)
    _log(job, ("info", "Restoring 10 items"), ("warning", "report.pdf: locked, skipped"), ("info", "Done"))
    client = personas.client(personas.alice)
    fragment = client.get(job_url("account_job_log", job), **HTMX).content.decode()
    assert "<html" not in fragment
    assert fragment.count('data-testid="log-line"') == 3
    assert (
        fragment.index("Restoring 10 items") < fragment.index("report.pdf: locked") < fragment.index("Done")
    )
    assert "Quarterly reports" in fragment
    page = client.get(job_url("account_job_log", job)).content.decode()  # without JavaScript: a page
    assert "<html" in page and "report.pdf: locked, skipped" in page
    assert job_url("account_job_log", job) in client.get(jobs_url(personas.a)).content.decode()


def test_download_results_csv_has_the_summary_and_every_log_line(personas: Personas, box: BackupTask) -> None:
    job = make_job(
        box,
        status=JS.PARTIAL,
        initiator=personas.alice,
        params={"items_total": 10, "bytes_total": 2048},
        items_done=9,
        items_failed=1,
        bytes_done=2000,
    )
    _log(job, ("info", "Restoring 10 items"), ("error", "=HYPERLINK(1): upload refused"), ("info", "Done"))
    client = personas.client(personas.alice)
    page = client.get(jobs_url(personas.a)).content.decode()
    assert job_url("account_job_results", job) in page
    response = client.get(job_url("account_job_results", job))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="restore-{job.pk}-results.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[arg-type]
    summary = {row[0]: row[1] for row in rows if len(row) == 2}
    assert summary["Job"] == f"Restore #{job.pk}"
    assert summary["Name"] == "Quarterly reports"
    assert summary["Status"] == "Partially succeeded"
    assert summary["Initiator"] == "alice@acme.test"
    assert (summary["Items done"], summary["Items failed"], summary["Items total"]) == ("9", "1", "10")
    assert (summary["Bytes done"], summary["Bytes total"]) == ("2000", "2048")
    assert "Restored files" in summary["Destination"] and "Non-destructive" in summary["Destination"]
    log = rows[rows.index(["Time", "Level", "Message"]) + 1 :]
    assert [(level, text) for _, level, text in log] == [
        ("info", "Restoring 10 items"),
        ("error", "'=HYPERLINK(1): upload refused"),  # never run as a formula
        ("info", "Done"),
    ]


def test_finished_download_export_links_to_its_download(
    personas: Personas, box: BackupTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = make_job(box, Job.Kind.EXPORT, JS.SUCCEEDED)
    running = make_job(box, Job.Kind.EXPORT, JS.RUNNING)
    to_s3 = make_job(
        box, Job.Kind.EXPORT, JS.SUCCEEDED, params={"destination": {"kind": "s3", "bucket": "b"}}
    )
    expired = make_job(box, Job.Kind.EXPORT, JS.SUCCEEDED, age=timedelta(days=4))
    monkeypatch.setattr("backstop.backups.views.jobs.link_for", lambda job: f"/exports/token-{job.pk}/")
    monkeypatch.setattr("backstop.backups.views.jobs.is_available", lambda job: job.pk != expired.pk)
    client = personas.client(personas.alice)
    page = client.get(jobs_url(personas.a)).content.decode()
    assert f'href="/exports/token-{done.pk}/"' in page
    assert f"/exports/token-{running.pk}/" not in page and f"/exports/token-{to_s3.pk}/" not in page
    assert job_url("account_job_results", to_s3) in page  # an object store export: its results CSV
    assert job_url("account_job_results", running) not in page  # not before it ends
    assert f"/exports/token-{expired.pk}/" not in page and job_url("account_job_results", expired) in page
    # The zip is for roles that may export; others get the results CSV.
    viewer = personas.client(custom_user(personas.a, [perms.VIEW_TASKS]))
    page = viewer.get(jobs_url(personas.a)).content.decode()
    assert "/exports/" not in page and job_url("account_job_results", done) in page


# -- who sees what -----------------------------------------------------------------------------


def test_a_role_limited_to_other_services_does_not_see_their_jobs(
    personas: Personas, box: BackupTask
) -> None:
    mail = task_of(personas.a, "imap", "Office mail")
    hidden = make_job(box, status=JS.RUNNING, label="Box restore")
    seen = make_job(mail, status=JS.FAILED, label="Mail restore")
    user = custom_user(personas.a, [perms.VIEW_TASKS, perms.RESTORE], services=["imap"])
    client = personas.client(user)
    page = client.get(jobs_url(personas.a)).content.decode()
    assert shown(client, jobs_url(personas.a)) == [seen.pk]
    assert "Box restore" not in page and "Company Box" not in page
    assert tile_counts(page) == {"open": 0, "succeeded": 0, "problem": 1, "canceled": 0}
    assert shown(client, jobs_url(personas.a, service="box")) == []
    assert shown(client, jobs_url(personas.a, task=box.pk)) == []
    for name in ("account_job_log", "account_job_results"):
        assert client.get(job_url(name, hidden)).status_code == 404
    assert client.post(job_url("account_job_cancel", hidden)).status_code == 404
    assert not Job.objects.get(pk=hidden.pk).cancel_requested


def test_another_tenant_gets_404_and_an_empty_list(personas: Personas, box: BackupTask) -> None:
    job = make_job(box, status=JS.RUNNING)
    _log(job, ("info", "secret line"))
    charlie = personas.client(personas.charlie)
    assert charlie.get(jobs_url(personas.a)).status_code == 404
    for name in ("account_job_log", "account_job_results"):
        assert charlie.get(job_url(name, job)).status_code == 404
        assert charlie.get(job_url(name, job, personas.b)).status_code == 404
    assert charlie.post(job_url("account_job_cancel", job)).status_code == 404
    assert charlie.post(job_url("account_job_cancel", job, personas.b)).status_code == 404
    job.refresh_from_db()
    assert not job.cancel_requested and job.status == JS.RUNNING
    assert shown(charlie, jobs_url(personas.b)) == []
    page = charlie.get(jobs_url(personas.b)).content.decode()
    assert tile_counts(page) == {"open": 0, "succeeded": 0, "problem": 0, "canceled": 0}
    assert "alice@acme.test" not in page and "Company Box" not in page
    # Pat reaches account A through the partner but without the task operations.
    assert personas.client(personas.pat).get(jobs_url(personas.a)).status_code == 403
