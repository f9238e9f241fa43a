"""`BoxSandbox`: the emulator's state, faults and stats, served over HTTP from a daemon thread."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from backstop.sandbox.box.app import BoxApp
from backstop.sandbox.box.faults import Faults, Stats
from backstop.sandbox.box.store import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, App, State


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class BoxSandbox:
    """One Box emulator. `start()` serves it on 127.0.0.1 (port 0 → a free one) and returns self;
    `url` is then the base URL of every Box path; `stop()` shuts it down. Also a context manager.
    `app` is the WSGI application, to mount elsewhere without starting a server."""

    client_id = DEMO_CLIENT_ID
    client_secret = DEMO_CLIENT_SECRET

    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()
        self.faults = Faults()
        self.stats = Stats()
        self.app = BoxApp(self.state, self.faults, self.stats)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def register_app(
        self, client_id: str, client_secret: str, redirect_uris: list[str], name: str = "Backstop"
    ) -> App:
        return self.state.register_app(client_id, client_secret, redirect_uris, name)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> BoxSandbox:
        server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        server.daemon_threads = True  # type: ignore[attr-defined]
        self._server = server
        self.url = f"http://{host}:{server.server_port}"
        self._thread = threading.Thread(target=server.serve_forever, name="box-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BoxSandbox:
        return self.start() if self._server is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:  # pragma: no cover
        return f"<BoxSandbox {self.url or 'not started'}>"

    def token(self, user: Any) -> str:
        """An access token for `user` (skipping the consent screen)."""
        return self.state.issue_token(user).access_token


def client_settings(base_url: str, redirect_uri: str) -> dict[str, str]:
    """The Box connector's settings for an emulator answering at `base_url` (every Box host's
    paths are served from that one address), with the default OAuth client."""
    base = base_url.rstrip("/")
    return {
        "api_base": base,
        "upload_base": f"{base}/api",
        "authorize_url": f"{base}/api/oauth2/authorize",
        "token_url": f"{base}/oauth2/token",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redirect_uri": redirect_uri,
    }
