"""IMAP mailboxes (any IMAP4rev1 server; tested against Dovecot).

One task protects one mailbox login. The change feed is per folder, keyed by the real IMAP name:

- a folder's state in the cursor is its UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ. A folder whose
  STATUS shows none of them moved is not even selected;
- with CONDSTORE/QRESYNC (enabled when advertised) changed messages come from
  `UID FETCH 1:* (UID) (CHANGEDSINCE m VANISHED)`, expunged ones from its `VANISHED (EARLIER)`;
  without them the UIDs and flags are compared with what the last backup knows;
- a new UIDVALIDITY, a new folder or a cursor we cannot read mean a full listing of the folder
  (and of everything for a bad cursor); afterwards known keys that were not seen are deleted.

A message's key is `"{uidvalidity}:{uid}:{imap name}"`: unique in the mailbox, and a renamed folder
gives new keys (its items come again under the new path; the old path gets a DeleteFolder). The
snapshot path is the folder's decoded name with the server's delimiter turned into "/" (a "/"
inside a name, possible when the delimiter is ".", becomes U+2215, DIVISION SLASH) plus `{uid}.eml`.

Message content is read with `BODY.PEEK[]` (the exact bytes, \\Seen untouched) and written back
with APPEND as a literal (imaplib's own `append` would rewrite line endings).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import hashlib
import imaplib
import json
import re
import ssl
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.datetime_util import datetime_to_INTERNALDATE
from imapclient.exceptions import LoginError
from imapclient.imapclient import _literal  # a bytes subclass always sent as a literal
from imapclient.response_parser import parse_fetch_response

from .base import (
    BATCH_OPEN,
    RESTORE_IN_PLACE,
    Change,
    Connector,
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
    Upsert,
)
from .errors import AuthError, ConnectorError, ItemError, SourceError, Unavailable

T = TypeVar("T")

CURSOR_VERSION = 1
BATCH = 300  # messages per metadata FETCH
SLASH = "\u2215"  # stands for a "/" inside a folder name whose delimiter is not "/"
HEADER_FIELDS = ("SUBJECT", "FROM", "TO", "CC", "DATE", "MESSAGE-ID")
_HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS (" + " ".join(HEADER_FIELDS) + ")]"
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0/C1 controls (not tab/CR/LF)
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?)")

# Connection-level failures: the socket is unusable, reconnect once.
_DROPPED = (OSError, imaplib.IMAP4.abort, EOFError)


# -- names and paths ---------------------------------------------------------------------------


def folder_path(name: str, delimiter: str | None) -> str:
    """The snapshot path of IMAP folder `name` (decoded Unicode): delimiter -> "/"."""
    parts = name.split(delimiter) if delimiter else [name]
    if delimiter != "/":
        parts = [part.replace("/", SLASH) for part in parts]
    return "/".join(part if part.strip() else "_" for part in parts)


def imap_name(path: str, delimiter: str | None) -> str:
    """The IMAP folder name for snapshot folder `path` (the inverse of `folder_path`)."""
    parts = [part for part in path.strip("/").split("/") if part] or ["INBOX"]
    if delimiter == "/":
        return "/".join(parts)
    parts = [part.replace(SLASH, "/") for part in parts]
    return (delimiter or "/").join(parts)


def message_key(name: str, uidvalidity: int, uid: int) -> str:
    return f"{uidvalidity}:{uid}:{name}"


def parse_key(key: str) -> tuple[str, int, int] | None:
    """(imap name, uidvalidity, uid) of a key made by `message_key`, or None."""
    parts = key.split(":", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return parts[2], int(parts[0]), int(parts[1])


# -- header decoding (never raises) -------------------------------------------------------------


def _codec(charset: str) -> str:
    charset = charset.split("*", 1)[0].strip().lower()  # RFC 2231 language suffix
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return "utf-8"


def _bytes_to_text(raw: bytes) -> str:
    raw = raw.replace(b"\x00", b"")  # NUL is not storable in a catalog (PostgreSQL text/json)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # raw 8-bit headers: latin-1 never fails


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; unknown charsets and bad encodings degrade, never raise."""
    if "=?" not in value:
        return value
    value = _BETWEEN_WORDS.sub(r"\1", value)  # whitespace between adjacent encoded words goes
    out: list[str] = []
    pending: tuple[str, bytearray] | None = None
    position = 0

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            out.append(bytes(pending[1]).decode(pending[0], errors="replace"))
            pending = None

    for match in _ENCODED_WORD.finditer(value):
        if match.start() > position:
            flush()
            out.append(value[position : match.start()])
        charset, encoding, text = match.groups()
        try:
            if encoding in "Bb":
                data = base64.b64decode(text + "=" * (-len(text) % 4))
            else:
                data = binascii.a2b_qp(text.encode("ascii", "replace"), header=True)
        except (binascii.Error, ValueError):
            flush()
            out.append(match.group(0))
            position = match.end()
            continue
        codec = _codec(charset)
        if pending is not None and pending[0] == codec:
            pending[1].extend(data)  # a multibyte character may be split across words
        else:
            flush()
            pending = (codec, bytearray(data))
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def parse_headers(raw: bytes) -> dict[str, str]:
    """The first occurrence of each header field in a header block, unfolded and decoded."""
    fields: dict[str, str] = {}
    current: str | None = None
    values: dict[str, list[str]] = {}
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        if not line.strip():
            if line == b"" and current is None:
                continue
            if not line:
                current = None
                continue
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                values[current].append(_bytes_to_text(line).strip())
            continue
        name, colon, rest = line.partition(b":")
        if not colon:
            current = None
            continue
        key = _bytes_to_text(name).strip().lower()
        if key in values:
            current = None  # keep the first occurrence
            continue
        current = key
        values[key] = [_bytes_to_text(rest).strip()]
    for key, parts in values.items():
        text = " ".join(part for part in parts if part)
        try:
            fields[key] = " ".join(_CONTROL.sub("", decode_words(text)).split())
        except Exception:  # pragma: no cover - decode_words is defensive already
            fields[key] = text
    return fields


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return _bytes_to_text(value)
    return str(value)


