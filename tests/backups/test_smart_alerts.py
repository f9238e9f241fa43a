"""Smart alerts end to end: Box sandbox entities backed up day after day by the real pipeline,
an anomaly detected against the entity's own history, the alert in the job log, on the task page
and in an e-mail received by a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.urls import reverse

from backstop.audit.models import AuditEvent
from backstop.backups.anomaly import RunStats, detect
from backstop.backups.models import Entity, EntityRunStats, Job, JobLog, SmartAlert, Snapshot
from backstop.notify.models import Recipient
from backstop.sandbox.box import BoxSandbox
from backstop.tenancy import permissions as perms
from tests.backups.sandbox import BoxTenant, backed_up, entity_of, live_files, seed_tenant
from tests.conftest import Personas
from tests.smtp_sink import SmtpSink, smtp_server, smtp_sink

__all__ = ["smtp_server", "smtp_sink"]  # fixtures

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "user0@acme.test"


@pytest.fixture(autouse=True)
def _sandbox_on(settings: Any) -> None:
    settings.BACKSTOP_SANDBOX = True
    settings.BACKSTOP_BASE_URL = "https://backstop.example"


# -- an entity with a history of normal days


def sixty_files(personas: Personas, box_sandbox: BoxSandbox) -> tuple[BoxTenant, Entity]:
    """A user with 60 text files (they compress), backed up once."""
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=60)
    entity = entity_of(tenant.task(personas.a), tenant.users[0])
    return tenant, backed_up(entity)


def normal_days(tenant: BoxTenant, entity: Entity, days: int = 3) -> Entity:
    """Days of ordinary work, each backed up: a few edits, a new file, a deletion, a rename."""
    st, files = tenant.state, tenant.files[LOGIN]
    for day in range(days):
        for f in files[day * 3 : day * 3 + 3]:
            st.new_version(f, f"minutes of the meeting, day {day}, revised. ".encode() * 80)
        st.file(files[0].parent_id, f"notes-{day}.txt", f"notes of day {day} ".encode() * 200)
        st.delete(files[50 + day])
        st.rename(files[40 + day], f"renamed-{day}.txt")
        entity = backed_up(entity)
    return entity


def alerts_of(entity: Entity) -> list[SmartAlert]:
    return list(SmartAlert.objects.filter(entity=entity))


def last_job(entity: Entity) -> Job:
    job = Job.objects.filter(entity=entity, kind=Job.Kind.BACKUP).order_by("-pk").first()
    assert job is not None
    return job


def warnings_of(job: Job) -> list[str]:
    return [line.text for line in JobLog.objects.filter(job=job, level=JobLog.Level.WARNING)]


# -- end to end


def test_ransomware_run_alerts_naming_the_last_clean_snapshot_and_normal_days_do_not(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    Recipient.objects.create(
        account=personas.a, email="soc@acme.test", name="Security Desk", smart_alerts=True
    )
    Recipient.objects.create(account=personas.a, email="boss@acme.test", smart_alerts=False)
    tenant, entity = sixty_files(personas, box_sandbox)
    entity = normal_days(tenant, entity)
    assert alerts_of(entity) == [] and smtp_sink.messages == []
    assert not any("Smart alert" in text for text in warnings_of(last_job(entity)))
    clean_id = entity.last_snapshot

    # Ransomware: 48 files rewritten in place with bytes that look random.
    st = tenant.state
    files = tenant.files[LOGIN]
    victims = files[3:40] + files[44:50] + files[53:58]  # not the ones deleted on normal days
    for f in victims:
        st.new_version(f, os.urandom(3000))
    entity = backed_up(entity)

    (alert,) = alerts_of(entity)
    assert alert.kinds == [SmartAlert.Kind.ENCRYPTION]
    assert alert.clean_snapshot is not None and alert.clean_snapshot.snapshot_id == clean_id
    assert alert.snapshot is not None and alert.snapshot.snapshot_id == entity.last_snapshot
    assert (
        f"{len(victims)} of the {len(victims)} items whose content changed no longer compress" in alert.detail
    )
    job = last_job(entity)
    assert alert.job == job
    (line,) = [text for text in warnings_of(job) if text.startswith("Smart alert:")]
    assert "Possible encryption" in line and clean_id[:12] in line

    # The e-mail: to the smart-alert recipient only, naming the clean snapshot, linking to Recovery.
    assert smtp_sink.to("boss@acme.test") == [] and smtp_sink.to(personas.a.email) == []
    (message,) = smtp_sink.to("soc@acme.test")
    assert message["Subject"] == "[Backstop] Smart alert: possible encryption in User 0"
    assert "Security Desk" in message["To"]
    clean = Snapshot.objects.get(entity=entity, snapshot_id=clean_id)
    text, html = message.text, message.html or ""
    recovery = "https://backstop.example" + reverse("recovery_entity", args=[personas.a.pk, entity.pk])
    for body in (text, html):
        assert clean_id[:12] in body and f"{clean.time:%Y-%m-%d %H:%M} UTC" in body
        assert recovery in body
        assert "no longer compress" in body

    # The task page shows the alert on the entity, with its clean snapshot.
    page = personas.client(personas.alice).get(reverse("backup_task", args=[personas.a.pk, entity.task_id]))
    content = page.content.decode()
    assert page.status_code == 200
    assert "Smart alert" in content and "Possible encryption" in content and clean_id[:12] in content
    assert reverse("recovery_browse", args=[personas.a.pk, entity.pk, clean.pk]) in content

    # The next normal day is measured against the clean history, and alerts nothing more.
    st.new_version(tenant.files[LOGIN][0], b"back to work " * 300)
    entity = backed_up(entity)
    assert len(alerts_of(entity)) == 1 and len(smtp_sink.messages) == 1


def test_mass_deletion_alerts_the_account_address_when_nobody_is_ticked(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant, entity = sixty_files(personas, box_sandbox)
    entity = normal_days(tenant, entity, days=1)
    clean_id, before = entity.last_snapshot, entity.items
    for f in list(live_files(tenant, LOGIN).values())[:55]:
        tenant.state.delete(f)
    entity = backed_up(entity)
    removed = before - entity.items  # the files and the previous versions kept of them
    assert removed >= 55

    (alert,) = alerts_of(entity)
    assert alert.kinds == [SmartAlert.Kind.MASS_DELETION]
    assert alert.detail == (
        f"{removed} of {before} items were removed, far more than usual for this entity (usually none)."
    )
    assert alert.clean_snapshot is not None and alert.clean_snapshot.snapshot_id == clean_id
    (message,) = smtp_sink.to(personas.a.email)
    assert message["Subject"] == "[Backstop] Smart alert: mass deletion in User 0"
    assert clean_id[:12] in message.text


def test_rename_storm_alerts(personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink) -> None:
    tenant, entity = sixty_files(personas, box_sandbox)
    entity = normal_days(tenant, entity, days=1)
    before = entity.items
    for path, f in list(live_files(tenant, LOGIN).items())[:52]:
        tenant.state.rename(f, path.rpartition("/")[2] + ".locked")
    entity = backed_up(entity)

    (alert,) = alerts_of(entity)
    assert alert.kinds == [SmartAlert.Kind.RENAME_STORM]
    stats = EntityRunStats.objects.filter(entity=entity).first()
    assert stats is not None and stats.renamed >= 52 and stats.rewritten == 0  # versions move along
    assert alert.detail.startswith(f"{stats.renamed} of {before} items were renamed or moved")
    (message,) = smtp_sink.messages
    assert message.subject == "[Backstop] Smart alert: rename storm in User 0"


def test_small_entity_with_proportionally_large_changes_does_not_alert(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=3)
    entity = backed_up(entity_of(tenant.task(personas.a), tenant.users[0]))
    st, files = tenant.state, tenant.files[LOGIN]
    for f in files:  # every file rewritten with random bytes
        st.new_version(f, os.urandom(3000))
    entity = backed_up(entity)
    for f in files[:2]:  # then two of the three deleted
        st.delete(f)
    entity = backed_up(entity)
    assert entity.items == 2  # the survivor and its previous version
    assert alerts_of(entity) == [] and smtp_sink.messages == []
    assert EntityRunStats.objects.filter(entity=entity).count() == 3


def test_first_backup_never_alerts_even_on_random_content(
    personas: Personas, box_sandbox: BoxSandbox, smtp_sink: SmtpSink
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=60)
    for f in tenant.files[LOGIN]:
        tenant.state.new_version(f, os.urandom(3000))
    entity = backed_up(entity_of(tenant.task(personas.a), tenant.users[0]))
    assert entity.items > 60
    assert alerts_of(entity) == [] and smtp_sink.messages == []
    assert not any("Smart alert" in text for text in warnings_of(last_job(entity)))
    # What it measured is the history the next run is compared with.
    (stats,) = EntityRunStats.objects.filter(entity=entity)
    assert stats.sampled >= 60 and stats.incompressible >= 60 and not stats.alerted


# -- acknowledging


@pytest.fixture
def deletion_alert(personas: Personas, box_sandbox: BoxSandbox) -> tuple[BoxTenant, SmartAlert]:
    tenant, entity = sixty_files(personas, box_sandbox)
    for f in list(live_files(tenant, LOGIN).values())[:50]:
        tenant.state.delete(f)
    backed_up(entity)
    (alert,) = alerts_of(entity)
    return tenant, alert


def ack_url(account_id: int, task_id: int, alert_id: int) -> str:
    return reverse("backup_smart_alert_acknowledge", args=[account_id, task_id, alert_id])


def test_acknowledge_removes_the_badge(
    personas: Personas, deletion_alert: tuple[BoxTenant, SmartAlert]
) -> None:
    _, alert = deletion_alert
    client = personas.client(personas.alice)
    task_url = reverse("backup_task", args=[personas.a.pk, alert.task_id])
    page = client.get(task_url).content.decode()
    assert 'data-testid="smart-alert"' in page and "Mass deletion" in page
    assert ack_url(personas.a.pk, alert.task_id, alert.pk) in page

    response = client.post(ack_url(personas.a.pk, alert.task_id, alert.pk), follow=True)
    assert response.status_code == 200
    assert "Smart alert on User 0 acknowledged." in response.content.decode()
    assert 'data-testid="smart-alert"' not in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.acknowledged_by == personas.alice
    # Who acknowledged it is in the account's Security Audit.
    event = AuditEvent.objects.get(account=personas.a, description__startswith="Smart alert acknowledged")
    assert event.description == "Smart alert acknowledged: Mass deletion in User 0"
    assert event.user == personas.alice and event.service == "box"


def test_acknowledge_is_tenant_scoped_and_needs_modify(
    personas: Personas, deletion_alert: tuple[BoxTenant, SmartAlert]
) -> None:
    tenant, alert = deletion_alert
    url = ack_url(personas.a.pk, alert.task_id, alert.pk)
    # Another account's administrator: A's URL, or A's alert id under B's own task, is a 404.
    other_task = tenant.task(personas.b, "Globex Box")
    charlie = personas.client(personas.charlie)
    assert charlie.post(url).status_code == 404
    assert charlie.post(ack_url(personas.b.pk, other_task.pk, alert.pk)).status_code == 404
    assert charlie.get(reverse("backup_task", args=[personas.b.pk, other_task.pk])).status_code == 200
    assert (
        "Smart alert"
        not in charlie.get(reverse("backup_task", args=[personas.b.pk, other_task.pk])).content.decode()
    )
    # A role of account A that may view tasks but not modify them sees the alert, cannot acknowledge.
    personas.bob_membership.operations = [perms.VIEW_TASKS]
    personas.bob_membership.save()
    bob = personas.client(personas.bob)
    page = bob.get(reverse("backup_task", args=[personas.a.pk, alert.task_id])).content.decode()
    assert "Mass deletion" in page and url not in page
    assert bob.post(url).status_code == 403
    # A role without "view tasks" does not reach it at all.
    personas.bob_membership.operations = [perms.VIEW_SETTINGS]
    personas.bob_membership.save()
    assert personas.client(personas.bob).post(url).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not AuditEvent.objects.filter(description__startswith="Smart alert acknowledged").exists()


# -- the rules on histories


def day(**counts: int) -> RunStats:
    base = {"items_before": 1000, "items": 1000, "sampled": 30, "sample_bytes": 90_000}
    base["sample_compressed"] = base["sample_bytes"] // 3
    return RunStats(**{**base, **counts})


def test_a_busy_entity_is_judged_against_its_own_usual_change() -> None:
    busy = [day(removed=r, rewritten=w) for r, w in ((300, 280), (320, 310), (290, 300), (310, 290))]
    assert detect(day(removed=330, rewritten=320), busy) == []  # a busy day like the others
    (finding,) = detect(day(removed=900, rewritten=300), busy)
    assert (
        finding.kind == SmartAlert.Kind.MASS_DELETION
        and "far more than usual for this entity (about 305 per backup)" in finding.detail
    )
    quiet = [day(removed=2), day(removed=0), day(removed=1)]
    assert [f.kind for f in detect(day(rewritten=400), quiet)] == [SmartAlert.Kind.MASS_MODIFICATION]


def test_encrypted_copies_replacing_their_originals_are_encryption() -> None:
    history = [day(sampled=40, incompressible=2), day(sampled=25, incompressible=1)]
    run = day(added=60, removed=60, sampled=60, incompressible=58, items_before=200)
    assert [f.kind for f in detect(run, history)] == [
        SmartAlert.Kind.ENCRYPTION,
        SmartAlert.Kind.MASS_DELETION,
    ]
    # An entity of photos (already incompressible) uploading more photos and tidying up is not.
    photos = [day(sampled=40, incompressible=39), day(sampled=25, incompressible=25)]
    assert [f.kind for f in detect(run, photos)] == [SmartAlert.Kind.MASS_DELETION]
    assert detect(day(added=60, sampled=60, incompressible=58), photos) == []


def test_measuring_compressibility_from_many_backups_at_once() -> None:
    """Workers run backups in threads, each measuring new content: a shared zstd compressor made
    them fail together ("cannot compress: Src size is incorrect"), failing the backups."""
    from concurrent.futures import ThreadPoolExecutor

    from backstop.backups.pipeline import compressed_size

    samples = [os.urandom(40_000) if i % 2 else b"text that compresses " * 2_000 for i in range(8)]
    expected = [compressed_size(sample) for sample in samples]

    def measure(round_: int) -> list[int | None]:
        return [compressed_size(sample) for sample in samples]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(measure, range(64)))
    assert all(result == expected for result in results)
