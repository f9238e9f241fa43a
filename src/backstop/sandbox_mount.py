"""The bundled Box emulator served beside the web application (BACKSTOP_SANDBOX, the demo).

`mount(application)` puts the emulator at `connections.SANDBOX_PREFIX` (/sandbox/box) of the same
WSGI server with werkzeug's DispatcherMiddleware; everything else goes to Django. The emulator's
state lives in this process only (`box_sandbox()`, one per process), seeded on first use with a
small enterprise so the consent screen has an administrator to sign in as.

Tests do not use this: they start their own `BoxSandbox` on a port and point
BACKSTOP_SANDBOX_BOX_URL at it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

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


def mount(application: WSGIApplication) -> WSGIApplication:
    """The application, with the Box emulator under /sandbox/box when BACKSTOP_SANDBOX is on."""
    if not settings.BACKSTOP_SANDBOX:
        return application
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from backstop.backups.connections import SANDBOX_PREFIX

    return DispatcherMiddleware(application, {SANDBOX_PREFIX: box_sandbox().app})
