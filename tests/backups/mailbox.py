"""A Dovecot mailbox wired to an IMAP backup task, for the pipeline, search and restore tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backstop.backups.models import BackupTask
from backstop.backups.services import create_task
from backstop.tenancy.models import Account
from tests.connectors.dovecot import Dovecot


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One Dovecot for the session: every test takes its own user (`new_user`)."""
    with Dovecot() as server:
        yield server


def imap_task(account: Account, dovecot: Dovecot, user: str, password: str) -> BackupTask:
    """A task on the user's mailbox (not yet discovered), over plain IMAP with a password."""
    return create_task(
        account,
        "imap",
        "Mail",
        connector_settings={
            "host": dovecot.host,
            "port": dovecot.port,
            "security": "none",
            "auth": "password",
            "username": user,
        },
        secrets={"password": password},
        source_tenant=dovecot.host,
    )
