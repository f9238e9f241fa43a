"""In-memory state of the Box emulator: enterprises, users, folders, files, versions, events,
OAuth apps, codes and tokens. One `State` per sandbox; every public method takes its lock, so
tests may call it while the server thread answers requests.

Ids are numeric strings like Box's. Each user's root folder is id "0" ("All Files") as seen by
that user; internally it is a `Folder` with its own id. Times have one-second resolution and are
rendered in Pacific time with an offset, like Box ("2012-12-12T10:53:43-08:00").
"""

from __future__ import annotations

import hashlib
import itertools
import random
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 60 * 24 * 3600
CODE_SECONDS = 30
DEFAULT_EVENT_RETENTION = 14 * 24 * 3600  # Box keeps user events for "two weeks to two months"


def iso(ts: float | None) -> str | None:
    """Box's time format: whole seconds, Pacific time, with the offset."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), PACIFIC).isoformat()


def parse_time(value: str | float | datetime | None) -> float | None:
    """ISO 8601 text (with an offset or Z), a datetime or a POSIX timestamp → timestamp."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(int(value))
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return float(int(dt.timestamp()))
    text = value.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return float(int(dt.timestamp()))


class SandboxError(Exception):
    """An API error: the app renders it as Box's JSON error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        context_info: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.context_info = context_info
        self.headers = headers or {}


class OAuthError(Exception):
    """An OAuth 2.0 error: {"error", "error_description"}, status 400 (401 for a bad client)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


# --- content --------------------------------------------------------------------------------


class Blob(Protocol):
    size: int

    @property
    def sha1(self) -> str: ...

    def read(self, start: int = 0, end: int | None = None) -> bytes: ...

    def chunks(self, start: int = 0, end: int | None = None, chunk: int = 1 << 20) -> Iterator[bytes]: ...


