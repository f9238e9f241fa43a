"""The IMAP connector against a real Dovecot (started by tests/connectors/conftest.py)."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import pytest
from imapclient import IMAPClient

from backstop.connectors.base import (
    Connector,
    Delete,
    DeleteFolder,
    EntityInfo,
    Folder,
    Item,
    NewCursor,
    RestoreItem,
    RestoreOptions,
    Upsert,
)
from backstop.connectors.errors import AuthError, ItemError, SourceError, Unavailable
from backstop.connectors.imap import (
    ImapConnector,
    decode_words,
    folder_path,
    imap_name,
    parse_headers,
)
from tests.connectors.conformance import *  # noqa: F403
from tests.connectors.conformance import Mirror, _content
from tests.connectors.dovecot import Dovecot, TokenServer, free_port

_counter = itertools.count()
DELIM = "."  # the test Dovecot's separator (Maildir++)


def message(subject: str, body: str = "Hello.\r\n", message_id: str | None = "auto", **headers: str) -> bytes:
    n = next(_counter)
    lines = [f"From: Sender {n} <sender{n}@example.test>", "To: owner@example.test", f"Subject: {subject}"]
    lines.append("Date: Mon, 03 Feb 2025 10:00:00 +0100")
    if message_id == "auto":
        message_id = f"<m{n}.{os.getpid()}@example.test>"
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


class ImapHarness:
    """The conformance suite's view of a fresh Dovecot mailbox."""

    def __init__(self, dovecot: Dovecot) -> None:
        self.dovecot = dovecot
        self.user, self.password = dovecot.new_user()
        user = self.user
        self.settings: dict[str, Any] = {
            "host": dovecot.host,
            "port": dovecot.port,
            "security": "none",
            "auth": "password",
            "username": user,
            "timeout": 30,
        }

    # -- direct access as the mailbox owner ----------------------------------------------------
    def client(self) -> IMAPClient:
        client = IMAPClient(self.dovecot.host, port=self.dovecot.port, ssl=False, timeout=60)
        client.login(self.user, self.password)
        client.normalise_times = False
        return client

    def append(self, folder: str, *messages: bytes | dict[str, Any]) -> None:
        with self.client() as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            c.multiappend(folder, list(messages))  # literals as they are: no line-ending rewrite

    def fetch_all(self, folder: str, items: list[str]) -> dict[int, dict[bytes, Any]]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            return c.fetch(uids, items) if uids else {}

    # -- Harness protocol ----------------------------------------------------------------------
    def connector(self, **overrides: Any) -> ImapConnector:
        return ImapConnector({**self.settings, **overrides}, {"password": self.password})

    def entity(self) -> EntityInfo:
        return EntityInfo(key=self.user, name=self.user, email=self.user, kind="mailbox")

    def seed(self) -> None:
        self.append("INBOX", message("first in inbox"), message("second in inbox"))
        self.append("Archiv", message("archived"))
        self.append("Archiv.Größe", message("größer als gedacht"))
        self.append("日本語", message("日本語の件名"))

    def _locate(self, path: str) -> tuple[str, int]:
        folder, _, leaf = path.rpartition("/")
        return imap_name(folder, DELIM), int(leaf.removesuffix(".eml"))

    def add_item(self, folder: str, name: str, content: bytes) -> None:
        self.append(imap_name(folder, DELIM), content)

    def delete_item(self, path: str) -> None:
        folder, uid = self._locate(path)
        with self.client() as c:
            c.select_folder(folder)
            c.delete_messages([uid])
            c.uid_expunge([uid])

    def change_content(self, path: str, content: bytes) -> None:
        # IMAP messages are immutable: a changed message is an expunge and an append.
        self.delete_item(path)
        self.append(self._locate(path)[0], content)

    def rename_folder(self, old: str, new: str) -> None:
        with self.client() as c:
            c.rename_folder(imap_name(old, DELIM), imap_name(new, DELIM))

    def revoke(self) -> None:
        self.dovecot.set_password(self.user, "changed-" + self.password)

    def read_back(self, folder: str) -> list[bytes]:
        data = self.fetch_all(imap_name(folder, DELIM), ["BODY.PEEK[]"])
        return [v[b"BODY[]"] for v in data.values()]


