"""The `backstop` command: one entry point for every process of an installation.

    backstop manage ARGS...   Django's management commands (migrate, createsuperuser, shell...)
    backstop worker           runs queued tasks; start as many as the load needs
    backstop scheduler        enqueues periodic tasks; exactly one per installation
    backstop serve            the embedded default: web, one worker and the scheduler
    backstop demo             demo tenants and users, then serve
    backstop repo COMMAND     operate a backup repository (see backstop.repo_cli)
    backstop recovery ACTION  browse, search and restore customers' backups (backstop.recovery_cli)

Heavy imports (Django, Huey) wait until a command needs them, so that a process notes a
stop request from its first milliseconds on.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from backstop import recovery_cli, repo_cli
from backstop.config import ConfigError

if TYPE_CHECKING:
    from backstop.demo import Login

SETTINGS_MODULE = "backstop.settings"
WEB_THREADS = 4
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # config.py's default allowed hosts
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger("backstop.cli")


def _out(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - this is the command's output


class StopRequest:
    """SIGTERM or SIGINT received while a process starts.

    Noted, not acted on where it lands: an exception raised from a handler in the middle of
    imports can be swallowed by library code, and the request would be lost. The process
    hands the note to its own stop handling once that is in place.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.event = threading.Event()  # nothing else uses it yet, so setting it here is safe

    def listen(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._note)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        self.event.set()


early_stop = StopRequest()


def _setup() -> None:
    """Starts Django and imports every app's `tasks` module, so the queue knows every task."""
    import django
    from django.utils.module_loading import autodiscover_modules

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    django.setup()
    autodiscover_modules("tasks")


def manage(args: Sequence[str]) -> int:
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    execute_from_command_line(["backstop manage", *args])
    return 0


def worker(threads: int | None) -> int:
    early_stop.listen()
    _setup()
    from django.conf import settings
    from django.db import close_old_connections
    from huey.consumer import Consumer

    from backstop.queue import huey

    class GracefulConsumer(Consumer):
        """SIGTERM and SIGINT both let running tasks finish; a second one stops at once.

        Huey 3.5 makes only one of the two graceful, and with thread workers the other one
        exits at once, abandoning running tasks. SIGTERM is what systemd, containers and
        `backstop serve` send.
        """

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, graceful_signal="TERM", **kwargs)
            self._signal_actions[signal.SIGINT] = (False, True)  # (restart, graceful)

        def _set_signal_handlers(self) -> None:
            super()._set_signal_handlers()
            if early_stop.signum is not None:  # asked to stop while starting
                self._handle_signal(early_stop.signum, None)

    # Tasks run outside a request: drop connections past their age or broken, as Django does
    # around each request.
    @huey.pre_execute(name="backstop.fresh_db_connection")
    def _before(task: object) -> None:
        close_old_connections()

    @huey.post_execute(name="backstop.release_db_connection")
    def _after(task: object, value: object, exc: BaseException | None) -> None:
        close_old_connections()

    count = threads or settings.BACKSTOP_WORKER_THREADS
    # max_delay: an idle worker polls at least every second, so a restore never waits 10 s.
    consumer = GracefulConsumer(huey, workers=count, periodic=False, worker_type="thread", max_delay=1.0)
    log.info("worker started with %d thread(s), pid %d", count, os.getpid())
    consumer.run()
    log.info("worker stopped")
    return 0


def scheduler() -> int:
    early_stop.listen()
    _setup()
    from django.conf import settings

    from backstop import scheduler as loop
    from backstop.queue import huey

    return loop.serve(huey, settings.BACKSTOP_SCHEDULER_INTERVAL, early_stop.event)


def _listen_address(host: str, port: int) -> tuple[str, str]:
    """(gunicorn bind address, base URL) for host and port."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}", f"http://{shown}:{port}"


def _prepare_environment(host: str, port: int) -> str:
    """Makes e-mail links and the host check match the address served, unless the operator set
    their own; the children inherit it. Returns the URL to print."""
    bind, url = _listen_address(host, port)
    shown = bind.rsplit(":", 1)[0]
    os.environ.setdefault("BACKSTOP_BASE_URL", url)
    if "BACKSTOP_ALLOWED_HOSTS" not in os.environ and shown not in {*DEFAULT_HOSTS, "0.0.0.0", "[::]"}:
        os.environ["BACKSTOP_ALLOWED_HOSTS"] = ",".join((*DEFAULT_HOSTS, shown))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    return url


def _migrate() -> None:
    _setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", interactive=False)
    connections.close_all()  # the children open their own


def _stop_with_parent() -> None:
    """Runs in each child before exec: on Linux it gets SIGTERM if `serve` itself is killed
    (-9, out of memory) instead of running on, detached."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """`serve`'s children: stop requests are passed on as one SIGTERM each; a second request
    is passed on again (the worker then stops without waiting for its tasks)."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.requests = 0
        self._signalled: set[int] = set()
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._forward)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self.requests += 1
        if self.requests > 1:
            self._signalled.clear()
        self.stop_children()

    def stop_children(self) -> None:
        for child in self.children.values():
            if child.pid not in self._signalled and child.poll() is None:
                self._signalled.add(child.pid)
                child.send_signal(signal.SIGTERM)

    def run(self, commands: dict[str, list[str]], url: str) -> int:
        """Runs the children until a stop request or until one exits, then stops the rest."""
        for name, command in commands.items():
            if self.requests:  # asked to stop while starting: start no more children
                break
            # Own session: a Ctrl-C in the terminal reaches only `serve`, which passes one
            # SIGTERM on; a second signal would make the worker abandon its tasks.
            self.children[name] = subprocess.Popen(
                command, start_new_session=True, preexec_fn=_stop_with_parent
            )
        _out(f"Backstop is running at {url} (web, worker, scheduler). Ctrl-C stops it.")
        while not self.requests and all(child.poll() is None for child in self.children.values()):
            time.sleep(0.2)
        for name, child in self.children.items():
            if not self.requests and child.returncode is not None:
                log.error("%s exited with code %s; stopping the others", name, child.returncode)
        self.stop_children()  # also reaches a child started just after a stop request
        # A child killed by our own SIGTERM before it could install its handler stopped as asked.
        codes = [child.wait() for child in self.children.values()]
        clean = {0, -signal.SIGTERM}
        return 0 if self.requests and all(code in clean for code in codes) else 1


