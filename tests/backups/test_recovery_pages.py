"""The Recovery pages (A-RECOVER, A-RESTORE, A-EXPORT) with Django's test client, over real
backups of the Box sandbox: the home, an entity's snapshots and search, a folder as of an older
snapshot, the restore and export forms, and who may open what."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.conf import LazySettings
from django.urls import reverse
from django.utils import timezone

from backstop.backups import runner
from backstop.backups.models import BackupTask, CatalogItem, Entity, Job, Snapshot
from backstop.backups.services import create_task, disconnect_task
from backstop.sandbox.box import BoxSandbox
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership
from tests.backups.sandbox import BoxTenant, backed_up, entity_of, live_files, seed_tenant
from tests.conftest import Personas
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

VICTIM = "Documents/file-001.txt"


@pytest.fixture(autouse=True)
def _sandbox_on(settings: LazySettings) -> None:
    settings.BACKSTOP_SANDBOX = True


@dataclass
class Backed:
    tenant: BoxTenant
    task: BackupTask
    entity: Entity
    first: Snapshot  # holds VICTIM
    second: Snapshot  # VICTIM deleted before it
    victim: CatalogItem
    original: bytes

    def url(self, name: str, *args: Any) -> str:
        return reverse(name, args=[self.entity.account_id, *args])


@pytest.fixture
def backed(personas: Personas, box_sandbox: BoxSandbox) -> Backed:
    """User 0 of a Box task in account A, backed up twice: VICTIM was deleted in between."""
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=6)
    task = tenant.task(personas.a)
    entity = backed_up(entity_of(task, tenant.users[0]))
    first = Snapshot.objects.get(entity=entity)
    victim_file = live_files(tenant, tenant.users[0].login)[VICTIM]
    original = victim_file.current.blob.read()
    tenant.state.delete(victim_file)
    backed_up(entity)
    second = Snapshot.objects.filter(entity=entity).exclude(pk=first.pk).get()
    victim = CatalogItem.objects.get(entity=entity, path=VICTIM)
    return Backed(tenant, task, entity, first, second, victim, original)


def custom_user(personas: Personas, *operations: str, services: list[str] | None = None) -> Any:
    user = UserFactory()
    MembershipFactory(
        user=user,
        account=personas.a,
        role=Membership.Role.CUSTOM,
        operations=list(operations),
        all_services=services is None,
        services=services or [],
    )
    return user


# -- the home ------------------------------------------------------------------------------------


def test_home_lists_the_backed_up_entities_with_filters_search_and_the_nav_link(
    personas: Personas, backed: Backed
) -> None:
    client = personas.client(personas.alice)
    page = client.get(backed.url("recovery"))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="recovery-row"') == 1, "only the entity with backups"
    assert "User 0" in html and "Ada Admin" not in html
    assert reverse("recovery_entity", args=[personas.a.pk, backed.entity.pk]) in html
    assert 'data-testid="recovery-task"' in html and backed.task.name in html
    assert f'href="{backed.url("recovery")}"' in html, "the navigation links the Recovery page"
    assert "Active" in html

    # htmx: the table alone, filtered by status and search.
    partial = client.get(
        backed.url("recovery"), {"status": "paused"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<html" not in partial and 'data-testid="recovery-row"' not in partial
    partial = client.get(backed.url("recovery"), {"q": "user0@"}, HTTP_HX_REQUEST="true").content.decode()
    assert partial.count('data-testid="recovery-row"') == 1
    partial = client.get(backed.url("recovery"), {"q": "nobody"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Nothing matches" in partial
    # A task id of no task here is a 404.
    assert client.get(backed.url("recovery"), {"task": 999999}).status_code == 404


def test_home_pages_many_entities(personas: Personas) -> None:
    task = create_task(personas.a, "imap", "Mail", connector_settings={}, secrets={}, source_tenant="x")
    now = timezone.now()
    Entity.objects.bulk_create(
        Entity(
            account=personas.a,
            task=task,
            key=f"k{i}",
            name=f"Mailbox {i:02}",
            status=Entity.Status.ACTIVE,
            first_backup_at=now - timedelta(days=3),
            last_backup_at=now,
        )
        for i in range(30)
    )
    client = personas.client(personas.alice)
    first = client.get(reverse("recovery", args=[personas.a.pk])).content.decode()
    assert first.count('data-testid="recovery-row"') == 25 and "Page 1 of 2" in first
    second = client.get(
        reverse("recovery", args=[personas.a.pk]), {"task": task.pk, "page": 2}
    ).content.decode()
    assert second.count('data-testid="recovery-row"') == 5 and "Mailbox 29" in second


def test_a_role_without_recovery_rights_has_no_recovery(personas: Personas, backed: Backed) -> None:
    client = personas.client(personas.bob)  # may view settings and support only
    assert client.get(backed.url("recovery")).status_code == 403
    assert client.get(backed.url("recovery_entity", backed.entity.pk)).status_code == 403
    home = client.get(reverse("account_settings", args=[personas.a.pk])).content.decode()
    assert backed.url("recovery") not in home


# -- an entity: snapshots and search -------------------------------------------------------------


def test_entity_page_lists_its_snapshots_in_a_date_range(personas: Personas, backed: Backed) -> None:
    client = personas.client(personas.alice)
    url = backed.url("recovery_entity", backed.entity.pk)
    html = client.get(url).content.decode()
    assert html.count('data-testid="snapshot-row"') == 2
    assert "1 removed" in html, "the second snapshot removed the deleted file"
    assert "Latest" in html
    for snapshot in (backed.first, backed.second):
        assert reverse("recovery_browse", args=[personas.a.pk, backed.entity.pk, snapshot.pk]) in html
    restore_all = (
        f"{backed.url('recovery_restore', backed.entity.pk)}?snapshot={backed.first.pk}&amp;folder=%2F"
    )
    assert restore_all in html

    # The first snapshot a week ago: a range of the last three days shows only the second.
    Snapshot.objects.filter(pk=backed.first.pk).update(time=timezone.now() - timedelta(days=7))
    today = timezone.localdate()
    recent = client.get(url, {"start": str(today - timedelta(days=3)), "end": str(today)}).content.decode()
    assert recent.count('data-testid="snapshot-row"') == 1 and f'data-snapshot="{backed.second.pk}"' in recent
    older = client.get(url, {"start": str(today - timedelta(days=8)), "end": str(today - timedelta(days=6))})
    assert older.content.decode().count('data-testid="snapshot-row"') == 1
    wrong = client.get(url, {"start": str(today), "end": str(today - timedelta(days=1))}).content.decode()
    assert "after the last one" in wrong and 'data-testid="snapshot-row"' not in wrong


def test_search_finds_item_versions_across_snapshots(personas: Personas, backed: Backed) -> None:
    client = personas.client(personas.alice)
    url = backed.url("recovery_entity", backed.entity.pk)
    html = client.get(url, {"tab": "search", "text": "file-001"}).content.decode()
    assert html.count('data-testid="found-row"') == 1, html
    assert f'value="{backed.victim.pk}"' in html and "deleted since" in html
    assert "1 snapshot" in html
    html = client.get(url, {"tab": "search", "name": "file-00"}).content.decode()
    assert html.count('data-testid="found-row"') == 6
    html = client.get(url, {"tab": "search", "text": "no-such-thing"}).content.decode()
    assert 'data-testid="search-empty"' in html
    # Box items are files: author and name; mail would say sender and subject.
    html = client.get(url, {"tab": "search"}).content.decode()
    assert "File name" in html and "Subject" not in html


def test_mail_pages_speak_of_senders_and_subjects(personas: Personas) -> None:
    task = create_task(personas.a, "imap", "Mail", connector_settings={}, secrets={}, source_tenant="x")
    now = timezone.now()
    entity = Entity.objects.create(
        account=personas.a, task=task, key="me", name="me@acme.test", first_backup_at=now, last_backup_at=now
    )
    snapshot = Snapshot.objects.create(
        account=personas.a, entity=entity, snapshot_id="s" * 64, time=now, items=1
    )
    CatalogItem.objects.create(
        account=personas.a,
        entity=entity,
        key="INBOX:1:7",
        path="INBOX/7.eml",
        folder="INBOX",
        name="Quarterly numbers",
        kind="message",
        author="Dana <dana@acme.test>",
        size=2048,
        modified=now,
        version="1",
        content_version="1",
        valid_from=snapshot,
    )
    client = personas.client(personas.alice)
    html = client.get(
        reverse("recovery_entity", args=[personas.a.pk, entity.pk]), {"tab": "search"}
    ).content.decode()
    assert "Sender" in html and "Subject" in html and "File name" not in html
    url = reverse("recovery_browse", args=[personas.a.pk, entity.pk, snapshot.pk])
    html = client.get(url, {"folder": "INBOX"}).content.decode()
    assert "Quarterly numbers" in html and "Dana" in html and "bi-envelope" in html
    assert ">Sender<" in html and ">Subject<" in html and ">Received<" in html


# -- a folder as of a snapshot -------------------------------------------------------------------


def test_browsing_an_older_snapshot_shows_the_file_deleted_since(personas: Personas, backed: Backed) -> None:
    client = personas.client(personas.alice)
    older = backed.url("recovery_browse", backed.entity.pk, backed.first.pk)
    newer = backed.url("recovery_browse", backed.entity.pk, backed.second.pk)

    root = client.get(older).content.decode()
    assert 'data-testid="folder-row" data-name="Documents"' in root and 'data-testid="item-row"' not in root
    assert "6 items · 17.6\N{NO-BREAK SPACE}KB in this snapshot" in root, "the snapshot's totals"
    assert ">6 items<" in root, "the folder's totals"
    docs = client.get(older, {"folder": "Documents"}).content.decode()
    assert 'data-name="file-001.txt"' in docs and 'data-name="Projects ü"' in docs
    assert docs.count('data-testid="item-row"') == 3 and f'value="{backed.victim.pk}"' in docs
    assert "1 newer snapshot" in docs
    now = client.get(newer, {"folder": "Documents"}).content.decode()
    assert 'data-name="file-001.txt"' not in now and now.count('data-testid="item-row"') == 2

    deep = client.get(older, {"folder": "Documents/Projects ü"}).content.decode()
    assert deep.count('data-testid="item-row"') == 3 and "Projects ü" in deep
    # Search within the folder (htmx: the listing alone).
    found = client.get(older, {"folder": "Documents", "q": "001"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in found and found.count('data-testid="item-row"') == 1
    # A snapshot of this entity only.
    assert client.get(backed.url("recovery_browse", backed.entity.pk, 999999)).status_code == 404


def test_a_folder_of_ten_thousand_items_pages_fast(
    personas: Personas, django_assert_max_num_queries: Any
) -> None:
    task = create_task(personas.a, "box", "Big", connector_settings={}, secrets={}, source_tenant="x")
    now = timezone.now()
    entity = Entity.objects.create(
        account=personas.a, task=task, key="u", name="Big User", first_backup_at=now
    )
    snapshot = Snapshot.objects.create(account=personas.a, entity=entity, snapshot_id="b" * 64, time=now)
    CatalogItem.objects.bulk_create(
        (
            CatalogItem(
                account=personas.a,
                entity=entity,
                key=str(i),
                path=f"Big/f{i:05}.pdf",
                folder="Big",
                name=f"f{i:05}.pdf",
                kind="file",
                size=i,
                modified=now,
                version="1",
                content_version=str(i),
                valid_from=snapshot,
            )
            for i in range(10_000)
        ),
        batch_size=2000,
    )
    client = personas.client(personas.alice)
    url = reverse("recovery_browse", args=[personas.a.pk, entity.pk, snapshot.pk])
    client.get(url, {"folder": "Big"})  # warm up: template loading, sessions
    started = time.monotonic()
    with django_assert_max_num_queries(20):
        html = client.get(url, {"folder": "Big", "page": 3}).content.decode()
    assert time.monotonic() - started < 2.0
    assert html.count('data-testid="item-row"') == 100 and "Page 3 of 100" in html
    assert "f00200.pdf" in html and "Showing 201\N{EN DASH}300 of 10000" in html


# -- restore -------------------------------------------------------------------------------------


def test_a_selection_goes_to_the_restore_form_and_queues_a_restore_that_brings_the_file_back(
    personas: Personas, backed: Backed
) -> None:
    client = personas.client(personas.alice)
    url = backed.url("recovery_restore", backed.entity.pk)
    selection = {"snapshot": backed.first.pk, "item": [backed.victim.pk], "folder": ["Documents/Projects ü"]}
    form = client.get(url, selection)
    assert form.status_code == 200
    html = form.content.decode()
    assert 'data-testid="selection-items">4<' in html, "the file and the three in the folder"
    assert (
        f'name="item" value="{backed.victim.pk}"' in html
        and 'name="folder" value="Documents/Projects ü"' in html
    )
    assert (
        "Restored " in html and 'data-testid="mode-replace"' in html and 'data-testid="mode-bypass"' in html
    )
    assert f'<option value="{backed.entity.pk}" selected>' in html
    # Cancel goes back to where the selection came from, only ever to this entity's pages.
    came_from = backed.url("recovery_browse", backed.entity.pk, backed.first.pk) + "?folder=Documents"
    html = client.get(url, {**selection, "back": came_from}).content.decode()
    assert f'href="{came_from}" data-testid="action-cancel"' in html
    html = client.get(url, {**selection, "back": "javascript:alert(1)"}).content.decode()
    assert "javascript:" not in html
    assert f'href="{backed.url("recovery_entity", backed.entity.pk)}" data-testid="action-cancel"' in html

    response = client.post(url, {**selection, "target": backed.entity.pk, "target_folder": "", "mode": "new"})
    assert response.status_code == 302 and response["Location"] == reverse(
        "account_jobs", args=[personas.a.pk]
    )
    job = Job.objects.get(kind=Job.Kind.RESTORE)
    assert job.entity_id == backed.entity.pk and job.initiator == personas.alice
    assert job.params["selection"] == {
        "entity": backed.entity.pk,
        "snapshot": backed.first.pk,
        "folders": ["Documents/Projects ü"],
        "items": [backed.victim.pk],
    }
    assert job.params["target"]["mode"] == "new" and job.params["target"]["entity"] == backed.entity.pk
    assert job.params["items_total"] == 4

    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    restored = job.params["target"]["restored_folder"]
    files = live_files(backed.tenant, backed.tenant.users[0].login)
    back = files[f"{restored}/{VICTIM}"]
    assert back.current.blob.read() == backed.original
    assert f"{restored}/Documents/Projects ü/file-000.txt" in files
    assert VICTIM not in files, "non-destructive: the original place stays as it is"


def test_restore_into_a_folder_with_replace_and_the_whole_snapshot(
    personas: Personas, backed: Backed
) -> None:
    client = personas.client(personas.alice)
    url = backed.url("recovery_restore", backed.entity.pk)
    whole = {"snapshot": backed.second.pk, "folder": "/"}
    html = client.get(url, whole).content.decode()
    assert "Everything in the snapshot" in html and 'data-testid="selection-items">5<' in html
    response = client.post(url, {**whole, "target": backed.entity.pk, "mode": "replace"})
    assert response.status_code == 302
    job = Job.objects.get(kind=Job.Kind.RESTORE)
    assert job.params["selection"]["folders"] == [""] and job.params["target"]["mode"] == "replace"


def test_restore_refused_by_the_service_shows_why_and_queues_nothing(
    personas: Personas, backed: Backed
) -> None:
    client = personas.client(personas.alice)
    url = backed.url("recovery_restore", backed.entity.pk)
    post = {"snapshot": backed.first.pk, "item": backed.victim.pk, "target": backed.entity.pk, "mode": "new"}
    disconnect_task(backed.task, "the grant was revoked")
    response = client.post(url, post)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="form-error"' in html and "disconnected" in html and "the grant was revoked" in html
    assert "(disconnected)" in html, "the target list says which task is disconnected"
    assert not Job.objects.filter(kind=Job.Kind.RESTORE).exists()

    # A folder that climbs out of the target, an unknown mode, an empty selection.
    BackupTask.objects.filter(pk=backed.task.pk).update(connected=True)
    response = client.post(url, {**post, "target_folder": "../../etc"})
    assert response.status_code == 400 and "not allowed" in response.content.decode()
    assert client.post(url, {**post, "mode": "wipe"}).status_code == 400
    empty = client.get(url, {"snapshot": backed.first.pk})
    assert empty.status_code == 302 and empty["Location"] == backed.url("recovery_entity", backed.entity.pk)
    assert not Job.objects.filter(kind=Job.Kind.RESTORE).exists()


def test_a_custom_user_without_restore_cannot_restore(personas: Personas, backed: Backed) -> None:
    viewer = custom_user(personas, perms.PREVIEW_DATA, perms.VIEW_TASKS)
    client = personas.client(viewer)
    assert client.get(backed.url("recovery")).status_code == 200
    browse = client.get(
        backed.url("recovery_browse", backed.entity.pk, backed.first.pk), {"folder": "Documents"}
    )
    assert browse.status_code == 200
    html = browse.content.decode()
    assert 'data-testid="restore-selected"' not in html and "may look at these backups" in html
    url = backed.url("recovery_restore", backed.entity.pk)
    post = {"snapshot": backed.first.pk, "item": backed.victim.pk, "target": backed.entity.pk, "mode": "new"}
    assert client.get(url, post).status_code == 403
    assert client.post(url, post).status_code == 403

    # Restore granted, but for another service only: Box backups are out of reach.
    other = custom_user(personas, perms.RESTORE, perms.VIEW_TASKS, services=["imap"])
    client = personas.client(other)
    assert client.post(url, post).status_code == 404
    assert client.get(backed.url("recovery_entity", backed.entity.pk)).status_code == 404
    assert not Job.objects.filter(kind=Job.Kind.RESTORE).exists()

    # Export only: the export form opens, the restore form does not.
    exporter = custom_user(personas, perms.EXPORT)
    client = personas.client(exporter)
    assert client.get(backed.url("recovery_export", backed.entity.pk), post).status_code == 200
    assert client.post(url, post).status_code == 403


# -- export --------------------------------------------------------------------------------------


def test_export_form_keeps_credentials_out_of_the_page_and_queues_a_download(
    personas: Personas, backed: Backed
) -> None:
    client = personas.client(personas.alice)
    url = backed.url("recovery_export", backed.entity.pk)
    selection = {"snapshot": backed.first.pk, "folder": "Documents"}
    html = client.get(url, selection).content.decode()
    assert 'data-testid="selection-items">6<' in html and 'name="secret_access_key"' in html

    response = client.post(url, {**selection, "kind": "s3", "secret_access_key": "very-secret-key-123"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "very-secret-key-123" not in html and "Required for this destination." in html
    assert not Job.objects.filter(kind=Job.Kind.EXPORT).exists()

    # The destination is checked before anything is queued: a private endpoint is refused.
    response = client.post(
        url,
        {
            **selection,
            "kind": "s3_compatible",
            "bucket": "backups",
            "endpoint": "http://127.0.0.1:9/",
            "access_key_id": "AKIA1",
            "secret_access_key": "very-secret-key-123",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "private or reserved" in html  # shown on the endpoint field it is about
    assert "very-secret-key-123" not in html and "AKIA1" not in html
    assert not Job.objects.filter(kind=Job.Kind.EXPORT).exists()

    response = client.post(url, {**selection, "kind": "download"})
    assert response.status_code == 302 and response["Location"] == reverse(
        "account_jobs", args=[personas.a.pk]
    )
    job = Job.objects.get(kind=Job.Kind.EXPORT)
    assert job.params["destination"] == {"kind": "download"} and job.params["items_total"] == 6
    assert "sealed" not in job.params


# -- tenancy -------------------------------------------------------------------------------------


def test_another_tenant_gets_404_on_every_recovery_url(personas: Personas, backed: Backed) -> None:
    entity, first = backed.entity, backed.first
    urls = [
        backed.url("recovery"),
        backed.url("recovery_entity", entity.pk),
        backed.url("recovery_browse", entity.pk, first.pk),
        backed.url("recovery_restore", entity.pk) + f"?snapshot={first.pk}&item={backed.victim.pk}",
        backed.url("recovery_export", entity.pk) + f"?snapshot={first.pk}&item={backed.victim.pk}",
    ]
    charlie = personas.client(personas.charlie)
    for url in urls:
        assert charlie.get(url).status_code == 404, url
        assert (
            charlie.post(url, {"target": entity.pk, "mode": "new", "kind": "download"}).status_code == 404
        ), url
    # A's ids inside Charlie's own account are not found either.
    b = personas.b.pk
    assert charlie.get(reverse("recovery_entity", args=[b, entity.pk])).status_code == 404
    assert charlie.get(reverse("recovery_browse", args=[b, entity.pk, first.pk])).status_code == 404
    assert charlie.get(reverse("recovery", args=[b]), {"task": backed.task.pk}).status_code == 404
    assert not Job.objects.filter(kind__in=(Job.Kind.RESTORE, Job.Kind.EXPORT)).exists()


def test_foreign_snapshots_items_and_targets_are_refused(personas: Personas, backed: Backed) -> None:
    """Account B backs up the same Box user: its snapshot, catalog rows and entity are not
    usable from account A's pages, even by A's administrator."""
    b_task = backed.tenant.task(personas.b, "Globex Box")
    b_entity = backed_up(entity_of(b_task, backed.tenant.users[0]))
    b_snapshot = Snapshot.objects.get(entity=b_entity)
    b_row = CatalogItem.objects.filter(entity=b_entity).first()
    assert b_row is not None
    alice = personas.client(personas.alice)
    entity = backed.entity
    assert alice.get(backed.url("recovery_browse", entity.pk, b_snapshot.pk)).status_code == 404
    assert alice.get(backed.url("recovery_entity", b_entity.pk)).status_code == 404
    restore = backed.url("recovery_restore", entity.pk)
    assert alice.get(restore, {"snapshot": b_snapshot.pk, "folder": "/"}).status_code == 404
    assert alice.get(restore, {"item": b_row.pk}).status_code == 404
    assert alice.post(restore, {"item": b_row.pk, "target": entity.pk, "mode": "new"}).status_code == 404
    assert alice.get(backed.url("recovery_export", entity.pk), {"item": b_row.pk}).status_code == 404
    # B's entity as the target: not among the choices.
    response = alice.post(restore, {"item": backed.victim.pk, "target": b_entity.pk, "mode": "new"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    # Another entity of A's own sandbox user in A's other task of a different service: not offered.
    mail = create_task(personas.a, "imap", "Mail", connector_settings={}, secrets={}, source_tenant="x")
    mailbox = Entity.objects.create(account=personas.a, task=mail, key="m", name="Mailbox")
    html = alice.get(restore, {"item": backed.victim.pk}).content.decode()
    assert f'value="{mailbox.pk}"' not in html and f'value="{b_entity.pk}"' not in html
    assert not Job.objects.filter(kind=Job.Kind.RESTORE).exists()
