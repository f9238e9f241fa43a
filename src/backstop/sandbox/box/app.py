"""The Box emulator as a WSGI application (werkzeug routing).

Paths are Box's, relative to one base URL (api.box.com, upload.box.com/api and
account.box.com/api all collapse into it):

    GET  /api/oauth2/authorize        consent screen; POST grants or denies
    POST /oauth2/token                authorization_code and refresh_token grants
    POST /oauth2/revoke
    GET  /2.0/users/me, /2.0/users, /2.0/users/{id}
    GET  /2.0/folders/{id}, /2.0/folders/{id}/items; POST /2.0/folders; PUT, DELETE /2.0/folders/{id}
    GET  /2.0/files/{id}, /2.0/files/{id}/content, /2.0/files/{id}/versions; PUT, DELETE /2.0/files/{id}
    POST /api/2.0/files/content, /api/2.0/files/{id}/content     uploads (multipart)
    GET  /2.0/events
    GET  /d/1/{key}/download          the dl.boxcloud.com stand-in a content request redirects to

Absolute URLs (download redirects, the consent form) are built from the request's host and script
root, so the app can be mounted under a prefix inside another WSGI app.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import hashlib
import html
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from backstop.sandbox.box.faults import Faults, Stats
from backstop.sandbox.box.store import (
    ACCESS_TOKEN_SECONDS,
    Item,
    OAuthError,
    SandboxError,
    State,
    User,
    Version,
    iso,
    parse_time,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

HELP_URL = "https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/"

ITEMS_ORDER = [{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}]

FILE_STANDARD = [
    "type", "id", "file_version", "sequence_id", "etag", "sha1", "name", "description", "size",
    "path_collection", "created_at", "modified_at", "trashed_at", "purged_at",
    "content_created_at", "content_modified_at", "created_by", "modified_by", "owned_by",
    "shared_link", "parent", "item_status",
]  # fmt: skip
FOLDER_STANDARD = [
    "type", "id", "sequence_id", "etag", "name", "created_at", "modified_at", "description",
    "size", "path_collection", "created_by", "modified_by", "trashed_at", "purged_at",
    "content_created_at", "content_modified_at", "owned_by", "shared_link",
    "folder_upload_email", "parent", "item_status", "item_collection",
]  # fmt: skip
USER_STANDARD = [
    "type", "id", "name", "login", "created_at", "modified_at", "language", "timezone",
    "space_amount", "space_used", "max_upload_size", "status", "job_title", "phone", "address",
    "avatar_url",
]  # fmt: skip
ALWAYS = ("type", "id", "etag")


class Drop(Exception):
    """Close the connection without an answer."""


def _error_body(status: int, code: str, message: str, context_info: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "status": status, "code": code}
    if context_info is not None:
        body["context_info"] = context_info
    body["help_url"] = HELP_URL
    body["message"] = message
    body["request_id"] = secrets.token_hex(8)
    return body


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, headers=headers, mimetype="application/json")


def error_response(err: SandboxError) -> Response:
    headers = dict(err.headers)
    if err.status == 401:
        headers.setdefault(
            "WWW-Authenticate",
            'Bearer realm="Service", error="invalid_token", '
            'error_description="The access token provided is invalid."',
        )
    return json_response(
        _error_body(err.status, err.code, err.message, err.context_info), err.status, headers
    )


def pick(full: dict[str, Any], fields: list[str] | None, standard: list[str]) -> dict[str, Any]:
    """Box's `fields=`: the requested fields (that exist) plus type, id and etag."""
    wanted = standard if fields is None else [*ALWAYS, *fields]
    out: dict[str, Any] = {}
    for name in wanted:
        if name in full and name not in out:
            out[name] = full[name]
    return out


