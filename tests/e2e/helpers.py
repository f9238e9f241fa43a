"""Steps several browser tests share."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from playwright.sync_api import Page

from backstop.backups import runner
from backstop.backups.models import Job


def sign_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Fills the sign-in form (opening it first unless the browser is already on it)."""
    if "/auth/login/" not in page.url:
        page.goto(base_url + "/auth/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


@contextmanager
def worker() -> Iterator[list[int]]:
    """Runs pending jobs as they appear, like `backstop worker` would; yields the ids it ran."""
    stop = threading.Event()
    ran: list[int] = []

    def loop() -> None:
        try:
            while not stop.is_set():
                for job_id in Job.objects.filter(status=Job.Status.PENDING).values_list("pk", flat=True):
                    runner.run(job_id)
                    ran.append(job_id)
                stop.wait(0.3)
        finally:
            connection.close()

    thread = threading.Thread(target=loop, name="test-worker", daemon=True)
    thread.start()
    try:
        yield ran
    finally:
        stop.set()
        thread.join(timeout=30)