@pytest.fixture
def mailbox(dovecot: Dovecot) -> ImapHarness:
    """A fresh, empty mailbox user for each test."""
    return ImapHarness(dovecot)


@pytest.fixture
def harness(mailbox: ImapHarness) -> ImapHarness:
    mailbox.seed()
    return mailbox


def sync(connector: Connector, entity: EntityInfo, mirror: Mirror | None = None) -> Mirror:
    mirror = mirror or Mirror(connector, entity)
    mirror.sync(None if not mirror.cursor else "__own__")
    return mirror


# -- folders --------------------------------------------------------------------------------------


def test_paths_and_names() -> None:
    assert folder_path("Archiv.Größe", ".") == "Archiv/Größe"
    assert folder_path("a/b.c", ".") == "a\u2215b/c"
    assert imap_name("a\u2215b/c", ".") == "a/b.c"
    assert folder_path("x/y", "/") == "x/y" and imap_name("x/y", "/") == "x/y"
    assert folder_path("flat/name", None) == "flat\u2215name"
    assert imap_name("flat\u2215name", None) == "flat/name"
    assert "//" not in folder_path("a..b", ".")


def test_nested_and_non_ascii_folders(mailbox: ImapHarness) -> None:
    mailbox.append("Archiv.Größe", message("g"))
    mailbox.append("日本語", message("j"))
    with mailbox.client() as c:
        c.create_folder("Empty")
    with mailbox.connector() as conn:
        changes = list(conn.changes(mailbox.entity(), None, Mirror(conn, mailbox.entity())))
        folders = {c.path: c.meta for c in changes if isinstance(c, Folder)}
        items = {c.item.path: c.item for c in changes if isinstance(c, Upsert)}
    assert set(folders) == {"INBOX", "Archiv/Größe", "日本語", "Empty"}  # "Archiv" is \Noselect
    assert folders["Archiv/Größe"]["name"] == "Archiv.Größe" and folders["Archiv/Größe"]["delimiter"] == "."
    assert items["Archiv/Größe/1.eml"].meta["folder"] == "Archiv.Größe"
    assert items["日本語/1.eml"].meta["folder"] == "日本語"
    assert isinstance(changes[-1], NewCursor)


def test_slash_inside_names_under_a_dot_separator() -> None:
    # LAYOUT=index allows "/" inside a name under the "." separator.
    with Dovecot(layout="index") as server:
        box = ImapHarness(server)
        box.append("Projekte/2024.Q1", message("slash in a name"), message("second"))
        box.append("Archiv.Größe", message("g"))
        conn = box.connector()
        with conn:
            mirror = Mirror(conn, box.entity())
            changes = list(conn.changes(box.entity(), None, mirror))
            folders = {c.path: c.meta for c in changes if isinstance(c, Folder)}
            assert set(folders) == {"INBOX", "Projekte\u22152024/Q1", "Archiv/Größe"}
            mirror.sync(None)
            item = mirror.by_path()["Projekte\u22152024/Q1/1.eml"][0]
            assert item.meta["folder"] == "Projekte/2024.Q1"
            assert mirror.sync() == []
            with box.client() as c:
                c.select_folder("Projekte/2024.Q1")
                c.add_flags([2], [b"\\Seen"])
                c.delete_messages([1])
                c.uid_expunge([1])
            news = mirror.sync()
            assert sorted(type(c).__name__ for c in news) == ["Delete", "Upsert"]
            target = "Projekte\u22152024/Q1/Wieder/1.eml"
            restored = list(
                conn.restore(
                    box.entity(), [RestoreItem(item, lambda: io.BytesIO(b"x\r\n"), target)], RestoreOptions()
                )
            )
            assert [r.status for r in restored] == ["restored"]
            assert box.read_back("Projekte\u22152024/Q1/Wieder") == [b"x\r\n"]


def test_folder_rename_and_deletion_are_followed(mailbox: ImapHarness) -> None:
    mailbox.append("Keep", message("k"))
    mailbox.append("Old.Child", message("c1"), message("c2"))
    mailbox.append("Gone", message("g"))
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        assert len(mirror.items) == 4
        with mailbox.client() as c:
            c.rename_folder("Old.Child", "Neu.Kind")
            c.delete_folder("Gone")
        news = mirror.sync()
        paths = sorted(item.path for item, _ in mirror.items.values())
        assert paths == ["Keep/1.eml", "Neu/Kind/1.eml", "Neu/Kind/2.eml"]
        assert {c.path for c in news if isinstance(c, DeleteFolder)} == {"Old/Child", "Gone"}
        assert mirror.sync() == []


