"""The Box emulator over real HTTP: OAuth, paging, As-User, errors, uploads and versions,
changes and their events, fault injection."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backstop.sandbox.box import BoxSandbox
from backstop.sandbox.box.store import Item, State, User

REDIRECT = "http://localhost:9/callback"


@dataclass
class World:
    sb: BoxSandbox
    admin: User
    bob: User
    carol: User
    docs: Item
    report: Item

    def client(self, user: User | None = None, as_user: User | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.sb.token(user or self.admin)}"}
        if as_user is not None:
            headers["As-User"] = as_user.id
        return httpx.Client(base_url=self.sb.url, headers=headers, timeout=10)


@pytest.fixture
def world() -> Iterator[World]:
    sb = BoxSandbox().start()
    st = sb.state
    ent = st.enterprise("Acme")
    admin = st.admin(ent, "Ada Admin", login="ada@acme.test")
    bob = st.user(ent, "Bob Builder", login="bob@acme.test")
    carol = st.user(ent, "Carol Café", login="carol@acme.test")
    docs = st.folder(None, "Documents", user=bob)
    report = st.file(
        docs, "report.txt", b"quarterly numbers\n", user=bob, content_modified_at="2024-05-01T10:00:00Z"
    )
    sb.register_app("test-client", "test-secret", [REDIRECT], name="Backstop Test")
    try:
        yield World(sb, admin, bob, carol, docs, report)
    finally:
        sb.stop()


def _authorize(http: httpx.Client, user: User, accept: bool = True) -> httpx.Response:
    params = {"response_type": "code", "client_id": "test-client", "redirect_uri": REDIRECT, "state": "xyz"}
    page = http.get("/api/oauth2/authorize", params=params)
    assert page.status_code == 200
    assert "Grant access to Box" in page.text and 'id="consent_accept"' in page.text
    assert "Backstop Test" in page.text and user.login in page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None and action.group(1).startswith(http.base_url.scheme + "://")
    form = {**params, "user_id": user.id, "consent": "accept" if accept else "deny"}
    return http.post(action.group(1), data=form)


def test_oauth_flow_end_to_end(world: World) -> None:
    http = httpx.Client(base_url=world.sb.url, timeout=10)
    answer = _authorize(http, world.admin)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.geturl().startswith(REDIRECT)
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    code = query["code"][0]

    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "test-client",
        "client_secret": "test-secret",
        "redirect_uri": REDIRECT,
    }
    token = http.post("/oauth2/token", data=form)
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600 and body["restricted_to"] == []
    # A code is single use.
    again = http.post("/oauth2/token", data=form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    me = http.get("/2.0/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == world.admin.id

    refresh = {"grant_type": "refresh_token", "client_id": "test-client", "client_secret": "test-secret"}
    rotated = http.post("/oauth2/token", data={**refresh, "refresh_token": body["refresh_token"]})
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != body["refresh_token"] and new["access_token"] != body["access_token"]
    reused = http.post("/oauth2/token", data={**refresh, "refresh_token": body["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    bad_client = http.post(
        "/oauth2/token", data={**refresh, "client_secret": "nope", "refresh_token": new["refresh_token"]}
    )
    assert bad_client.status_code == 400 and bad_client.json()["error"] == "invalid_client"

    auth = {"Authorization": f"Bearer {new['access_token']}"}
    assert http.get("/2.0/users/me", headers=auth).status_code == 200
    assert (
        http.post(
            "/oauth2/revoke",
            data={"token": new["access_token"], "client_id": "test-client", "client_secret": "test-secret"},
        ).status_code
        == 200
    )
    gone = http.get("/2.0/users/me", headers=auth)
    assert gone.status_code == 401
    assert "WWW-Authenticate" in gone.headers
    assert gone.json()["type"] == "error" and gone.json()["code"] == "unauthorized"


def test_oauth_deny_expired_code_and_token_expiry(world: World) -> None:
    http = httpx.Client(base_url=world.sb.url, timeout=10)
    denied = _authorize(http, world.admin, accept=False)
    query = parse_qs(urlsplit(denied.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["xyz"]

    code = parse_qs(urlsplit(_authorize(http, world.admin).headers["Location"]).query)["code"][0]
    world.sb.state.advance(31)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "test-client",
        "client_secret": "test-secret",
    }
    assert http.post("/oauth2/token", data=form).json()["error"] == "invalid_grant"

    tok = world.sb.state.issue_token(world.admin, "test-client")
    auth = {"Authorization": f"Bearer {tok.access_token}"}
    assert http.get("/2.0/users/me", headers=auth).status_code == 200
    world.sb.state.advance(3601)
    assert http.get("/2.0/users/me", headers=auth).status_code == 401
    refresh = {"grant_type": "refresh_token", "client_id": "test-client", "client_secret": "test-secret"}
    assert http.post("/oauth2/token", data={**refresh, "refresh_token": tok.refresh_token}).status_code == 200
    # A wrong redirect URI never gets a code.
    bad = http.get(
        "/api/oauth2/authorize",
        params={"response_type": "code", "client_id": "test-client", "redirect_uri": "http://evil/"},
    )
    assert bad.status_code == 400
    # Revoking a user's tokens from the admin API.
    tok2 = world.sb.state.issue_token(world.bob)
    world.sb.state.revoke_user_tokens(world.bob)
    assert (
        http.get("/2.0/users/me", headers={"Authorization": f"Bearer {tok2.access_token}"}).status_code == 401
    )


def test_missing_token_is_401(world: World) -> None:
    r = httpx.get(world.sb.url + "/2.0/folders/0")
    assert r.status_code == 401 and r.json()["status"] == 401


def _all_offset(c: httpx.Client, folder_id: str, limit: int) -> list[str]:
    ids: list[str] = []
    offset = 0
    while True:
        page = c.get(f"/2.0/folders/{folder_id}/items", params={"limit": limit, "offset": offset}).json()
        ids += [e["id"] for e in page["entries"]]
        offset += page["limit"]
        if offset >= page["total_count"]:
            return ids


def _all_marker(c: httpx.Client, folder_id: str, limit: int) -> list[str]:
    ids: list[str] = []
    params: dict[str, str | int] = {"limit": limit, "usemarker": "true", "fields": "name,size,modified_at"}
    while True:
        page = c.get(f"/2.0/folders/{folder_id}/items", params=params).json()
        assert "total_count" not in page
        for e in page["entries"]:
            assert set(e) >= {"type", "id", "etag", "name", "size", "modified_at"}
            ids.append(e["id"])
        if not page.get("next_marker"):
            return ids
        params["marker"] = page["next_marker"]


def test_paging_each_item_exactly_once(world: World) -> None:
    st = world.sb.state
    big = st.folder(None, "Big", user=world.bob)
    with st.quiet():
        for i in range(2400):
            st.file(big, f"file {i:05d} é.bin", str(i).encode(), user=world.bob)
        for i in range(100):
            st.folder(big, f"sub {i}", user=world.bob)
    c = world.client(as_user=world.bob)
    expected = {i.id for i in st.children(big)}
    assert len(expected) == 2500
    by_offset = _all_offset(c, big.id, 1000)
    assert len(by_offset) == 2500 and set(by_offset) == expected
    assert c.get(f"/2.0/folders/{big.id}/items", params={"limit": 5000}).json()["limit"] == 1000
    by_marker = _all_marker(c, big.id, 333)
    assert len(by_marker) == 2500 and set(by_marker) == expected
    # Folders come first, then files by name.
    first = c.get(f"/2.0/folders/{big.id}/items", params={"limit": 101}).json()["entries"]
    assert [e["type"] for e in first[:100]] == ["folder"] * 100 and first[100]["type"] == "file"


def test_marker_paging_survives_inserts(world: World) -> None:
    st = world.sb.state
    big = st.folder(None, "Grow", user=world.bob)
    for i in range(50):
        st.file(big, f"f{i:03d}", b"x", user=world.bob)
    c = world.client(as_user=world.bob)
    page = c.get(f"/2.0/folders/{big.id}/items", params={"limit": 20, "usemarker": "true"}).json()
    seen = [e["id"] for e in page["entries"]]
    st.file(big, "a-first", b"y", user=world.bob)  # sorts before the marker: not seen, nothing repeats
    marker = page["next_marker"]
    while marker:
        page = c.get(
            f"/2.0/folders/{big.id}/items", params={"limit": 20, "usemarker": "true", "marker": marker}
        ).json()
        seen += [e["id"] for e in page["entries"]]
        marker = page["next_marker"]
    assert len(seen) == len(set(seen)) == 50


def test_users_and_as_user(world: World) -> None:
    st = world.sb.state
    ent = st.enterprises[world.admin.enterprise_id]
    for i in range(7):
        st.user(ent, f"User {i}")
    c = world.client()
    page = c.get("/2.0/users", params={"limit": 4}).json()
    assert page["total_count"] == 10 and len(page["entries"]) == 4
    ids: list[str] = []
    params: dict[str, str | int] = {"limit": 3, "usemarker": "true"}
    while True:
        page = c.get("/2.0/users", params=params).json()
        ids += [u["id"] for u in page["entries"]]
        if not page.get("next_marker"):
            break
        params["marker"] = page["next_marker"]
    assert len(ids) == len(set(ids)) == 10

    # The admin sees their own root without As-User, Bob's with it.
    assert c.get("/2.0/folders/0/items").json()["total_count"] == 0
    as_bob = world.client(as_user=world.bob)
    assert as_bob.get("/2.0/users/me").json()["id"] == world.bob.id
    assert [e["name"] for e in as_bob.get("/2.0/folders/0/items").json()["entries"]] == ["Documents"]
    # Another user's file is not found, without As-User.
    missing = c.get(f"/2.0/files/{world.report.id}")
    assert missing.status_code == 404
    assert missing.json()["type"] == "error" and missing.json()["status"] == 404
    # Non-admins may neither list users nor use As-User.
    bob = world.client(world.bob)
    assert bob.get("/2.0/users").status_code == 403
    forbidden = world.client(world.bob, as_user=world.carol).get("/2.0/users/me")
    assert (
        forbidden.status_code == 403 and forbidden.json()["code"] == "access_denied_insufficient_permissions"
    )


def test_file_folder_shapes_and_fields(world: World) -> None:
    c = world.client(as_user=world.bob)
    f = c.get(f"/2.0/files/{world.report.id}").json()
    assert f["sha1"] == hashlib.sha1(b"quarterly numbers\n").hexdigest()
    assert f["file_version"]["sha1"] == f["sha1"] and f["size"] == 18
    assert [p["name"] for p in f["path_collection"]["entries"]] == ["All Files", "Documents"]
    assert f["content_modified_at"] == "2024-05-01T03:00:00-07:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d", f["modified_at"])
    assert f["owned_by"]["login"] == "bob@acme.test" and f["item_status"] == "active"
    few = c.get(f"/2.0/files/{world.report.id}", params={"fields": "name,size"}).json()
    assert set(few) == {"type", "id", "etag", "name", "size"}
    root = c.get("/2.0/folders/0").json()
    assert root["id"] == "0" and root["name"] == "All Files" and root["parent"] is None
    assert root["item_collection"]["total_count"] == 1
    assert c.get("/2.0/folders/999").status_code == 404
    assert c.get(f"/2.0/folders/{world.report.id}").status_code == 404  # a file is not a folder


def test_upload_new_version_versions_and_download(world: World) -> None:
    c = world.client(as_user=world.bob)
    attrs = {
        "name": "ñame: weird?.txt",
        "parent": {"id": world.docs.id},
        "content_modified_at": "2023-01-02T03:04:05-08:00",
    }
    up = c.post(
        "/api/2.0/files/content",
        files={"attributes": (None, json.dumps(attrs)), "file": ("x", b"v1 content")},
    )
    assert up.status_code == 201
    body = up.json()
    assert body["total_count"] == 1
    f = body["entries"][0]
    assert f["name"] == "ñame: weird?.txt" and f["sha1"] == hashlib.sha1(b"v1 content").hexdigest()
    assert f["content_modified_at"] == "2023-01-02T03:04:05-08:00"
    clash = c.post(
        "/api/2.0/files/content", files={"attributes": (None, json.dumps(attrs)), "file": ("x", b"again")}
    )
    assert clash.status_code == 409 and clash.json()["code"] == "item_name_in_use"
    assert clash.json()["context_info"]["conflicts"]["id"] == f["id"]

    v2 = c.post(
        f"/api/2.0/files/{f['id']}/content",
        files={
            "attributes": (None, json.dumps({"content_modified_at": "2023-02-01T00:00:00Z"})),
            "file": ("x", b"v2 content!"),
        },
    )
    assert v2.status_code == 200
    f2 = v2.json()["entries"][0]
    assert f2["id"] == f["id"] and f2["sha1"] == hashlib.sha1(b"v2 content!").hexdigest()
    assert f2["file_version"]["id"] != f["file_version"]["id"]

    versions = c.get(f"/2.0/files/{f['id']}/versions").json()
    assert versions["total_count"] == 1
    old = versions["entries"][0]
    assert old["type"] == "file_version" and old["id"] == f["file_version"]["id"] and old["sha1"] == f["sha1"]
    assert old["size"] == len(b"v1 content")

    r = c.get(f"/2.0/files/{f['id']}/content")
    assert r.status_code == 302 and "/d/1/" in r.headers["Location"]
    current = c.get(f"/2.0/files/{f['id']}/content", follow_redirects=True)
    assert hashlib.sha1(current.content).hexdigest() == f2["sha1"]
    previous = c.get(f"/2.0/files/{f['id']}/content", params={"version": old["id"]}, follow_redirects=True)
    assert previous.content == b"v1 content"
    ranged = c.get(f"/2.0/files/{f['id']}/content", headers={"Range": "bytes=3-5"}, follow_redirects=True)
    assert ranged.status_code == 206 and ranged.content == b"con"


def test_changes_and_events(world: World) -> None:
    c = world.client(as_user=world.bob)
    first = c.get("/2.0/events", params={"stream_position": "0"}).json()
    assert [e["event_type"] for e in first["entries"]] == ["ITEM_CREATE", "ITEM_UPLOAD"]
    now = c.get("/2.0/events", params={"stream_position": "now"}).json()
    assert now["entries"] == [] and now["chunk_size"] == 0
    pos = now["next_stream_position"]
    assert c.get("/2.0/events", params={"stream_position": pos}).json()["entries"] == []

    made = c.post("/2.0/folders", json={"name": "Archive", "parent": {"id": "0"}})
    assert made.status_code == 201
    archive = made.json()
    dup = c.post("/2.0/folders", json={"name": "archive", "parent": {"id": "0"}})
    assert dup.status_code == 409 and dup.json()["code"] == "item_name_in_use"
    assert dup.json()["context_info"]["conflicts"][0]["id"] == archive["id"]

    renamed = c.put(f"/2.0/files/{world.report.id}", json={"name": "report-final.txt"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "report-final.txt"
    moved = c.put(f"/2.0/files/{world.report.id}", json={"parent": {"id": archive["id"]}})
    assert moved.json()["parent"]["id"] == archive["id"]
    assert c.delete(f"/2.0/files/{world.report.id}").status_code == 204
    assert c.get(f"/2.0/files/{world.report.id}").status_code == 404
    st = world.sb.state
    st.file(world.docs, "keep.txt", b"k", user=world.bob)
    not_empty = c.delete(f"/2.0/folders/{world.docs.id}")
    assert not_empty.status_code == 400 and not_empty.json()["code"] == "folder_not_empty"
    assert c.delete(f"/2.0/folders/{world.docs.id}", params={"recursive": "true"}).status_code == 204
    st.restore(world.report)
    st.copy(world.report, st.root(world.bob))

    events = c.get("/2.0/events", params={"stream_position": pos, "limit": 3}).json()
    assert events["chunk_size"] == 3
    types = [e["event_type"] for e in events["entries"]]
    rest = c.get("/2.0/events", params={"stream_position": events["next_stream_position"]}).json()
    assert int(rest["next_stream_position"]) > int(events["next_stream_position"]) > int(pos)
    types += [e["event_type"] for e in rest["entries"]]
    assert types == [
        "ITEM_CREATE",
        "ITEM_RENAME",
        "ITEM_MOVE",
        "ITEM_TRASH",
        "ITEM_UPLOAD",
        "ITEM_TRASH",
        "ITEM_UNDELETE_VIA_TRASH",
        "ITEM_COPY",
    ]
    all_entries = events["entries"] + rest["entries"]
    assert all_entries[3]["source"]["item_status"] == "trashed"
    assert all_entries[1]["source"]["name"] == "report-final.txt"
    assert all(e["type"] == "event" and e["created_by"]["id"] == world.bob.id for e in all_entries)
    # The admin's own stream saw none of Bob's changes.
    assert (
        c.get("/2.0/events", params={"stream_position": pos}, headers={"As-User": world.admin.id}).json()[
            "entries"
        ]
        == []
    )


def test_event_retention(world: World) -> None:
    st = world.sb.state
    c = world.client(as_user=world.bob)
    old = c.get("/2.0/events", params={"stream_position": "0"}).json()["entries"]
    start = c.get("/2.0/events", params={"stream_position": "1"}).json()
    assert len(old) == 2 and start["chunk_size"] == 2
    st.event_retention = 60
    st.advance(120)
    st.rename(world.report, "new.txt")
    resumed = c.get("/2.0/events", params={"stream_position": "1"}).json()
    assert [e["event_type"] for e in resumed["entries"]] == ["ITEM_RENAME"]
    st.expired_stream_position = "error"
    err = c.get("/2.0/events", params={"stream_position": "1"})
    assert err.status_code == 400 and err.json()["context_info"]["reason"] == "stream_position_expired"


def test_faults(world: World) -> None:
    sb = world.sb
    c = world.client(as_user=world.bob)
    sb.faults.add("429", path=r"/items$", times=1, retry_after=3)
    r = c.get("/2.0/folders/0/items")
    assert r.status_code == 429 and r.headers["Retry-After"] == "3" and r.json()["status"] == 429
    assert c.get("/2.0/folders/0/items").status_code == 200

    sb.faults.add("500", path=r"/2\.0/files/", method="GET", times=1)
    r = c.get(f"/2.0/files/{world.report.id}")
    assert r.status_code == 500 and r.json()["code"] == "internal_server_error"
    assert c.get(f"/2.0/files/{world.report.id}").status_code == 200

    sb.faults.add("503", times=1)
    assert c.get("/2.0/users/me").status_code == 503

    sb.faults.add("drop", path=r"/users/me", times=1)
    with pytest.raises(httpx.TransportError):
        c.get("/2.0/users/me")
    assert c.get("/2.0/users/me").status_code == 200

    sb.faults.add("latency", latency=0.3, path=r"/users/me", times=1)
    t0 = time.monotonic()
    assert c.get("/2.0/users/me").status_code == 200
    assert time.monotonic() - t0 >= 0.3

    sb.faults.latency = 0.05
    t0 = time.monotonic()
    c.get("/2.0/users/me")
    assert time.monotonic() - t0 >= 0.05
    sb.faults.clear()

    rule = sb.faults.add("500", probability=0.5, seed=3)
    codes = [c.get("/2.0/users/me").status_code for _ in range(40)]
    assert 5 < codes.count(500) < 35 and rule.fired == codes.count(500)
    sb.faults.clear()

    tok = sb.state.issue_token(world.admin)
    sb.faults.add("revoke", times=1)
    assert (
        httpx.get(
            sb.url + "/2.0/users/me", headers={"Authorization": f"Bearer {tok.access_token}"}
        ).status_code
        == 401
    )
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tok.refresh_token,
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
    }
    assert httpx.post(sb.url + "/oauth2/token", data=form).status_code == 200

    assert sb.stats.count(r"/users/me", "GET") >= 45
    assert sb.stats.by_route[f"GET /2.0/files/{world.report.id}"] == 2


def test_mountable_under_a_prefix(world: World) -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    outer = DispatcherMiddleware(Response("outer"), {"/sandbox/box": world.sb.app})
    client = Client(outer)
    token = world.sb.token(world.bob)
    r = client.get(
        f"/sandbox/box/2.0/files/{world.report.id}/content", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 302 and r.headers["Location"].startswith("http://localhost/sandbox/box/d/1/")
    page = client.get(
        "/sandbox/box/api/oauth2/authorize",
        query_string={
            "client_id": world.sb.client_id,
            "response_type": "code",
            "redirect_uri": "http://x/cb",
        },
    )
    assert 'action="http://localhost/sandbox/box/api/oauth2/authorize"' in page.get_data(as_text=True)


def test_state_is_independent_per_sandbox() -> None:
    a, b = State(), State()
    a.user(a.enterprise(), "Solo")
    assert len(a.users) == 1 and not b.users


def test_seeded_enterprise_is_deterministic_and_served() -> None:
    from backstop.sandbox.box.seed import generate_enterprise

    def snapshot(st: State) -> list[tuple[str, str, int, str, int]]:
        return [
            (i.name, st.path(i)[-1].name, i.current.blob.size, i.current.blob.sha1, len(i.versions))
            for i in st.items.values()
            if i.type == "file"
        ]

    a, b = State(), State()
    gen = generate_enterprise(a, users=4, files=600, versions_ratio=0.2, seed=5)
    generate_enterprise(b, users=4, files=600, versions_ratio=0.2, seed=5)
    assert snapshot(a) == snapshot(b)
    assert gen.files == 600 and gen.versions > 0 and gen.admin.is_admin and len(gen.users) == 4
    names = [i.name for i in a.items.values()]
    assert len(names) > len(set(names))  # duplicate names in different folders
    assert any(not n.isascii() for n in names) and any(":" in n or "?" in n for n in names)
    assert max(len(a.path(i)) for i in a.items.values()) >= 4
    sb = BoxSandbox(a).start()
    try:
        user = gen.users[1]
        c = httpx.Client(
            base_url=sb.url, headers={"Authorization": f"Bearer {sb.token(gen.admin)}", "As-User": user.id}
        )
        entries = c.get("/2.0/folders/0/items", params={"fields": "name,sha1,size"}).json()["entries"]
        some = (
            next(e for e in entries if e["type"] == "file")
            if any(e["type"] == "file" for e in entries)
            else None
        )
        folder = next(e for e in entries if e["type"] == "folder")
        assert c.get(f"/2.0/folders/{folder['id']}").status_code == 200
        if some is not None:
            data = c.get(f"/2.0/files/{some['id']}/content", follow_redirects=True).content
            assert hashlib.sha1(data).hexdigest() == some["sha1"] and len(data) == some["size"]
        versioned = next(
            i for i in a.items.values() if i.type == "file" and len(i.versions) > 1 and i.owner_id == user.id
        )
        versions = c.get(f"/2.0/files/{versioned.id}/versions").json()
        assert versions["total_count"] == len(versioned.versions) - 1
        old = versions["entries"][-1]
        data = c.get(
            f"/2.0/files/{versioned.id}/content", params={"version": old["id"]}, follow_redirects=True
        ).content
        assert hashlib.sha1(data).hexdigest() == old["sha1"]
    finally:
        sb.stop()


def test_generated_messages() -> None:
    import email
    import email.policy

    from backstop.sandbox.mail import generate_messages

    first = list(generate_messages(60, seed=2))
    assert first == list(generate_messages(60, seed=2)) and first != list(generate_messages(60, seed=3))
    parsed = [email.message_from_bytes(raw, policy=email.policy.default) for raw in first]
    types = {m.get_content_type() for m in parsed}
    assert {"text/plain", "multipart/alternative", "multipart/mixed"} <= types
    assert any(m["In-Reply-To"] for m in parsed)
    assert any(b"=?utf-8?" in raw for raw in first)  # encoded-word subjects or names
    assert any(list(m.iter_attachments()) for m in parsed)
    assert all(m["Message-ID"] and m["Date"] for m in parsed)
    assert len({m["Message-ID"] for m in parsed}) == 60