def _uid_ranges(text: str) -> list[tuple[int, int]]:
    """A UID set ("1:3,7,9:12") as ranges, without expanding it."""
    ranges = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition(":")
        try:
            a = int(low)
            b = int(high) if high and high != "*" else (a if not high else 2**32)
        except ValueError:
            continue
        ranges.append((min(a, b), max(a, b)))
    return ranges


def _in_ranges(uid: int, ranges: list[tuple[int, int]]) -> bool:
    return any(low <= uid <= high for low, high in ranges)


# -- the connector -----------------------------------------------------------------------------


class ImapConnector(Connector):
    service = "imap"
    capabilities = frozenset({RESTORE_IN_PLACE, BATCH_OPEN})

    def __init__(self, settings: Any, secrets: Any, save_secrets: Any = None) -> None:
        super().__init__(settings, secrets, save_secrets)
        self._conn: IMAPClient | None = None
        self._selected: tuple[str, bool] | None = None  # (name, readonly)
        self._select_info: dict[bytes, Any] = {}
        self._modseq = False  # CONDSTORE enabled on this connection
        self._qresync = False
        self._delimiter: str | None = None

    # -- settings ------------------------------------------------------------------------------
    @property
    def username(self) -> str:
        return str(self.settings.get("username") or "")

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.settings.get("tls_ca_file") or None)
        if self.settings.get("tls_verify", True) is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # -- connection ----------------------------------------------------------------------------
    def _connect(self) -> IMAPClient:
        host = str(self.settings.get("host") or "")
        security = str(self.settings.get("security") or "tls").lower()
        if security not in ("tls", "starttls", "none"):
            raise SourceError(f"unknown IMAP security {security!r} (tls, starttls or none)")
        port = int(self.settings.get("port") or (993 if security == "tls" else 143))
        timeout = float(self.settings.get("timeout") or 60)
        context = self._ssl_context() if security != "none" else None
        try:
            client = IMAPClient(host, port=port, ssl=security == "tls", ssl_context=context, timeout=timeout)
        except ssl.SSLCertVerificationError as e:
            raise SourceError(f"the IMAP server's TLS certificate is not trusted: {e}") from e
        except (*_DROPPED, imaplib.IMAP4.error) as e:
            raise Unavailable(f"cannot connect to {host}:{port}: {e}") from e
        client._imap.debug = 0  # imapclient turns imaplib's line-by-line debug formatting on
        client.normalise_times = False  # keep INTERNALDATE's time zone
        try:
            if security == "starttls":
                client.starttls(context)
            self._login(client)
            capabilities = set(client.capabilities())
            self._qresync = self._modseq = False
            if b"QRESYNC" in capabilities:
                enabled = {c.upper() for c in client.enable("QRESYNC")}
                self._qresync = b"QRESYNC" in enabled
                self._modseq = self._qresync
            if not self._modseq and b"CONDSTORE" in capabilities:
                enabled = {c.upper() for c in client.enable("CONDSTORE")}
                self._modseq = b"CONDSTORE" in enabled
        except ssl.SSLCertVerificationError as e:
            self._shutdown(client)
            raise SourceError(f"the IMAP server's TLS certificate is not trusted: {e}") from e
        except ConnectorError:
            self._shutdown(client)
            raise
        except imaplib.IMAP4.abort as e:
            self._shutdown(client)
            raise Unavailable(f"connection to {host}:{port} dropped: {e}") from e
        except OSError as e:
            self._shutdown(client)
            raise Unavailable(f"connection to {host}:{port} failed: {e}") from e
        except imaplib.IMAP4.error as e:
            self._shutdown(client)
            raise SourceError(f"IMAP server {host}:{port} refused the session setup: {e}") from e
        return client

    def _login(self, client: IMAPClient) -> None:
        auth = str(self.settings.get("auth") or "password").lower()
        try:
            if auth == "xoauth2":
                token = self.secrets.get("access_token")
                if not token:
                    raise AuthError("no access token for XOAUTH2")
                client.oauth2_login(self.username, str(token))
            elif auth == "password":
                password = self.secrets.get("password")
                if password is None:
                    raise AuthError("no password")
                client.login(self.username, str(password))
            else:
                raise SourceError(f"unknown IMAP auth {auth!r} (password or xoauth2)")
        except LoginError as e:
            message = str(e)
            if "[UNAVAILABLE]" in message.upper():
                raise Unavailable(f"the IMAP server cannot authenticate now: {message}") from e
            raise AuthError(f"IMAP login refused for {self.username}: {message}") from e

    @staticmethod
    def _shutdown(client: IMAPClient) -> None:
        with contextlib.suppress(Exception):
            client.shutdown()

    def _client(self) -> IMAPClient:
        if self._conn is None:
            self._conn = self._connect()
            self._selected = None
        return self._conn

    def _drop(self) -> None:
        conn, self._conn, self._selected = self._conn, None, None
        if conn is not None:
            self._shutdown(conn)

    def _call(self, work: Callable[[IMAPClient], T]) -> T:
        """Run `work` on the connection; on a dropped connection reconnect once and run it again."""
        for attempt in (1, 2):
            try:
                return work(self._client())
            except Unavailable:
                self._drop()
                if attempt == 2:
                    raise
            except _DROPPED as e:
                self._drop()
                if isinstance(e, ssl.SSLCertVerificationError):
                    raise SourceError(str(e)) from e
                if attempt == 2:
                    raise Unavailable(f"IMAP connection lost: {e}") from e
            except imaplib.IMAP4.error as e:  # NO / BAD to a command: not a connection problem
                raise SourceError(f"IMAP server refused: {e}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        conn, self._conn, self._selected = self._conn, None, None
        if conn is not None:
            try:
                conn.logout()
            except Exception:
                self._shutdown(conn)

    # -- helpers on a live connection -----------------------------------------------------------
    def _select(
        self, client: IMAPClient, name: str, readonly: bool = True, fresh: bool = False
    ) -> dict[bytes, Any]:
        """Select `name` unless it already is; `fresh` selects again for current UIDNEXT etc."""
        reuse = self._selected == (name, readonly) or (readonly and self._selected == (name, False))
        if reuse and not fresh:
            return self._select_info
        self._selected = None
        info = client.select_folder(name, readonly=readonly)
        self._selected, self._select_info = (name, readonly), info
        return info

    def _unselect(self, client: IMAPClient) -> None:
        if self._selected is not None:
            self._selected = None
            if client.has_capability("UNSELECT"):
                client.unselect_folder()
            else:
                client.close_folder()

    def _uid_fetch(
        self, client: IMAPClient, uid_set: str, items: list[str], modifiers: list[str] | None = None
    ) -> tuple[dict[int, dict[bytes, Any]], list[str]]:
        """UID FETCH over a UID set string ("1:*"), without imapclient's filtering; returns the
        responses by UID and the VANISHED lines that came with them."""
        imap = client._imap
        imap.untagged_responses.pop("VANISHED", None)
        args = ["FETCH", uid_set, "(" + " ".join(items) + ")"]
        if modifiers:
            args.append("(" + " ".join(modifiers) + ")")
        tag = imap._command("UID", *args)
        typ, data = imap._command_complete("FETCH", tag)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID FETCH failed: {data!r}")
        typ, data = imap._untagged_response(typ, data, "FETCH")
        vanished = [_text(v) for v in imap.untagged_responses.pop("VANISHED", []) or []]
        # Keyed by sequence number, so that an unsolicited FETCH without a UID is told apart.
        parsed = parse_fetch_response(data, False, False)
        by_uid = {int(v[b"UID"]): v for v in parsed.values() if isinstance(v.get(b"UID"), int)}
        return by_uid, vanished

    def _fetch_in(self, name: str, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        def work(client: IMAPClient) -> dict[int, dict[bytes, Any]]:
            self._select(client, name)
            return dict(client.fetch(uids, items))

        return self._call(work)

    def _search_in(self, name: str, criteria: Any) -> list[int]:
        def work(client: IMAPClient) -> list[int]:
            self._select(client, name)
            return [int(uid) for uid in client.search(criteria)]

        return self._call(work)

    def _server_delimiter(self, client: IMAPClient) -> str | None:
        if self._delimiter is None:
            found = client.list_folders("", "")
            delim = found[0][1] if found else b"/"
            self._delimiter = _text(delim) if delim else ""
        return self._delimiter or None

    # -- the interface -------------------------------------------------------------------------
    def check(self) -> None:
        self._call(lambda client: client.noop())

    def discover(self) -> Iterator[EntityInfo]:
        user = self.username
        email = user if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", user) else ""
        yield EntityInfo(key=user, name=user, email=email, kind="mailbox")

    def _list(self, client: IMAPClient) -> list[tuple[str, str | None, str]]:
        """(imap name, delimiter, path) of every selectable folder."""
        out = []
        for flags, delimiter, name in client.list_folders("", "*"):
            lowered = {_text(f).lower() for f in flags}
            if "\\noselect" in lowered or "\\nonexistent" in lowered:
                continue
            delim = _text(delimiter) if delimiter else None
            name = _text(name)
            out.append((name, delim, folder_path(name, delim)))
            if delim and self._delimiter is None:
                self._delimiter = delim
        return out

    @staticmethod
    def _read_cursor(cursor: str | None) -> dict[str, dict[str, Any]] | None:
        if not cursor:
            return None
        try:
            data = json.loads(cursor)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            return None
        folders = data.get("folders")
        if not isinstance(folders, dict):
            return None
        for state in folders.values():
            if not isinstance(state, dict) or not all(
                isinstance(state.get(k), int) for k in ("uidvalidity", "uidnext", "highestmodseq")
            ):
                return None
            if not isinstance(state.get("path"), str):
                return None
        return folders

    def changes(self, entity: EntityInfo, cursor: str | None, known: Known) -> Iterator[Change]:
        previous = self._read_cursor(cursor)
        self._call(self._unselect)  # STATUS on a selected folder may lag
        folders = self._call(self._list)
        paths = {path for _, _, path in folders}
        names = {name for name, _, _ in folders}
        state: dict[str, dict[str, Any]] = {}

        # Folders gone since the cursor. DeleteFolder drops everything under the path, so a
        # folder that still has folders below it loses only its own items.
        if previous is not None:
            for name, gone in previous.items():
                if name in names:
                    continue
                old_path = gone["path"]
                if old_path in paths or any(p.startswith(old_path + "/") for p in paths):
                    yield from self._delete_known(known, old_path, name, keep=set(), uidvalidity=None)
                else:
                    yield DeleteFolder(old_path)
        else:
            # No usable cursor: known items in folders that no longer exist.
            for key, _item in list(known.under("")):
                parsed = parse_key(key)
                if parsed is None or parsed[0] not in names:
                    yield Delete(key)

        for name, delimiter, path in folders:
            old: dict[str, Any] | None = previous.get(name) if previous is not None else None
            if old is not None and old.get("path") != path:
                old = None
            folder = Folder(path, meta={"name": name, "delimiter": delimiter or ""})
            yield from self._folder_changes(folder, name, path, old, known, state)

        yield NewCursor(
            json.dumps({"v": CURSOR_VERSION, "folders": state}, ensure_ascii=False, sort_keys=True)
        )

    def _delete_known(
        self, known: Known, path: str, name: str, keep: set[int], uidvalidity: int | None
    ) -> Iterator[Change]:
        """Delete the known items of folder `name` at `path` except UIDs in `keep` (of
        `uidvalidity`; every item of another UIDVALIDITY goes)."""
        doomed = []
        for key, _item in known.under(path):
            parsed = parse_key(key)
            if parsed is None or parsed[0] != name:
                continue
            if uidvalidity is not None and parsed[1] == uidvalidity and parsed[2] in keep:
                continue
            doomed.append(key)
        for key in doomed:
            yield Delete(key)

    def _attempt(self, name: str, status: bool) -> dict[bytes, Any] | imaplib.IMAP4.error:
        """STATUS (or a fresh SELECT) of `name`; a refusal is returned, not raised."""

        def work(client: IMAPClient) -> dict[bytes, Any] | imaplib.IMAP4.error:
            try:
                return self._status(client, name) if status else self._select(client, name, fresh=True)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as e:
                return e

        return self._call(work)

    def _unusable(
        self,
        name: str,
        path: str,
        old: dict[str, Any] | None,
        known: Known,
        state: dict[str, dict[str, Any]],
        error: imaplib.IMAP4.error,
    ) -> Iterator[Change]:
        """A listed folder that cannot be opened: gone (a deleted parent that still has
        children is listed but does not exist) loses its items; otherwise try again next run."""
        text = str(error).lower()
        if "nonexistent" in text or "doesn't exist" in text or "does not exist" in text:
            yield from self._delete_known(known, path, name, keep=set(), uidvalidity=None)
        elif old is not None:
            state[name] = old

    def _folder_changes(
        self,
        folder: Folder,
        name: str,
        path: str,
        old: dict[str, Any] | None,
        known: Known,
        state: dict[str, dict[str, Any]],
    ) -> Iterator[Change]:
        if old is not None:
            status = self._attempt(name, status=True)
            if isinstance(status, imaplib.IMAP4.error):
                yield from self._unusable(name, path, old, known, state, status)
                return
            unchanged = (
                status.get(b"UIDVALIDITY") == old["uidvalidity"]
                and status.get(b"UIDNEXT") == old["uidnext"]
                and old.get("modseq")
                and status.get(b"HIGHESTMODSEQ") == old["highestmodseq"]
            )
            if unchanged:
                yield folder
                state[name] = old
                return
        info = self._attempt(name, status=False)
        if isinstance(info, imaplib.IMAP4.error):
            yield from self._unusable(name, path, old, known, state, info)
            return
        yield folder
        uidvalidity = int(info.get(b"UIDVALIDITY") or 0)
        uidnext = int(info.get(b"UIDNEXT") or 0)
        highestmodseq = int(info.get(b"HIGHESTMODSEQ") or 0)
        modseq = self._modseq and b"HIGHESTMODSEQ" in info
        new_state = {
            "uidvalidity": uidvalidity,
            "uidnext": uidnext,
            "highestmodseq": highestmodseq,
            "modseq": bool(modseq),
            "path": path,
        }
        if old is None or old["uidvalidity"] != uidvalidity or bool(old.get("modseq")) != modseq:
            yield from self._full_folder(name, path, uidvalidity, modseq, known)
        elif modseq:
            yield from self._modseq_folder(name, path, uidvalidity, old, known)
        else:
            yield from self._compare_folder(name, path, uidvalidity, old, known)
        state[name] = new_state

    def _status(self, client: IMAPClient, name: str) -> dict[bytes, Any]:
        what = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"]
        if self._modseq:
            what.append("HIGHESTMODSEQ")
        return dict(client.folder_status(name, what))

    def _full_folder(
        self, name: str, path: str, uidvalidity: int, modseq: bool, known: Known
    ) -> Iterator[Change]:
        uids = sorted(self._search_in(name, "ALL"))
        yield from self._delete_known(known, path, name, keep=set(uids), uidvalidity=uidvalidity)
        yield from self._upserts(name, path, uidvalidity, modseq, uids)

    def _modseq_folder(
        self, name: str, path: str, uidvalidity: int, old: dict[str, Any], known: Known
    ) -> Iterator[Change]:
        since = int(old["highestmodseq"])

        def changed(client: IMAPClient) -> tuple[set[int], list[str]]:
            self._select(client, name)
            modifiers = [f"CHANGEDSINCE {since}"] + (["VANISHED"] if self._qresync else [])
            found, vanished = self._uid_fetch(client, "1:*", ["UID"], modifiers)
            new = client.search(["UID", f"{max(int(old['uidnext']), 1)}:*"])
            return {u for u in found} | {u for u in new if u >= int(old["uidnext"])}, vanished

        uids, vanished = self._call(changed)
        if self._qresync:
            ranges: list[tuple[int, int]] = []
            for line in vanished:
                ranges.extend(_uid_ranges(re.sub(r"^\s*\(EARLIER\)\s*", "", line, flags=re.IGNORECASE)))
            if ranges:
                for key, _item in list(known.under(path)):
                    parsed = parse_key(key)
                    if (
                        parsed
                        and parsed[0] == name
                        and parsed[1] == uidvalidity
                        and _in_ranges(parsed[2], ranges)
                    ):
                        yield Delete(key)
        else:
            current = set(self._search_in(name, "ALL"))
            yield from self._delete_known(known, path, name, keep=current, uidvalidity=uidvalidity)
        yield from self._upserts(name, path, uidvalidity, True, sorted(uids))

    def _compare_folder(
        self, name: str, path: str, uidvalidity: int, old: dict[str, Any], known: Known
    ) -> Iterator[Change]:
        """No mod-sequences: compare every UID's flags with the known version."""
        current = sorted(self._search_in(name, "ALL"))
        yield from self._delete_known(known, path, name, keep=set(current), uidvalidity=uidvalidity)
        todo: list[int] = []
        for start in range(0, len(current), 1000):
            chunk = current[start : start + 1000]
            flags = self._fetch_in(name, chunk, ["FLAGS"])
            for uid in chunk:
                data = flags.get(uid)
                if data is None:
                    continue
                was = known.get(message_key(name, uidvalidity, uid))
                if was is None or was.version != self._version(uid, data, False):
                    todo.append(uid)
        yield from self._upserts(name, path, uidvalidity, False, todo)

    @staticmethod
    def _version(uid: int, data: dict[bytes, Any], modseq: bool) -> str:
        if modseq and b"MODSEQ" in data:
            value = data[b"MODSEQ"]
            value = value[0] if isinstance(value, tuple | list) else value
            return f"{uid}:{int(value)}"
        flags = sorted(_text(f) for f in data.get(b"FLAGS", ()) if _text(f).lower() != "\\recent")
        return f"{uid}:f" + hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16]

    def _upserts(
        self, name: str, path: str, uidvalidity: int, modseq: bool, uids: list[int]
    ) -> Iterator[Change]:
        items = ["UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", _HEADER_ITEM]
        if modseq:
            items.append("MODSEQ")
        for start in range(0, len(uids), BATCH):
            chunk = uids[start : start + BATCH]
            fetched = self._fetch_in(name, chunk, items)
            for uid in chunk:
                data = fetched.get(uid)
                if data is None:
                    continue  # expunged meanwhile: the next run's VANISHED / comparison sees it
                yield Upsert(self._item(name, path, uidvalidity, uid, data, modseq))

    def _item(
        self, name: str, path: str, uidvalidity: int, uid: int, data: dict[bytes, Any], modseq: bool
    ) -> Item:
        header = b""
        for key, value in data.items():
            if isinstance(key, bytes) and key.upper().startswith(b"BODY[HEADER") and isinstance(value, bytes):
                header = value
        fields = parse_headers(header)
        flags = [_text(f) for f in data.get(b"FLAGS", ()) if _text(f).lower() != "\\recent"]
        internal = _utc(data.get(b"INTERNALDATE"))
        size = int(data.get(b"RFC822.SIZE") or 0)
        subject = fields.get("subject", "")
        message_id = fields.get("message-id", "").strip()
        identity = "\n".join(
            [
                message_id,
                str(size),
                internal.isoformat() if internal else "",
                fields.get("date", ""),
                fields.get("from", ""),
                subject,
            ]
        )
        return Item(
            key=message_key(name, uidvalidity, uid),
            path=f"{path}/{uid}.eml",
            version=self._version(uid, data, modseq),
            content_version=hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()[:32],
            size=size,
            kind="message",
            name=subject or "(no subject)",
            modified=internal,
            author=fields.get("from", ""),
            meta={
                "folder": name,
                "uid": uid,
                "uidvalidity": uidvalidity,
                "subject": subject,
                "from": fields.get("from", ""),
                "to": fields.get("to", ""),
                "cc": fields.get("cc", ""),
                "date": fields.get("date", ""),
                "message_id": message_id,
                "flags": flags,
                "internal_date": internal.isoformat() if internal else None,
                "size": size,
            },
        )

    # -- content -------------------------------------------------------------------------------
    def _locate(self, item: Item) -> tuple[str, int, int]:
        meta = item.meta
        if "folder" in meta and "uid" in meta:
            return str(meta["folder"]), int(meta.get("uidvalidity") or 0), int(meta["uid"])
        parsed = parse_key(item.key)
        if parsed is None:
            raise ItemError(f"not an IMAP message key: {item.key!r}", key=item.key)
        return parsed

    def open(self, entity: EntityInfo, item: Item) -> bytes:
        name, uidvalidity, uid = self._locate(item)

        def fetch(client: IMAPClient) -> bytes:
            try:
                info = self._select(client, name)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as e:
                raise ItemError(f"folder {name!r} cannot be opened: {e}", key=item.key) from e
            if uidvalidity and int(info.get(b"UIDVALIDITY") or 0) != uidvalidity:
                raise ItemError(f"folder {name!r} has a new UIDVALIDITY: message {uid} is gone", key=item.key)
            try:
                found = client.fetch([uid], ["BODY.PEEK[]"])
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as e:
                raise ItemError(f"message {uid} in {name!r} cannot be read: {e}", key=item.key) from e
            body = found.get(uid, {}).get(b"BODY[]")
            if not isinstance(body, bytes):
                raise ItemError(f"message {uid} in {name!r} no longer exists", key=item.key)
            return body

        return self._call(fetch)

    def open_many(self, entity: EntityInfo, items: list[Item]) -> dict[str, bytes | Exception]:
        """One `UID FETCH <set> BODY.PEEK[]` per folder, instead of a round trip per message."""
        out: dict[str, bytes | Exception] = {}
        groups: dict[tuple[str, int], list[tuple[int, Item]]] = {}
        for item in items:
            try:
                name, uidvalidity, uid = self._locate(item)
            except ItemError as exc:
                out[item.key] = exc
                continue
            groups.setdefault((name, uidvalidity), []).append((uid, item))
        for (name, uidvalidity), members in groups.items():
            fetch = partial(self._fetch_bodies, name, uidvalidity, [uid for uid, _ in members])
            try:
                found = self._call(fetch)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as e:
                for _, item in members:
                    out[item.key] = ItemError(f"folder {name!r} cannot be read: {e}", key=item.key)
                continue
            for uid, item in members:
                body = found.get(uid, {}).get(b"BODY[]")
                out[item.key] = (
                    body
                    if isinstance(body, bytes)
                    else ItemError(f"message {uid} in {name!r} no longer exists", key=item.key)
                )
        return out

    def _fetch_bodies(
        self, name: str, uidvalidity: int, uids: list[int], client: IMAPClient
    ) -> dict[int, Any]:
        info = self._select(client, name)
        if uidvalidity and int(info.get(b"UIDVALIDITY") or 0) != uidvalidity:
            return {}  # every message of the old UIDVALIDITY is gone
        return dict(client.fetch(uids, ["BODY.PEEK[]"]))

    # -- restore -------------------------------------------------------------------------------
    def restore(
        self, entity: EntityInfo, items: Iterable[RestoreItem], options: RestoreOptions
    ) -> Iterator[RestoreResult]:
        ensured: set[str] = set()  # folders known to exist in this run
        for restore_item in items:
            item = restore_item.item
            try:
                yield self._restore_one(restore_item, options, ensured)
            except (AuthError, Unavailable):
                raise
            except ConnectorError as e:
                yield RestoreResult(item.key, "failed", str(e))
            except imaplib.IMAP4.error as e:
                yield RestoreResult(item.key, "failed", f"IMAP server refused: {e}")
            except Exception as e:  # the repository side (restore_item.open) or bad metadata
                yield RestoreResult(item.key, "failed", f"{type(e).__name__}: {e}")

    def _target_folder(self, client: IMAPClient, item: Item, target_path: str) -> str:
        folder = target_path.rsplit("/", 1)[0] if "/" in target_path else "INBOX"
        delimiter = self._server_delimiter(client)
        original = item.meta.get("folder")
        if isinstance(original, str) and folder_path(original, delimiter) == folder:
            return original
        return imap_name(folder, delimiter)

    @staticmethod
    def _selectable(client: IMAPClient, name: str) -> bool | None:
        """True for a selectable folder, False for a placeholder (\\Noselect), None: none."""
        found = [f for f in client.list_folders("", name) if _text(f[2]) == name]
        if not found:
            return None
        flags = {_text(f).lower() for f in found[0][0]}
        return "\\noselect" not in flags and "\\nonexistent" not in flags

    def _ensure_folder(self, client: IMAPClient, name: str) -> None:
        selectable = self._selectable(client, name)
        if selectable:
            return
        if selectable is False:
            client.create_folder(name)  # a placeholder parent becomes a real folder
            return
        delimiter = self._server_delimiter(client)
        parts = name.split(delimiter) if delimiter else [name]
        for depth in range(1, len(parts) + 1):
            partial = delimiter.join(parts[:depth]) if delimiter else name
            if not client.folder_exists(partial):
                try:
                    client.create_folder(partial)
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error:
                    if not client.folder_exists(partial) and depth == len(parts):
                        raise

    def _find_same(self, client: IMAPClient, name: str, item: Item, data: bytes) -> list[int]:
        """UIDs of messages in `name` that are this message: same Message-ID, or, for a message
        without one, the same bytes."""
        self._select(client, name, readonly=False)
        message_id = str(item.meta.get("message_id") or "").strip()
        if message_id:
            uids = client.search(["HEADER", "Message-ID", message_id])
            if not uids:
                return []
            headers = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            same = []
            for uid, values in headers.items():
                raw = next((v for k, v in values.items() if k.startswith(b"BODY[HEADER")), b"")
                if parse_headers(raw if isinstance(raw, bytes) else b"").get("message-id", "") == message_id:
                    same.append(uid)
            return same
        size = len(data)
        uids = client.search(["LARGER", str(max(size - 1, 0)), "SMALLER", str(size + 1)])
        same = []
        for uid in uids:
            body = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
            if body == data:
                same.append(uid)
        return same

    def _append(self, client: IMAPClient, name: str, data: bytes, item: Item) -> tuple[int, int] | None:
        """APPENDs the message; (UIDVALIDITY, UID) when the server says (UIDPLUS's APPENDUID)."""
        flags = [str(f) for f in item.meta.get("flags") or () if str(f).lower() != "\\recent"]
        args: list[bytes] = [client._normalise_folder(name), ("(" + " ".join(flags) + ")").encode()]
        internal = item.meta.get("internal_date")
        when = None
        if isinstance(internal, str) and internal:
            with contextlib.suppress(ValueError):
                when = datetime.fromisoformat(internal)
        if when is None and item.modified is not None:
            when = item.modified
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            args.append(b'"' + datetime_to_INTERNALDATE(when).encode() + b'"')
        args.append(_literal(data))
        typ, response = client._raw_command(b"APPEND", args, uid=False)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"APPEND failed: {_text(response[0]) if response else typ}")
        for line in response or ():
            if isinstance(line, bytes) and (match := _APPENDUID.search(line)):
                return (int(match.group(1)), int(match.group(2))) if int(match.group(1)) else None
        return None

    def _restore_one(
        self, restore_item: RestoreItem, options: RestoreOptions, ensured: set[str]
    ) -> RestoreResult:
        item = restore_item.item
        with restore_item.open() as stream:
            data = stream.read()
        if not isinstance(data, bytes):
            data = bytes(data)

        def work(client: IMAPClient) -> RestoreResult:
            name = self._target_folder(client, item, restore_item.target_path)
            if name not in ensured:  # once per folder and run: a LIST per message costs
                self._ensure_folder(client, name)
                ensured.add(name)
            if options.mode in ("bypass", "replace"):
                same = self._find_same(client, name, item, data)
                if same and options.mode == "bypass":
                    return RestoreResult(item.key, "skipped", f"already in {name}")
                if same:
                    client.add_flags(same, [b"\\Deleted"], silent=True)
                    if client.has_capability("UIDPLUS"):
                        client.uid_expunge(same)
                    else:
                        client.expunge()
            appended = self._append(client, name, data, item)
            new_key = message_key(name, *appended) if appended is not None else ""
            return RestoreResult(item.key, "restored", new_key=new_key)

        return self._call(work)
