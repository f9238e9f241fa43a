"""A Box sandbox tenant wired to a backup task, for the pipeline and process tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from backstop.backups import runner
from backstop.backups.models import BackupTask, Entity, Job
from backstop.backups.services import backup_now, create_task, discover
from backstop.sandbox.box import BoxSandbox, Item, User, client_settings
from backstop.tenancy.models import Account


@dataclass
class BoxTenant:
    sb: BoxSandbox
    admin: User
    users: list[User]
    files: dict[str, list[Item]] = field(default_factory=dict)  # user login -> files

    @property
    def state(self) -> Any:
        return self.sb.state

    def connector_settings(self) -> dict[str, Any]:
        return client_settings(self.sb.url, "http://127.0.0.1/backups/oauth/box/")

    def secrets(self) -> dict[str, Any]:
        token = self.state.issue_token(self.admin)
        return {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": time.time() + 3000,
        }

    def task(self, account: Account, name: str = "Box backup") -> BackupTask:
        task = create_task(
            account,
            "box",
            name,
            connector_settings=self.connector_settings(),
            secrets=self.secrets(),
            source_tenant="box-sandbox",
        )
        discover(task)
        return task


def seed_tenant(sb: BoxSandbox, users: int = 2, files_per_user: int = 20, size: int = 3000) -> BoxTenant:
    st = sb.state
    ent = st.enterprise("Acme Sandbox")
    admin = st.admin(ent, "Ada Admin", login="ada@acme.test")
    tenant = BoxTenant(sb, admin, [])
    for u in range(users):
        user = st.user(ent, f"User {u}", login=f"user{u}@acme.test")
        tenant.users.append(user)
        docs = st.folder(None, "Documents", user=user)
        deep = st.folder(docs, "Projects ü", user=user)
        made = []
        for i in range(files_per_user):
            parent = docs if i % 2 else deep
            body = (f"user {u} file {i} ".encode() * size)[:size]
            made.append(st.file(parent, f"file-{i:03}.txt", body, content_modified_at="2026-01-02T03:04:05Z"))
        tenant.files[user.login] = made
    return tenant


@pytest.fixture
def box_sandbox() -> Iterator[BoxSandbox]:
    sb = BoxSandbox().start()
    try:
        yield sb
    finally:
        sb.stop()


def entity_of(task: BackupTask, user: User) -> Entity:
    return Entity.objects.get(task=task, key=str(user.id))


def backed_up(entity: Entity) -> Entity:
    """Backs the entity up now, in this process; fails the test unless it succeeds."""
    (job,) = backup_now([entity])
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    entity.refresh_from_db()
    return entity


def live_files(tenant: BoxTenant, login: str) -> dict[str, Item]:
    """Every live file of the user by path: the sandbox's own view."""
    st = tenant.state
    user = next(u for u in tenant.users if u.login == login)
    found: dict[str, Item] = {}

    def walk(folder: Item, prefix: str) -> None:
        for child in st.children(folder):
            if child.type == "folder":
                walk(child, f"{prefix}{child.name}/")
            else:
                found[f"{prefix}{child.name}"] = child

    walk(st.root(user), "")
    return found
