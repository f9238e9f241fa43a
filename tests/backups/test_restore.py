"""Restores end to end through the services a page calls: the request is checked, the job runs
through the real connector (Box sandbox over HTTP, Dovecot over IMAP), and what comes back is
compared with what was backed up."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import LazySettings
from django.db import connection
from django.http import HttpRequest
from django.test import RequestFactory
from imapclient import IMAPClient

from backstop.accounts.models import User
from backstop.audit.models import AuditEvent
from backstop.backups import runner
from backstop.backups.models import ActivityEvent, CatalogItem, Entity, Job, Snapshot
from backstop.backups.recovery import Selection, resolve
from backstop.backups.recovery_jobs import RecoveryError, RestoreTarget, request_restore
from backstop.backups.restore import target_path
from backstop.backups.services import disconnect_task, discover
from backstop.sandbox.box import BoxSandbox
from backstop.sandbox.mail import generate_messages
from backstop.tenancy.models import Account
from backstop.tenancy.scoping import AccountAccess, account_access
from tests.backups.mailbox import imap_task
from tests.backups.sandbox import backed_up, entity_of, live_files, seed_tenant
from tests.conftest import Personas
from tests.connectors.dovecot import Dovecot
from tests.helpers import messages_to

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sandbox_on(settings: LazySettings) -> None:
    settings.BACKSTOP_SANDBOX = True


def as_user(user: User, account: Account) -> tuple[HttpRequest, AccountAccess]:
    request = RequestFactory().post("/", HTTP_USER_AGENT="pytest", REMOTE_ADDR="10.1.2.3")
    request.user = user
    access = account_access(user, account)
    assert access is not None
    return request, access


def restore(user: User, account: Account, selection: Selection, target: RestoreTarget) -> Job:
    request, access = as_user(user, account)
    job = request_restore(request, access, selection, target)
    runner.run(job.pk)
    job.refresh_from_db()
    return job


# -- Box


def test_box_restore_new_replace_and_bypass(personas: Personas, box_sandbox: BoxSandbox, outbox: Any) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=6)
    task = tenant.task(personas.a)
    user = tenant.users[0]
    entity = backed_up(entity_of(task, user))
    first = Snapshot.objects.get(entity=entity)
    before = live_files(tenant, user.login)
    victim_path = "Documents/file-001.txt"
    original = before[victim_path].current.blob.read()
    tenant.state.delete(before[victim_path])
    backed_up(entity)
    assert victim_path not in live_files(tenant, user.login)
    row = CatalogItem.objects.get(entity=entity, path=victim_path)
    assert row.valid_to is not None, "the deletion ended the row's validity"

    # Non-destructive, from the earlier snapshot's folder: into a new "Restored …" folder.
    job = restore(
        personas.alice,
        personas.a,
        Selection(entity.pk, first.pk, folders=("Documents",)),
        RestoreTarget(entity.pk, mode="new"),
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["restored"] == 3 + 3 and job.result["failed"] == 0  # Documents has 3 + 3 below
    restored_folder = job.params["target"]["restored_folder"]
    assert restored_folder.startswith("Restored ")
    now = live_files(tenant, user.login)
    back = now[f"{restored_folder}/{victim_path}"]
    assert back.current.blob.read() == original
    assert datetime.fromtimestamp(back.content_modified_at or 0, UTC) == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert victim_path not in now, "non-destructive: the original place is untouched"

    # Replace in place: a live file changed since the backup gets the backed-up content back.
    changed_path = "Documents/file-003.txt"
    live = now[changed_path]
    backed = live.current.blob.read()
    tenant.state.new_version(live, b"ransomware was here")
    versions_before = len(live.versions)
    one = CatalogItem.objects.get(entity=entity, path=changed_path, valid_to__isnull=True)
    job = restore(
        personas.alice,
        personas.a,
        Selection(entity.pk, items=(one.pk,)),
        RestoreTarget(entity.pk, mode="replace"),
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert live.current.blob.read() == backed and len(live.versions) == versions_before + 1

    # Bypass: an existing file is left alone and counted as skipped; a missing one comes back.
    bystander = live.current.blob.read()
    job = restore(
        personas.alice,
        personas.a,
        Selection(entity.pk, items=(one.pk, row.pk)),
        RestoreTarget(entity.pk, mode="bypass"),
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.result["restored"], job.result["skipped"]) == (1, 1), job.result
    assert live.current.blob.read() == bystander and len(live.versions) == versions_before + 1
    assert live_files(tenant, user.login)[victim_path].current.blob.read() == original

    # Every request is audited; every run is a System Activity line; the initiator gets mail.
    audits = AuditEvent.objects.filter(account=personas.a, activity="restore_requested")
    assert audits.count() == 3 and {a.performed_by for a in audits} == {personas.alice.email}
    assert audits.first().ip == "10.1.2.3"  # type: ignore[union-attr]
    assert ActivityEvent.objects.filter(account=personas.a, activity="restore").count() == 3
    mails = messages_to(outbox, personas.alice.email)
    assert len(mails) == 3 and "1 restored, 1 skipped" in str(mails[-1].get_body()), mails[-1]


def test_restore_is_refused_before_queueing_when_the_target_cannot_take_it(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    tenant = seed_tenant(box_sandbox, users=2, files_per_user=2)
    task = tenant.task(personas.a)
    entity = backed_up(entity_of(task, tenant.users[0]))
    whole = Selection(entity.pk, Snapshot.objects.get(entity=entity).pk, folders=("",))
    request, access = as_user(personas.alice, personas.a)

    other = entity_of(task, tenant.users[1])
    gone = tenant.users[1]
    tenant.state.enterprises[gone.enterprise_id].users.remove(gone.id)  # removed from the enterprise
    with pytest.raises(RecoveryError, match="no longer exists"):
        request_restore(request, access, whole, RestoreTarget(other.pk))

    disconnect_task(task, "the grant was revoked")
    with pytest.raises(RecoveryError, match="disconnected"):
        request_restore(request, access, whole, RestoreTarget(entity.pk))

    with pytest.raises(RecoveryError, match="Pick at least one"):
        request_restore(request, access, Selection(entity.pk), RestoreTarget(entity.pk))
    with pytest.raises(RecoveryError, match="folder"):
        request_restore(request, access, whole, RestoreTarget(entity.pk, folder="../../etc"))

    # Another tenant's user cannot name this tenant's entity, as source or as target.
    request_c, access_c = as_user(personas.charlie, personas.b)
    with pytest.raises(RecoveryError, match="not in this account"):
        request_restore(request_c, access_c, whole, RestoreTarget(entity.pk))
    assert not Job.objects.filter(kind=Job.Kind.RESTORE).exists()


def test_cancel_mid_restore_keeps_what_was_done_with_honest_counts(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=30, size=500)
    task = tenant.task(personas.a)
    user = tenant.users[0]
    entity = backed_up(entity_of(task, user))
    whole = Selection(entity.pk, Snapshot.objects.get(entity=entity).pk, folders=("",))
    request, access = as_user(personas.alice, personas.a)
    job = request_restore(request, access, whole, RestoreTarget(entity.pk))
    box_sandbox.faults.add("latency", path="/files/content", latency=0.15)

    def work() -> None:
        try:
            runner.run(job.pk)
        finally:
            connection.close()  # the thread's own connection, or PostgreSQL's teardown waits on it

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 30
    while Job.objects.get(pk=job.pk).items_done < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    worker.join(60)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    restored_folder = job.params["target"]["restored_folder"]
    there = [p for p in live_files(tenant, user.login) if p.startswith(restored_folder + "/")]
    assert 5 <= job.result["restored"] < 30
    assert len(there) == job.result["restored"] == job.items_done, "the count is what is there"


def test_target_paths_stay_inside_the_restore_folder() -> None:
    row = CatalogItem(path="Docs/a.txt")
    selected: Any = type("S", (), {"row": row})()
    target = {"folder": "Into/here", "restored_folder": "Restored 2026-11-30 12-00"}
    assert target_path(selected, target) == "Into/here/Restored 2026-11-30 12-00/Docs/a.txt"
    assert target_path(selected, {"folder": "", "restored_folder": ""}) == "Docs/a.txt"


# -- IMAP on Dovecot


def test_imap_message_found_by_a_body_word_restored_to_another_folder_byte_for_byte(
    personas: Personas, dovecot: Dovecot
) -> None:
    from backstop.backups import search

    user, password = dovecot.new_user()
    messages = list(generate_messages(12, seed=3))
    needle = (
        b"From: Rita <rita@example.test>\r\nTo: ops@example.test\r\nSubject: quarterly figures\r\n"
        b"Message-ID: <needle@example.test>\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n\r\n"
        b"The zanzibar numbers are attached.\r\n"
    )
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as imap:
        imap.login(user, password)
        for message in messages:
            imap.append("INBOX", message)
        imap.append(
            "INBOX", needle, flags=[b"\\Seen", b"\\Flagged"], msg_time=datetime(2026, 3, 3, 10, tzinfo=UTC)
        )
    task = imap_task(personas.a, dovecot, user, password)
    discover(task)
    entity = backed_up(Entity.objects.get(task=task))

    (found,) = search.search(entity, text="zanzibar")
    assert found.name == "quarterly figures"
    job = restore(
        personas.alice,
        personas.a,
        Selection(entity.pk, items=(found.pk,)),
        RestoreTarget(entity.pk, "Recovered"),
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["restored"] == 1
    folder = f"Recovered.{job.params['target']['restored_folder']}.INBOX"
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as imap:
        imap.login(user, password)
        imap.select_folder(folder, readonly=True)
        uids = imap.search("ALL")
        assert len(uids) == 1
        data = imap.fetch(uids, ["RFC822", "FLAGS", "INTERNALDATE"])[uids[0]]
    assert data[b"RFC822"] == needle, "the original bytes"
    assert {b"\\Seen", b"\\Flagged"} <= set(data[b"FLAGS"])
    assert data[b"INTERNALDATE"].replace(tzinfo=None) == datetime(2026, 3, 3, 10) or data[
        b"INTERNALDATE"
    ].astimezone(UTC) == datetime(2026, 3, 3, 10, tzinfo=UTC)


def test_a_resumed_restore_keeps_the_other_versions_of_a_path_it_stopped_in(
    personas: Personas, box_sandbox: BoxSandbox
) -> None:
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=2)
    entity = backed_up(entity_of(tenant.task(personas.a), tenant.users[0]))
    first = CatalogItem.objects.filter(entity=entity).order_by("path").first()
    assert first is not None
    second = CatalogItem.objects.get(pk=first.pk)
    second.pk, second.version = None, first.version + "-b"  # another version, the same path
    second.save()
    picked = Selection(entity.pk, items=(first.pk, second.pk))
    assert [s.row.pk for s in resolve(entity, picked)] == [first.pk, second.pk]
    assert [s.row.pk for s in resolve(entity, picked, after=(first.path, first.pk))] == [second.pk]
