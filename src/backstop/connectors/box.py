"""Box (S-BOX): every user's files, their previous versions and folders, through the Box API v2.0.

Authentication is OAuth 2.0 (authorization code): `authorization_url()` sends the admin to Box's
consent screen, `exchange_code()` turns the code into secrets {access_token, refresh_token,
expires_at}. The connector refreshes the access token when it has expired or on a 401; Box rotates
refresh tokens, so every refresh is persisted at once through `save_secrets`. A refresh Box
refuses (invalid_grant: revoked, expired, user gone) is an `AuthError`: the task is Disconnected.

Entities are users. With an admin's (or co-admin's) token `discover()` lists the enterprise's
users and every call for an entity is made *as that user* (the `As-User` header), so one user's
backup sees exactly that user's tree; with a plain user's token the only entity is that user.

Items and keys
- A file is an `Item(kind="file")` keyed by its Box file id, at the path of its folders' names
  below "All Files" plus its name ("Docs/Q3/report.pdf"). `version` changes with the file version
  id, name, parent and modified_at (metadata), `content_version` is the sha1 (content).
- Previous versions are items of their own, `kind="file_version"`, key "{file id}@{version id}",
  at the path "{file's path}@v{version id}" (a sibling of the file, not a folder, so that the
  snapshot's folders stay the user's folders). They carry `meta["version_of"]` (the file id) and
  `meta["name"]` (the file's name in that version), and the current item lists them newest first
  in `meta["versions"]`. Their content is downloaded once (`content_version` is the sha1 and never
  changes); a restore of such an item writes the old content back under the file's name (as a new
  version of the live file, or beside it), which is how an older version is brought back.
  Versions are asked for (`GET /files/{id}/versions`) only for files whose `version_number` is
  above 1, so a file never re-uploaded costs no extra call.

Change feed
- The cursor is JSON: {"stream_position", "taken_at", "folders": {folder id: path}}. The folder
  map is there because a renamed, moved or trashed folder comes as one event about the folder:
  its old path, needed to find what the backup holds under it, is nowhere else (`Known` only
  answers by path).
- No cursor, one that does not parse, one older than `cursor_max_age` (Box keeps events for two
  weeks at least, and silently resumes from its oldest event when a position is older, which
  would lose changes) or one Box refuses (HTTP 400) → a full listing: the stream position is
  taken first (`stream_position=now`), then the tree is walked from folder 0 (marker paging, 1000
  per page), then every known key not seen is deleted. Unchanged files come with unchanged
  versions, so a fallback listing costs no content.
- Incremental: `GET /events?stream_type=changes` from the position until a page is empty. Every
  file named by an event is fetched once (its current state, path from `path_collection`): alive →
  Upserts (file and versions; known versions no longer listed are deleted), gone or trashed →
  Delete of the file and its versions. A folder created, renamed, moved, restored or copied is
  walked at its new path (Upserts of the same keys with new paths: the pipeline moves them);
  for a folder moved, renamed or trashed, known keys under its old path not seen again are
  deleted and the old path gets a `DeleteFolder` (unless a live folder now has that path).

Content and errors
- `open()` streams `GET /files/{id}/content?version={file version id}` (pinned to the version
  listed, following Box's 302 to the download host; a dropped download resumes with Range).
- Per item: 404/403 and other refusals, and a download that keeps failing with 5xx or dropped
  connections after the HTTP layer's retries, are `ItemError` (that item is retried next run).
  Five such failures in a row mean the source, not the items, is failing: `Unavailable`.
  `Throttled` always propagates: a throttle is about the whole source, and the job should wait
  rather than burn through every remaining item. `AuthError` propagates.
- Restore uploads to the target folder (created as needed, an existing one is reused), keeping
  the name and `content_modified_at`/`content_created_at`. On a name clash: bypass → skipped;
  replace, or `as_version` → a new version of the live file (Box's own way to overwrite: the
  replaced content stays as a version); new → "name (restored YYYY-MM-DD).ext".

Settings: api_base, upload_base, authorize_url, token_url, client_id, client_secret (or secret),
redirect_uri; optionally tenant_key (the scope of the shared rate limiter, default the client id),
limits ({rate, burst, concurrency}), retry (RetryPolicy fields), cursor_max_age (seconds, default 13 days).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlencode

import httpx

from backstop.connectors import limits
from backstop.connectors.base import (
    CHANGE_FEED,
    PARALLEL_OPEN,
    RESTORE_AS_VERSION,
    RESTORE_IN_PLACE,
    VERSIONS,
    Change,
    Connector,
    Content,
    Delete,
    DeleteFolder,
    EntityInfo,
    Folder,
    Item,
    Known,
    NewCursor,
    RestoreItem,
    RestoreOptions,
    RestoreResult,
    SaveSecrets,
    Upsert,
)
from backstop.connectors.errors import AuthError, ItemError, SourceError, Throttled, Unavailable
from backstop.connectors.http import HttpClient, HttpStatusError, RetryPolicy

SERVICE = "box"

DEFAULT_SETTINGS: dict[str, Any] = {
    "api_base": "https://api.box.com",
    "upload_base": "https://upload.box.com/api",
    "authorize_url": "https://account.box.com/api/oauth2/authorize",
    "token_url": "https://api.box.com/oauth2/token",
    "cursor_max_age": 13 * 24 * 3600,
}

FILE_FIELDS = ",".join(
    [
        "type", "id", "name", "size", "sha1", "file_version", "version_number", "parent",
        "path_collection", "created_at", "modified_at", "content_created_at", "content_modified_at",
        "modified_by", "owned_by", "item_status",
    ]
)  # fmt: skip
# A folder listing: the same without path_collection (the walk knows the path).
ITEM_FIELDS = FILE_FIELDS.replace(",path_collection", "")
FOLDER_FIELDS = "type,id,name,parent,path_collection,item_status"
VERSION_FIELDS = "type,id,sha1,name,size,created_at,modified_at,modified_by,trashed_at,version_number"
USER_FIELDS = "type,id,name,login,status,role,enterprise"

# Events about a folder that change where its items are.
FOLDER_EVENTS = frozenset(
    {"ITEM_CREATE", "ITEM_MOVE", "ITEM_RENAME", "ITEM_TRASH", "ITEM_UNDELETE_VIA_TRASH", "ITEM_COPY"}
)
ADMIN_ROLES = frozenset({"admin", "coadmin"})
PAGE = 1000
EVENTS_PAGE = 500
REFRESH_MARGIN = 60.0  # refresh this long before the access token expires
FAILURES_BEFORE_UNAVAILABLE = 5
VERSION_MARK = "@v"


# -- settings and OAuth


def _config(settings: Mapping[str, Any]) -> dict[str, Any]:
    cfg = {**DEFAULT_SETTINGS, **{k: v for k, v in settings.items() if v not in (None, "")}}
    if not cfg.get("client_secret") and cfg.get("secret"):
        cfg["client_secret"] = cfg["secret"]
    return cfg


def authorization_url(settings: Mapping[str, Any], state: str) -> str:
    """Where to send the admin to grant access (Box's consent screen)."""
    cfg = _config(settings)
    query = {"response_type": "code", "client_id": cfg.get("client_id", ""), "state": state}
    if cfg.get("redirect_uri"):
        query["redirect_uri"] = cfg["redirect_uri"]
    return f"{cfg['authorize_url']}?{urlencode(query)}"


def _token_call(
    cfg: Mapping[str, Any], form: Mapping[str, str], http: HttpClient | None = None
) -> dict[str, Any]:
    """POST the token endpoint; Box's refusals (400 invalid_grant, 401 invalid_client) are
    AuthError. Not repeated once sent: codes and refresh tokens are single-use."""
    own = http is None
    client = http or HttpClient()
    try:
        body = client.json(
            "POST",
            cfg["token_url"],
            data={
                **form,
                "client_id": cfg.get("client_id", ""),
                "client_secret": cfg.get("client_secret", ""),
            },
            authenticate=False,
            retry_safe=False,
        )
    except HttpStatusError as exc:
        if exc.status in (400, 401, 403):
            raise AuthError(f"Box refused the grant: {exc.code or exc.status}") from exc
        raise
    finally:
        if own:
            client.close()
    if not isinstance(body, dict) or not body.get("access_token"):
        raise SourceError("Box's token endpoint answered without an access token")
    return {
        "access_token": body["access_token"],
        "refresh_token": body.get("refresh_token", form.get("refresh_token", "")),
        "expires_at": time.time() + float(body.get("expires_in") or 3600),
    }


def exchange_code(
    settings: Mapping[str, Any], code: str, *, http: HttpClient | None = None
) -> dict[str, Any]:
    """The secrets {access_token, refresh_token, expires_at} for an authorization code."""
    cfg = _config(settings)
    form = {"grant_type": "authorization_code", "code": code}
    if cfg.get("redirect_uri"):
        form["redirect_uri"] = cfg["redirect_uri"]
    return _token_call(cfg, form, http)


# -- small helpers


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _login(user: Any) -> str:
    if isinstance(user, dict):
        return str(user.get("login") or user.get("name") or "")
    return ""


def _folder_path(path_collection: Any) -> str:
    entries = (path_collection or {}).get("entries") or []
    return "/".join(str(e.get("name", "")) for e in entries if str(e.get("id")) != "0")


def _conflict_id(error: HttpStatusError, kind: str) -> tuple[str, str] | None:
    """(id, type) of the item a 409 clashed with; `kind` is preferred when several are given."""
    body = error.body if isinstance(error.body, dict) else {}
    conflicts = (body.get("context_info") or {}).get("conflicts")
    if isinstance(conflicts, dict):
        conflicts = [conflicts]
    found = [c for c in conflicts or [] if isinstance(c, dict) and c.get("id")]
    found.sort(key=lambda c: c.get("type") != kind)
    return (str(found[0]["id"]), str(found[0].get("type", ""))) if found else None


def restored_name(name: str, day: str, n: int = 1) -> str:
    """ "report.pdf" → "report (restored 2025-01-31).pdf" (then "… 2)", "… 3)")."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    label = f"restored {day}" + (f" {n}" if n > 1 else "")
    return f"{stem} ({label}){dot}{ext}"


def _version_order(version: Mapping[str, Any]) -> tuple[datetime, int]:
    """Oldest first: by creation time (parsed: Box's offsets change with daylight saving), then
    by id (Box's ids grow)."""
    created = _time(version.get("created_at")) or datetime.min.replace(tzinfo=UTC)
    vid = str(version.get("id") or "")
    return created, int(vid) if vid.isdigit() else 0


class _Gone(Exception):
    """The file or folder asked for is not there (404) or is in the trash."""


class BoxConnector(Connector):
    service = SERVICE
    capabilities = frozenset({VERSIONS, RESTORE_IN_PLACE, RESTORE_AS_VERSION, CHANGE_FEED, PARALLEL_OPEN})

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        save_secrets: SaveSecrets | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(settings, secrets, save_secrets)
        self.cfg = _config(self.settings)
        self.api = self.cfg["api_base"].rstrip("/") + "/2.0"
        self.upload_api = self.cfg["upload_base"].rstrip("/") + "/2.0"
        tenant = str(self.cfg.get("tenant_key") or self.cfg.get("client_id") or self.api)
        self.limiter = limits.for_source(SERVICE, tenant, self.cfg.get("limits"))
        if policy is None and isinstance(self.cfg.get("retry"), Mapping):
            policy = RetryPolicy(**self.cfg["retry"])  # e.g. {"max_attempts": 3, "base": 0.1}
        self.http = HttpClient(
            headers={"User-Agent": "Backstop"},
            policy=policy,
            limiter=self.limiter,
            auth=self._auth_headers,
            on_unauthorized=self._on_unauthorized,
            sleep=sleep,
            transport=transport,
        )
        self._lock = threading.RLock()
        self._me: dict[str, Any] | None = None
        self._failures = 0  # downloads failed in a row

    def close(self) -> None:
        self.http.close()

    # -- tokens

    def _auth_headers(self) -> dict[str, str]:
        with self._lock:
            expires_at = self.secrets.get("expires_at")
            if (
                expires_at is not None
                and self.secrets.get("refresh_token")
                and float(expires_at) - REFRESH_MARGIN <= time.time()
            ):
                self._refresh()
            return {"Authorization": f"Bearer {self.secrets.get('access_token', '')}"}

    def _on_unauthorized(self, request: httpx.Request) -> bool:
        with self._lock:
            used = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if used != self.secrets.get("access_token"):
                return True  # another thread has refreshed meanwhile
            if not self.secrets.get("refresh_token"):
                return False
            self._refresh()
            return True

    def _refresh(self) -> None:
        form = {"grant_type": "refresh_token", "refresh_token": str(self.secrets.get("refresh_token", ""))}
        fresh = _token_call(self.cfg, form, self.http)
        self.save_secrets({**self.secrets, **fresh})

    # -- calls

    def _get(self, entity: EntityInfo | None, path: str, **params: Any) -> Any:
        return self.http.json("GET", self.api + path, params=params, headers=self._as(entity))

    def _as(self, entity: EntityInfo | None) -> dict[str, str]:
        if entity is None or entity.key == self._whoami()["id"]:
            return {}
        return {"As-User": entity.key}

    def _whoami(self) -> dict[str, Any]:
        if self._me is None:
            me = self.http.json("GET", self.api + "/users/me", params={"fields": USER_FIELDS})
            if not isinstance(me, dict) or not me.get("id"):
                raise SourceError("Box did not say who the token belongs to")
            me["id"] = str(me["id"])
            self._me = me
        return self._me

    def _paged(
        self, entity: EntityInfo | None, path: str, params: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Entries of a collection, marker paging (offset paging when Box gives no marker)."""
        query: dict[str, Any] = {**params, "usemarker": "true", "limit": PAGE}
        offset = 0
        while True:
            body = self._get(entity, path, **query)
            entries = body.get("entries") or []
            yield from entries
            marker = body.get("next_marker")
            if marker:
                query["marker"] = marker
                continue
            if "total_count" in body and "next_marker" not in body and entries:
                offset += len(entries)
                if offset < int(body["total_count"]):
                    query.pop("usemarker", None)
                    query["offset"] = offset
                    continue
            return

    # -- the interface

    def check(self) -> None:
        self._me = None
        self._whoami()

    def tenant(self) -> str:
        """The Box enterprise the grant belongs to, else its user: limits count per tenant."""
        me = self._whoami()
        enterprise = me.get("enterprise") or {}
        return str(enterprise.get("id") or me["id"])

    def discover(self) -> Iterator[EntityInfo]:
        self._me = None
        me = self._whoami()
        if me.get("role") in ADMIN_ROLES:
            try:
                users = list(self._paged(None, "/users", {"fields": USER_FIELDS, "user_type": "managed"}))
            except HttpStatusError as exc:
                if exc.status != 403:
                    raise
            else:
                for user in users:
                    yield self._entity(user)
                return
        yield self._entity(me)

    @staticmethod
    def _entity(user: Mapping[str, Any]) -> EntityInfo:
        login = str(user.get("login") or "")
        extra = {k: user[k] for k in ("status", "role") if user.get(k) is not None}
        return EntityInfo(str(user["id"]), str(user.get("name") or login), login, "user", extra)

    def changes(self, entity: EntityInfo, cursor: str | None, known: Known) -> Iterator[Change]:
        state = self._parse_cursor(cursor)
        if state is not None:
            try:
                events, position = self._read_events(entity, state["stream_position"])
            except HttpStatusError as exc:
                if exc.status not in (400, 404, 410):
                    raise
                state = None  # Box refuses the position: list everything
        if state is None:
            yield from self._full_listing(entity, known)
            return
        yield from self._incremental(entity, events, position, state["folders"], known)

    def _parse_cursor(self, cursor: str | None) -> dict[str, Any] | None:
        if not cursor:
            return None
        try:
            state = json.loads(cursor)
        except ValueError:
            return None
        if not isinstance(state, dict):
            return None
        position, folders, taken_at = (
            state.get("stream_position"),
            state.get("folders"),
            state.get("taken_at"),
        )
        if not isinstance(position, str | int) or not str(position).isdigit() or str(position) == "0":
            return None
        if not isinstance(folders, dict) or not isinstance(taken_at, int | float):
            return None
        if time.time() - float(taken_at) > float(self.cfg["cursor_max_age"]):
            return None  # older than Box keeps events: Box would skip what it has dropped
        return {"stream_position": str(position), "folders": {str(k): str(v) for k, v in folders.items()}}

    def _cursor(self, position: str, taken_at: float, folders: Mapping[str, str]) -> NewCursor:
        return NewCursor(
            json.dumps(
                {"stream_position": position, "taken_at": int(taken_at), "folders": dict(folders)},
                ensure_ascii=False,
                sort_keys=True,
            )
        )

    def _read_events(self, entity: EntityInfo, position: str) -> tuple[list[dict[str, Any]], str]:
        events: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            body = self._get(
                entity, "/events", stream_position=position, stream_type="changes", limit=EVENTS_PAGE
            )
            entries = body.get("entries") or []
            nxt = str(body.get("next_stream_position") or position)
            for event in entries:
                event_id = str(event.get("event_id") or "")
                if event_id and event_id in seen:
                    continue  # Box may deliver an event twice
                seen.add(event_id)
                events.append(event)
            if not entries or int(body.get("chunk_size") or 0) == 0 or nxt == position:
                return events, nxt
            position = nxt

    # -- full listing

    def _full_listing(self, entity: EntityInfo, known: Known) -> Iterator[Change]:
        taken_at = time.time()
        body = self._get(entity, "/events", stream_position="now", stream_type="changes")
        position = str(body.get("next_stream_position"))
        folders: dict[str, str] = {}
        seen: set[str] = set()
        yield from self._walk(entity, "0", "", folders, seen)
        for key, _ in list(known.under("")):
            if key not in seen:
                yield Delete(key)
        yield self._cursor(position, taken_at, folders)

    def _walk(
        self, entity: EntityInfo, folder_id: str, path: str, folders: dict[str, str], seen: set[str]
    ) -> Iterator[Change]:
        """The subtree of `folder_id` (at `path`): Folders and the Upserts of its files."""
        stack = [(folder_id, path)]
        while stack:
            fid, fpath = stack.pop()
            try:
                entries = list(self._paged(entity, f"/folders/{fid}/items", {"fields": ITEM_FIELDS}))
            except HttpStatusError as exc:
                if exc.status == 404:
                    continue  # gone while we walked: the next run's events say so
                raise
            subfolders = []
            for entry in entries:
                kind, name = entry.get("type"), str(entry.get("name", ""))
                if kind == "folder":
                    sub = _join(fpath, name)
                    folders[str(entry["id"])] = sub
                    yield Folder(sub, {"id": str(entry["id"])})
                    subfolders.append((str(entry["id"]), sub))
                elif kind == "file":
                    yield from self._file_changes(entity, entry, fpath, seen, None)
            stack.extend(reversed(subfolders))

    # -- items

    def _file_changes(
        self,
        entity: EntityInfo,
        file: Mapping[str, Any],
        folder: str,
        seen: set[str],
        known: Known | None,
    ) -> Iterator[Change]:
        """Upserts of a file and its previous versions; with `known`, Deletes of known versions
        that Box no longer keeps."""
        file_id = str(file["id"])
        path = _join(folder, str(file.get("name", "")))
        versions: list[Item] = []
        number = file.get("version_number")
        if number is None or str(number) not in ("", "0", "1"):
            versions = self._versions(entity, file, path)
        current = self._file_item(file, path, [v.meta["file_version_id"] for v in versions])
        seen.add(file_id)
        yield Upsert(current)
        for version in versions:
            seen.add(version.key)
            yield Upsert(version)
        if known is not None and (versions or number is None or str(number) not in ("", "0", "1")):
            # Versions Box no longer keeps (retention, deleted by a user). Only for files that
            # have had versions: `known.under` of the folder is a scan of it.
            old = known.get(file_id)
            if old is not None:
                for key, _ in list(known.under(_parent(old.path))):
                    if key.startswith(file_id + "@") and key not in seen:
                        yield Delete(key)

    def _file_item(self, file: Mapping[str, Any], path: str, versions: list[str]) -> Item:
        fv = file.get("file_version") or {}
        version_id = str(fv.get("id") or "")
        parent_id = str((file.get("parent") or {}).get("id") or "")
        sha1 = str(file.get("sha1") or fv.get("sha1") or "")
        meta = {
            "id": str(file["id"]),
            "file_version_id": version_id,
            "sha1": sha1,
            "parent_id": parent_id,
            "content_created_at": file.get("content_created_at"),
            "content_modified_at": file.get("content_modified_at"),
            "created_at": file.get("created_at"),
            "modified_at": file.get("modified_at"),
            "owner": _login(file.get("owned_by")),
            "version_number": str(file.get("version_number") or ""),
            "versions": versions,
        }
        return Item(
            key=str(file["id"]),
            path=path,
            version=f"{version_id}:{file.get('name')}:{parent_id}:{file.get('modified_at')}",
            content_version=sha1 or version_id,
            size=int(file.get("size") or 0),
            kind="file",
            name=str(file.get("name", "")),
            modified=_time(file.get("content_modified_at")),
            author=_login(file.get("modified_by")),
            meta=meta,
        )

    def _versions(self, entity: EntityInfo, file: Mapping[str, Any], path: str) -> list[Item]:
        """Items of the previous versions Box keeps for `file`, newest first."""
        file_id = str(file["id"])
        current = str((file.get("file_version") or {}).get("id") or "")
        parent_id = str((file.get("parent") or {}).get("id") or "")
        try:
            entries = list(self._paged(entity, f"/files/{file_id}/versions", {"fields": VERSION_FIELDS}))
        except HttpStatusError as exc:
            if exc.status in (403, 404):
                return []  # gone meanwhile, or versions not available on this account
            raise
        entries = [v for v in entries if not v.get("trashed_at") and str(v.get("id")) != current]
        entries.sort(key=_version_order, reverse=True)
        items = []
        for v in entries:
            vid = str(v["id"])
            sha1 = str(v.get("sha1") or "")
            items.append(
                Item(
                    key=f"{file_id}@{vid}",
                    path=f"{path}{VERSION_MARK}{vid}",
                    version=f"{vid}:{file.get('name')}:{parent_id}",
                    content_version=sha1 or vid,
                    size=int(v.get("size") or 0),
                    kind="file_version",
                    name=str(v.get("name") or file.get("name") or ""),
                    modified=_time(v.get("modified_at")),
                    author=_login(v.get("modified_by")),
                    meta={
                        "id": file_id,
                        "version_of": file_id,
                        "file_version_id": vid,
                        "sha1": sha1,
                        "parent_id": parent_id,
                        "name": str(v.get("name") or ""),
                        "file_name": str(file.get("name") or ""),
                        "created_at": v.get("created_at"),
                        "modified_at": v.get("modified_at"),
                        "version_number": str(v.get("version_number") or ""),
                    },
                )
            )
        return items

    def _file_info(self, entity: EntityInfo, file_id: str) -> dict[str, Any]:
        return self._live(entity, "files", file_id, FILE_FIELDS)

    def _folder_info(self, entity: EntityInfo, folder_id: str) -> dict[str, Any]:
        return self._live(entity, "folders", folder_id, FOLDER_FIELDS)

    def _live(self, entity: EntityInfo, collection: str, item_id: str, fields: str) -> dict[str, Any]:
        """The item as it is now; `_Gone` when deleted or trashed."""
        try:
            found = self._get(entity, f"/{collection}/{item_id}", fields=fields)
        except HttpStatusError as exc:
            if exc.status in (404, 410):
                raise _Gone(item_id) from exc
            raise
        if not isinstance(found, dict) or (found.get("item_status") or "active") != "active":
            raise _Gone(item_id)
        return found

    # -- incremental

    def _incremental(
        self,
        entity: EntityInfo,
        events: list[dict[str, Any]],
        position: str,
        folders: dict[str, str],
        known: Known,
    ) -> Iterator[Change]:
        taken_at = time.time()
        file_ids: dict[str, None] = {}
        folder_ids: dict[str, None] = {}
        for event in events:
            source = event.get("source") or {}
            if not isinstance(source, dict) or not source.get("id"):
                continue
            if source.get("type") == "file":
                file_ids[str(source["id"])] = None
            elif source.get("type") == "folder" and event.get("event_type") in FOLDER_EVENTS:
                folder_ids[str(source["id"])] = None

        # Folders first: where do they live now?
        old_paths: list[str] = []  # paths that moved away or went
        walks: list[tuple[str, str]] = []
        for fid in folder_ids:
            if fid == "0":
                continue
            old = folders.get(fid)
            try:
                info = self._folder_info(entity, fid)
            except _Gone:
                if old is not None:
                    old_paths.append(old)
                continue
            new = _join(_folder_path(info.get("path_collection")), str(info.get("name", "")))
            if old == new:
                continue  # where it was (renamed and back, trashed and restored): nothing moved
            if old is not None:
                old_paths.append(old)
            walks.append((fid, new))
        for old in old_paths:
            for fid in [f for f, p in folders.items() if p == old or p.startswith(old + "/")]:
                del folders[fid]

        seen: set[str] = set()
        walked: list[str] = []
        for fid, path in sorted(walks, key=lambda w: (w[1].count("/"), w[1])):
            if any(path == w or path.startswith(w + "/") for w in walked):
                continue
            walked.append(path)
            folders[fid] = path
            yield Folder(path, {"id": fid})
            yield from self._walk(entity, fid, path, folders, seen)

        # Files named by events and not walked already.
        deleted: set[str] = set()
        for file_id in file_ids:
            if file_id in seen:
                continue
            try:
                file = self._file_info(entity, file_id)
            except _Gone:
                for key in self._file_keys(file_id, known):
                    if key not in deleted:
                        deleted.add(key)
                        yield Delete(key)
                continue
            folder = _folder_path(file.get("path_collection"))
            yield from self._file_changes(entity, file, folder, seen, known)

        # What the backup holds under paths that moved away or went, and was not seen again.
        live = set(folders.values())
        for old in old_paths:
            for key, _ in list(known.under(old)):
                if key not in seen and key not in deleted:
                    deleted.add(key)
                    yield Delete(key)
            if not any(p == old or p.startswith(old + "/") for p in live):
                yield DeleteFolder(old)
        yield self._cursor(position, taken_at, folders)

    @staticmethod
    def _file_keys(file_id: str, known: Known) -> list[str]:
        """The file's key and its known versions' keys."""
        old = known.get(file_id)
        keys = [file_id]
        if old is not None:
            keys += [k for k, _ in known.under(_parent(old.path)) if k.startswith(file_id + "@")]
        return keys

    # -- content

    def open(self, entity: EntityInfo, item: Item) -> Content:
        file_id = str(item.meta.get("id") or item.key.split("@", 1)[0])
        version_id = str(item.meta.get("file_version_id") or "")
        params = {"version": version_id} if version_id else None
        chunks = self.http.download(
            f"{self.api}/files/{file_id}/content", params=params, headers=self._as(entity)
        )
        try:
            first = next(chunks, b"")
        except Exception as exc:
            self._item_failed(item, exc)
        return self._stream(item, first, chunks)

    def _stream(self, item: Item, first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            if first:
                yield first
            yield from chunks
        except Exception as exc:
            self._item_failed(item, exc)
        with self._lock:
            self._failures = 0

    def _item_failed(self, item: Item, exc: Exception) -> NoReturn:
        """Turn a download failure into the right error class (see the module docstring)."""
        if isinstance(exc, Throttled | AuthError):
            raise exc
        if isinstance(exc, HttpStatusError):
            raise ItemError(f"{item.path}: {exc}", item.key) from exc
        if isinstance(exc, Unavailable):
            with self._lock:
                self._failures += 1
                give_up = self._failures >= FAILURES_BEFORE_UNAVAILABLE
                if give_up:
                    self._failures = 0
            if give_up:
                raise exc
            raise ItemError(f"{item.path}: {exc}", item.key) from exc
        raise exc

    # -- restore

    def restore(
        self, entity: EntityInfo, items: Iterable[RestoreItem], options: RestoreOptions
    ) -> Iterator[RestoreResult]:
        folder_ids: dict[str, str] = {"": "0"}
        day = datetime.now(UTC).date().isoformat()
        for restore_item in items:
            key = restore_item.item.key
            try:
                yield self._restore_one(entity, restore_item, options, folder_ids, day)
            except (Throttled, AuthError):
                raise
            except (SourceError, ItemError, Unavailable, OSError) as exc:
                yield RestoreResult(key, "failed", str(exc))

    def _restore_one(
        self,
        entity: EntityInfo,
        restore_item: RestoreItem,
        options: RestoreOptions,
        folder_ids: dict[str, str],
        day: str,
    ) -> RestoreResult:
        item = restore_item.item
        folder, _, name = restore_item.target_path.strip("/").rpartition("/")
        if item.kind == "file_version":
            # "report.pdf@v123" → the file's name (an old version goes back under its file's name)
            mark = VERSION_MARK + str(item.meta.get("file_version_id", ""))
            if name.endswith(mark):
                name = name[: -len(mark)]
            name = name or str(item.meta.get("file_name") or item.name)
        parent_id = self._ensure_folder(entity, folder, folder_ids)
        attributes: dict[str, Any] = {"name": name, "parent": {"id": parent_id}}
        for stamp in ("content_created_at", "content_modified_at"):
            if item.meta.get(stamp):
                attributes[stamp] = item.meta[stamp]
        clash = self._upload(entity, f"{self.upload_api}/files/content", attributes, name, restore_item)
        if isinstance(clash, str):
            return RestoreResult(item.key, "restored", new_key=clash)
        existing, _ = clash
        if options.mode == "bypass":
            return RestoreResult(item.key, "skipped", f"{restore_item.target_path} exists")
        if options.mode == "replace" or options.as_version:
            version_attrs = {k: v for k, v in attributes.items() if k != "parent"}
            url = f"{self.upload_api}/files/{existing}/content"
            done = self._upload(entity, url, version_attrs, name, restore_item)
            if not isinstance(done, str):
                raise ItemError(f"{restore_item.target_path}: Box refused the new version", item.key)
            return RestoreResult(item.key, "restored", "as a new version", new_key=done)
        for n in range(1, 100):
            other = restored_name(name, day, n)
            done = self._upload(
                entity, f"{self.upload_api}/files/content", {**attributes, "name": other}, other, restore_item
            )
            if isinstance(done, str):
                return RestoreResult(item.key, "restored", f"as {other}", new_key=done)
        raise ItemError(f"{restore_item.target_path}: no free name to restore beside it", item.key)

    def _upload(
        self,
        entity: EntityInfo,
        url: str,
        attributes: Mapping[str, Any],
        name: str,
        restore_item: RestoreItem,
    ) -> str | tuple[str, str]:
        """Upload; the new file's id, or (id, type) of what the name clashed with.

        Repeated on 5xx and dropped connections (a new body each time): an upload that did land
        comes back as a clash, which restore treats like any other."""
        try:
            body = self.http.json(
                "POST",
                url,
                headers=self._as(entity),
                data={"attributes": json.dumps(attributes)},
                files=lambda: {"file": (name, restore_item.open(), "application/octet-stream")},
                retry_safe=True,
            )
        except HttpStatusError as exc:
            if exc.status == 409:
                clash = _conflict_id(exc, "file")
                if clash is None:
                    raise ItemError(f"{name}: name in use, and Box did not say by what") from exc
                if clash[1] == "folder":
                    raise ItemError(f"{name}: a folder of that name is in the way") from exc
                return clash
            raise ItemError(f"{name}: {exc}", restore_item.item.key) from exc
        entries = (body or {}).get("entries") or []
        if not entries:
            raise SourceError("Box answered an upload without the file")
        return str(entries[0]["id"])

    def _ensure_folder(self, entity: EntityInfo, path: str, folder_ids: dict[str, str]) -> str:
        """The id of the folder at `path` below the user's root, created when missing."""
        if path in folder_ids:
            return folder_ids[path]
        parent_path, _, name = path.rpartition("/")
        parent_id = self._ensure_folder(entity, parent_path, folder_ids)
        try:
            body = self.http.json(
                "POST",
                f"{self.api}/folders",
                headers=self._as(entity),
                json={"name": name, "parent": {"id": parent_id}},
                params={"fields": "id,name"},
                retry_safe=True,  # a repeat lands on 409 with the folder made the first time
            )
            folder_id = str(body["id"])
        except HttpStatusError as exc:
            clash = _conflict_id(exc, "folder") if exc.status == 409 else None
            if clash is None:
                raise
            if clash[1] not in ("folder", ""):
                raise ItemError(f"{path}: a file of that name is in the way of the folder") from exc
            folder_id = clash[0]
        folder_ids[path] = folder_id
        return folder_id


__all__ = ["BoxConnector", "authorization_url", "exchange_code", "restored_name"]