def serve(host: str, port: int, migrate: bool = True) -> int:
    url = _prepare_environment(host, port)
    supervisor = Supervisor()  # a stop request during migrations lets them finish
    if migrate:
        _migrate()
    if supervisor.requests:
        return 0
    bind, _ = _listen_address(host, port)
    me = [sys.executable, "-m", "backstop.cli"]
    web = [sys.executable, "-m", "gunicorn", "backstop.wsgi:application", "--bind", bind]
    # No control socket: it defaults to one path in $HOME, which a second installation clashes on.
    # No access log: reset and confirmation keys travel in URL paths and must not land in logs.
    web += ["--threads", str(WEB_THREADS), "--no-control-socket"]
    return supervisor.run({"web": web, "worker": [*me, "worker"], "scheduler": [*me, "scheduler"]}, url)


def _login_table(url: str, logins: Sequence[Login], password: str, outbox: Path | None) -> str:
    from django.urls import reverse

    rows = [("E-mail", "Password", "Role", "Account or partner")]
    rows += [(login.email, password, login.role, login.where) for login in logins]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [f"Demo data is ready. Sign in at {url}{reverse('account_login')} as:", ""]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  " + "  ".join(cells).rstrip())
    if outbox is not None:
        lines += ["", "E-mail the app sends (sign-up links, invitations) lands as .eml files in:"]
        lines.append(f"  {outbox}")
    return "\n".join(lines)


def demo(host: str, port: int, no_serve: bool) -> int:
    url = _prepare_environment(host, port)
    _migrate()
    from django.db import connections

    from backstop import demo as demo_data
    from backstop.mail import outbox_folder

    logins = demo_data.seed()
    _out(_login_table(url, logins, demo_data.PASSWORD, outbox_folder()))
    if no_serve:
        connections.close_all()
        return 0
    # The Box sandbox runs in this process while it supervises the others, which find it
    # through the environment they inherit.
    from backstop import demo_backups

    sandbox = demo_backups.start_sandbox("127.0.0.1" if host in ("0.0.0.0", "::", "") else host)
    os.environ["BACKSTOP_SANDBOX"] = "true"
    os.environ["BACKSTOP_SANDBOX_BOX_URL"] = sandbox.url
    seeded = demo_backups.seed(sandbox, demo_data.demo_accounts(), url)
    from backstop.billing.cycle import catch_up

    catch_up()  # today's usage and forecasts, so the billing pages have figures at once
    connections.close_all()
    for box in seeded:
        _out(f"  {box.account}: Box sandbox task with {box.users} users, {box.jobs} first backups queued")
    _out(f"Box sandbox (consent screens of the demo's Box tasks): {sandbox.url}")
    try:
        return serve(host, port, migrate=False)
    finally:
        sandbox.stop()


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backstop", description="Backstop: SaaS backup.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("manage", help="Django's management commands, e.g. migrate")
    worker_cmd = commands.add_parser("worker", help="run queued tasks (start as many as needed)")
    worker_cmd.add_argument("--threads", type=_positive, help="default: BACKSTOP_WORKER_THREADS")
    commands.add_parser("scheduler", help="enqueue periodic tasks (exactly one per installation)")
    serve_cmd = commands.add_parser("serve", help="web, one worker and the scheduler on this machine")
    demo_cmd = commands.add_parser("demo", help="create demo tenants and users, then serve")
    demo_cmd.add_argument("--no-serve", action="store_true", help="only create the demo data")
    for cmd in (serve_cmd, demo_cmd):
        cmd.add_argument("--host", default="127.0.0.1")
        cmd.add_argument("--port", type=int, default=8000)
    repo_cli.add_parser(commands)
    recovery_cli.add_parser(commands)
    return parser


def _run(args: list[str]) -> int:
    if args[:1] == ["manage"]:
        return manage(args[1:])  # argparse must not read the management command's own options
    options = _parser().parse_args(args)
    match options.command:
        case "worker":
            return worker(options.threads)
        case "scheduler":
            return scheduler()
        case "serve":
            return serve(options.host, options.port)
        case "demo":
            return demo(options.host, options.port, options.no_serve)
        case "repo":
            return repo_cli.run(options)
        case "recovery":
            return recovery_cli.run(options)
    return 2  # unreachable: argparse refuses unknown commands


def main(argv: Sequence[str] | None = None) -> int:
    # Databases, outbox (reset links) and keys are for this user's eyes only.
    os.umask(0o077)
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except ConfigError as error:
        # The message names the variable; a traceback would only bury it.
        sys.stderr.write(f"backstop: configuration error: {error}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
