"""Box API emulator: the Box paths the connector uses, served from one base URL.

Start one, fill it, point a client at `sb.url`::

    from backstop.sandbox.box import BoxSandbox

    sb = BoxSandbox().start()                 # 127.0.0.1, a free port; sb.stop() at the end
    st = sb.state                             # the admin API (plain Python, thread-safe)
    ent = st.enterprise("Acme")
    ada = st.admin(ent, "Ada Admin")          # role "admin": may list users and use As-User
    bob = st.user(ent, "Bob Builder", login="bob@acme.test")
    docs = st.folder(None, "Documents", user=bob)        # None or "0" + user → their root
    f = st.file(docs, "report.pdf", b"%PDF...", content_modified_at="2024-05-01T10:00:00Z")
    st.new_version(f, b"%PDF v2")             # the old one is listed by /versions
    st.rename(f, "report-final.pdf"); st.move(f, st.root(bob)); st.delete(f)   # → trash
    st.restore(f); st.copy(f, docs)           # ITEM_UNDELETE_VIA_TRASH, ITEM_COPY
    token = sb.token(ada)                     # skip the consent screen: a bearer token
    st.revoke_user_tokens(bob); st.expire_access_tokens(); st.advance(3600)  # the clock

    sb.register_app("my-client", "my-secret", ["http://localhost/cb"])   # OAuth clients
    # the default one: BoxSandbox.client_id / client_secret (any redirect URI)

    sb.faults.add("429", path=r"/items", times=2, retry_after=1)  # see faults.py
    sb.stats.count(r"/2\\.0/folders/\\d+/items")                 # requests seen

    from backstop.sandbox.box.seed import generate_enterprise
    generate_enterprise(st, users=20, files=50_000, versions_ratio=0.1, seed=1)

Every changing call records a Box event (ITEM_CREATE, ITEM_UPLOAD, ITEM_RENAME, ITEM_MOVE,
ITEM_TRASH, ITEM_UNDELETE_VIA_TRASH, ITEM_COPY) in the streams of the owner and the actor;
`with st.quiet():` suppresses them. `st.event_retention` (seconds, default 14 days) bounds the
streams; `st.expired_stream_position` says what an older position gets ("resume" like Box, or
"error": 400 bad_request with context_info.reason "stream_position_expired").

Served paths (see app.py): /api/oauth2/authorize, /oauth2/token, /oauth2/revoke, /2.0/users/me,
/2.0/users, /2.0/folders/{id}[/items], POST /2.0/folders, /2.0/files/{id}[/content|/versions],
PUT/DELETE files and folders, POST /api/2.0/files/content and /api/2.0/files/{id}/content,
/2.0/events, and /d/1/{key}/download (where content requests redirect). `sb.app` is the WSGI app,
mountable under a prefix (URLs it returns are built from the request's script root).
"""

from backstop.sandbox.box.app import BoxApp
from backstop.sandbox.box.faults import Faults, Stats
from backstop.sandbox.box.server import BoxSandbox, client_settings
from backstop.sandbox.box.store import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    BytesBlob,
    Item,
    LazyBlob,
    SandboxError,
    State,
    User,
)

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "BoxApp",
    "BoxSandbox",
    "BytesBlob",
    "Faults",
    "Item",
    "LazyBlob",
    "SandboxError",
    "State",
    "Stats",
    "User",
    "client_settings",
]