def test_a_deleted_parent_keeps_its_children(mailbox: ImapHarness) -> None:
    mailbox.append("Parent", message("p"))
    mailbox.append("Parent.Child", message("c"))
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        with mailbox.client() as c:
            c.delete_folder("Parent")  # with children left, it becomes \Noselect
        news = mirror.sync()
        assert not any(isinstance(c, DeleteFolder) for c in news)
        assert sorted(item.path for item, _ in mirror.items.values()) == ["Parent/Child/1.eml"]


def test_a_folder_emptied_and_refilled(mailbox: ImapHarness) -> None:
    mailbox.append("Box", message("a"), message("b"))
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        with mailbox.client() as c:
            c.select_folder("Box")
            c.delete_messages([1, 2])
            c.uid_expunge([1, 2])
        news = mirror.sync()
        assert sorted(type(c).__name__ for c in news) == ["Delete", "Delete"] and not mirror.items
        assert mirror.sync() == []
        mailbox.append("Box", message("c"))
        assert [c.item.name for c in mirror.sync() if isinstance(c, Upsert)] == ["c"]


def test_new_uidvalidity_relists_the_folder(mailbox: ImapHarness) -> None:
    mailbox.append("Box", message("a"), message("b"))
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        old_keys = set(mirror.items)
        with mailbox.client() as c:  # delete and create again: a new UIDVALIDITY
            c.delete_folder("Box")
        mailbox.append("Box", message("c"))
        news = mirror.sync()
        assert old_keys.isdisjoint(mirror.items)
        assert [item.name for item, _ in mirror.items.values()] == ["c"]
        assert sum(isinstance(c, Delete) for c in news) == 2


# -- many messages, incremental -------------------------------------------------------------------


def test_thousands_of_messages_and_an_exact_increment(mailbox: ImapHarness) -> None:
    total = 3000
    mailbox.append("INBOX", *[message(f"bulk {i}", body=f"message {i}\r\n") for i in range(total)])
    conn = mailbox.connector()
    with conn:
        mirror = sync(conn, mailbox.entity())
        assert len(mirror.items) == total
        assert conn._qresync, "Dovecot advertises QRESYNC: the connector enables it"
        assert mirror.sync() == []
        before = {key: item for key, (item, _) in mirror.items.items()}
        searches: list[Any] = []
        search_in = conn._search_in
        conn._search_in = lambda name, criteria: searches.append(criteria) or search_in(name, criteria)  # type: ignore[method-assign]

        mailbox.append("INBOX", *[message(f"new {i}") for i in range(10)])
        with mailbox.client() as c:
            c.select_folder("INBOX")
            c.add_flags([5, 6, 7, 8, 9], [b"\\Flagged"])
            c.delete_messages([100, 200, 300])
            c.uid_expunge([100, 200, 300])
        news = mirror.sync()
        assert "ALL" not in searches, "with QRESYNC deletions come from VANISHED, not UID SEARCH ALL"

    upserts = [c.item for c in news if isinstance(c, Upsert)]
    deletes = [c.key for c in news if isinstance(c, Delete)]
    added = [i for i in upserts if i.key not in before]
    flagged = [i for i in upserts if i.key in before]
    assert sorted(i.name for i in added) == sorted(f"new {i}" for i in range(10))
    assert sorted(i.meta["uid"] for i in flagged) == [5, 6, 7, 8, 9]
    for item in flagged:
        assert "\\Flagged" in item.meta["flags"]
        assert item.version != before[item.key].version
        assert item.content_version == before[item.key].content_version
    assert sorted(int(before[k].meta["uid"]) for k in deletes) == [100, 200, 300]
    assert len(news) == 18
    assert len(mirror.items) == total + 10 - 3


