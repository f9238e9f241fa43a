"""The backup task pages (A-TASK, A-SETTINGS, A-ENTITIES, A-DELTASK) with Django's test client."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from backstop.backups.models import BackupTask, Entity, Job
from backstop.backups.services import create_task, sync_entities
from backstop.connectors.base import EntityInfo
from backstop.sandbox.box import BoxSandbox
from backstop.tenancy import permissions as perms
from backstop.tenancy.models import Membership
from tests.conftest import Personas
from tests.connectors.dovecot import Dovecot
from tests.factories import MembershipFactory, UserFactory

S = Entity.Status


def imap_task(personas: Personas, name: str = "Office mail", **fields: Any) -> BackupTask:
    task = create_task(
        personas.a,
        "imap",
        name,
        connector_settings={"host": "127.0.0.1", "port": 1, "security": "none", "username": "a@acme.test"},
        secrets={"password": "pw"},
        source_tenant="127.0.0.1",
    )
    if fields:
        BackupTask.objects.filter(pk=task.pk).update(**fields)
        task.refresh_from_db()
    return task


def with_entities(task: BackupTask, *statuses: str) -> list[Entity]:
    found = [EntityInfo(f"k{i}", f"Person {i:02}", f"p{i}@acme.test") for i in range(len(statuses))]
    sync_entities(task, found)
    entities = list(Entity.objects.filter(task=task).order_by("key"))
    for entity, status in zip(entities, statuses, strict=True):
        Entity.objects.filter(pk=entity.pk).update(status=status)
        entity.status = status
    return entities


def task_url(task: BackupTask, name: str = "backup_task") -> str:
    return reverse(name, args=[task.account_id, task.pk])


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


# -- homepage ----------------------------------------------------------------------------------


def test_homepage_invites_adding_the_first_task(personas: Personas) -> None:
    page = personas.client(personas.alice).get(reverse("account_home", args=[personas.a.pk])).content.decode()
    assert 'data-testid="no-tasks"' in page
    assert reverse("backup_add", args=[personas.a.pk]) in page


def test_homepage_cards_show_connection_statuses_size_and_last_backup(personas: Personas) -> None:
    task = imap_task(personas)
    first, _, _ = with_entities(task, S.ACTIVE, S.ACTIVE, S.NOT_ACTIVE)
    Entity.objects.filter(pk=first.pk).update(size=3 * 1024 * 1024, last_snapshot="s1")
    imap_task(personas, "Old mail", connected=False, disconnected_reason="password changed")
    page = personas.client(personas.alice).get(reverse("account_home", args=[personas.a.pk])).content.decode()
    assert page.count('data-testid="task-card"') == 2
    assert "Office mail" in page and "Old mail" in page
    assert "2 Active" in page and "1 Not Active" in page
    assert "3.0\xa0MB" in page
    assert "Connected" in page
    assert "Disconnected · reconnect" in page
    assert task_url(task, "backup_task_delete") in page  # the card menu


def test_homepage_hides_tasks_from_roles_without_view_tasks(personas: Personas) -> None:
    imap_task(personas)
    page = personas.client(personas.bob).get(reverse("account_home", args=[personas.a.pk])).content.decode()
    assert "Office mail" not in page
    assert 'data-testid="no-tasks"' not in page


# -- adding a task -----------------------------------------------------------------------------


def test_picker_offers_built_services_and_greys_the_rest(personas: Personas, settings: Any) -> None:
    settings.BACKSTOP_SANDBOX = False
    settings.BACKSTOP_BOX_CLIENT_ID = settings.BACKSTOP_BOX_CLIENT_SECRET = ""
    page = personas.client(personas.alice).get(reverse("backup_add", args=[personas.a.pk])).content.decode()
    assert reverse("backup_add_imap", args=[personas.a.pk]) in page
    assert reverse("backup_add_box", args=[personas.a.pk]) not in page
    assert "Needs a Box app" in page
    assert "Coming later" in page and "Dropbox" in page
    settings.BACKSTOP_SANDBOX = True
    page = personas.client(personas.alice).get(reverse("backup_add", args=[personas.a.pk])).content.decode()
    assert reverse("backup_add_box", args=[personas.a.pk]) in page


def _imap_form(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Sales inbox",
        "host": "127.0.0.1",
        "port": closed_port(),
        "security": "none",
        "username": "sales@acme.test",
        "auth": "password",
        "secret": "s3cret-value",
        **overrides,
    }


def test_imap_add_with_an_unreachable_server_says_so_and_saves_nothing(personas: Personas) -> None:
    url = reverse("backup_add_imap", args=[personas.a.pk])
    response = personas.client(personas.alice).post(url, _imap_form())
    assert response.status_code == 200
    page = response.content.decode()
    assert "Could not reach the IMAP server at 127.0.0.1" in page
    assert "s3cret-value" not in page  # the secret is never rendered back
    assert not BackupTask.objects.exists()


def test_imap_add_against_dovecot_refuses_a_wrong_password_then_connects(
    personas: Personas, dovecot: Dovecot
) -> None:
    user, password = dovecot.new_user()
    alice = personas.client(personas.alice)
    url = reverse("backup_add_imap", args=[personas.a.pk])
    form = _imap_form(host=dovecot.host, port=dovecot.port, username=user, secret="not-" + password)
    wrong = alice.post(url, form)
    assert wrong.status_code == 200
    assert "The server refused this user name and password" in wrong.content.decode()
    assert not BackupTask.objects.exists()

    right = alice.post(url, {**form, "secret": password})
    task = BackupTask.objects.get()
    assert right["Location"] == task_url(task)
    assert task.get_secrets() == {"password": password}
    assert task.connector_settings == {
        "host": dovecot.host,
        "port": dovecot.port,
        "security": "none",
        "auth": "password",
        "username": user,
    }
    (entity,) = Entity.objects.filter(task=task)
    assert (entity.key, entity.email, entity.status) == (user, user, S.NOT_ACTIVE)
    page = alice.get(task_url(task)).content.decode()
    assert user in page and password not in page


class FakeImap:
    """Stands in for the IMAP connector: accepts one password."""

    def __init__(self, settings: Any, secrets: Any, save: Any = None) -> None:
        self.settings, self.secrets = settings, secrets

    def __enter__(self) -> FakeImap:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def check(self) -> None:
        from backstop.connectors.errors import AuthError

        if self.secrets.get("password") != "right":
            raise AuthError("LOGIN failed")

    def discover(self) -> Iterator[EntityInfo]:
        login = self.settings["username"]
        yield EntityInfo(login, login, login, "mailbox")


@pytest.fixture
def fake_imap(monkeypatch: pytest.MonkeyPatch) -> None:
    import backstop.backups.connections as connections

    real = connections.connector_class
    monkeypatch.setattr(connections, "connector_class", lambda s: FakeImap if s == "imap" else real(s))
    monkeypatch.setattr("backstop.backups.views.add.connector_class", connections.connector_class)

    def connector_for(task: BackupTask) -> FakeImap:
        return FakeImap(task.connector_settings, task.get_secrets())

    monkeypatch.setattr(connections, "connector_for", connector_for)


def test_imap_add_checks_the_password_then_discovers(personas: Personas, fake_imap: None) -> None:
    alice = personas.client(personas.alice)
    url = reverse("backup_add_imap", args=[personas.a.pk])
    wrong = alice.post(url, _imap_form(secret="wrong"))
    assert "refused this user name and password" in wrong.content.decode()
    assert not BackupTask.objects.exists()

    right = alice.post(url, _imap_form(secret="right"))
    task = BackupTask.objects.get()
    assert right["Location"] == task_url(task)
    assert task.get_secrets() == {"password": "right"}
    assert task.connector_settings["username"] == "sales@acme.test"
    assert task.source_tenant == "127.0.0.1" and task.created_by == personas.alice
    entity = Entity.objects.get(task=task)
    assert entity.status == S.NOT_ACTIVE and entity.kind == "mailbox"
    page = alice.get(task_url(task)).content.decode()
    assert "sales@acme.test" in page and "right" not in page.split("<main", 1)[1].split("</main>")[0].split()


def test_imap_reconnect_checks_the_new_password(personas: Personas, fake_imap: None) -> None:
    task = imap_task(personas, connected=False, disconnected_reason="LOGIN failed")
    alice = personas.client(personas.alice)
    url = task_url(task, "backup_task_reconnect")
    assert "refused" in alice.post(url, {"secret": "wrong"}).content.decode()
    task.refresh_from_db()
    assert not task.connected
    assert alice.post(url, {"secret": "right"})["Location"] == task_url(task)
    task.refresh_from_db()
    assert task.connected and task.get_secrets() == {"password": "right"}


@pytest.fixture
def consent_sandbox(settings: Any) -> Iterator[BoxSandbox]:
    sb = BoxSandbox().start()
    settings.BACKSTOP_SANDBOX = True
    settings.BACKSTOP_SANDBOX_BOX_URL = sb.url
    settings.BACKSTOP_BOX_CLIENT_ID = settings.BACKSTOP_BOX_CLIENT_SECRET = ""
    try:
        yield sb
    finally:
        sb.stop()


def _start_box(client: Client, personas: Personas, name: str = "Acme Box") -> dict[str, str]:
    response = client.post(reverse("backup_add_box", args=[personas.a.pk]), {"name": name})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path.endswith("/api/oauth2/authorize")
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def test_box_add_goes_through_consent_and_creates_the_task(
    personas: Personas, consent_sandbox: BoxSandbox
) -> None:
    st = consent_sandbox.state
    enterprise = st.enterprise("Acme Box Co")
    admin = st.admin(enterprise, "Ada Admin", login="ada@acme.test")
    st.user(enterprise, "Ben Box", login="ben@acme.test")
    alice = personas.client(personas.alice)
    query = _start_box(alice, personas)
    assert query["redirect_uri"].endswith("/backups/oauth/box/")
    code = st.issue_code(query["client_id"], admin, query["redirect_uri"])

    response = alice.get(reverse("backup_oauth_box"), {"code": code, "state": query["state"]})
    task = BackupTask.objects.get()
    assert response["Location"] == task_url(task)
    assert task.name == "Acme Box" and task.service == "box" and task.connected
    assert task.source_tenant == enterprise.id
    assert set(task.get_secrets()) >= {"access_token", "refresh_token"}
    assert set(Entity.objects.filter(task=task).values_list("email", flat=True)) == {
        "ada@acme.test",
        "ben@acme.test",
    }
    page = alice.get(task_url(task)).content.decode()
    assert task.get_secrets()["access_token"] not in page
    assert "Ben Box" in page


def test_box_consent_denied_goes_back_to_the_picker(personas: Personas, consent_sandbox: BoxSandbox) -> None:
    alice = personas.client(personas.alice)
    query = _start_box(alice, personas)
    response = alice.get(reverse("backup_oauth_box"), {"error": "access_denied", "state": query["state"]})
    assert response["Location"] == reverse("backup_add", args=[personas.a.pk])
    assert any("Box did not grant access" in m for m in messages_of(response))
    assert not BackupTask.objects.exists()


def test_box_callback_refuses_bad_expired_and_foreign_state(
    personas: Personas, consent_sandbox: BoxSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = personas.client(personas.alice)
    query = _start_box(alice, personas)
    url = reverse("backup_oauth_box")
    assert alice.get(url, {"code": "x", "state": query["state"] + "x"}).status_code == 404
    # Another person of the same account cannot finish Alice's sign-in.
    other = UserFactory()
    MembershipFactory(user=other, account=personas.a, role=Membership.Role.ADMIN)
    assert personas.client(other).get(url, {"code": "x", "state": query["state"]}).status_code == 404
    # Alice lost the right to add tasks meanwhile.
    alice_role = Membership.objects.filter(user=personas.alice)
    alice_role.update(role=Membership.Role.CUSTOM, operations=[perms.VIEW_TASKS])
    assert alice.get(url, {"code": "x", "state": query["state"]}).status_code == 403
    Membership.objects.filter(user=personas.alice).update(role=Membership.Role.ADMIN)
    monkeypatch.setattr("backstop.backups.oauth.STATE_MAX_AGE", -1)
    expired = alice.get(url, {"code": "x", "state": query["state"]})
    assert expired.status_code == 302
    assert any("more than 10 minutes" in m for m in messages_of(expired))
    assert not BackupTask.objects.exists()


def test_box_reconnect_keeps_the_task(personas: Personas, consent_sandbox: BoxSandbox) -> None:
    st = consent_sandbox.state
    admin = st.admin(st.enterprise("Acme Box Co"), "Ada Admin", login="ada@acme.test")
    task = create_task(personas.a, "box", "Acme Box", secrets={"access_token": "old"})
    BackupTask.objects.filter(pk=task.pk).update(connected=False, disconnected_reason="revoked")
    alice = personas.client(personas.alice)
    response = alice.post(task_url(task, "backup_task_reconnect"))
    query = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
    code = st.issue_code(query["client_id"], admin, query["redirect_uri"])
    back = alice.get(reverse("backup_oauth_box"), {"code": code, "state": query["state"]})
    assert back["Location"] == task_url(task)
    task.refresh_from_db()
    assert task.connected and task.get_secrets()["access_token"] != "old"
    assert BackupTask.objects.count() == 1


# -- the task page -----------------------------------------------------------------------------


def test_task_page_shows_header_settings_and_entities(personas: Personas) -> None:
    task = imap_task(personas, retention_days=90)
    with_entities(task, S.ACTIVE, S.PAUSED)
    page = personas.client(personas.alice).get(task_url(task)).content.decode()
    assert "Office mail" in page and "IMAP backup" in page and "Connected" in page
    assert personas.a.region_label in page
    assert "90 days" in page
    for text in ("Person 00", "p1@acme.test", "Active", "Paused", "Backup Now", "Discover now", "7 days"):
        assert text in page
    assert 'data-polling="off"' in page


def test_settings_are_saved_and_validated(personas: Personas) -> None:
    task = imap_task(personas)
    alice = personas.client(personas.alice)
    url = task_url(task, "backup_task_settings")
    form = {"auto_activate": "on", "archive_days": "30", "frequency": "weekly", "backup_hour": "5"}
    assert alice.post(url, form)["Location"] == task_url(task)
    task.refresh_from_db()
    assert (task.index_for_search, task.auto_activate, task.archive_days) == (False, True, 30)
    assert (task.frequency, task.backup_hour) == ("weekly", 5)
    bad = alice.post(url, {**form, "backup_hour": "24", "archive_days": "-1"})
    assert bad.status_code == 400
    task.refresh_from_db()
    assert task.backup_hour == 5 and task.archive_days == 30


def test_rename(personas: Personas) -> None:
    task = imap_task(personas)
    alice = personas.client(personas.alice)
    assert alice.post(task_url(task, "backup_task_rename"), {"name": "Sales"}).status_code == 302
    task.refresh_from_db()
    assert task.name == "Sales"
    assert alice.post(task_url(task, "backup_task_rename"), {"name": ""}).status_code == 400


def test_entity_actions_change_statuses_and_create_jobs(personas: Personas) -> None:
    task = imap_task(personas)
    a, b, c = with_entities(task, S.NOT_ACTIVE, S.NOT_ACTIVE, S.ACTIVE)
    alice = personas.client(personas.alice)
    url = task_url(task, "backup_entities_action")

    alice.post(url, {"action": "activate", "entity": [a.pk]})
    a.refresh_from_db()
    assert a.status == S.SCHEDULED

    response = alice.post(url, {"action": "backup", "entity": [b.pk, c.pk], "q": "Person", "status": ""})
    assert response["Location"] == task_url(task) + "?q=Person"
    jobs = Job.objects.filter(task=task)
    assert {j.entity_id for j in jobs} == {b.pk, c.pk}
    assert all(j.status == Job.Status.PENDING and j.initiator == personas.alice for j in jobs)

    alice.post(url, {"action": "pause", "entity": [c.pk]})
    c.refresh_from_db()
    assert c.status == S.PAUSED

    response = alice.post(url, {"action": "delete", "entity": [a.pk]})
    assert any("kept 7 days" in m for m in messages_of(response))
    a.refresh_from_db()
    assert a.deleted_at is not None
    assert "Person 00" not in alice.get(task_url(task)).content.decode()

    assert alice.post(url, {"action": "explode", "entity": [b.pk]}).status_code == 400


def test_backup_now_is_refused_while_disconnected(personas: Personas) -> None:
    task = imap_task(personas, connected=False)
    (entity,) = with_entities(task, S.ACTIVE)
    response = personas.client(personas.alice).post(
        task_url(task, "backup_entities_action"), {"action": "backup", "entity": [entity.pk]}
    )
    assert any("disconnected" in m for m in messages_of(response))
    assert not Job.objects.exists()


def test_table_fragment_filters_searches_and_polls_while_a_backup_runs(personas: Personas) -> None:
    task = imap_task(personas)
    entities = with_entities(task, *([S.NOT_ACTIVE] * 30), S.ACTIVE)
    alice = personas.client(personas.alice)
    htmx = {"HTTP_HX_REQUEST": "true"}

    fragment = alice.get(task_url(task), {"status": S.ACTIVE}, **htmx).content.decode()
    assert fragment.startswith('<div id="entity-table"') and "<html" not in fragment
    assert fragment.count('data-testid="entity-row"') == 1
    assert "Not Active<span" in fragment and ">30</span>" in fragment  # counts in the filter

    fragment = alice.get(task_url(task), {"q": "p7@"}, **htmx).content.decode()
    assert fragment.count('data-testid="entity-row"') == 1 and "Person 07" in fragment

    page = alice.get(task_url(task)).content.decode()
    assert page.count('data-testid="entity-row"') == 25 and "Page 1 of 2" in page
    assert 'data-polling="off"' in page

    job = Job.objects.create(
        account=personas.a, task=task, entity=entities[0], kind="backup", status="running", items_done=12
    )
    Job.objects.filter(pk=job.pk).update(bytes_done=2048)
    fragment = alice.get(task_url(task), {"q": "Person 00"}, **htmx).content.decode()
    assert 'hx-trigger="every 2s"' in fragment
    assert "12 items · 2.0\xa0KB so far" in fragment
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    assert 'data-polling="off"' in alice.get(task_url(task), **htmx).content.decode()


def test_discover_now(personas: Personas, fake_imap: None) -> None:
    task = imap_task(personas)
    response = personas.client(personas.alice).post(task_url(task, "backup_task_discover"))
    assert any("Discovery of mailboxes done: 1 new" in m for m in messages_of(response))
    assert Entity.objects.filter(task=task).count() == 1


def test_discover_failure_is_told(personas: Personas, monkeypatch: pytest.MonkeyPatch) -> None:
    from backstop.connectors.errors import Unavailable

    def fail(task: BackupTask) -> None:
        raise Unavailable("the server is down")

    monkeypatch.setattr("backstop.backups.services.discover", fail)
    task = imap_task(personas)
    response = personas.client(personas.alice).post(task_url(task, "backup_task_discover"))
    assert any("Listing the mailboxes failed" in m for m in messages_of(response))


def test_delete_task_with_grace(personas: Personas) -> None:
    task = imap_task(personas)
    alice = personas.client(personas.alice)
    confirm = alice.get(task_url(task, "backup_task_delete")).content.decode()
    assert "7 days" in confirm
    response = alice.post(task_url(task, "backup_task_delete"))
    assert response["Location"] == reverse("account_home", args=[personas.a.pk])
    task.refresh_from_db()
    assert task.deleted_at is not None
    home = alice.get(response["Location"]).content.decode()
    assert "was deleted. Its backups are kept 7 days" in home
    assert 'data-testid="task-card"' not in home
    assert alice.get(task_url(task)).status_code == 404


# -- permissions -------------------------------------------------------------------------------


def test_bob_without_activate_tasks_cannot_add(personas: Personas) -> None:
    bob = personas.client(personas.bob)
    for name in ("backup_add", "backup_add_imap", "backup_add_box"):
        assert bob.get(reverse(name, args=[personas.a.pk])).status_code == 403
    assert bob.post(reverse("backup_add_imap", args=[personas.a.pk]), _imap_form()).status_code == 403
    assert not BackupTask.objects.exists()


def test_custom_role_sees_read_only_settings_and_only_its_actions(personas: Personas) -> None:
    task = imap_task(personas)
    (entity,) = with_entities(task, S.ACTIVE)
    personas.bob_membership.operations = [perms.VIEW_TASKS, perms.PAUSE_TASKS]
    personas.bob_membership.save()
    bob = personas.client(personas.bob)
    page = bob.get(task_url(task)).content.decode()
    assert 'data-testid="action-pause"' in page
    assert 'data-testid="action-backup"' not in page and 'data-testid="save-settings"' not in page
    url = task_url(task, "backup_entities_action")
    assert bob.post(url, {"action": "backup", "entity": [entity.pk]}).status_code == 403
    assert bob.post(url, {"action": "delete", "entity": [entity.pk]}).status_code == 403
    assert bob.post(task_url(task, "backup_task_settings"), {"backup_hour": "3"}).status_code == 403
    assert bob.post(url, {"action": "pause", "entity": [entity.pk]}).status_code == 302
    entity.refresh_from_db()
    assert entity.status == S.PAUSED and entity.deleted_at is None and not Job.objects.exists()


def test_a_user_limited_to_other_services_does_not_see_a_box_task(personas: Personas) -> None:
    box = create_task(personas.a, "box", "Acme Box", secrets={"access_token": "t"})
    mail = imap_task(personas)
    dana = UserFactory(email="dana@acme.test")
    MembershipFactory(
        user=dana,
        account=personas.a,
        role=Membership.Role.CUSTOM,
        operations=[perms.VIEW_TASKS, perms.ACTIVATE_TASKS, perms.MODIFY_TASKS, perms.DELETE_TASKS],
        all_services=False,
        services=["imap"],
    )
    client = personas.client(dana)
    home = client.get(reverse("account_home", args=[personas.a.pk])).content.decode()
    assert "Office mail" in home and "Acme Box" not in home
    assert client.get(task_url(mail)).status_code == 200
    for name in ("backup_task", "backup_task_delete", "backup_task_reconnect"):
        assert client.get(task_url(box, name)).status_code == 404
    assert client.post(task_url(box, "backup_task_delete")).status_code == 404
    assert client.get(reverse("backup_add_box", args=[personas.a.pk])).status_code in (403, 404)
    picker = client.get(reverse("backup_add", args=[personas.a.pk])).content.decode()
    assert reverse("backup_add_box", args=[personas.a.pk]) not in picker


# -- the sandbox mount -------------------------------------------------------------------------


def test_wsgi_mount_serves_the_box_sandbox_beside_django(settings: Any) -> None:
    from werkzeug.test import Client as WsgiClient

    from backstop.sandbox.box import DEMO_CLIENT_ID
    from backstop.sandbox_mount import mount

    def django_app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"django " + environ["PATH_INFO"].encode()]

    settings.BACKSTOP_SANDBOX = False
    assert mount(django_app) is django_app
    settings.BACKSTOP_SANDBOX = True
    settings.BACKSTOP_SANDBOX_BOX_URL = "http://127.0.0.1:9/"  # a sandbox run elsewhere: no mount
    assert mount(django_app) is django_app
    settings.BACKSTOP_SANDBOX_BOX_URL = ""
    client = WsgiClient(mount(django_app))
    consent = client.get(
        "/sandbox/box/api/oauth2/authorize",
        query_string={"client_id": DEMO_CLIENT_ID, "redirect_uri": "http://x.test/cb", "state": "s"},
    )
    assert consent.status_code == 200
    page = consent.get_data(as_text=True)
    assert 'id="consent_accept"' in page and "(admin)" in page  # a seeded administrator to sign in as
    assert "/sandbox/box/api/oauth2/authorize" in page  # the form posts back under the prefix
    assert client.get("/a/1/").get_data() == b"django /a/1/"
