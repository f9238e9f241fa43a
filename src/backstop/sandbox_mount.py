"""The bundled Box emulator served beside the web application (BACKSTOP_SANDBOX, the demo).

`mount(application)` puts the emulator at `connections.SANDBOX_PREFIX` (/sandbox/box) of the same
WSGI server with werkzeug's DispatcherMiddleware; everything else goes to Django. The emulator's
state lives in this process only (`box_sandbox()`, one per process), seeded on first use with a
small enterprise so the consent screen has an administrator to sign in as.

When BACKSTOP_SANDBOX_BOX_URL names a sandbox elsewhere (`backstop demo` runs one beside its
processes; tests start their own `BoxSandbox` on a port) nothing is mounted: the pages and the
connector use that one.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from backstop.sandbox.box import BoxSandbox

_lock = threading.Lock()
_sandbox: BoxSandbox | None = None

DEMO_USERS = 8
DEMO_FILES = 400


def box_sandbox() -> BoxSandbox:
    """This process's Box emulator, seeded once."""
    global _sandbox
    with _lock:
        if _sandbox is None:
            from backstop.sandbox.box import BoxSandbox
            from backstop.sandbox.box.seed import generate_enterprise

            sandbox = BoxSandbox()
            generate_enterprise(
                sandbox.state,
                users=DEMO_USERS,
                files=DEMO_FILES,
                seed=7,
                name="Sandbox Enterprise",
                size_scale=0.2,
            )
            _sandbox = sandbox
        return _sandbox


def _lazy_box(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The emulator, created (and seeded) on its first request rather than at start."""
    return box_sandbox().app(environ, start_response)


def mount(application: WSGIApplication) -> WSGIApplication:
    """The application, with the Box emulator under /sandbox/box when BACKSTOP_SANDBOX is on and
    no other sandbox is named."""
    if not settings.BACKSTOP_SANDBOX or settings.BACKSTOP_SANDBOX_BOX_URL:
        return application
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from backstop.backups.connections import SANDBOX_PREFIX

    return DispatcherMiddleware(application, {SANDBOX_PREFIX: _lazy_box})
