"""Every backup task page and endpoint against another tenant's ids: 404, never a hint.

Charlie (account B) tries Alice's task and entities through his own account's URLs and through
Alice's; Bob (custom user of A without backup operations) gets 403; nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import signing
from django.urls import reverse

from backstop.backups import oauth
from backstop.backups.models import BackupTask, Entity, Job
from backstop.backups.services import create_task, sync_entities
from backstop.connectors.base import EntityInfo
from tests.conftest import Personas

# (url name, takes a task id, method)
TASK_PAGES = [
    ("backup_task", "get"),
    ("backup_task_delete", "get"),
    ("backup_task_reconnect", "get"),
]
TASK_POSTS = [
    "backup_task_settings",
    "backup_task_rename",
    "backup_task_reconnect",
    "backup_task_discover",
    "backup_task_delete",
    "backup_entities_action",
]
ACCOUNT_PAGES = ["backup_add", "backup_add_imap", "backup_add_box"]
# Pages with ids of their own, whose isolation tests live beside their feature.
TESTED_ELSEWHERE = {"backup_smart_alert_acknowledge"}  # tests/backups/test_smart_alerts.py
PAYLOAD = {
    "name": "Hijacked",
    "backup_hour": "7",
    "archive_days": "1",
    "frequency": "weekly",
    "action": "delete",
    "secret": "x",
}


@pytest.fixture
def alice_task(personas: Personas) -> BackupTask:
    task = create_task(personas.a, "imap", "Acme mail", secrets={"password": "pw"})
    sync_entities(task, [EntityInfo("k1", "Ann"), EntityInfo("k2", "Ali")])
    return task


def _unchanged(task: BackupTask) -> None:
    task.refresh_from_db()
    assert task.name == "Acme mail" and task.deleted_at is None and task.backup_hour == 2
    assert not Entity.objects.filter(task=task, deleted_at__isnull=False).exists()
    assert not Job.objects.exists()


@pytest.mark.parametrize(("name", "method"), TASK_PAGES)
def test_task_pages_by_persona(personas: Personas, alice_task: BackupTask, name: str, method: str) -> None:
    url = reverse(name, args=[personas.a.pk, alice_task.pk])
    assert personas.client(personas.alice).get(url).status_code == 200
    assert personas.client(personas.bob).get(url).status_code == 403
    assert personas.client(personas.charlie).get(url).status_code == 404
    # Charlie's own account with Alice's task id.
    assert (
        personas.client(personas.charlie).get(reverse(name, args=[personas.b.pk, alice_task.pk])).status_code
        == 404
    )


@pytest.mark.parametrize("name", TASK_POSTS)
def test_task_posts_refuse_other_tenants_and_roles(
    personas: Personas, alice_task: BackupTask, name: str
) -> None:
    entity_ids = list(Entity.objects.filter(task=alice_task).values_list("pk", flat=True))
    payload: dict[str, Any] = {**PAYLOAD, "entity": entity_ids}
    charlie = personas.client(personas.charlie)
    assert charlie.post(reverse(name, args=[personas.a.pk, alice_task.pk]), payload).status_code == 404
    assert charlie.post(reverse(name, args=[personas.b.pk, alice_task.pk]), payload).status_code == 404
    assert (
        personas.client(personas.bob)
        .post(reverse(name, args=[personas.a.pk, alice_task.pk]), payload)
        .status_code
        == 403
    )
    _unchanged(alice_task)


@pytest.mark.parametrize("name", ACCOUNT_PAGES)
def test_add_pages_by_persona(personas: Personas, settings: Any, name: str) -> None:
    settings.BACKSTOP_SANDBOX = True
    url = reverse(name, args=[personas.a.pk])
    assert personas.client(personas.alice).get(url).status_code == 200
    assert personas.client(personas.bob).get(url).status_code == 403
    assert personas.client(personas.charlie).get(url).status_code == 404
    assert personas.client(personas.charlie).post(url, {"name": "x"}).status_code == 404


@pytest.mark.parametrize("action", ["activate", "backup", "pause", "delete"])
def test_entities_of_another_tenant_are_ignored_in_ones_own_task(
    personas: Personas, alice_task: BackupTask, action: str
) -> None:
    """Charlie names Alice's entity ids in a post to his own task: they are not found there."""
    charlie_task = create_task(personas.b, "imap", "Globex mail", secrets={"password": "pw"})
    alice_entities = list(Entity.objects.filter(task=alice_task).values_list("pk", flat=True))
    url = reverse("backup_entities_action", args=[personas.b.pk, charlie_task.pk])
    response = personas.client(personas.charlie).post(url, {"action": action, "entity": alice_entities})
    assert response.status_code == 302
    assert set(Entity.objects.filter(task=alice_task).values_list("status", flat=True)) == {"not_active"}
    _unchanged(alice_task)


def test_oauth_state_of_another_account_is_404(personas: Personas, alice_task: BackupTask) -> None:
    """A state signed for Alice's account (or for Charlie, naming Alice's account or task) does
    not let Charlie finish anything in account A."""
    url = reverse("backup_oauth_box")
    for data in (
        {"a": personas.a.pk, "u": personas.alice.pk, "n": "x"},
        {"a": personas.a.pk, "u": personas.charlie.pk, "n": "x"},
        {"a": personas.a.pk, "u": personas.charlie.pk, "n": "x", "t": alice_task.pk},
        {"a": personas.b.pk, "u": personas.charlie.pk, "n": "x", "t": alice_task.pk},
    ):
        state = signing.dumps(data, salt=oauth.STATE_SALT, compress=True)
        response = personas.client(personas.charlie).get(url, {"code": "c", "state": state})
        assert response.status_code == 404, data
    assert personas.client(personas.charlie).get(url, {"code": "c", "state": "forged"}).status_code == 404
    assert BackupTask.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(
    personas: Personas, alice_task: BackupTask, client: Any
) -> None:
    urls = [reverse(name, args=[personas.a.pk, alice_task.pk]) for name, _ in TASK_PAGES]
    urls += [reverse(name, args=[personas.a.pk]) for name in ACCOUNT_PAGES]
    urls.append(reverse("backup_oauth_box"))
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_every_backup_page_is_in_the_isolation_lists() -> None:
    """A new page under /a/<id>/backups/ must be added to the lists above, so that it is tested."""
    from backstop.backups.urls import urlpatterns

    listed = {name for name, _ in TASK_PAGES} | set(TASK_POSTS) | set(ACCOUNT_PAGES) | TESTED_ELSEWHERE
    assert {pattern.name for pattern in urlpatterns} == listed
