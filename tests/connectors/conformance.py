"""The conformance suite every connector passes against its source (Dovecot, the Box emulator).

A connector's test module provides a `harness` fixture (see `Harness`) and imports the tests:

    from tests.connectors.conformance import *  # noqa: F403

The suite plays the pipeline's part with `Mirror`: it applies the change feed to a dict of
known items, as the real pipeline does with the catalog, and checks what a user would notice:
every item arrives with its bytes, an unchanged source yields nothing new, additions, content
changes, deletions and folder renames are seen, a bad cursor falls back to a full listing, a
revoked grant raises AuthError, and restore puts the bytes back.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Protocol

import pytest

from backstop.connectors.base import (
    Change,
    Connector,
    Delete,
    DeleteFolder,
    EntityInfo,
    Folder,
    Item,
    KnownItem,
    NewCursor,
    RestoreItem,
    RestoreOptions,
    Upsert,
    read_all,
)
from backstop.connectors.errors import AuthError


class Harness(Protocol):
    """What a connector's tests give the suite: a connector and a way to change its source."""

    def connector(self) -> Connector: ...

    def entity(self) -> EntityInfo:
        """An entity seeded with at least three items in at least two folders (one nested)."""
        ...

    def add_item(self, folder: str, name: str, content: bytes) -> None:
        """A new item in `folder` (which exists); `name` is a hint (a subject, a file name)."""
        ...

    def change_content(self, path: str, content: bytes) -> None: ...

    def delete_item(self, path: str) -> None: ...

    def rename_folder(self, old: str, new: str) -> None: ...

    def revoke(self) -> None:
        """Make the connector's credentials invalid at the source."""
        ...

    def read_back(self, folder: str) -> list[bytes]:
        """The contents of the items now in `folder` at the source."""
        ...


def _content(connector: Connector, entity: EntityInfo, item: Item) -> bytes:
    return read_all(connector.open(entity, item))


class Mirror:
    """The pipeline's bookkeeping in miniature: key -> (item, sha256 of content)."""

    def __init__(self, connector: Connector, entity: EntityInfo) -> None:
        self.connector, self.entity = connector, entity
        self.items: dict[str, tuple[Item, str]] = {}
        self.cursor: str | None = None

    # Known protocol
    def get(self, key: str) -> KnownItem | None:
        found = self.items.get(key)
        if found is None:
            return None
        item = found[0]
        return KnownItem(item.path, item.version, item.content_version)

    def under(self, folder: str) -> Iterator[tuple[str, KnownItem]]:
        prefix = folder.rstrip("/") + "/" if folder else ""
        for key, (item, _) in list(self.items.items()):
            if item.path.startswith(prefix):
                yield key, KnownItem(item.path, item.version, item.content_version)

    def sync(self, cursor: str | None = "__own__") -> list[Change]:
        """One run; returns the changes that were news (a known version yielded again is not)."""
        use = self.cursor if cursor == "__own__" else cursor
        changes = list(self.connector.changes(self.entity, use, self))
        cursors = [c for c in changes if isinstance(c, NewCursor)]
        assert len(cursors) == 1 and isinstance(changes[-1], NewCursor), "exactly one NewCursor, last"
        news: list[Change] = []
        for change in changes[:-1]:
            if isinstance(change, Upsert):
                item = change.item
                old = self.items.get(item.key)
                if old is not None and old[0].version == item.version and old[0].path == item.path:
                    continue
                if old is not None and old[0].content_version == item.content_version:
                    digest = old[1]
                else:
                    digest = hashlib.sha256(_content(self.connector, self.entity, item)).hexdigest()
                self.items[item.key] = (item, digest)
                news.append(change)
            elif isinstance(change, Delete):
                if self.items.pop(change.key, None) is not None:
                    news.append(change)
            elif isinstance(change, DeleteFolder):
                prefix = change.path.rstrip("/") + "/"
                for key in [k for k, (i, _) in self.items.items() if i.path.startswith(prefix)]:
                    del self.items[key]
                news.append(change)
            elif isinstance(change, Folder):
                pass
        self.cursor = cursors[0].value
        return news

    def by_path(self) -> dict[str, tuple[Item, str]]:
        return {item.path: (item, digest) for item, digest in self.items.values()}

    def folders(self) -> set[str]:
        return {item.path.rsplit("/", 1)[0] for item, _ in self.items.values() if "/" in item.path}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mirror(harness: Harness) -> Iterator[Mirror]:
    connector = harness.connector()
    try:
        m = Mirror(connector, harness.entity())
        m.sync(None)
        yield m
    finally:
        connector.close()


def test_check_and_discover(harness: Harness) -> None:
    with harness.connector() as connector:
        connector.check()
        keys = {e.key for e in connector.discover()}
    assert harness.entity().key in keys


