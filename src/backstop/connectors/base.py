"""The one interface every connector implements (a plain library: no Django).

A connector talks to one service for one backup task. The backup pipeline
(`backstop.backups.pipeline`) drives it:

1. `discover()` lists the entities (users, mailboxes) the task can protect.
2. `changes(entity, cursor, known)` yields what changed since `cursor`: `Upsert`, `Delete`,
   `Folder`, `DeleteFolder`, and last a `NewCursor` to save once the snapshot is committed.
   With no cursor, or one the source no longer honours, the connector lists everything;
   unchanged items still cost nothing to store, because the pipeline compares each item's
   `version` with what it already has (`known`) and the engine deduplicates content.
3. `open(entity, item)` returns the item's content as bytes, a binary stream or an iterable of
   bytes; the pipeline calls it only for items whose `content_version` changed.
4. `restore(entity, items, options)` writes items back to the service.

Paths are the item's place in the snapshot: `/`-separated names as the user knows them
("INBOX/Projects/42.eml", "Documents/report.pdf"); keys are the source's stable ids, unique
within the entity. A rename or move is an `Upsert` of the same key with a new path: the
pipeline removes the old path, looked up through `known`.

Changes are applied in the order they come. `open` may be called while `changes` is being
iterated; a connector is used from one thread, except that one declaring PARALLEL_OPEN has
`open` called from several threads at once.
`content_version` is compared per key only (and for a previous version, with the file it was
pushed aside from), never across unrelated keys.

Errors are raised as the classes in `errors.py`; see there for what each one makes the job do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, ClassVar, Literal, Protocol, Self

from backstop.connectors.errors import ItemError

Content = bytes | BinaryIO | Iterable[bytes]

# Optional capabilities a connector declares in `capabilities`.
VERSIONS = "versions"  # the source keeps versions of an item, and they are backed up
RESTORE_IN_PLACE = "restore_in_place"  # Replace / Bypass over a live item
RESTORE_AS_VERSION = "restore_as_version"  # restore as a new version of the live item
CHANGE_FEED = "change_feed"  # incremental through a source-side cursor (not only listing)
PARALLEL_OPEN = "parallel_open"  # `open` may run in several threads at once (downloads ahead)
BATCH_OPEN = "batch_open"  # `open_many` reads many items in one request (IMAP FETCH of a UID set)


def read_all(content: Content) -> bytes:
    """Content of any accepted shape as bytes (for small items only)."""
    if isinstance(content, bytes):
        return content
    if hasattr(content, "read"):
        return bytes(content.read())
    return b"".join(content)


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """One thing a task protects: a user, a mailbox."""

    key: str  # stable id at the source (Box user id, the IMAP login)
    name: str  # display name
    email: str = ""
    # "user", "mailbox". Exchange mailboxes without a licence are "unlicensed_mailbox",
    # "shared_mailbox" or "resource_mailbox": the partner usage report reads them so.
    kind: str = "user"
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Item:
    """One backed-up thing: a message, a file (one version of it)."""

    key: str  # stable id at the source, unique within the entity
    path: str  # place in the snapshot, "/"-separated, the last part is the item's own name
    version: str  # changes whenever content or metadata change
    content_version: str  # changes only when the content changes
    size: int
    kind: str  # "message", "file", "file_version"
    name: str  # what a person recognises: a subject, a file name
    modified: datetime | None = None
    author: str = ""  # sender, or owner / last modifier
    # Everything restore and search need: folder, flags, internal date, message-id, recipients,
    # sha1, source ids. JSON-safe values only (str, int, float, bool, None, lists, dicts).
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KnownItem:
    """What the last backup holds for a key."""

    path: str
    version: str
    content_version: str


class Known(Protocol):
    """The pipeline's view of the last backup, for connectors that need to compare (an IMAP
    folder without QRESYNC finds deleted messages by comparing its UIDs with the known ones)."""

    def get(self, key: str) -> KnownItem | None: ...

    def under(self, folder: str) -> Iterator[tuple[str, KnownItem]]:
        """Every known (key, item) whose path lies under `folder` ("" for all)."""
        ...


@dataclass(frozen=True, slots=True)
class Upsert:
    item: Item


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


@dataclass(frozen=True, slots=True)
class Folder:
    """A folder that exists (even empty), with metadata to keep (IMAP UIDVALIDITY, Box id)."""

    path: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeleteFolder:
    """A folder and everything under it is gone (or renamed: its items come again as Upserts).
    The whole subtree goes: where a source deletes a parent but keeps its children (IMAP can),
    the connector sends a Delete per item instead."""

    path: str


@dataclass(frozen=True, slots=True)
class NewCursor:
    """Always the last change: the cursor to save once the snapshot is committed."""

    value: str


Change = Upsert | Delete | Folder | DeleteFolder | NewCursor


@dataclass(frozen=True, slots=True)
class RestoreItem:
    """One item to write back. `open` gives its content from the repository."""

    item: Item
    open: Callable[[], BinaryIO]
    target_path: str  # where it goes in the target entity (folder path + name)


@dataclass(frozen=True, slots=True)
class RestoreOptions:
    # new: beside what exists (a new item, or a new version when the service keeps versions and
    # `as_version` is set); replace: overwrite the live item; bypass: skip items that exist.
    mode: Literal["new", "replace", "bypass"] = "new"
    as_version: bool = False


@dataclass(frozen=True, slots=True)
class RestoreResult:
    key: str  # the backed-up item's key
    status: Literal["restored", "skipped", "failed"]
    message: str = ""
    new_key: str = ""  # the item's key at the source after restore, when known


# Persist refreshed credentials (an OAuth refresh gives a new refresh token): the connector calls
# it with the full new secrets, the caller encrypts and stores them.
SaveSecrets = Callable[[Mapping[str, Any]], None]


class Connector(ABC):
    """One task's connection to one service."""

    service: ClassVar[str]  # the service code (tenancy.permissions.SERVICES)
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        save_secrets: SaveSecrets | None = None,
    ) -> None:
        """`settings` are plain (host, port, API base URL); `secrets` are stored encrypted
        (passwords, tokens)."""
        self.settings = dict(settings)
        self.secrets = dict(secrets)
        self._save_secrets = save_secrets

    def save_secrets(self, secrets: Mapping[str, Any]) -> None:
        self.secrets = dict(secrets)
        if self._save_secrets is not None:
            self._save_secrets(self.secrets)

    @abstractmethod
    def check(self) -> None:
        """Verify the credentials with one cheap call; raise AuthError when refused."""

    @abstractmethod
    def discover(self) -> Iterator[EntityInfo]:
        """The entities this task can protect."""

    @abstractmethod
    def changes(self, entity: EntityInfo, cursor: str | None, known: Known) -> Iterator[Change]:
        """What changed since `cursor` (None: everything). Ends with exactly one NewCursor."""

    @abstractmethod
    def open(self, entity: EntityInfo, item: Item) -> Content:
        """The content of `item` as it is now at the source."""

    def open_many(self, entity: EntityInfo, items: list[Item]) -> dict[str, bytes | Exception]:
        """The contents of several items, by key; an item that cannot be read maps to its
        ItemError. Connectors declaring BATCH_OPEN read them in few requests; this default
        opens them one by one. Errors about the whole source (AuthError...) still raise."""
        out: dict[str, bytes | Exception] = {}
        for item in items:
            try:
                out[item.key] = read_all(self.open(entity, item))
            except ItemError as exc:
                out[item.key] = exc
        return out

    @abstractmethod
    def restore(
        self, entity: EntityInfo, items: Iterable[RestoreItem], options: RestoreOptions
    ) -> Iterator[RestoreResult]:
        """Write items back; one result per item, in order. Per-item failures are results
        (status "failed"), not exceptions; AuthError and the like still raise."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