def test_without_qresync_flags_and_deletions_come_from_comparison(mailbox: ImapHarness) -> None:
    mailbox.append("INBOX", *[message(f"m{i}") for i in range(20)])
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
    # A connector that does not enable CONDSTORE/QRESYNC (as against a server without them).
    plain = mailbox.connector()
    original = plain._connect

    def no_modseq() -> Any:
        client = original()
        plain._modseq = plain._qresync = False
        return client

    plain._connect = no_modseq  # type: ignore[method-assign]
    with plain:
        mirror.connector = plain
        mirror.sync(None)  # versions switch to flag digests: everything is news once
        assert mirror.sync() == []
        with mailbox.client() as c:
            c.select_folder("INBOX")
            c.add_flags([2], [b"\\Seen"])
            c.delete_messages([3])
            c.uid_expunge([3])
        mailbox.append("INBOX", message("late"))
        news = mirror.sync()
    assert sorted((type(c).__name__, c.item.name if isinstance(c, Upsert) else "") for c in news) == [
        ("Delete", ""),
        ("Upsert", "late"),
        ("Upsert", "m1"),
    ]


# -- awkward messages --------------------------------------------------------------------------


MALFORMED = (
    b"From: =?x-unknown-charset?Q?Caf=E9?= <cafe@example.test>\r\n"
    b"Subject: =?utf-8?B?broken base64!!?= and =?utf-8?Q?caf=C3=A9?=\r\n"
    b'Content-Type: multipart/mixed; boundary="never-closed"\r\n'
    b"MIME-Version: 1.0\r\n"
    b"\r\n"
    b"--never-closed\r\n"
    b"Content-Type: text/plain; charset=bogus\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"!!!! not base64 at all\r\n"
)
EIGHT_BIT = (
    b"From: J\xfcrgen M\xfcller <jm@example.test>\r\n"
    b"Subject: Gr\xfc\xdfe aus K\xf6ln\r\n"
    b"Message-ID: <8bit@example.test>\r\n"
    b"\r\n"
    b"Body with a bare LF line ending\nand a CR\ralone.\r\n"
)
NO_ID = b"From: a@example.test\r\nSubject: no message id\x00\r\n\r\nbody\r\n"


def test_awkward_messages_never_raise(mailbox: ImapHarness) -> None:
    mailbox.append("INBOX", MALFORMED, EIGHT_BIT, NO_ID)
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        by_uid = {item.meta["uid"]: item for item, _ in mirror.items.values()}
        assert by_uid[1].author.startswith("Caf") and "cafe@example.test" in by_uid[1].author
        assert "café" in by_uid[1].name
        assert by_uid[2].name == "Grüße aus Köln" and by_uid[2].author.startswith("Jürgen Müller")
        assert by_uid[3].meta["message_id"] == "" and by_uid[3].name == "no message id"
        stored = mailbox.fetch_all("INBOX", ["BODY.PEEK[]"])
        for uid, item in by_uid.items():
            assert _content(conn, mirror.entity, item) == stored[uid][b"BODY[]"]
            assert item.size == len(stored[uid][b"BODY[]"])
            assert item.modified is not None and item.modified.tzinfo is not None


def test_header_decoding_is_defensive() -> None:
    assert decode_words("=?iso-8859-1?q?J=FCrgen?=") == "Jürgen"
    assert decode_words("=?utf-8?B?5pel5pys?= =?utf-8?B?6Kqe?=") == "日本語"
    assert decode_words("=?utf-8?B?5pel?= =?utf-8?B?5pys6Kqe?=") == "日本語"
    assert decode_words("=?shift_jis?B?k/qWe4zq?=") == "日本語"
    assert decode_words("plain =?nonsense?X?abc?= text") == "plain =?nonsense?X?abc?= text"
    assert decode_words("=?no-such-charset?Q?abc?=") == "abc"
    headers = parse_headers(b"Subject: a\r\n  folded\r\nSUBJECT: second\r\nX: \xff\xfe\r\n")
    assert headers["subject"] == "a folded" and headers["x"] == "\xff\xfe"


def test_a_50_mb_message_round_trips_byte_exactly(mailbox: ImapHarness) -> None:
    import base64

    payload = base64.encodebytes(os.urandom(37 * 1024 * 1024)).replace(b"\n", b"\r\n")
    data = (
        b"From: big@example.test\r\nSubject: big attachment\r\nMessage-ID: <big@example.test>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + payload
        + b"--b--\r\n"
    )
    assert len(data) > 50 * 1000 * 1000
    mailbox.append("INBOX", data)
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        ((item, digest),) = mirror.items.values()
        assert item.size == len(data)
        assert digest == hashlib.sha256(data).hexdigest()