def test_full_listing_brings_every_item_with_unique_keys_and_paths(harness: Harness, mirror: Mirror) -> None:
    assert len(mirror.items) >= 3
    paths = [item.path for item, _ in mirror.items.values()]
    assert len(paths) == len(set(paths)), "two items share a path"
    assert any(path.count("/") >= 2 for path in paths), "the seed has a nested folder"
    for item, _ in mirror.items.values():
        assert item.path and not item.path.startswith("/") and "//" not in item.path
        assert item.size >= 0 and item.name and item.kind


def test_nothing_changed_means_no_news(harness: Harness, mirror: Mirror) -> None:
    assert mirror.sync() == []


def test_an_added_item_arrives_with_its_bytes(harness: Harness, mirror: Mirror) -> None:
    folder = sorted(mirror.folders())[0]
    before = set(mirror.items)
    body = b"conformance: a new item\r\n" * 50
    harness.add_item(folder, "conformance-new.txt", body)
    news = mirror.sync()
    added = [c for c in news if isinstance(c, Upsert)]
    assert len(added) == 1 and added[0].item.key not in before
    assert added[0].item.path.startswith(folder + "/")
    assert mirror.items[added[0].item.key][1] == _sha(body), "the content read back differs"


def test_changed_content_keeps_the_key_and_changes_content_version(harness: Harness, mirror: Mirror) -> None:
    path, (item, digest) = sorted(mirror.by_path().items())[0]
    changed = b"changed content " * 100
    harness.change_content(path, changed)
    news = [c for c in mirror.sync() if isinstance(c, Upsert)]
    assert news, "a content change was not seen"
    assert _sha(changed) in {d for _, d in mirror.items.values()}, "the new content was not read"
    # IMAP has no in-place content change: a replaced message is a new key and the old one goes.
    now = mirror.items.get(item.key)
    if now is not None:
        assert now[0].content_version != item.content_version and now[1] != digest


def test_a_deleted_item_is_gone(harness: Harness, mirror: Mirror) -> None:
    path, (item, _) = sorted(mirror.by_path().items())[-1]
    harness.delete_item(path)
    news = mirror.sync()
    assert item.key not in mirror.items
    assert any(isinstance(c, Delete | DeleteFolder) for c in news)


def test_a_renamed_folder_moves_its_items(harness: Harness, mirror: Mirror) -> None:
    folder = sorted(mirror.folders(), key=lambda f: (f.count("/"), f))[-1]
    inside = {item.content_version for item, _ in mirror.items.values() if item.path.startswith(folder + "/")}
    assert inside
    new = folder.rsplit("/", 1)[0] + "/Renamed by test" if "/" in folder else "Renamed by test"
    harness.rename_folder(folder, new)
    mirror.sync()
    paths = [item.path for item, _ in mirror.items.values()]
    assert not any(p.startswith(folder + "/") for p in paths)
    moved = {item.content_version for item, _ in mirror.items.values() if item.path.startswith(new + "/")}
    assert len(moved) == len(inside)


def test_a_bad_cursor_falls_back_to_a_full_listing(harness: Harness, mirror: Mirror) -> None:
    before = {key: item.version for key, (item, _) in mirror.items.items()}
    news = mirror.sync("not-a-cursor-this-source-ever-gave")
    assert news == [], "a full listing re-sent unchanged items as changed"
    assert {key: item.version for key, (item, _) in mirror.items.items()} == before


def test_revoked_credentials_raise_auth_error(harness: Harness, mirror: Mirror) -> None:
    harness.revoke()
    with harness.connector() as connector, pytest.raises(AuthError):
        connector.check()
        list(connector.changes(mirror.entity, mirror.cursor, mirror))


def test_restore_puts_the_bytes_back(harness: Harness, mirror: Mirror) -> None:
    path, (item, _digest) = sorted(mirror.by_path().items())[0]
    data = _content(mirror.connector, mirror.entity, item)
    folder = path.rsplit("/", 1)[0]
    target_folder = folder + "/Restored by conformance"
    target = target_folder + "/" + path.rsplit("/", 1)[1]
    results = list(
        mirror.connector.restore(
            mirror.entity, [RestoreItem(item, lambda: io.BytesIO(data), target)], RestoreOptions("new")
        )
    )
    assert [r.status for r in results] == ["restored"]
    assert data in harness.read_back(target_folder)
    # Bypass: the same item into the same place is skipped, nothing is duplicated.
    again = list(
        mirror.connector.restore(
            mirror.entity, [RestoreItem(item, lambda: io.BytesIO(data), target)], RestoreOptions("bypass")
        )
    )
    assert [r.status for r in again] == ["skipped"]
    assert harness.read_back(target_folder).count(data) == 1
