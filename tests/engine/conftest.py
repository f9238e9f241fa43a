"""Fixtures for the engine tests: real S3 (moto), Azure (Azurite) and Google Cloud Storage
(tests/engine/fake_gcs.py) emulators, started once per session, and `store_url` / `store`, a fresh
empty location on every backend.

    def test_something(store: Store) -> None: ...            # runs on memory, file, s3, az and gs
    def test_reopen(store_url: StoreURL) -> None:
        url, options = store_url
        first, second = open_store(url, options), open_store(url, options)   # not for memory://

Each `memory://` store is a new, private MemoryStore: opening the URL twice gives two stores
that do not share objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backstop.engine.stores import Store, open_store
from tests.engine.servers import Azurite, FakeGCS, MotoS3, start_azurite, start_fake_gcs, start_moto

StoreURL = tuple[str, dict[str, Any]]

BACKENDS = ["memory", "file", "s3", "az", "gs"]


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    server, s3 = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield s3
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server, az = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield az
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGCS]:
    server, gcs = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs"))
    try:
        yield gcs
    finally:
        server.stop()


def _prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> StoreURL:
    """(url, options) for `open_store`: a fresh, empty location on one backend."""
    backend: str = request.param
    if backend == "memory":
        return "memory://", {}
    if backend == "file":
        return (tmp_path / "store").as_uri(), {}
    if backend == "s3":
        s3: MotoS3 = request.getfixturevalue("moto_s3")
        return f"s3://{s3.new_bucket()}/{_prefix()}", s3.options()
    if backend == "az":
        az: Azurite = request.getfixturevalue("azurite")
        return f"az://{az.new_container()}/{_prefix()}", az.options()
    if backend == "gs":
        gcs: FakeGCS = request.getfixturevalue("fake_gcs")
        return f"gs://{gcs.new_bucket()}/{_prefix()}", gcs.options()
    raise AssertionError(backend)


@pytest.fixture
def store(store_url: StoreURL) -> Store:
    url, options = store_url
    return open_store(url, options)
