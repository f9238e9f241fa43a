"""An IMAP mailbox on a real Dovecot backed up through the whole pipeline: every folder, the
original bytes, and an incremental that downloads only the new message."""

from __future__ import annotations

import pytest
from imapclient import IMAPClient

from backstop.backups import runner
from backstop.backups.models import CatalogItem, Entity, Job
from backstop.backups.repos import open_repository
from backstop.backups.services import backup_now, discover
from backstop.sandbox.mail import generate_messages
from tests.backups.mailbox import imap_task
from tests.conftest import Personas
from tests.connectors.dovecot import Dovecot

pytestmark = pytest.mark.django_db(transaction=True)


def _run(entity: Entity) -> Job:
    (job,) = backup_now([entity])
    runner.run(job.pk)
    job.refresh_from_db()
    return job


def test_a_mailbox_is_backed_up_with_its_bytes_and_incrementally(
    personas: Personas, dovecot: Dovecot
) -> None:
    user, password = dovecot.new_user()
    messages = list(generate_messages(30, seed=7))
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as imap:
        imap.login(user, password)
        imap.create_folder("Projekte.Größe")
        for i, message in enumerate(messages):
            imap.append("INBOX" if i % 2 else "Projekte.Größe", message)
    task = imap_task(personas.a, dovecot, user, password)
    discover(task)
    entity = Entity.objects.get(task=task)
    assert entity.key == user

    job = _run(entity)
    assert job.status == Job.Status.SUCCEEDED, job.error
    entity.refresh_from_db()
    assert entity.items == 30 and entity.status == Entity.Status.ACTIVE
    repo = open_repository(personas.a)
    stored = sorted(
        repo.open_item(entity.last_snapshot, path).read()
        for path, e in repo.walk(entity.last_snapshot)
        if not e.is_folder
    )
    assert stored == sorted(messages), "the original RFC 822 bytes, unchanged"
    folders = {row.path.rsplit("/", 1)[0] for row in CatalogItem.objects.filter(entity=entity)}
    assert any("Größe" in folder for folder in folders)

    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False) as imap:
        imap.login(user, password)
        imap.select_folder("INBOX")
        uids = imap.search("ALL")
        imap.add_flags(uids[:2], [b"\\Flagged"])
        imap.append("INBOX", b"Subject: late\r\nMessage-ID: <late@x>\r\n\r\nlate arrival\r\n")
    again = _run(entity)
    assert again.status == Job.Status.SUCCEEDED, again.error
    assert again.result["downloaded"] == 1, "flag changes are recorded without downloading"
    assert (again.result["changed"], again.result["added"]) == (2, 1), again.result
    current = CatalogItem.objects.filter(entity=entity, valid_to__isnull=True)
    assert sum("\\Flagged" in row.meta.get("flags", []) for row in current) == 2

    # Bodies are read many per FETCH; a message gone since the listing is that item's error only.
    from dataclasses import replace

    from backstop.backups.connections import connector_for
    from backstop.connectors.base import EntityInfo, Item
    from backstop.connectors.errors import ItemError

    rows = list(current[:3])
    items = [
        Item(r.key, r.path, r.version, r.content_version, r.size, r.kind, r.name, meta=r.meta) for r in rows
    ]
    gone = replace(items[0], key="gone", meta={**items[0].meta, "uid": 999_999})
    with connector_for(task) as connector:
        got = connector.open_many(EntityInfo(entity.key, entity.name), [*items, gone])
    assert isinstance(got["gone"], ItemError)
    assert sorted(got[i.key] for i in items) == sorted(  # type: ignore[type-var]
        repo.open_item(entity.last_snapshot, r.path).read() for r in rows
    )
