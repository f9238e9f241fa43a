"""Real responses of every endpoint the Box emulator serves, validated against Box's own OpenAPI
document (../shared/specs/box/openapi.json beside the checkout, OAS 3.0) with openapi-schema-validator.

The response schema is the one the spec gives for (path, method, status), falling back to
"default". `$ref`s resolve inside the whole document: the schema under test is wrapped in a root
that carries the spec's `components`.

Error codes: the spec's ClientError lists a closed `code` enum, yet its own endpoint descriptions
document further codes (`item_name_in_use`, `folder_not_empty`,
`access_denied_insufficient_permissions`, ...), which real Box returns and connectors match on.
The emulator answers those; a body's code is accepted when the enum has it or some endpoint
description of the spec documents it.

`nullable: true` beside an `allOf`/`$ref` (the spec's way to say "may be null", e.g. the parent
of the root folder, which its description says is null) is honoured; a strict OAS 3.0.3 reading
would ignore it, since the validator only applies `nullable` next to a `type`.

An event's `source` is a `oneOf` that includes GenericSource, which accepts any object, so no
file or folder can match exactly one branch: the test reads it as `anyOf` and checks file and
folder sources against the File / Folder schemas separately.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from backstop.sandbox.box import BoxSandbox
from backstop.sandbox.box.store import Item, User

# ../shared beside the checkout, as in CI and on the development machines.
SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "specs" / "box" / "openapi.json"


@cache
def spec() -> dict[str, Any]:
    # Never skipped: without the vendor's spec this test fails and says where it looked.
    assert SPEC_PATH.exists(), f"the Box OpenAPI spec is missing: {SPEC_PATH} (../shared beside the checkout)"
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return data


def _nullable_refs(node: Any) -> Any:
    """{allOf|$ref..., nullable: true} → anyOf [the schema, null]."""
    if isinstance(node, list):
        return [_nullable_refs(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_refs(v) for k, v in node.items()}
    if out.get("nullable") is True and "type" not in out and ("allOf" in out or "$ref" in out):
        rest = {k: v for k, v in out.items() if k != "nullable"}
        return {"anyOf": [rest, {"type": "object", "nullable": True, "enum": [None]}]}
    return out


@cache
def components() -> dict[str, Any]:
    result: dict[str, Any] = _nullable_refs(spec()["components"])
    source = result["schemas"]["EventSourceResource"]
    source["anyOf"] = source.pop("oneOf")
    return result


@cache
def documented_codes() -> frozenset[str]:
    """Error codes the spec documents in backticks in response descriptions."""
    codes: set[str] = set()
    for ops in spec()["paths"].values():
        for op in ops.values():
            if not isinstance(op, dict):
                continue
            for resp in op.get("responses", {}).values():
                codes.update(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", resp.get("description", "")))
    return frozenset(codes)


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    responses = spec()["paths"][path][method.lower()]["responses"]
    resp = responses.get(str(status)) or responses["default"]
    schema: dict[str, Any] = resp["content"]["application/json"]["schema"]
    return schema


def validate(body: Any, path: str, method: str, status: int) -> None:
    schema = response_schema(path, method, status)
    comps = components()
    if schema.get("$ref") == "#/components/schemas/ClientError":
        code = body.get("code")
        enum = comps["schemas"]["ClientError"]["properties"]["code"]["enum"]
        if code not in enum:
            assert code in documented_codes(), f"error code {code!r} is neither in ClientError nor documented"
            comps = copy.deepcopy(comps)
            comps["schemas"]["ClientError"]["properties"]["code"]["enum"].append(code)
    validate_schema(body, schema, comps)


def validate_schema(body: Any, schema: dict[str, Any], comps: dict[str, Any] | None = None) -> None:
    root = {"components": comps or components(), "allOf": [schema]}
    validator = OAS30Validator(root, format_checker=oas30_format_checker)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])


def checked(response: httpx.Response, path: str, status: int) -> Any:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    validate(body, path, response.request.method, status)
    return body


@pytest.fixture
def box() -> Iterator[tuple[BoxSandbox, User, User, Item, Item]]:
    sb = BoxSandbox().start()
    st = sb.state
    ent = st.enterprise("Spec Corp")
    admin = st.admin(ent, "Ada Admin", login="ada@spec.test")
    bob = st.user(ent, "Bob Bäcker", login="bob@spec.test")
    docs = st.folder(None, "Documents", user=bob)
    sub = st.folder(docs, "Sub ünïcode", user=bob)
    report = st.file(docs, "report.txt", b"v1", user=bob, content_modified_at="2024-01-02T03:04:05Z")
    st.new_version(report, b"v2")
    st.file(sub, "a:b?.txt", b"x", user=bob)
    try:
        yield sb, admin, bob, docs, report
    finally:
        sb.stop()


def _client(sb: BoxSandbox, user: User, as_user: User | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {sb.token(user)}"}
    if as_user is not None:
        headers["As-User"] = as_user.id
    return httpx.Client(base_url=sb.url, headers=headers, timeout=10)


def test_oauth_responses_match_spec(box: tuple[BoxSandbox, User, User, Item, Item]) -> None:
    sb, admin, *_ = box
    http = httpx.Client(base_url=sb.url, timeout=10)
    code = sb.state.issue_code(sb.client_id, admin, "http://localhost/cb")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
    }
    token = checked(http.post("/oauth2/token", data=form), "/oauth2/token", 200)
    checked(http.post("/oauth2/token", data=form), "/oauth2/token", 400)  # code used twice
    bad = {**form, "client_secret": "wrong"}
    checked(http.post("/oauth2/token", data=bad), "/oauth2/token", 400)
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": token["refresh_token"],
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
    }
    checked(http.post("/oauth2/token", data=refresh), "/oauth2/token#refresh", 200)
    checked(http.post("/oauth2/token", data=refresh), "/oauth2/token#refresh", 400)
    revoked = http.post(
        "/oauth2/revoke",
        data={"token": token["access_token"], "client_id": sb.client_id, "client_secret": sb.client_secret},
    )
    assert revoked.status_code == 200  # the spec gives no body for it
    checked(
        http.post("/oauth2/revoke", data={"token": "x", "client_id": "nope", "client_secret": "x"}),
        "/oauth2/revoke",
        400,
    )


def test_users_match_spec(box: tuple[BoxSandbox, User, User, Item, Item]) -> None:
    sb, admin, bob, *_ = box
    c = _client(sb, admin)
    checked(c.get("/2.0/users/me"), "/users/me", 200)
    checked(c.get("/2.0/users/me", headers={"As-User": bob.id}), "/users/me", 200)
    checked(c.get("/2.0/users", params={"limit": 1}), "/users", 200)
    page = checked(c.get("/2.0/users", params={"limit": 1, "usemarker": "true"}), "/users", 200)
    checked(
        c.get("/2.0/users", params={"limit": 1, "usemarker": "true", "marker": page["next_marker"]}),
        "/users",
        200,
    )
    checked(c.get(f"/2.0/users/{bob.id}"), "/users/{user_id}", 200)
    checked(_client(sb, bob).get("/2.0/users"), "/users", 403)
    checked(_client(sb, bob, as_user=admin).get("/2.0/users/me"), "/users/me", 403)
    unauthorized = httpx.get(sb.url + "/2.0/users/me", headers={"Authorization": "Bearer nope"})
    checked(unauthorized, "/users/me", 401)


def test_folders_and_items_match_spec(box: tuple[BoxSandbox, User, User, Item, Item]) -> None:
    sb, admin, bob, docs, _ = box
    c = _client(sb, admin, as_user=bob)
    checked(c.get("/2.0/folders/0"), "/folders/{folder_id}", 200)
    checked(c.get(f"/2.0/folders/{docs.id}"), "/folders/{folder_id}", 200)
    checked(
        c.get(f"/2.0/folders/{docs.id}", params={"fields": "name,size,path_collection,item_status"}),
        "/folders/{folder_id}",
        200,
    )
    checked(c.get("/2.0/folders/424242"), "/folders/{folder_id}", 404)
    checked(c.get(f"/2.0/folders/{docs.id}/items"), "/folders/{folder_id}/items", 200)
    fields = "name,size,sha1,file_version,modified_at,content_modified_at,parent,item_status,path_collection"
    checked(
        c.get(f"/2.0/folders/{docs.id}/items", params={"fields": fields, "limit": 1}),
        "/folders/{folder_id}/items",
        200,
    )
    page = checked(
        c.get(f"/2.0/folders/{docs.id}/items", params={"usemarker": "true", "limit": 1}),
        "/folders/{folder_id}/items",
        200,
    )
    checked(
        c.get(f"/2.0/folders/{docs.id}/items", params={"usemarker": "true", "marker": page["next_marker"]}),
        "/folders/{folder_id}/items",
        200,
    )
    checked(c.get("/2.0/folders/424242/items"), "/folders/{folder_id}/items", 404)

    made = checked(c.post("/2.0/folders", json={"name": "New", "parent": {"id": "0"}}), "/folders", 201)
    checked(c.post("/2.0/folders", json={"name": "new", "parent": {"id": "0"}}), "/folders", 409)
    checked(c.post("/2.0/folders", json={"name": "x", "parent": {"id": "424242"}}), "/folders", 404)
    checked(c.post("/2.0/folders", json={"name": "bad/name", "parent": {"id": "0"}}), "/folders", 400)
    checked(c.put(f"/2.0/folders/{made['id']}", json={"name": "Renamed"}), "/folders/{folder_id}", 200)
    checked(
        c.put(f"/2.0/folders/{made['id']}", json={"parent": {"id": docs.id}}), "/folders/{folder_id}", 200
    )
    checked(c.delete(f"/2.0/folders/{docs.id}"), "/folders/{folder_id}", 400)  # not empty
    assert c.delete(f"/2.0/folders/{docs.id}", params={"recursive": "true"}).status_code == 204
    checked(c.delete(f"/2.0/folders/{docs.id}"), "/folders/{folder_id}", 404)


def test_files_versions_uploads_match_spec(box: tuple[BoxSandbox, User, User, Item, Item]) -> None:
    sb, admin, bob, docs, report = box
    c = _client(sb, admin, as_user=bob)
    checked(c.get(f"/2.0/files/{report.id}"), "/files/{file_id}", 200)
    checked(
        c.get(f"/2.0/files/{report.id}", params={"fields": "name,sha1,size,file_version,owned_by"}),
        "/files/{file_id}",
        200,
    )
    checked(c.get("/2.0/files/424242"), "/files/{file_id}", 404)
    checked(c.get(f"/2.0/files/{report.id}/versions"), "/files/{file_id}/versions", 200)
    redirect = c.get(f"/2.0/files/{report.id}/content")
    assert redirect.status_code == 302 and redirect.headers["Location"]
    checked(c.get("/2.0/files/424242/content"), "/files/{file_id}/content", 404)

    attrs = {
        "name": "up.txt",
        "parent": {"id": docs.id},
        "content_created_at": "2020-01-01T00:00:00-08:00",
        "content_modified_at": "2021-01-01T00:00:00-08:00",
    }
    files: dict[str, tuple[str | None, bytes | str]] = {
        "attributes": (None, json.dumps(attrs)),
        "file": ("up.txt", b"uploaded"),
    }
    up = checked(c.post("/api/2.0/files/content", files=files), "/files/content", 201)
    checked(c.post("/api/2.0/files/content", files=files), "/files/content", 409)
    new_id = up["entries"][0]["id"]
    again: dict[str, tuple[str | None, bytes | str]] = {
        "attributes": (None, json.dumps({"name": "up2.txt"})),
        "file": ("up.txt", b"second"),
    }
    checked(c.post(f"/api/2.0/files/{new_id}/content", files=again), "/files/{file_id}/content", 200)
    checked(
        c.put(f"/2.0/files/{new_id}", json={"name": "up3.txt", "parent": {"id": "0"}}),
        "/files/{file_id}",
        200,
    )
    checked(
        c.put(f"/2.0/files/{new_id}", json={"name": "x"}, headers={"If-Match": "not-it"}),
        "/files/{file_id}",
        412,
    )
    assert c.delete(f"/2.0/files/{new_id}").status_code == 204
    checked(c.delete(f"/2.0/files/{new_id}"), "/files/{file_id}", 404)


def test_events_and_fault_errors_match_spec(box: tuple[BoxSandbox, User, User, Item, Item]) -> None:
    sb, admin, bob, docs, report = box
    st = sb.state
    st.rename(report, "renamed.txt")
    st.move(report, st.root(bob))
    st.delete(report)
    st.restore(report)
    st.copy(report, docs)
    c = _client(sb, admin, as_user=bob)
    events = checked(c.get("/2.0/events", params={"stream_position": "0"}), "/events", 200)
    assert {e["event_type"] for e in events["entries"]} >= {
        "ITEM_CREATE",
        "ITEM_UPLOAD",
        "ITEM_RENAME",
        "ITEM_MOVE",
        "ITEM_TRASH",
        "ITEM_UNDELETE_VIA_TRASH",
        "ITEM_COPY",
    }
    for event in events["entries"]:
        kind = {"file": "File", "folder": "Folder"}[event["source"]["type"]]
        validate_schema(event["source"], {"$ref": f"#/components/schemas/{kind}"})
    checked(c.get("/2.0/events", params={"stream_position": "now"}), "/events", 200)
    checked(c.get("/2.0/events", params={"stream_position": "abc"}), "/events", 400)

    sb.faults.add("429", times=1, retry_after=2)
    checked(c.get("/2.0/folders/0"), "/folders/{folder_id}", 429)
    sb.faults.add("500", times=1)
    checked(c.get("/2.0/files/1"), "/files/{file_id}", 500)
    sb.faults.add("503", times=1)
    checked(c.get("/2.0/events"), "/events", 503)
