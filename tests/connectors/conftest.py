"""Fixtures for the connector tests: one private Dovecot per session (with an OAuth2 token
introspection server for XOAUTH2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.dovecot import Dovecot, TokenServer


@pytest.fixture(scope="session")
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot(token_server: TokenServer) -> Iterator[Dovecot]:
    # Never skipped: a missing Dovecot fails here with the command that installs it.
    with Dovecot(oauth_url=token_server.url) as server:
        yield server
