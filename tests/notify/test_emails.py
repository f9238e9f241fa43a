"""Summary reports and notices, end to end: real backups of the Box sandbox, the notices sent
over SMTP to a real server (aiosmtpd), read back as a mail client would."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.conf import LazySettings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backstop.backups import jobs, runner
from backstop.backups.models import BackupTask, Entity, Job, Snapshot
from backstop.backups.recovery import Selection
from backstop.backups.services import backup_now, discover
from backstop.notify import notices, reports
from backstop.notify.models import ExceptionNotice, Recipient, ReportSettings
from backstop.sandbox.box import BoxSandbox
from backstop.tenancy import permissions as perms
from tests.backups.sandbox import BoxTenant, backed_up, entity_of, seed_tenant
from tests.conftest import Personas
from tests.smtp_sink import Received, SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sandbox_on(settings: LazySettings) -> None:
    settings.BACKSTOP_SANDBOX = True
    settings.BACKSTOP_BASE_URL = "https://backstop.example.test"


def run_backup(entity: Entity) -> Job:
    (job,) = backup_now([entity])
    runner.run(job.pk)
    job.refresh_from_db()
    return job


def quick_retries(task: BackupTask) -> None:
    """The HTTP layer retries a 500 with backoff before giving an item up; keep that short."""
    BackupTask.objects.filter(pk=task.pk).update(
        connector_settings={**task.connector_settings, "retry": {"max_attempts": 2, "base": 0.02}}
    )


def fail_items(sb: BoxSandbox, tenant: BoxTenant, user_index: int, count: int = 1) -> list[str]:
    items = tenant.files[tenant.users[user_index].login][:count]
    for item in items:
        sb.faults.add("500", path=rf"/2\.0/files/{item.id}/content")
    return [item.name for item in items]


def csv_of(message: Received) -> list[dict[str, str]]:
    ((name, data),) = message.attachments().items()
    assert name.endswith(".csv")
    return list(csv.DictReader(io.StringIO(data.decode())))


def recipients(account_id: int, *rows: tuple[str, str, dict[str, bool]]) -> None:
    for email, name, flags in rows:
        base = dict.fromkeys(
            ("summary_report", "recovery", "exceptions", "auto_discovery", "smart_alerts"), False
        )
        Recipient.objects.create(account_id=account_id, email=email, name=name, **{**base, **flags})


def tomorrow() -> timezone.datetime:
    """1 a.m. (UTC) of the next day: the report of today (when the backups ran) is due then, and
    the hours the tests add after it stay in that day whatever time the tests run at."""
    start = reports.period_start(timezone.now(), ReportSettings.Frequency.DAILY)
    return start + timedelta(days=1, hours=1)


def test_summary_report_goes_to_summary_recipients_with_a_csv_row_per_entity(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant = seed_tenant(box_sandbox, users=2, files_per_user=4)
    task = tenant.task(personas.a, name="Box of Acme")
    quick_retries(task)
    good = backed_up(entity_of(task, tenant.users[0]))
    failed_names = fail_items(box_sandbox, tenant, 1)
    partial = run_backup(entity_of(task, tenant.users[1]))
    assert partial.status == Job.Status.PARTIAL
    box_sandbox.faults.clear()
    # Another account's backups never appear in Acme's report.
    other = tenant.task(personas.b, name="Globex Box")
    backed_up(entity_of(other, tenant.users[0]))
    recipients(
        personas.a.pk,
        ("ops@acme.test", "Ops Team", {"summary_report": True}),
        ("cio@acme.test", "Chief", {"summary_report": True, "exceptions": True}),
        ("restores@acme.test", "", {"recovery": True}),
    )
    smtp_sink.clear()  # the partial backup's exception notice

    now = tomorrow()
    assert reports.send_due(now) == 2  # both accounts have tasks
    acme = [m for m in smtp_sink.messages if "Acme" in m.subject]
    assert sorted(m.to[0] for m in acme) == ["cio@acme.test", "ops@acme.test"]
    globex = [m for m in smtp_sink.messages if "Globex" in m.subject]
    assert [m.to for m in globex] == [[personas.b.email]]  # no recipient: the account's address

    message = next(m for m in acme if m.to == ["ops@acme.test"])
    assert message.subject.startswith("[Backstop] Backup report for Acme")
    assert "1 with failures" in message.subject
    assert message.html is not None and "Box of Acme" in message.html and "Hello Ops Team" in message.html
    assert "Box of Acme" in message.text and "1 succeeded, 1 partially, 0 failed" in message.text
    rows = csv_of(message)
    assert [r["Entity"] for r in rows] == sorted([good.name, tenant.users[1].name])
    by_name = {r["Entity"]: r for r in rows}
    assert by_name[good.name]["Result in period"] == "Succeeded" and by_name[good.name]["Error"] == ""
    assert by_name[good.name]["Items"] == "4" and by_name[good.name]["Task"] == "Box of Acme"
    bad_row = by_name[tenant.users[1].name]
    assert bad_row["Result in period"] == "Partially succeeded" and failed_names[0] in bad_row["Error"]
    assert all("Globex" not in r["Task"] for r in rows)

    # Not twice for the same period, even run again later that day.
    before = len(smtp_sink.messages)
    assert reports.send_due(now) == 0
    assert reports.send_due(now + timedelta(hours=5)) == 0
    assert len(smtp_sink.messages) == before
    # The next day is a new period (no backups in it: every entity says so).
    assert reports.send_due(now + timedelta(days=1)) == 2
    latest = [m for m in smtp_sink.messages[before:] if m.to == ["ops@acme.test"]]
    assert len(latest) == 1 and "all backups succeeded" in latest[0].subject
    assert {r["Result in period"] for r in csv_of(latest[0])} == {"No backup"}


def test_only_on_failure_is_silent_for_a_clean_period_and_catches_up_once(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=3)
    task = tenant.task(personas.a)
    quick_retries(task)
    entity = backed_up(entity_of(task, tenant.users[0]))
    ReportSettings.objects.create(account=personas.a, only_on_failure=True, format="failures")
    recipients(personas.a.pk, ("ops@acme.test", "Ops", {"summary_report": True}))

    now = tomorrow()
    assert reports.send_due(now) == 1
    assert smtp_sink.messages == []  # a clean period: nothing
    assert ReportSettings.objects.get(account=personas.a).last_sent_at == now  # and not asked again
    assert reports.send_due(now + timedelta(hours=1)) == 0

    # The next period has a failure; the scheduler was down for three days: one report catches up.
    fail_items(box_sandbox, tenant, 0)
    tenant.state.file(  # a new file to download, which fails
        tenant.state.folder(None, "Later", user=tenant.users[0]), "new.txt", b"x" * 100
    )
    box_sandbox.faults.add("500", path=r"/2\.0/files/\d+/content")
    job = run_backup(entity)
    assert job.status == Job.Status.PARTIAL, job.error
    smtp_sink.clear()
    Job.objects.filter(pk=job.pk).update(ended_at=now + timedelta(hours=2))  # it ran in the next day
    later = now + timedelta(days=3)
    ReportSettings.objects.filter(account=personas.a).update(frequency="daily")
    assert reports.send_due(later) == 1
    # The catch-up reports the last whole day before `later`, which had no backup: silent again.
    assert smtp_sink.messages == []
    Job.objects.filter(pk=job.pk).update(ended_at=later - timedelta(hours=1))  # a failure today
    assert reports.send_due(later + timedelta(days=1)) == 1
    (message,) = smtp_sink.messages
    assert message.to == ["ops@acme.test"] and "Failure details" in (message.html or "")
    assert entity.name in message.text and "could not be backed up: " in message.text
    assert reports.send_due(later + timedelta(days=1, hours=3)) == 0
    assert len(smtp_sink.messages) == 1


def test_weekly_and_monthly_periods(personas: Personas) -> None:
    from datetime import UTC, datetime

    wednesday = datetime(2026, 3, 18, 10, 30, tzinfo=UTC)
    weekly = reports.Period.ended_before(wednesday, "weekly")
    assert (weekly.start, weekly.end) == (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC))
    monthly = reports.Period.ended_before(datetime(2026, 3, 1, 0, 5, tzinfo=UTC), "monthly")
    assert (monthly.start, monthly.end) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    daily = reports.Period.ended_before(wednesday, "daily")
    assert (daily.start, daily.end) == (datetime(2026, 3, 17, tzinfo=UTC), datetime(2026, 3, 18, tzinfo=UTC))
    # A weekly report sent on Monday is not due again until the next Monday.
    settings = ReportSettings.objects.create(account=personas.a, frequency="weekly", last_sent_at=weekly.end)
    BackupTask.objects.create(account=personas.a, service="box", name="t")
    assert [a for a, _ in reports.due_accounts(wednesday)] == []
    assert [a for a, _ in reports.due_accounts(datetime(2026, 3, 23, 0, 1, tzinfo=UTC))] == [personas.a]
    settings.frequency = "monthly"
    settings.save()
    assert [a for a, _ in reports.due_accounts(datetime(2026, 3, 31, tzinfo=UTC))] == []
    assert [a for a, _ in reports.due_accounts(datetime(2026, 4, 1, 0, 1, tzinfo=UTC))] == [personas.a]


def test_download_link_serves_the_csv_to_the_accounts_users_only(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = seed_tenant(box_sandbox, users=2, files_per_user=2)
    task = tenant.task(personas.a)
    for user in tenant.users:
        backed_up(entity_of(task, user))
    ReportSettings.objects.create(account=personas.a, delivery="link")
    assert reports.send_due(tomorrow()) == 1
    (message,) = smtp_sink.messages
    assert message.to == [personas.a.email] and message.attachments() == {}
    links = set(
        re.findall(
            r"https://backstop\.example\.test(/a/\d+/settings/notifications/report/[^\s\"<]+/)", message.text
        )
    )
    assert len(links) == 1
    (path,) = links
    assert path in (message.html or "")

    response = personas.client(personas.alice).get(path)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(r["Entity"] for r in rows) == sorted(u.name for u in tenant.users)
    assert {r["Result in period"] for r in rows} == {"Succeeded"}
    # Bob is a user of Acme who may not view backup tasks: not his to read. Given the right for
    # IMAP only, he reads a report without the Box task's entities.
    bob = personas.client(personas.bob)
    assert bob.get(path).status_code == 403
    personas.bob_membership.operations = [perms.VIEW_TASKS]
    personas.bob_membership.all_services, personas.bob_membership.services = False, ["imap"]
    personas.bob_membership.save()
    limited = bob.get(path)
    assert limited.status_code == 200
    assert len(list(csv.reader(io.StringIO(b"".join(limited.streaming_content).decode())))) == 1
    # Another tenant's user: 404, also with the link moved under their own account.
    assert personas.client(personas.charlie).get(path).status_code == 404
    token = path.rstrip("/").rsplit("/", 1)[1]
    moved = reverse("notify_report_download", args=[personas.b.pk, token])
    assert personas.client(personas.charlie).get(moved).status_code == 404
    # Signed out: sent to sign in. A tampered or expired link: 404.
    assert Client().get(path).status_code == 302
    assert personas.client(personas.alice).get(path[:-3] + "xx/").status_code == 404
    monkeypatch.setattr(reports, "LINK_DAYS", -1)
    assert personas.client(personas.alice).get(path).status_code == 404


def test_exceptions_are_coalesced_per_task_per_hour(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant = seed_tenant(box_sandbox, users=3, files_per_user=2)
    task = tenant.task(personas.a, name="Acme Box")
    quick_retries(task)
    recipients(
        personas.a.pk,
        ("oncall@acme.test", "On call", {"exceptions": True}),
        ("reports@acme.test", "", {"summary_report": True}),
    )
    box_sandbox.faults.add("500", path=r"/2\.0/files/\d+/content")
    first = run_backup(entity_of(task, tenant.users[0]))
    assert first.status == Job.Status.PARTIAL
    (message,) = smtp_sink.messages
    assert message.to == ["oncall@acme.test"]
    assert message.subject == f"[Backstop] Backup partially failed: {tenant.users[0].name} in Acme Box"
    assert message.html is not None and "Open the task" in message.html
    assert f"https://backstop.example.test/a/{personas.a.pk}/backups/{task.pk}/" in message.text
    assert "could not be backed up" in message.text

    # Two more entities fail within the hour: no e-mail now.
    for user in tenant.users[1:]:
        assert run_backup(entity_of(task, user)).status == Job.Status.PARTIAL
    assert len(smtp_sink.messages) == 1
    notice = ExceptionNotice.objects.get(task=task)
    assert notice.pending
    assert notices.send_digests(timezone.now() + timedelta(minutes=30)) == 0
    # When the hour is over, one digest lists both.
    assert notices.send_digests(timezone.now() + timedelta(minutes=61)) == 1
    assert len(smtp_sink.messages) == 2
    digest = smtp_sink.messages[1]
    assert digest.to == ["oncall@acme.test"]
    assert "0 failed, 2 partially failed" in digest.subject
    assert tenant.users[1].name in digest.text and tenant.users[2].name in digest.text
    assert tenant.users[0].name not in digest.text  # already reported
    assert notices.send_digests(timezone.now() + timedelta(minutes=200)) == 0


def test_a_disconnected_task_sends_one_notice_with_the_reconnect_link(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=2)
    task = tenant.task(personas.a, name="Acme Box")
    tenant.state.revoke_user_tokens(tenant.admin)
    job = run_backup(entity_of(task, tenant.users[0]))
    assert job.status == Job.Status.FAILED
    (message,) = smtp_sink.messages  # not also a "backup failed" e-mail
    assert message.to == [personas.a.email]  # no exception recipient: the account's address
    assert message.subject == "[Backstop] Backup task disconnected: Acme Box"
    assert f"https://backstop.example.test/a/{personas.a.pk}/backups/{task.pk}/" in message.text
    assert message.html is not None and "reconnect" in message.html.lower()


def test_auto_discovery_lists_the_new_entities(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=1)
    task = tenant.task(personas.a)  # the first discovery sends nothing
    recipients(personas.a.pk, ("it@acme.test", "IT", {"auto_discovery": True}))
    assert smtp_sink.messages == []
    tenant.state.user(tenant.users[0].enterprise_id, "New Hire", login="new@acme.test")
    tenant.state.user(tenant.users[0].enterprise_id, "Second Hire", login="second@acme.test")
    discover(task)
    (message,) = smtp_sink.messages
    assert message.to == ["it@acme.test"]
    assert message.subject.startswith("[Backstop] 2 new entities found in")
    assert "New Hire" in message.text and "Second Hire" in message.text
    assert "2 were activated" in message.text and message.html is not None


def test_recovery_notice_skips_the_initiator_who_gets_their_own(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=2)
    task = tenant.task(personas.a)
    entity = backed_up(entity_of(task, tenant.users[0]))
    recipients(
        personas.a.pk,
        ("alice@acme.test", "Alice", {"recovery": True}),
        ("restores@acme.test", "Restores", {"recovery": True}),
    )
    snapshot = Snapshot.objects.get(entity=entity)
    selection = Selection(entity.pk, snapshot.pk, ("",), ())
    job = jobs.create(
        Job.Kind.EXPORT,
        personas.a.pk,
        task=task,
        entity=entity,
        initiator=personas.alice,
        params={
            "selection": selection.as_params(),
            "label": "all files",
            "destination": {"kind": "download"},
        },
    )
    assert job is not None
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert len(smtp_sink.to("alice@acme.test")) == 1  # the job's own e-mail, once
    (notice,) = smtp_sink.to("restores@acme.test")
    assert notice.subject == "[Backstop] Export succeeded: all files"
    assert notice.html is not None and "Requested by alice@acme.test" in notice.text