class BytesBlob:
    """Content held in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.size = len(self.data)
        self._sha1 = hashlib.sha1(self.data).hexdigest()

    @property
    def sha1(self) -> str:
        return self._sha1

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return self.data[start : self.size if end is None else end]

    def chunks(self, start: int = 0, end: int | None = None, chunk: int = 1 << 20) -> Iterator[bytes]:
        stop = self.size if end is None else end
        for pos in range(start, stop, chunk):
            yield self.data[pos : min(pos + chunk, stop)]


_WORDS = [
    "lorem", "ipsum", "backup", "report", "quarterly", "budget", "meeting", "notes", "the", "and",
    "projet", "données", "straße", "日本語", "résumé", "invoice", "draft", "final", "of", "to",
]  # fmt: skip
_CORPUS: bytes | None = None


def _corpus() -> bytes:
    """1 MiB of word-like text shared by every text blob (built once)."""
    global _CORPUS
    if _CORPUS is None:
        rnd = random.Random(0)
        parts: list[str] = []
        length = 0
        while length < (1 << 20) + (1 << 16):
            w = rnd.choice(_WORDS) + ("\n" if rnd.random() < 0.08 else " ")
            parts.append(w)
            length += len(w.encode())
        _CORPUS = "".join(parts).encode()
    return _CORPUS


class LazyBlob:
    """Content derived from a key (seed, file, version) on demand, so large or many files cost no
    memory: 64 KiB blocks of seeded random bytes, or with `text=True` slices of a shared word
    corpus at seeded offsets (compressible, like documents). Each block differs, so content does
    not deduplicate trivially. The SHA-1 is computed on first use and cached."""

    BLOCK = 1 << 16

    def __init__(self, key: str, size: int, text: bool = False) -> None:
        self.key = key
        self.size = size
        self.text = text
        self._sha1: str | None = None

    def _block(self, index: int, length: int) -> bytes:
        rnd = random.Random(f"{self.key}:{index}")
        if self.text:
            corpus = _corpus()
            start = rnd.randrange(len(corpus) - self.BLOCK)
            return corpus[start : start + length]
        return rnd.randbytes(length)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.chunks(start, end))

    def chunks(self, start: int = 0, end: int | None = None, chunk: int = 1 << 20) -> Iterator[bytes]:
        stop = self.size if end is None else min(end, self.size)
        pos = start
        while pos < stop:
            index, offset = divmod(pos, self.BLOCK)
            block_len = min(self.BLOCK, self.size - index * self.BLOCK)
            take = min(block_len - offset, stop - pos)
            yield self._block(index, block_len)[offset : offset + take]
            pos += take

    @property
    def sha1(self) -> str:
        if self._sha1 is None:
            h = hashlib.sha1()
            for part in self.chunks():
                h.update(part)
            self._sha1 = h.hexdigest()
        return self._sha1


# --- model ----------------------------------------------------------------------------------


@dataclass
class Enterprise:
    id: str
    name: str
    users: list[str] = field(default_factory=list)


@dataclass
class User:
    id: str
    name: str
    login: str
    enterprise_id: str
    role: str = "user"  # "admin", "coadmin", "user"
    password: str = "sandbox"
    status: str = "active"
    created_at: float = 0.0
    modified_at: float = 0.0
    root_id: str = ""
    space_amount: int = 10 * 1024**4
    language: str = "en"
    timezone: str = "America/Los_Angeles"
    job_title: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "coadmin")


@dataclass
class Version:
    id: str
    blob: Blob
    name: str
    created_at: float
    modified_at: float
    modified_by: str
    content_created_at: float | None = None
    content_modified_at: float | None = None


@dataclass
class Item:
    id: str
    type: Literal["file", "folder"]
    name: str
    owner_id: str
    parent_id: str | None  # None for a root
    created_at: float
    modified_at: float
    created_by: str
    modified_by: str
    content_created_at: float | None = None
    content_modified_at: float | None = None
    description: str = ""
    sequence_id: int = 0
    trashed_at: float | None = None
    trashed_by_parent: bool = False  # trashed because an ancestor folder was
    versions: list[Version] = field(default_factory=list)  # files: oldest first, last is current
    children: dict[str, None] = field(default_factory=dict)  # folders: child ids (ordered set)
    is_root: bool = False
    _sorted: list[str] | None = None

    @property
    def current(self) -> Version:
        return self.versions[-1]

    @property
    def trashed(self) -> bool:
        return self.trashed_at is not None


@dataclass
class Event:
    position: int
    event_id: str
    event_type: str
    created_at: float
    created_by: str
    source: dict[str, Any]


@dataclass
class App:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Backstop"


@dataclass
class Token:
    access_token: str
    refresh_token: str
    user_id: str
    client_id: str
    expires_at: float
    refresh_expires_at: float
    revoked: bool = False
    refresh_used: bool = False


@dataclass
class Code:
    code: str
    client_id: str
    user_id: str
    redirect_uri: str
    expires_at: float


DEMO_CLIENT_ID = "sandbox-demo-client"
DEMO_CLIENT_SECRET = "sandbox-demo-secret"


class State:
    """Everything the emulator knows. See the package docstring for the admin API."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.time_offset = 0.0
        self.enterprises: dict[str, Enterprise] = {}
        self.users: dict[str, User] = {}
        self.items: dict[str, Item] = {}
        self.apps: dict[str, App] = {}
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}  # by access token
        self.refresh: dict[str, Token] = {}  # by refresh token
        self.downloads: dict[str, tuple[str, str, float]] = {}  # dl token → file, version, expiry
        self.events: dict[str, list[Event]] = {}  # per user stream
        self.events_pruned_upto: dict[str, int] = {}
        self.event_retention = float(DEFAULT_EVENT_RETENTION)
        # What GET /events does with a stream_position older than the retained events. Neither
        # the OpenAPI spec nor Box's guides document an error for it: Box keeps user events in a
        # cache for a limited time and "0" means "from the first available event", so an expired
        # position silently resumes at the oldest retained event ("resume", the default, as Box).
        # A connector therefore has to notice an old cursor by its own age. For tests of that
        # fallback, "error" answers 400 bad_request with context_info.reason
        # "stream_position_expired" instead.
        self.expired_stream_position: Literal["resume", "error"] = "resume"
        self.recording = True
        self._position = itertools.count(1_000_000_000_001)
        self.last_position = 1_000_000_000_000
        self._ids = {
            "enterprise": itertools.count(500_001),
            "user": itertools.count(20_000_001),
            "folder": itertools.count(100_000_001),
            "file": itertools.count(1_000_000_001),
            "version": itertools.count(5_000_000_001),
        }
        self.register_app(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, [], name="Backstop (sandbox demo)")

    # --- time, ids ---------------------------------------------------------------------------

    def now(self) -> float:
        return float(int(time.time() + self.time_offset))

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (token and code expiry, event retention)."""
        with self.lock:
            self.time_offset += seconds

    def _id(self, kind: str) -> str:
        return str(next(self._ids[kind]))

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Changes made inside record no events (the seeded generator uses it)."""
        with self.lock:
            before = self.recording
            self.recording = False
            try:
                yield
            finally:
                self.recording = before

    # --- enterprises and users -----------------------------------------------------------------

    def enterprise(self, name: str = "Acme Sandbox") -> Enterprise:
        with self.lock:
            ent = Enterprise(self._id("enterprise"), name)
            self.enterprises[ent.id] = ent
            return ent

    def user(
        self,
        enterprise: Enterprise | str,
        name: str,
        login: str | None = None,
        role: str = "user",
        password: str = "sandbox",
    ) -> User:
        with self.lock:
            ent_id = enterprise.id if isinstance(enterprise, Enterprise) else enterprise
            now = self.now()
            uid = self._id("user")
            login = (
                login
                or name.lower().replace(" ", ".")
                + "@"
                + self.enterprises[ent_id].name.lower().replace(" ", "")
                + ".test"
            )
            user = User(uid, name, login, ent_id, role, password, created_at=now, modified_at=now)
            root = Item(
                self._id("folder"), "folder", "All Files", uid, None, now, now, uid, uid, is_root=True
            )
            self.items[root.id] = root
            user.root_id = root.id
            self.users[uid] = user
            self.enterprises[ent_id].users.append(uid)
            self.events[uid] = []
            return user

    def admin(self, enterprise: Enterprise | str, name: str = "Ada Admin", login: str | None = None) -> User:
        return self.user(enterprise, name, login, role="admin")

    def root(self, user: User | str) -> Item:
        with self.lock:
            return self.items[self._user(user).root_id]

    def _user(self, user: User | str) -> User:
        return user if isinstance(user, User) else self.users[user]

    # --- items ---------------------------------------------------------------------------------

    def get(self, item_id: str) -> Item:
        return self.items[item_id]

    def resolve(self, user: User, item_id: str, type_: str) -> Item:
        """The item as `user` addresses it through the API ("0" is their root); 404 if missing,
        trashed, of another type or not theirs."""
        if type_ == "folder" and item_id == "0":
            return self.items[user.root_id]
        item = self.items.get(item_id)
        if item is None or item.type != type_ or item.owner_id != user.id or item.is_root:
            raise SandboxError(
                404,
                "not_found",
                "Not Found",
                {
                    "errors": [
                        {
                            "reason": "invalid_parameter",
                            "name": type_,
                            "message": f"Invalid value '{type_[0]}_{item_id}'. "
                            f"'{type_}' with value '{type_[0]}_{item_id}' not found",
                        }
                    ]
                },
            )
        if item.trashed:
            raise SandboxError(
                404, "not_found", "Item is trashed"
            )  # Box says "trashed"; the spec has no such code
        return item

    def _parent(self, parent: Item | str | None, user: User | None) -> Item:
        if isinstance(parent, Item):
            return parent
        if parent is None or parent == "0":
            assert user is not None, "a user is needed to find folder 0"
            return self.items[user.root_id]
        return self.items[parent]

    def _check_name(self, parent: Item, name: str, exclude: str | None = None, upload: bool = False) -> None:
        """400 item_name_invalid, or 409 item_name_in_use (names are unique per folder, ignoring
        case) with the conflicting item in context_info.conflicts: an object for uploads, a list
        otherwise, as Box answers."""
        if (
            not name
            or name in (".", "..")
            or "/" in name
            or "\\" in name
            or len(name) > 255
            or name != name.strip()
        ):
            raise SandboxError(400, "item_name_invalid", "Item name invalid")
        lowered = name.lower()
        for cid in parent.children:
            child = self.items[cid]
            if cid != exclude and not child.trashed and child.name.lower() == lowered:
                raise SandboxError(
                    409,
                    "item_name_in_use",
                    "Item with the same name already exists",
                    {"conflicts": self.mini(child) if upload else [self.mini(child)]},
                )

    def _attach(self, item: Item, parent: Item) -> None:
        item.parent_id = parent.id
        parent.children[item.id] = None
        parent._sorted = None

    def _detach(self, item: Item) -> None:
        if item.parent_id is not None:
            parent = self.items[item.parent_id]
            parent.children.pop(item.id, None)
            parent._sorted = None

    def _touch(self, item: Item, actor: str) -> None:
        item.sequence_id += 1
        item.modified_at = self.now()
        item.modified_by = actor

    def folder(
        self,
        parent: Item | str | None,
        name: str,
        user: User | str | None = None,
        created_at: Any = None,
        actor: User | str | None = None,
    ) -> Item:
        """Create a folder. `parent` is a folder item or id; None or "0" with `user` is their root."""
        with self.lock:
            owner = self._user(user) if user is not None else None
            parent_item = self._parent(parent, owner)
            owner_id = parent_item.owner_id
            actor_id = self._user(actor).id if actor is not None else owner_id
            self._check_name(parent_item, name)
            now = self.now()
            created = parse_time(created_at) or now
            item = Item(self._id("folder"), "folder", name, owner_id, None, created, now, actor_id, actor_id)
            item.content_created_at = created
            item.content_modified_at = created
            self.items[item.id] = item
            self._attach(item, parent_item)
            self._event(item, "ITEM_CREATE", actor_id)
            return item

    def file(
        self,
        parent: Item | str | None,
        name: str,
        content: bytes | Blob = b"",
        user: User | str | None = None,
        content_created_at: Any = None,
        content_modified_at: Any = None,
        actor: User | str | None = None,
        description: str = "",
    ) -> Item:
        """Create (upload) a file. Content is bytes or a `Blob` (e.g. `LazyBlob`)."""
        with self.lock:
            owner = self._user(user) if user is not None else None
            parent_item = self._parent(parent, owner)
            owner_id = parent_item.owner_id
            actor_id = self._user(actor).id if actor is not None else owner_id
            self._check_name(parent_item, name, upload=True)
            now = self.now()
            blob = BytesBlob(content) if isinstance(content, bytes | bytearray) else content
            cmod = parse_time(content_modified_at) or now
            ccre = parse_time(content_created_at) or cmod
            item = Item(
                self._id("file"), "file", name, owner_id, None, now, now, actor_id, actor_id, ccre, cmod
            )
            item.description = description
            item.versions.append(Version(self._id("version"), blob, name, now, now, actor_id, ccre, cmod))
            self.items[item.id] = item
            self._attach(item, parent_item)
            self._event(item, "ITEM_UPLOAD", actor_id)
            return item

    def new_version(
        self,
        file: Item | str,
        content: bytes | Blob,
        content_modified_at: Any = None,
        name: str | None = None,
        actor: User | str | None = None,
    ) -> Item:
        """Upload a new version of a file (the old one stays listed by /versions)."""
        with self.lock:
            item = file if isinstance(file, Item) else self.items[file]
            actor_id = self._user(actor).id if actor is not None else item.owner_id
            if name is not None and name != item.name:
                self._check_name(self.items[item.parent_id or ""], name, exclude=item.id)
                item.name = name
            now = self.now()
            blob = BytesBlob(content) if isinstance(content, bytes | bytearray) else content
            cmod = parse_time(content_modified_at) or now
            item.versions.append(
                Version(
                    self._id("version"), blob, item.name, now, now, actor_id, item.content_created_at, cmod
                )
            )
            item.content_modified_at = cmod
            self._touch(item, actor_id)
            self._sort_dirty(item)
            self._event(item, "ITEM_UPLOAD", actor_id)
            return item

    def _sort_dirty(self, item: Item) -> None:
        if item.parent_id is not None:
            self.items[item.parent_id]._sorted = None

    def rename(self, item: Item | str, name: str, actor: User | str | None = None) -> Item:
        return self.update(item, name=name, actor=actor)

    def move(self, item: Item | str, parent: Item | str, actor: User | str | None = None) -> Item:
        return self.update(item, parent=parent, actor=actor)

    def update(
        self,
        item: Item | str,
        name: str | None = None,
        parent: Item | str | None = None,
        description: str | None = None,
        actor: User | str | None = None,
    ) -> Item:
        """PUT semantics: move and/or rename; records ITEM_MOVE then ITEM_RENAME."""
        with self.lock:
            it = item if isinstance(item, Item) else self.items[item]
            actor_id = self._user(actor).id if actor is not None else it.owner_id
            target = self._parent(parent, self.users[it.owner_id]) if parent is not None else None
            moving = target is not None and target.id != it.parent_id
            renaming = name is not None and name != it.name
            if moving and target is not None:
                if it.type == "folder":
                    walk: Item | None = target
                    while walk is not None:
                        if walk.id == it.id:
                            raise SandboxError(400, "bad_request", "Cannot move a folder into itself")
                        walk = self.items[walk.parent_id] if walk.parent_id else None
                self._check_name(target, name if renaming and name else it.name)
            elif renaming and name is not None:
                self._check_name(self.items[it.parent_id or ""], name, exclude=it.id)
            if moving and target is not None:
                self._detach(it)
                self._attach(it, target)
                self._touch(it, actor_id)
                if renaming and name is not None:
                    it.name = name
                self._event(it, "ITEM_MOVE", actor_id)
            if renaming and name is not None:
                it.name = name
                if not moving:
                    self._touch(it, actor_id)
                self._sort_dirty(it)
                self._event(it, "ITEM_RENAME", actor_id)
            if description is not None and description != it.description:
                it.description = description
                self._touch(it, actor_id)
            return it

    def delete(self, item: Item | str, recursive: bool = True, actor: User | str | None = None) -> Item:
        """Move to the trash (a folder with everything in it)."""
        with self.lock:
            it = item if isinstance(item, Item) else self.items[item]
            actor_id = self._user(actor).id if actor is not None else it.owner_id
            if it.is_root:
                raise SandboxError(
                    403, "access_denied_insufficient_permissions", "Cannot delete the root folder"
                )
            if it.type == "folder" and not recursive and any(not self.items[c].trashed for c in it.children):
                raise SandboxError(400, "folder_not_empty", "Cannot delete - folder not empty")
            now = self.now()
            it.trashed_at = now
            it.sequence_id += 1
            for sub in self._descendants(it):
                if sub.trashed_at is None:
                    sub.trashed_at = now
                    sub.trashed_by_parent = True
            self._sort_dirty(it)
            self._event(it, "ITEM_TRASH", actor_id)
            return it

    def restore(self, item: Item | str, actor: User | str | None = None) -> Item:
        """Restore from the trash into the original parent (the admin API; not served over HTTP)."""
        with self.lock:
            it = item if isinstance(item, Item) else self.items[item]
            actor_id = self._user(actor).id if actor is not None else it.owner_id
            parent = self.items[it.parent_id or ""]
            self._check_name(parent, it.name, exclude=it.id)
            it.trashed_at = None
            it.sequence_id += 1
            for sub in self._descendants(it):
                if sub.trashed_by_parent:
                    sub.trashed_at = None
                    sub.trashed_by_parent = False
            self._sort_dirty(it)
            self._event(it, "ITEM_UNDELETE_VIA_TRASH", actor_id)
            return it

    def copy(
        self, item: Item | str, parent: Item | str, name: str | None = None, actor: User | str | None = None
    ) -> Item:
        """Copy a file (current version) or a folder tree; records ITEM_COPY for the top item."""
        with self.lock:
            it = item if isinstance(item, Item) else self.items[item]
            actor_id = self._user(actor).id if actor is not None else it.owner_id
            target = self._parent(parent, self.users[it.owner_id])
            with self.quiet():
                new = self._copy(it, target, name or it.name, actor_id)
            self._event(new, "ITEM_COPY", actor_id)
            return new

    def _copy(self, it: Item, target: Item, name: str, actor_id: str) -> Item:
        if it.type == "file":
            cur = it.current
            return self.file(
                target, name, cur.blob, None, it.content_created_at, it.content_modified_at, actor_id
            )
        new = self.folder(target, name, actor=actor_id)
        for cid in list(it.children):
            child = self.items[cid]
            if not child.trashed:
                self._copy(child, new, child.name, actor_id)
        return new

    def _descendants(self, it: Item) -> Iterator[Item]:
        stack = list(it.children)
        while stack:
            sub = self.items[stack.pop()]
            yield sub
            stack.extend(sub.children)

    def children(self, folder: Item) -> list[Item]:
        """Live children in Box's default order: folders first, then by name, then id."""
        if folder._sorted is None:
            live = [self.items[c] for c in folder.children if not self.items[c].trashed]
            live.sort(key=lambda i: (i.type != "folder", i.name.lower(), int(i.id)))
            folder._sorted = [i.id for i in live]
        return [self.items[c] for c in folder._sorted]

    def folder_size(self, folder: Item) -> int:
        return sum(
            s.current.blob.size for s in self._descendants(folder) if s.type == "file" and not s.trashed
        )

    def path(self, item: Item) -> list[Item]:
        """Ancestors from the root down (excluding the item)."""
        chain: list[Item] = []
        walk = self.items[item.parent_id] if item.parent_id else None
        while walk is not None:
            chain.append(walk)
            walk = self.items[walk.parent_id] if walk.parent_id else None
        return list(reversed(chain))

    # --- JSON ----------------------------------------------------------------------------------

    def user_mini(self, user_id: str) -> dict[str, Any]:
        u = self.users[user_id]
        return {"type": "user", "id": u.id, "name": u.name, "login": u.login}

    def user_full(self, u: User) -> dict[str, Any]:
        return {
            "type": "user",
            "id": u.id,
            "name": u.name,
            "login": u.login,
            "created_at": iso(u.created_at),
            "modified_at": iso(u.modified_at),
            "language": u.language,
            "timezone": u.timezone,
            "space_amount": u.space_amount,
            "space_used": self.folder_size(self.items[u.root_id]),
            "max_upload_size": 5 * 1024**3,
            "status": u.status,
            "job_title": u.job_title,
            "phone": "",
            "address": "",
            "avatar_url": f"https://app.box.com/api/avatar/large/{u.id}",
            "role": u.role,
            "enterprise": {
                "type": "enterprise",
                "id": u.enterprise_id,
                "name": self.enterprises[u.enterprise_id].name,
            },
        }

    def mini(self, item: Item) -> dict[str, Any]:
        if item.is_root:
            return {"type": "folder", "id": "0", "sequence_id": None, "etag": None, "name": "All Files"}
        out: dict[str, Any] = {
            "type": item.type,
            "id": item.id,
            "sequence_id": str(item.sequence_id),
            "etag": str(item.sequence_id),
        }
        if item.type == "file":
            cur = item.current
            out["sha1"] = cur.blob.sha1
            out["file_version"] = {"type": "file_version", "id": cur.id, "sha1": cur.blob.sha1}
        out["name"] = item.name
        return out

    def full(self, item: Item) -> dict[str, Any]:
        """Every field the emulator knows, in Box's order; the app picks the requested ones."""
        out = self.mini(item)
        if item.trashed:
            path = [{"type": "folder", "id": "1", "sequence_id": None, "etag": None, "name": "Trash"}]
        else:
            path = [self.mini(p) for p in self.path(item)]
        owner = self.user_mini(item.owner_id)
        parent = self.mini(self.items[item.parent_id]) if item.parent_id else None
        common: dict[str, Any] = {
            "description": item.description,
            "size": item.current.blob.size if item.type == "file" else self.folder_size(item),
            "path_collection": {"total_count": len(path), "entries": path},
            "created_at": None if item.is_root else iso(item.created_at),
            "modified_at": None if item.is_root else iso(item.modified_at),
            "trashed_at": iso(item.trashed_at),
            "purged_at": None,
            "content_created_at": None if item.is_root else iso(item.content_created_at),
            "content_modified_at": None if item.is_root else iso(item.content_modified_at),
            "created_by": self.user_mini(item.created_by),
            "modified_by": self.user_mini(item.modified_by),
            "owned_by": owner,
            "parent": parent,
            "item_status": "trashed" if item.trashed else "active",
        }
        if item.type == "folder":
            # Box answers null for both; the spec allows null for a folder's shared_link only.
            common["shared_link"] = None
            common["folder_upload_email"] = None
        else:
            common["version_number"] = str(len(item.versions))
            common["extension"] = item.name.rsplit(".", 1)[1] if "." in item.name else ""
            common["comment_count"] = 0
        out.update(common)
        return out

    def version_json(self, file: Item, v: Version) -> dict[str, Any]:
        return {
            "type": "file_version",
            "id": v.id,
            "sha1": v.blob.sha1,
            "name": v.name,
            "size": v.blob.size,
            "created_at": iso(v.created_at),
            "modified_at": iso(v.modified_at),
            "modified_by": self.user_mini(v.modified_by),
            "trashed_at": None,
            "purged_at": None,
        }

    # --- events --------------------------------------------------------------------------------

    def _event(self, item: Item, event_type: str, actor_id: str) -> None:
        if not self.recording:
            return
        pos = next(self._position)
        self.last_position = pos
        ev = Event(
            pos,
            secrets.token_hex(20),
            event_type,
            self.now(),
            actor_id,
            self.full(item),
        )
        for uid in {item.owner_id, actor_id}:
            self.events.setdefault(uid, []).append(ev)

    def _prune(self, user_id: str) -> None:
        stream = self.events.get(user_id, [])
        horizon = self.now() - self.event_retention
        drop = 0
        while drop < len(stream) and stream[drop].created_at < horizon:
            drop += 1
        if drop:
            self.events_pruned_upto[user_id] = stream[drop - 1].position
            del stream[:drop]

    def read_events(self, user_id: str, position: str | None, limit: int) -> tuple[list[Event], int]:
        """(events, next_stream_position) of a user's stream from `position` ("now", "0", None or
        a previous next_stream_position)."""
        with self.lock:
            self._prune(user_id)
            if position == "now":
                return [], self.last_position + 1
            start = 0 if position in (None, "", "0") else int(position or 0)
            stream = self.events.get(user_id, [])
            expired = bool(start) and start <= self.events_pruned_upto.get(user_id, 0)
            if expired and self.expired_stream_position == "error":
                raise SandboxError(
                    400,
                    "bad_request",
                    "stream_position is older than the retained events",
                    {"reason": "stream_position_expired"},
                )
            out = [e for e in stream if e.position >= start][:limit]
            nxt = out[-1].position + 1 if out else (self.last_position + 1 if start == 0 else start)
            return out, nxt

    # --- OAuth ---------------------------------------------------------------------------------

    def register_app(
        self, client_id: str, client_secret: str, redirect_uris: list[str], name: str = "Backstop"
    ) -> App:
        """Register an OAuth client. An empty `redirect_uris` accepts any redirect URI."""
        with self.lock:
            app = App(client_id, client_secret, list(redirect_uris), name)
            self.apps[client_id] = app
            return app

    def issue_code(self, client_id: str, user: User | str, redirect_uri: str) -> str:
        with self.lock:
            code = secrets.token_urlsafe(24)
            self.codes[code] = Code(
                code, client_id, self._user(user).id, redirect_uri, self.now() + CODE_SECONDS
            )
            return code

    def issue_token(self, user: User | str, client_id: str = DEMO_CLIENT_ID) -> Token:
        """A fresh access + refresh token pair (tests may skip the consent screen with this)."""
        with self.lock:
            now = self.now()
            tok = Token(
                secrets.token_urlsafe(24),
                secrets.token_urlsafe(48),
                self._user(user).id,
                client_id,
                now + ACCESS_TOKEN_SECONDS,
                now + REFRESH_TOKEN_SECONDS,
            )
            self.tokens[tok.access_token] = tok
            self.refresh[tok.refresh_token] = tok
            return tok

    def _client(self, client_id: str, client_secret: str) -> App:
        app = self.apps.get(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, client_secret):
            raise OAuthError("invalid_client", "The client credentials are invalid")
        return app

    def exchange_code(self, code: str, client_id: str, client_secret: str, redirect_uri: str | None) -> Token:
        with self.lock:
            self._client(client_id, client_secret)
            entry = self.codes.pop(code, None)
            if entry is None or entry.expires_at < self.now() or entry.client_id != client_id:
                raise OAuthError("invalid_grant", "Auth code doesn't exist or is invalid for the client")
            if redirect_uri and entry.redirect_uri and redirect_uri != entry.redirect_uri:
                raise OAuthError(
                    "invalid_grant", "The redirect_uri does not match the one of the authorization request"
                )
            return self.issue_token(entry.user_id, client_id)

    def refresh_token(self, refresh_token: str, client_id: str, client_secret: str) -> Token:
        with self.lock:
            self._client(client_id, client_secret)
            old = self.refresh.get(refresh_token)
            if (
                old is None
                or old.refresh_used
                or old.revoked
                or old.refresh_expires_at < self.now()
                or old.client_id != client_id
            ):
                raise OAuthError("invalid_grant", "Invalid refresh token")
            old.refresh_used = True
            old.revoked = True  # Box invalidates the old access token too
            return self.issue_token(old.user_id, client_id)

    def revoke(self, token: str) -> None:
        """Revoke an access or refresh token (and its pair)."""
        with self.lock:
            tok = self.tokens.get(token) or self.refresh.get(token)
            if tok is not None:
                tok.revoked = True

    def revoke_user_tokens(self, user: User | str) -> int:
        """Invalidate every token of a user (e.g. a password reset by the admin)."""
        with self.lock:
            uid = self._user(user).id
            count = 0
            for tok in self.tokens.values():
                if tok.user_id == uid and not tok.revoked:
                    tok.revoked = True
                    count += 1
            return count

    def expire_access_tokens(self) -> int:
        """Every access token now answers 401; refresh tokens stay valid (the `revoke` fault)."""
        with self.lock:
            count = 0
            now = self.now()
            for tok in self.tokens.values():
                if tok.expires_at > now:
                    tok.expires_at = now - 1
                    count += 1
            return count

    def authenticate(self, access_token: str) -> User | None:
        with self.lock:
            tok = self.tokens.get(access_token)
            if tok is None or tok.revoked or tok.expires_at <= self.now():
                return None
            return self.users.get(tok.user_id)

    def download_url_token(self, file: Item, version: Version) -> str:
        with self.lock:
            key = secrets.token_urlsafe(24)
            self.downloads[key] = (file.id, version.id, self.now() + 900)
            return key

    def download(self, key: str) -> tuple[Item, Version] | None:
        with self.lock:
            entry = self.downloads.get(key)
            if entry is None or entry[2] < self.now():
                return None
            item = self.items[entry[0]]
            for v in item.versions:
                if v.id == entry[1]:
                    return item, v
            return None
