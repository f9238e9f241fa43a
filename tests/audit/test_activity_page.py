"""System Activity (A-SYSACT): the backups, restores and exports that ran, filtered, searched,
paged, counted by status, exported as CSV, and the info pop-up of one line."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backstop.backups.models import ActivityEvent, BackupTask, Job
from backstop.tenancy import permissions as perms
from tests.audit.util import HTMX, activity, csv_of, days_ago, page_of
from tests.conftest import Personas

pytestmark = pytest.mark.django_db
AS = ActivityEvent.Status
ITEM_RE = re.compile(r'data-testid="activity-item">([^<]*)<')


def items(response: object) -> list[str]:
    return [html.unescape(text) for text in ITEM_RE.findall(page_of(response))]  # type: ignore[arg-type]


def url(personas: Personas, account_pk: int | None = None) -> str:
    return reverse("account_activity", args=[account_pk or personas.a.pk])


def world(personas: Personas) -> dict[str, ActivityEvent]:
    box = BackupTask.objects.create(account=personas.a, service="box", name="Company Box")
    mail = BackupTask.objects.create(account=personas.a, service="imap", name="Office mail")
    other = BackupTask.objects.create(account=personas.b, service="box", name="Globex Box")
    return {
        "dana": activity(box, "Dana Scully", at=days_ago(1)),
        "fox": activity(box, "Fox Mulder", status=AS.FAILED, at=days_ago(2), summary="Box refused the token"),
        "restore": activity(box, "Dana Scully (restore)", kind="restore", status=AS.PARTIAL, at=days_ago(3)),
        "inbox": activity(mail, "sales@acme.test", at=days_ago(4)),
        "export": activity(mail, "ceo@acme.test", kind="export", status=AS.CANCELED, at=days_ago(9)),
        "globex": activity(other, "Globex user", at=days_ago(1)),
    }


def test_the_page_lists_the_accounts_activity_newest_first(personas: Personas) -> None:
    world(personas)
    alice = personas.client(personas.alice)
    response = alice.get(url(personas))
    assert items(response) == [
        "Dana Scully",
        "Fox Mulder",
        "Dana Scully (restore)",
        "sales@acme.test",
        "ceo@acme.test",
    ]
    page = page_of(response)
    assert "Globex" not in page
    for header in ("Activity", "Date and time", "Service", "Sub-service", "Status", "Task", "Item"):
        assert f"<th>{header}</th>" in page
    assert 'text-bg-danger" data-testid="activity-status">Failed' in page
    assert 'text-bg-warning" data-testid="activity-status">Partially succeeded' in page
    assert ">Files</td>" in page and ">Mail</td>" in page  # sub-services
    assert 'class="nav-link active" href="' + url(personas) + '"' in page  # Activity tab and nav
    assert re.search(r'data-testid="count-succeeded".*?data-testid="count-value">2<', page, re.S)
    assert re.search(r'data-testid="count-failed".*?data-testid="count-value">1<', page, re.S)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("activity=backup", ["Dana Scully", "Fox Mulder", "sales@acme.test"]),
        ("activity=export", ["ceo@acme.test"]),
        ("service=imap", ["sales@acme.test", "ceo@acme.test"]),
        ("status=failed", ["Fox Mulder"]),
        ("from={d3}&to={d2}", ["Fox Mulder", "Dana Scully (restore)"]),
        ("q=dana", ["Dana Scully", "Dana Scully (restore)"]),
        ("q=office", ["sales@acme.test", "ceo@acme.test"]),  # the task name
        ("q=globex", []),
        ("service=box&activity=backup&status=succeeded", ["Dana Scully"]),
    ],
)
def test_filters_and_search(personas: Personas, query: str, expected: list[str]) -> None:
    world(personas)
    dates = {f"d{n}": days_ago(n).date().isoformat() for n in (2, 3)}
    alice = personas.client(personas.alice)
    assert items(alice.get(url(personas) + "?" + query.format(**dates))) == expected
    assert items(alice.get(url(personas) + "?" + query.format(**dates), **HTMX)) == expected


def test_status_counts_follow_the_other_filters(personas: Personas) -> None:
    world(personas)
    page = page_of(personas.client(personas.alice).get(url(personas) + "?service=box&status=failed"))
    assert re.search(r'data-testid="count-succeeded".*?data-testid="count-value">1<', page, re.S)
    assert re.search(r'data-testid="count-partial".*?data-testid="count-value">1<', page, re.S)
    assert re.search(r'data-testid="count-canceled".*?data-testid="count-value">0<', page, re.S)
    # Clicking the active count takes its filter off again.
    assert re.search(r'class="bs-act-count bs-act-danger active" href="[^"?]*\?service=box"', page)


def test_the_csv_holds_exactly_the_filtered_rows(personas: Personas) -> None:
    events = world(personas)
    alice = personas.client(personas.alice)
    query = "service=box&from=" + days_ago(2).date().isoformat()
    rows = csv_of(alice.get(url(personas) + "?" + query + "&format=csv"))
    assert [row["Item"] for row in rows] == items(alice.get(url(personas) + "?" + query))
    assert [row["Item"] for row in rows] == ["Dana Scully", "Fox Mulder"]
    fox = rows[1]
    assert (fox["Activity"], fox["Service"], fox["Sub-service"], fox["Status"], fox["Task"]) == (
        "Backup",
        "Box",
        "Files",
        "Failed",
        "Company Box",
    )
    assert fox["Summary"] == events["fox"].summary
    assert len(csv_of(alice.get(url(personas) + "?format=csv"))) == 5


def test_csv_cells_of_activity_are_neutralised(personas: Personas) -> None:
    task = BackupTask.objects.create(account=personas.a, service="box", name="=cmd|' /C calc'!A0")
    activity(task, "@evil", summary="+1 new")
    rows = csv_of(personas.client(personas.alice).get(url(personas) + "?format=csv"))
    assert (rows[0]["Task"], rows[0]["Item"], rows[0]["Summary"]) == (
        "'=cmd|' /C calc'!A0",
        "'@evil",
        "'+1 new",
    )


def test_paging(personas: Personas) -> None:
    task = BackupTask.objects.create(account=personas.a, service="box", name="Company Box")
    now = timezone.now()
    for n in range(30):
        activity(task, f"user {n:02d}", at=now - timedelta(minutes=n))
    alice = personas.client(personas.alice)
    assert len(items(alice.get(url(personas)))) == 25
    assert items(alice.get(url(personas) + "?page=2")) == [f"user {n:02d}" for n in range(25, 30)]


def test_the_info_pop_up_shows_time_size_items_and_summary(personas: Personas) -> None:
    task = BackupTask.objects.create(account=personas.a, service="box", name="Company Box")
    started = timezone.now() - timedelta(minutes=5)
    job = Job.objects.create(
        account=personas.a,
        kind=Job.Kind.BACKUP,
        task=task,
        status=Job.Status.SUCCEEDED,
        started_at=started,
        ended_at=started + timedelta(seconds=3725),
        result={"items": 1520, "size": 5 * 1024**3, "bytes_stored": 3 * 1024**2, "failed": []},
    )
    event = activity(
        task,
        "Dana Scully",
        duration=timedelta(seconds=3725),
        items=42,
        bytes=7 * 1024**2,
        summary="40 new, 2 changed, 0 removed",
        job=job,
    )
    alice = personas.client(personas.alice)
    info_url = reverse("account_activity_info", args=[personas.a.pk, event.pk])
    fragment = page_of(alice.get(info_url, **HTMX))
    assert "<html" not in fragment
    assert "1 h 2 min 5 s" in fragment
    assert "3.0\xa0MB" in fragment and "5.0\xa0GB" in fragment  # stored, of the backed-up size
    assert ">42<" in fragment and "1,520 items in the backup" in fragment
    assert "40 new, 2 changed, 0 removed" in fragment
    assert "Items changed" in fragment
    # Without JavaScript the same details are a page.
    page = page_of(alice.get(info_url))
    assert "<html" in page and "1 h 2 min 5 s" in page and "Back to System Activity" in page
    # The row links to it.
    assert info_url in page_of(alice.get(url(personas)))


def test_restore_info_shows_the_restored_size(personas: Personas) -> None:
    task = BackupTask.objects.create(account=personas.a, service="imap", name="Office mail")
    event = activity(
        task, "sales@acme.test", kind="restore", items=12, bytes=2048, duration=timedelta(seconds=42)
    )
    fragment = page_of(
        personas.client(personas.alice).get(
            reverse("account_activity_info", args=[personas.a.pk, event.pk]), **HTMX
        )
    )
    assert "42 s" in fragment and "Items restored" in fragment and "2.0\xa0KB" in fragment


def test_who_may_see_system_activity(personas: Personas) -> None:
    events = world(personas)
    bob = personas.client(personas.bob)
    info_url = reverse("account_activity_info", args=[personas.a.pk, events["dana"].pk])
    for address in (url(personas), url(personas) + "?format=csv", info_url):
        assert bob.get(address).status_code == 403

    alice = personas.client(personas.alice)
    assert alice.get(url(personas, personas.b.pk)).status_code == 404
    # Another account's event, asked for through Alice's own account, is not found either.
    assert (
        alice.get(reverse("account_activity_info", args=[personas.a.pk, events["globex"].pk])).status_code
        == 404
    )
    assert (
        alice.get(reverse("account_activity_info", args=[personas.b.pk, events["globex"].pk])).status_code
        == 404
    )

    # A custom user with the permission sees the services of their role only.
    personas.bob_membership.operations = [perms.VIEW_ACTIVITY]
    personas.bob_membership.all_services = False
    personas.bob_membership.services = ["imap"]
    personas.bob_membership.save()
    assert items(bob.get(url(personas))) == ["sales@acme.test", "ceo@acme.test"]
    assert bob.get(info_url).status_code == 404  # a Box event
    assert len(csv_of(bob.get(url(personas) + "?format=csv"))) == 2