def test_open_a_vanished_message_is_an_item_error(mailbox: ImapHarness) -> None:
    mailbox.append("INBOX", message("soon gone"))
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        ((item, _),) = mirror.items.values()
        mailbox.delete_item(item.path)
        with pytest.raises(ItemError) as raised:
            conn.open(mirror.entity, item)
        assert raised.value.key == item.key


# -- restore -----------------------------------------------------------------------------------


def test_restore_keeps_bytes_flags_and_internal_date(mailbox: ImapHarness) -> None:
    when = datetime(2019, 5, 4, 3, 2, 1, tzinfo=UTC)
    mailbox.append(
        "Source.Sub",
        {"msg": EIGHT_BIT, "flags": [b"\\Seen", b"\\Flagged", b"$Label1"], "date": when},
        {"msg": NO_ID, "flags": [b"\\Answered"], "date": when - timedelta(days=400)},
    )
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        originals = sorted((item for item, _ in mirror.items.values()), key=lambda i: i.meta["uid"])
        contents = {i.key: _content(conn, mirror.entity, i) for i in originals}

        def restore(mode: str, target: str) -> list[str]:
            def opener(item: Item) -> Callable[[], BinaryIO]:
                return lambda: io.BytesIO(contents[item.key])

            items = [RestoreItem(i, opener(i), f"{target}/{i.meta['uid']}.eml") for i in originals]
            return [r.status for r in conn.restore(mirror.entity, items, RestoreOptions(mode))]  # type: ignore[arg-type]

        assert restore("new", "Restored/Deep/Er") == ["restored", "restored"]
        fetched = mailbox.fetch_all("Restored.Deep.Er", ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
        assert len(fetched) == 2
        for item, got in zip(originals, [fetched[u] for u in sorted(fetched)], strict=True):
            assert got[b"BODY[]"] == contents[item.key]
            flags = sorted(f.decode() for f in got[b"FLAGS"] if f != b"\\Recent")
            assert flags == sorted(item.meta["flags"]) and "\\Recent" not in item.meta["flags"]
            assert got[b"INTERNALDATE"].astimezone(UTC) == item.modified
        assert originals[0].modified == when

        assert restore("bypass", "Restored/Deep/Er") == ["skipped", "skipped"]
        assert restore("replace", "Restored/Deep/Er") == ["restored", "restored"]
        assert len(mailbox.fetch_all("Restored.Deep.Er", ["UID"])) == 2
        assert restore("new", "Restored/Deep/Er") == ["restored", "restored"]
        assert len(mailbox.fetch_all("Restored.Deep.Er", ["UID"])) == 4
        # In place: the original folder (its real IMAP name), bypass skips both.
        assert restore("bypass", "Source/Sub") == ["skipped", "skipped"]
        # "Source" is only a \\Noselect placeholder (LAYOUT=index): restoring there makes it real.
        assert restore("new", "Source") == ["restored", "restored"]
        assert len(mailbox.fetch_all("Source", ["UID"])) == 2


def test_restore_failure_is_a_result(mailbox: ImapHarness) -> None:
    mailbox.append("INBOX", message("x"))
    with mailbox.connector() as conn:
        mirror = sync(conn, mailbox.entity())
        ((item, _),) = mirror.items.values()

        def broken() -> Any:
            raise OSError("repository unreadable")

        results = list(
            conn.restore(
                mirror.entity,
                [
                    RestoreItem(item, broken, "INBOX/1.eml"),
                    RestoreItem(item, lambda: io.BytesIO(b"x\r\n"), "INBOX/2.eml"),
                ],
                RestoreOptions("new"),
            )
        )
        assert [r.status for r in results] == ["failed", "restored"]
        assert "repository unreadable" in results[0].message and results[1].new_key


# -- errors and connections ------------------------------------------------------------------------


def test_wrong_password_is_an_auth_error(mailbox: ImapHarness) -> None:
    conn = ImapConnector(mailbox.settings, {"password": "wrong"})
    with pytest.raises(AuthError):
        conn.check()
    with pytest.raises(AuthError):
        ImapConnector(mailbox.settings, {}).check()


def test_closed_port_is_unavailable(mailbox: ImapHarness) -> None:
    with pytest.raises(Unavailable):
        ImapConnector({**mailbox.settings, "port": free_port(), "timeout": 5}, {"password": "x"}).check()


def test_a_silent_server_times_out_as_unavailable(mailbox: ImapHarness) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)  # accepts connections (the kernel does) and never says a word
        port = listener.getsockname()[1]
        conn = ImapConnector({**mailbox.settings, "port": port, "timeout": 0.5}, {"password": "x"})
        with pytest.raises(Unavailable):
            conn.check()