def _fields(request: Request) -> list[str] | None:
    raw = request.args.get("fields")
    if raw is None or raw.strip() == "":
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def _int(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SandboxError(400, "bad_request", f"Invalid value for '{name}'") from None
    if value < 0:
        raise SandboxError(400, "bad_request", f"Invalid value for '{name}'")
    return min(value, maximum) if maximum is not None else value


def _encode_marker(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_marker(marker: str) -> tuple[Any, ...]:
    try:
        pad = "=" * (-len(marker) % 4)
        return tuple(json.loads(base64.urlsafe_b64decode(marker + pad)))
    except Exception:
        raise SandboxError(400, "bad_request", "Invalid marker") from None


def _item_key(item: Item) -> tuple[Any, ...]:
    return (item.type != "folder", item.name.lower(), int(item.id))


CONSENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Grant access to Box</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f6f9;margin:0;color:#222}}
.card{{max-width:420px;margin:8vh auto;background:#fff;border-radius:10px;
  box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px}}
.logo{{color:#0061d5;font-weight:700;font-size:28px;letter-spacing:-1px}}
h1{{font-size:20px;margin:12px 0 4px}} p{{color:#555;font-size:14px;line-height:1.5}}
label{{display:block;font-size:13px;color:#444;margin:14px 0 4px}}
select,input{{width:100%;box-sizing:border-box;padding:8px 10px;border:1px solid #ccd3db;
  border-radius:6px;font-size:14px}}
.or{{text-align:center;color:#999;font-size:12px;margin:14px 0 0}}
.actions{{display:flex;gap:10px;margin-top:24px}}
button{{flex:1;padding:10px;border-radius:6px;font-size:14px;cursor:pointer;border:1px solid #0061d5}}
#consent_accept{{background:#0061d5;color:#fff}} #consent_reject{{background:#fff;color:#0061d5}}
.note{{font-size:12px;color:#888;margin-top:18px}} .err{{color:#c62828;font-size:13px}}
</style></head><body><div class="card">
<div class="logo">box</div><h1>Grant access to Box</h1>
<p><strong>{app}</strong> would like to read and write all files and folders stored in Box
and manage the enterprise's users.</p>{error}
<form method="post" action="{action}">
{hidden}
<label for="user_id">Sign in as</label>
<select id="user_id" name="user_id">{options}</select>
<p class="or">or sign in with e-mail and password</p>
<label for="login">E-mail</label><input id="login" name="login" type="email" autocomplete="username">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<div class="actions">
<button type="submit" name="consent" value="accept" id="consent_accept">Grant access</button>
<button type="submit" name="consent" value="deny" id="consent_reject">Deny</button>
</div></form>
<p class="note">Backstop sandbox: an emulator of Box, no real account is involved.</p>
</div></body></html>
"""


class BoxApp:
    """The WSGI application. `state`, `faults` and `stats` are shared with the sandbox."""

    def __init__(self, state: State, faults: Faults | None = None, stats: Stats | None = None) -> None:
        self.state = state
        self.faults = faults or Faults()
        self.stats = stats or Stats()
        self.url_map = Map(
            [
                Rule("/api/oauth2/authorize", endpoint="authorize", methods=["GET", "POST"]),
                Rule("/oauth2/token", endpoint="token", methods=["POST"]),
                Rule("/oauth2/revoke", endpoint="revoke", methods=["POST"]),
                Rule("/2.0/users/me", endpoint="users_me", methods=["GET"]),
                Rule("/2.0/users", endpoint="users", methods=["GET"]),
                Rule("/2.0/users/<user_id>", endpoint="user", methods=["GET"]),
                Rule("/2.0/folders", endpoint="create_folder", methods=["POST"]),
                Rule("/2.0/folders/<item_id>", endpoint="folder", methods=["GET", "PUT", "DELETE"]),
                Rule("/2.0/folders/<item_id>/items", endpoint="folder_items", methods=["GET"]),
                Rule("/2.0/files/<item_id>", endpoint="file", methods=["GET", "PUT", "DELETE"]),
                Rule("/2.0/files/<item_id>/content", endpoint="file_content", methods=["GET"]),
                Rule("/2.0/files/<item_id>/versions", endpoint="file_versions", methods=["GET"]),
                Rule("/api/2.0/files/content", endpoint="upload", methods=["POST"]),
                Rule("/api/2.0/files/<item_id>/content", endpoint="upload_version", methods=["POST"]),
                Rule("/2.0/events", endpoint="events", methods=["GET"]),
                Rule("/d/1/<key>/download", endpoint="download", methods=["GET", "HEAD"]),
            ],
            strict_slashes=False,
        )

    # --- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        method = request.method
        self.stats.record(method, path)
        try:
            response = self._faulted(request, path, method)
            if response is None:
                response = self.dispatch(request)
        except Drop:
            sock = environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                raise ConnectionAbortedError("sandbox fault: connection dropped") from None
            response = error_response(SandboxError(500, "internal_server_error", "Connection dropped"))
        return response(environ, start_response)

    def _faulted(self, request: Request, path: str, method: str) -> Response | None:
        if self.faults.latency:
            time.sleep(self.faults.latency)
        for rule in self.faults.pick(method, path):
            if rule.kind == "latency":
                time.sleep(rule.latency)
            elif rule.kind == "drop":
                raise Drop()
            elif rule.kind == "revoke":
                self.state.expire_access_tokens()
                if rule.refresh:
                    with self.state.lock:
                        for tok in self.state.refresh.values():
                            tok.revoked = True
            elif rule.kind == "429":
                retry = rule.retry_after
                retry_text = str(int(retry)) if float(retry).is_integer() else str(retry)
                return error_response(
                    SandboxError(
                        429,
                        "too_many_requests",
                        "Request rate limit exceeded, please try again later",
                        headers={"Retry-After": retry_text},
                    )
                )
            elif rule.kind == "500":
                return error_response(SandboxError(500, "internal_server_error", "Internal Server Error"))
            elif rule.kind == "503":
                return error_response(
                    SandboxError(
                        503, "unavailable", "Unavailable", headers={"Retry-After": str(int(rule.retry_after))}
                    )
                )
        return None

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
            handler: Callable[..., Response] = getattr(self, f"on_{endpoint}")
            return handler(request, **values)
        except SandboxError as err:
            return error_response(err)
        except OAuthError as err:
            return json_response({"error": err.error, "error_description": err.description}, err.status)
        except MethodNotAllowed:
            return error_response(SandboxError(405, "method_not_allowed", "Method Not Allowed"))
        except NotFound:
            return error_response(SandboxError(404, "not_found", "Not Found"))
        except HTTPException as exc:
            return error_response(
                SandboxError(exc.code or 400, "bad_request", exc.description or "Bad Request")
            )
        except Exception:
            log.exception("Box sandbox: unexpected error on %s %s", request.method, request.path)
            return error_response(SandboxError(500, "internal_server_error", "Internal Server Error"))

    # --- helpers -------------------------------------------------------------------------------

    def base_url(self, request: Request) -> str:
        return request.host_url.rstrip("/") + request.script_root

    def caller(self, request: Request, allow_as_user: bool = True) -> tuple[User, User]:
        """(the token's user, the user acting) — they differ with As-User."""
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        user = self.state.authenticate(token) if token else None
        if user is None:
            raise SandboxError(401, "unauthorized", "Unauthorized")
        as_user = request.headers.get("As-User")
        if not as_user or not allow_as_user:
            return user, user
        if not user.is_admin:
            raise SandboxError(
                403, "access_denied_insufficient_permissions", "Access denied - insufficient permission"
            )
        target = self.state.users.get(as_user.strip())
        if target is None or target.enterprise_id != user.enterprise_id:
            raise SandboxError(
                400,
                "bad_request",
                "Invalid As-User header",
                {"errors": [{"reason": "invalid_parameter", "name": "As-User", "message": "Invalid value"}]},
            )
        return user, target

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            data = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise SandboxError(400, "bad_request", "Could not parse JSON") from None
        if not isinstance(data, dict):
            raise SandboxError(400, "bad_request", "Request body must be an object")
        return data

    def _if_match(self, request: Request, item: Item) -> None:
        want = request.headers.get("If-Match")
        if want is not None and want.strip('"') != str(item.sequence_id):
            raise SandboxError(
                412,
                "precondition_failed",
                "The resource has been modified. Please retrieve the resource again and retry",
            )

    def item_json(self, item: Item, fields: list[str] | None) -> dict[str, Any]:
        full = self.state.full(item)
        if item.type == "folder" and (fields is None or "item_collection" in fields):
            kids = self.state.children(item)
            full["item_collection"] = {
                "total_count": len(kids),
                "entries": [self.state.mini(k) for k in kids[:100]],
                "offset": 0,
                "limit": 100,
                "order": ITEMS_ORDER,
            }
        return pick(full, fields, FILE_STANDARD if item.type == "file" else FOLDER_STANDARD)

    def entry_json(self, item: Item, fields: list[str] | None) -> dict[str, Any]:
        if fields is None:
            return self.state.mini(item)
        return pick(self.state.full(item), fields, [])

    # --- OAuth ---------------------------------------------------------------------------------

    def on_authorize(self, request: Request) -> Response:
        source = request.args if request.method == "GET" else request.form
        client_id = source.get("client_id", "")
        redirect_uri = source.get("redirect_uri", "")
        state_param = source.get("state", "")
        st = self.state
        with st.lock:
            app = st.apps.get(client_id)
            if app is None:
                return Response("<h1>Invalid client_id</h1>", status=400, mimetype="text/html")
            if source.get("response_type", "code") != "code":
                return Response("<h1>Unsupported response_type</h1>", status=400, mimetype="text/html")
            if app.redirect_uris and redirect_uri not in app.redirect_uris:
                return Response(
                    "<h1>The redirect_uri does not match the application's</h1>",
                    status=400,
                    mimetype="text/html",
                )
            if request.method == "GET":
                return self._consent(request, app.name, "")
            sep = "&" if "?" in redirect_uri else "?"
            if source.get("consent") == "deny":
                return Response(
                    status=302,
                    headers={
                        "Location": redirect_uri
                        + sep
                        + urlencode(
                            {
                                "error": "access_denied",
                                "error_description": "The user denied access to your application",
                                "state": state_param,
                            }
                        )
                    },
                )
            user: User | None = None
            login = (source.get("login") or "").strip().lower()
            if login:
                user = next((u for u in st.users.values() if u.login.lower() == login), None)
                if user is None or user.password != source.get("password", ""):
                    return self._consent(request, app.name, "Invalid login credentials.", status=200)
            else:
                user = st.users.get(source.get("user_id", ""))
            if user is None:
                return self._consent(request, app.name, "Choose a user to sign in as.", status=200)
            code = st.issue_code(client_id, user, redirect_uri)
        return Response(
            status=302,
            headers={"Location": f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state_param})}"},
        )

    def _consent(self, request: Request, app_name: str, error: str, status: int = 200) -> Response:
        st = self.state
        source = request.args if request.method == "GET" else request.form
        users = sorted(
            st.users.values(), key=lambda u: (not u.is_admin, st.enterprises[u.enterprise_id].name, u.name)
        )
        admins = [u for u in users if u.is_admin] or users
        options = "".join(
            f'<option value="{html.escape(u.id)}">{html.escape(u.name)} &lt;{html.escape(u.login)}&gt; — '
            f"{html.escape(st.enterprises[u.enterprise_id].name)}{' (admin)' if u.is_admin else ''}</option>"
            for u in admins
        )
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(source.get(name, ""))}">'
            for name in ("response_type", "client_id", "redirect_uri", "state")
        )
        page = CONSENT_PAGE.format(
            app=html.escape(app_name),
            error=f'<p class="err">{html.escape(error)}</p>' if error else "",
            action=html.escape(self.base_url(request) + "/api/oauth2/authorize"),
            hidden=hidden,
            options=options,
        )
        return Response(page, status=status, mimetype="text/html")

    def on_token(self, request: Request) -> Response:
        form = request.form
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        client_secret = form.get("client_secret", "")
        if grant == "authorization_code":
            tok = self.state.exchange_code(
                form.get("code", ""), client_id, client_secret, form.get("redirect_uri")
            )
        elif grant == "refresh_token":
            tok = self.state.refresh_token(form.get("refresh_token", ""), client_id, client_secret)
        else:
            raise OAuthError("unsupported_grant_type", "Grant type is not supported")
        return json_response(
            {
                "access_token": tok.access_token,
                "expires_in": ACCESS_TOKEN_SECONDS,
                "restricted_to": [],
                "refresh_token": tok.refresh_token,
                "token_type": "bearer",
            }
        )

    def on_revoke(self, request: Request) -> Response:
        form = request.form
        if form.get("client_id") or form.get("client_secret"):
            self.state._client(form.get("client_id", ""), form.get("client_secret", ""))
        self.state.revoke(form.get("token", ""))
        return Response(b"", status=200)

    # --- users ---------------------------------------------------------------------------------

    def on_users_me(self, request: Request) -> Response:
        _, user = self.caller(request)
        with self.state.lock:
            return json_response(
                pick(self.state.user_full(user), _fields(request), [*USER_STANDARD, "role", "enterprise"])
            )

    def on_user(self, request: Request, user_id: str) -> Response:
        real, user = self.caller(request)
        st = self.state
        with st.lock:
            target = st.users.get(user_id)
            if (
                target is None
                or target.enterprise_id != user.enterprise_id
                or (not real.is_admin and target.id != user.id)
            ):
                raise SandboxError(404, "not_found", "Not Found")
            return json_response(pick(st.user_full(target), _fields(request), USER_STANDARD))

    def on_users(self, request: Request) -> Response:
        real, _ = self.caller(request)
        if not real.is_admin:
            raise SandboxError(
                403, "access_denied_insufficient_permissions", "Access denied - insufficient permission"
            )
        st = self.state
        fields = _fields(request)
        limit = _int(request, "limit", 100, 1000) or 100
        term = (request.args.get("filter_term") or "").lower()
        with st.lock:
            users = [st.users[uid] for uid in st.enterprises[real.enterprise_id].users]
            if term:
                users = [
                    u for u in users if u.name.lower().startswith(term) or u.login.lower().startswith(term)
                ]
            if request.args.get("usemarker", "").lower() == "true":
                marker = request.args.get("marker")
                start = 0
                if marker:
                    after = int(_decode_marker(marker)[0])
                    start = next((i for i, u in enumerate(users) if int(u.id) > after), len(users))
                page = users[start : start + limit]
                more = start + limit < len(users)
                return json_response(
                    {
                        "limit": limit,
                        "next_marker": _encode_marker((page[-1].id,)) if more and page else None,
                        "entries": [pick(st.user_full(u), fields, USER_STANDARD) for u in page],
                    }
                )
            offset = _int(request, "offset", 0)
            page = users[offset : offset + limit]
            return json_response(
                {
                    "total_count": len(users),
                    "limit": limit,
                    "offset": offset,
                    "entries": [pick(st.user_full(u), fields, USER_STANDARD) for u in page],
                }
            )

    # --- folders -------------------------------------------------------------------------------

    def on_folder(self, request: Request, item_id: str) -> Response:
        _, user = self.caller(request)
        st = self.state
        with st.lock:
            item = st.resolve(user, item_id, "folder")
            if request.method == "GET":
                if request.headers.get("If-None-Match") == str(item.sequence_id) and not item.is_root:
                    return Response(status=304)
                return json_response(self.item_json(item, _fields(request)))
            self._if_match(request, item)
            if request.method == "DELETE":
                recursive = request.args.get("recursive", "").lower() == "true"
                st.delete(item, recursive=recursive, actor=user)
                return Response(status=204)
            body = self._body(request)
            return json_response(self.item_json(self._put(user, item, body), _fields(request)))

    def _put(self, user: User, item: Item, body: dict[str, Any]) -> Item:
        st = self.state
        if item.is_root:
            raise SandboxError(403, "access_denied_insufficient_permissions", "Cannot change the root folder")
        parent = body.get("parent")
        target: Item | None = None
        if parent is not None:
            if not isinstance(parent, dict) or "id" not in parent:
                raise SandboxError(400, "bad_request", "parent.id is required")
            target = self._parent_folder(user, str(parent["id"]))
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise SandboxError(400, "bad_request", "name must be a string")
        description = body.get("description")
        return st.update(item, name=name, parent=target, description=description, actor=user)

    def _parent_folder(self, user: User, folder_id: str) -> Item:
        try:
            return self.state.resolve(user, folder_id, "folder")
        except SandboxError as err:
            if err.status == 404:
                raise SandboxError(
                    404,
                    "not_found",
                    "Not Found",
                    {
                        "errors": [
                            {
                                "reason": "invalid_parameter",
                                "name": "parent",
                                "message": f"Invalid value 'd_{folder_id}'. "
                                f"'parent' with value 'd_{folder_id}' not found",
                            }
                        ]
                    },
                ) from None
            raise

    def on_create_folder(self, request: Request) -> Response:
        _, user = self.caller(request)
        body = self._body(request)
        name = body.get("name")
        parent = body.get("parent")
        if not isinstance(name, str) or not isinstance(parent, dict) or "id" not in parent:
            raise SandboxError(400, "bad_request", "name and parent.id are required")
        st = self.state
        with st.lock:
            target = self._parent_folder(user, str(parent["id"]))
            item = st.folder(target, name, actor=user)
            return json_response(self.item_json(item, _fields(request)), 201)

    def on_folder_items(self, request: Request, item_id: str) -> Response:
        _, user = self.caller(request)
        st = self.state
        fields = _fields(request)
        limit = _int(request, "limit", 100, 1000) or 100
        with st.lock:
            folder = st.resolve(user, item_id, "folder")
            kids = st.children(folder)
            if request.args.get("usemarker", "").lower() == "true":
                marker = request.args.get("marker")
                start = 0
                if marker:
                    key = _decode_marker(marker)
                    keys = [_item_key(k) for k in kids]
                    start = bisect.bisect_right(keys, (bool(key[0]), str(key[1]), int(key[2])))
                page = kids[start : start + limit]
                more = start + limit < len(kids)
                return json_response(
                    {
                        "entries": [self.entry_json(k, fields) for k in page],
                        "limit": limit,
                        "next_marker": _encode_marker(_item_key(page[-1])) if more and page else None,
                    }
                )
            offset = _int(request, "offset", 0)
            page = kids[offset : offset + limit]
            return json_response(
                {
                    "total_count": len(kids),
                    "entries": [self.entry_json(k, fields) for k in page],
                    "offset": offset,
                    "limit": limit,
                    "order": ITEMS_ORDER,
                }
            )

    # --- files ---------------------------------------------------------------------------------

    def on_file(self, request: Request, item_id: str) -> Response:
        _, user = self.caller(request)
        st = self.state
        with st.lock:
            item = st.resolve(user, item_id, "file")
            if request.method == "GET":
                if request.headers.get("If-None-Match") == str(item.sequence_id):
                    return Response(status=304)
                return json_response(self.item_json(item, _fields(request)))
            self._if_match(request, item)
            if request.method == "DELETE":
                st.delete(item, actor=user)
                return Response(status=204)
            return json_response(self.item_json(self._put(user, item, self._body(request)), _fields(request)))

    def _version(self, item: Item, version_id: str | None) -> Version:
        if not version_id:
            return item.current
        for v in item.versions:
            if v.id == version_id:
                return v
        raise SandboxError(404, "not_found", "Not Found")

    def on_file_content(self, request: Request, item_id: str) -> Response:
        _, user = self.caller(request)
        st = self.state
        with st.lock:
            item = st.resolve(user, item_id, "file")
            version = self._version(item, request.args.get("version"))
            key = st.download_url_token(item, version)
        return Response(status=302, headers={"Location": f"{self.base_url(request)}/d/1/{key}/download"})

    def on_download(self, request: Request, key: str) -> Response:
        found = self.state.download(key)
        if found is None:
            return Response(b"", status=404)
        _, version = found
        blob = version.blob
        size = blob.size
        headers = Headers()
        headers["Accept-Ranges"] = "bytes"
        headers["Content-Disposition"] = (
            f"attachment;filename=\"{quote(version.name)}\";filename*=UTF-8''{quote(version.name)}"
        )
        headers["ETag"] = f'"{blob.sha1}"'
        start, end, status = 0, size, 200
        rng = request.range
        if rng is not None and rng.units == "bytes" and len(rng.ranges) == 1:
            bounds = rng.range_for_length(size)
            if bounds is None:
                headers["Content-Range"] = f"bytes */{size}"
                return Response(b"", status=416, headers=headers)
            start, end = bounds
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        body: Iterator[bytes] | list[bytes] = [] if request.method == "HEAD" else blob.chunks(start, end)
        return Response(
            body, status=status, headers=headers, mimetype="application/octet-stream", direct_passthrough=True
        )

    def on_file_versions(self, request: Request, item_id: str) -> Response:
        _, user = self.caller(request)
        st = self.state
        fields = _fields(request)
        limit = _int(request, "limit", 1000, 1000) or 1000
        offset = _int(request, "offset", 0)
        with st.lock:
            item = st.resolve(user, item_id, "file")
            previous = list(reversed(item.versions[:-1]))  # newest first, as Box lists them
            page = previous[offset : offset + limit]
            default = [
                "type",
                "id",
                "sha1",
                "name",
                "size",
                "created_at",
                "modified_at",
                "modified_by",
                "trashed_at",
                "purged_at",
            ]
            return json_response(
                {
                    "total_count": len(previous),
                    "entries": [pick(st.version_json(item, v), fields, default) for v in page],
                    "limit": limit,
                    "offset": offset,
                }
            )

    def _upload_parts(self, request: Request) -> tuple[dict[str, Any], bytes | None]:
        raw = request.form.get("attributes")
        attributes: dict[str, Any] = {}
        if raw:
            try:
                attributes = json.loads(raw)
            except ValueError:
                raise SandboxError(400, "bad_request", "Could not parse attributes JSON") from None
        upload = request.files.get("file")
        if upload is None and request.files:
            upload = next(iter(request.files.values()))
        data = upload.read() if upload is not None else None
        want = request.headers.get("Content-MD5")  # Box's name for the SHA-1 of the upload
        if data is not None and want and hashlib.sha1(data).hexdigest() != want.strip().lower():
            raise SandboxError(
                400,
                "bad_request",
                "The SHA-1 digest of the upload does not match the Content-MD5 header",
            )
        return attributes, data

    def _upload_time(self, attributes: dict[str, Any], name: str) -> float | None:
        value = attributes.get(name)
        if value in (None, ""):
            return None
        try:
            return parse_time(str(value))
        except ValueError:
            raise SandboxError(400, "bad_request", f"Invalid value for '{name}'") from None

    def on_upload(self, request: Request) -> Response:
        _, user = self.caller(request)
        attributes, data = self._upload_parts(request)
        name = attributes.get("name")
        parent = attributes.get("parent")
        if data is None or not isinstance(name, str) or not isinstance(parent, dict) or "id" not in parent:
            raise SandboxError(400, "bad_request", "attributes (name, parent.id) and file are required")
        st = self.state
        with st.lock:
            target = self._parent_folder(user, str(parent["id"]))
            item = st.file(
                target,
                name,
                data,
                content_created_at=self._upload_time(attributes, "content_created_at"),
                content_modified_at=self._upload_time(attributes, "content_modified_at"),
                actor=user,
                description=str(attributes.get("description") or ""),
            )
            return json_response({"total_count": 1, "entries": [self.item_json(item, _fields(request))]}, 201)

    def on_upload_version(self, request: Request, item_id: str) -> Response:
        _, user = self.caller(request)
        attributes, data = self._upload_parts(request)
        if data is None:
            raise SandboxError(400, "bad_request", "file is required")
        st = self.state
        with st.lock:
            item = st.resolve(user, item_id, "file")
            self._if_match(request, item)
            name = attributes.get("name")
            item = st.new_version(
                item,
                data,
                content_modified_at=self._upload_time(attributes, "content_modified_at"),
                name=name if isinstance(name, str) and name else None,
                actor=user,
            )
            return json_response({"total_count": 1, "entries": [self.item_json(item, _fields(request))]})

    # --- events --------------------------------------------------------------------------------

    def on_events(self, request: Request) -> Response:
        _, user = self.caller(request)
        stream_type = request.args.get("stream_type", "all")
        if stream_type not in ("all", "changes", "sync"):
            if stream_type in ("admin_logs", "admin_logs_streaming"):
                raise SandboxError(
                    403, "access_denied_insufficient_permissions", "Enterprise events are not emulated"
                )
            raise SandboxError(400, "bad_request", "Invalid stream_type")
        limit = _int(request, "limit", 100, 500) or 100
        position = request.args.get("stream_position")
        if position not in (None, "", "now") and not position.isdigit():
            raise SandboxError(400, "bad_request", "Invalid stream_position")
        st = self.state
        events, nxt = st.read_events(user.id, position, limit)
        with st.lock:
            entries = [
                {
                    "type": "event",
                    "event_id": e.event_id,
                    "event_type": e.event_type,
                    "created_at": iso(e.created_at),
                    "recorded_at": iso(e.created_at),
                    "created_by": st.user_mini(e.created_by),
                    "source": pick(
                        e.source, None, FILE_STANDARD if e.source["type"] == "file" else FOLDER_STANDARD
                    ),
                }
                for e in events
            ]
        return json_response({"chunk_size": len(entries), "next_stream_position": nxt, "entries": entries})
