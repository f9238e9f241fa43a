"""The conformance harness for the Box connector: the Box emulator changed through its admin API.

The connector holds an admin's token and backs up Bob "as Bob" (As-User), like a real
enterprise task. `sleeps` records every wait the HTTP layer asked for; nothing really sleeps
unless a test says so.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

from backstop.connectors.base import EntityInfo
from backstop.connectors.box import BoxConnector
from backstop.connectors.http import RetryPolicy
from backstop.sandbox.box import BoxSandbox
from backstop.sandbox.box.store import Item as BoxItem
from backstop.sandbox.box.store import User

_tenants = itertools.count(1)

SEED = {
    "Documents/report.txt": b"quarterly report\n" * 40,
    "Documents/Projects/plan.txt": b"the plan\n" * 30,
    "Documents/Projects/Drafts/idea.txt": b"an idea\n" * 20,
    "Photos/cat.jpg": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
    "readme.txt": b"top level\n",
}


def settings_for(sandbox: BoxSandbox, tenant: str | None = None) -> dict[str, Any]:
    """Connector settings pointing every Box URL at the emulator; a tenant key of its own so
    that the shared rate limiter of one test does not slow another, and generous limits."""
    url = sandbox.url
    return {
        "api_base": url,
        "upload_base": url + "/api",
        "authorize_url": url + "/api/oauth2/authorize",
        "token_url": url + "/oauth2/token",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "redirect_uri": "http://localhost/box/callback",
        "tenant_key": tenant or f"box-test-{next(_tenants)}",
        "limits": {"rate": 10_000, "burst": 10_000, "concurrency": 16},
    }


class BoxHarness:
    def __init__(self, sandbox: BoxSandbox) -> None:
        self.sandbox = sandbox
        st = self.state = sandbox.state
        self.enterprise = st.enterprise("Conformance Inc")
        self.admin = st.admin(self.enterprise, "Ada Admin", login="ada@conformance.test")
        self.user = st.user(self.enterprise, "Bob Builder", login="bob@conformance.test")
        with st.quiet():
            for path, content in SEED.items():
                folder = self.ensure_folder(self.user, path.rpartition("/")[0])
                st.file(folder, path.rpartition("/")[2], content, content_modified_at="2024-05-01T10:00:00Z")
        token = st.issue_token(self.admin)
        self.secrets: dict[str, Any] = {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": time.time() + 3600,
        }
        self.saved: list[dict[str, Any]] = []
        self.sleeps: list[float] = []
        self.settings = settings_for(sandbox)

    # -- what the suite asks for

    def connector(
        self, sleep: Callable[[float], None] | None = None, policy: RetryPolicy | None = None
    ) -> BoxConnector:
        return BoxConnector(
            self.settings, self.secrets, self._save, sleep=sleep or self.sleeps.append, policy=policy
        )

    def _save(self, secrets: Mapping[str, Any]) -> None:
        self.secrets = dict(secrets)
        self.saved.append(dict(secrets))

    def entity(self) -> EntityInfo:
        return EntityInfo(self.user.id, self.user.name, self.user.login)

    def add_item(self, folder: str, name: str, content: bytes) -> None:
        self.state.file(self.find(folder), name, content)

    def change_content(self, path: str, content: bytes) -> None:
        self.state.new_version(self.find(path), content)

    def delete_item(self, path: str) -> None:
        self.state.delete(self.find(path))

    def rename_folder(self, old: str, new: str) -> None:
        folder = self.find(old)
        old_parent, _, _ = old.rpartition("/")
        new_parent, _, new_name = new.rpartition("/")
        if new_parent != old_parent:
            self.state.move(folder, self.find(new_parent))
        if new_name != folder.name:
            self.state.rename(folder, new_name)

    def revoke(self) -> None:
        self.state.revoke_user_tokens(self.admin)

    def read_back(self, folder: str) -> list[bytes]:
        return [
            child.current.blob.read() for child in self.children(self.find(folder)) if child.type == "file"
        ]

    # -- helpers for the Box tests

    def children(self, folder: BoxItem) -> list[BoxItem]:
        st = self.state
        with st.lock:
            return [st.items[c] for c in folder.children if not st.items[c].trashed]

    def find(self, path: str, user: User | None = None) -> BoxItem:
        """The live item at `path` below the user's root ("" is the root)."""
        item = self.state.root(user or self.user)
        for name in [p for p in path.split("/") if p]:
            matches = [c for c in self.children(item) if c.name == name]
            if not matches:
                raise KeyError(path)
            item = matches[0]
        return item

    def ensure_folder(self, user: User, path: str) -> BoxItem:
        item = self.state.root(user)
        for name in [p for p in path.split("/") if p]:
            matches = [c for c in self.children(item) if c.name == name and c.type == "folder"]
            item = matches[0] if matches else self.state.folder(item, name)
        return item