def test_a_stopped_server_is_unavailable_and_a_dropped_connection_reconnects() -> None:
    with Dovecot() as server:
        box = ImapHarness(server)
        box.append("INBOX", message("one"))
        conn = box.connector()
        with conn:
            mirror = sync(conn, box.entity())
            ((item, _),) = mirror.items.values()
            # Drop the connection under the connector: it reconnects once and goes on.
            assert conn._conn is not None
            conn._conn.socket().shutdown(socket.SHUT_RDWR)
            assert _content(conn, mirror.entity, item).startswith(b"From:")
            server.stop()
            assert conn._conn is not None  # whatever the old session process does:
            conn._conn.socket().shutdown(socket.SHUT_RDWR)
            with pytest.raises(Unavailable):
                conn.open(mirror.entity, item)
            with pytest.raises(Unavailable):
                list(conn.changes(mirror.entity, mirror.cursor, mirror))


# -- TLS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_with_a_trusted_ca_file(mailbox: ImapHarness, dovecot: Dovecot, security: str) -> None:
    mailbox.append("INBOX", message("over tls"))
    port = dovecot.tls_port if security == "tls" else dovecot.port
    settings = {"security": security, "port": port, "tls_ca_file": str(dovecot.cert)}
    conn = mailbox.connector(**settings)
    with conn:
        conn.check()
        mirror = sync(conn, mailbox.entity())
        assert [i.name for i, _ in mirror.items.values()] == ["over tls"]
        assert conn._conn is not None and conn._conn.socket().version()  # an SSLSocket
    # The same without the CA: refused, unless verification is explicitly off.
    with pytest.raises(SourceError):
        mailbox.connector(security=security, port=port).check()
    with mailbox.connector(security=security, port=port, tls_verify=False) as unverified:
        unverified.check()


# -- XOAUTH2 -------------------------------------------------------------------------------------


def test_xoauth2(mailbox: ImapHarness, token_server: TokenServer) -> None:
    mailbox.append("INBOX", message("via oauth"))
    token_server.tokens["good-token-" + mailbox.user] = mailbox.user
    settings = {**mailbox.settings, "auth": "xoauth2"}
    asked = token_server.requests
    conn = ImapConnector(settings, {"access_token": "good-token-" + mailbox.user})
    with conn:
        conn.check()
        mirror = sync(conn, mailbox.entity())
        assert [i.name for i, _ in mirror.items.values()] == ["via oauth"]
    assert token_server.requests > asked  # Dovecot really asked the introspection endpoint
    with pytest.raises(AuthError):
        ImapConnector(settings, {"access_token": "revoked"}).check()
    # A token for another user does not open this mailbox.
    token_server.tokens["someone-else"] = "other@example.test"
    with pytest.raises(AuthError):
        ImapConnector(settings, {"access_token": "someone-else"}).check()


def test_discover() -> None:
    conn = ImapConnector({"username": "a@example.test"}, {})
    (entity,) = conn.discover()
    assert (entity.key, entity.email, entity.kind) == ("a@example.test", "a@example.test", "mailbox")
    (entity,) = ImapConnector({"username": "plainuser"}, {}).discover()
    assert entity.email == ""


def test_connector_is_usable_from_another_thread(mailbox: ImapHarness) -> None:
    # The pipeline may run a connector in a worker thread: nothing is bound to the creating one.
    mailbox.append("INBOX", message("threaded"))
    found: list[Item] = []
    with mailbox.connector() as conn:
        worker = threading.Thread(
            target=lambda: found.extend(i for i, _ in sync(conn, mailbox.entity()).items.values())
        )
        worker.start()
        worker.join()
    assert [i.name for i in found] == ["threaded"]
