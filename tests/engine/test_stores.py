"""The object store layer's contract, on every backend: memory, a folder, S3 (moto), Azure
(Azurite) and Google Cloud Storage (tests/engine/fake_gcs.py). The engine relies on exactly these
behaviours, whatever the store."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import obstore
import pytest
from obstore import exceptions as obx

from backstop.engine.errors import (
    ObjectExists,
    ObjectNotFound,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
)
from backstop.engine.stores import RetryPolicy, Store, open_store
from tests.engine.conftest import StoreURL
from tests.engine.servers import AZURITE_KEY, Azurite, FakeGCS, MotoS3, ServiceAccount, free_port

FAST = RetryPolicy(attempts=3, first_delay=0.001, max_delay=0.01)
MiB = 1024 * 1024


@pytest.mark.parametrize("size", [0, 11, 20 * MiB], ids=["empty", "small", "20MB"])
def test_put_and_get_round_trip(store: Store, size: int) -> None:
    data = os.urandom(size)
    store.put("data/object", data)
    assert store.get("data/object") == data
    info = store.head("data/object")
    assert (info.key, info.size) == ("data/object", size)
    assert store.exists("data/object")


def test_put_overwrites_by_default(store: Store) -> None:
    store.put("k", b"first")
    store.put("k", b"second")
    assert store.get("k") == b"second"


def test_get_range(store: Store) -> None:
    data = bytes(range(256)) * 64
    store.put("packs/p", data)
    assert store.get_range("packs/p", 0, 10) == data[:10]
    assert store.get_range("packs/p", 1000, 5000) == data[1000:5000]
    assert store.get_range("packs/p", len(data) - 7, len(data)) == data[-7:]
    assert store.get_range("packs/p", 5, 5) == b""


def test_get_range_past_the_end_is_cut_at_the_end(store: Store) -> None:
    store.put("k", b"hello")
    assert store.get_range("k", 2, 100) == b"llo"


def test_get_range_starting_past_the_end_is_a_permanent_error(store_url: StoreURL) -> None:
    url, options = store_url
    store = open_store(url, options, retry=FAST)
    store.put("k", b"hello")
    with pytest.raises(StoreError) as caught:
        store.get_range("k", 10, 20)
    if isinstance(caught.value, StoreUnavailable):
        raise caught.value


def test_list_by_prefix_gives_keys_relative_to_the_store_with_sizes(store: Store) -> None:
    store.put("snapshots/a", b"1")
    store.put("snapshots/b", b"22")
    store.put("snapshots/sub/c", b"333")
    store.put("snapshots-old/d", b"4444")
    store.put("packs/e", b"55555")

    listed = {(info.key, info.size) for info in store.list("snapshots/")}
    assert listed == {("snapshots/a", 1), ("snapshots/b", 2), ("snapshots/sub/c", 3)}
    # A prefix is a path: "snapshots" does not reach into "snapshots-old".
    assert {info.key for info in store.list("snapshots")} == {"snapshots/a", "snapshots/b", "snapshots/sub/c"}
    assert {info.key for info in store.list("")} == {
        "snapshots/a",
        "snapshots/b",
        "snapshots/sub/c",
        "snapshots-old/d",
        "packs/e",
    }
    assert store.list("nothing/") == []


def test_create_only_put_refuses_to_overwrite(store: Store) -> None:
    store.put("locks/one", b"first", create_only=True)
    with pytest.raises(ObjectExists, match="locks/one"):
        store.put("locks/one", b"second", create_only=True)
    assert store.get("locks/one") == b"first"


def test_missing_objects(store: Store) -> None:
    with pytest.raises(ObjectNotFound, match="missing/key"):
        store.get("missing/key")
    with pytest.raises(ObjectNotFound):
        store.get_range("missing/key", 0, 10)
    with pytest.raises(ObjectNotFound):
        store.head("missing/key")
    assert not store.exists("missing/key")


def test_delete_is_idempotent(store: Store) -> None:
    store.put("k", b"x")
    store.delete("k")
    assert not store.exists("k")
    store.delete("k")
    store.delete("never/there")
    with pytest.raises(ObjectNotFound):
        store.get("k")


def test_stores_with_different_prefixes_do_not_see_each_other(store_url: StoreURL) -> None:
    url, options = store_url
    if url == "memory://":
        # Every memory store is private: the same URL opened twice shares nothing.
        first, second = open_store(url, options), open_store(url, options)
        first.put("k", b"1")
        assert second.list("") == []
        return
    # The sibling's prefix starts with this one's name ("t-abc" and "t-abc2"): still apart.
    first, second = open_store(url, options), open_store(url + "2", options)
    first.put("k", b"first")
    second.put("k", b"second")
    second.put("only-here", b"x")
    assert [info.key for info in first.list("")] == ["k"]
    assert first.get("k") == b"first"
    assert second.get("k") == b"second"
    assert not first.exists("only-here")
    first.delete("k")
    assert second.get("k") == b"second"
    # The parent location sees both, under their prefixes.
    parent = open_store(url.rsplit("/", 1)[0], options)
    name = url.rsplit("/", 1)[1]
    assert {info.key for info in parent.list("")} == {f"{name}2/k", f"{name}2/only-here"}


def test_the_store_url_never_shows_credentials(moto_s3: MotoS3) -> None:
    store = open_store(f"s3://{moto_s3.new_bucket()}/p", moto_s3.options())
    assert moto_s3.secret_access_key not in repr(store)
    assert store.url.startswith("s3://")


def test_an_unreachable_s3_endpoint_fails_quickly_naming_the_store() -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    options = {"endpoint": closed, "access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t-value"}
    store = open_store("s3://backups/tenant-a", options, retry=RetryPolicy(attempts=2, first_delay=0.01))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="after 2 attempts") as caught:
        store.get("config")
    assert time.monotonic() - started < 10
    assert "s3://backups/tenant-a" in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)


def test_a_wrong_azure_key_is_access_denied(azurite: Azurite) -> None:
    container = azurite.new_container()
    wrong = "A" * 8 + AZURITE_KEY[8:]
    store = open_store(f"az://{container}/p", azurite.options(account_key=wrong), retry=FAST)
    with pytest.raises(StoreAccessDenied, match=f"az://{container}/p"):
        store.get("config")
    with pytest.raises(StoreAccessDenied):
        store.put("config", b"x")


def test_a_wrong_azure_key_is_access_denied_when_listing(azurite: Azurite) -> None:
    container = azurite.new_container()
    wrong = "A" * 8 + AZURITE_KEY[8:]
    store = open_store(f"az://{container}/p", azurite.options(account_key=wrong), retry=FAST)
    with pytest.raises(StoreAccessDenied):
        store.list("")


def test_a_google_key_the_service_does_not_know_is_access_denied(fake_gcs: FakeGCS) -> None:
    bucket = fake_gcs.new_bucket()
    stranger = ServiceAccount.new("stranger")
    store = open_store(f"gs://{bucket}/p", fake_gcs.options(stranger), retry=FAST)
    with pytest.raises(StoreAccessDenied, match=f"gs://{bucket}/p"):
        store.put("config", b"x")
    with pytest.raises(StoreAccessDenied):
        store.get("config")
    with pytest.raises(StoreAccessDenied):
        store.list("")
    # The same account with a key it does not hold (another private key under its key id).
    forged = ServiceAccount(fake_gcs.account.client_email, fake_gcs.account.key_id, stranger.private_key)
    with pytest.raises(StoreAccessDenied):
        open_store(f"gs://{bucket}/p", fake_gcs.options(forged), retry=FAST).put("config", b"x")
    assert open_store(f"gs://{bucket}/p", fake_gcs.options()).list("") == []


def test_a_missing_google_bucket_is_not_found(fake_gcs: FakeGCS) -> None:
    store = open_store("gs://no-such-bucket/p", fake_gcs.options(), retry=FAST)
    with pytest.raises(ObjectNotFound):
        store.put("config", b"x")


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match=r"unknown store scheme 'ftp'.*memory, file, s3, az, gs"):
        open_store("ftp://example.com/backups")


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("memory://", {"colour": "blue"}),
        ("s3://backups/p", {"endpoint": "http://127.0.0.1:9", "colour": "blue"}),
        ("az://backups/p", {"endpoint": "http://127.0.0.1:9/a", "account_name": "a", "colour": "blue"}),
        (
            "gs://backups/p",
            {"service_account_key": json.dumps(ServiceAccount.new().key_file()), "colour": "blue"},
        ),
    ],
    ids=["memory", "s3", "az", "gs"],
)
def test_an_unknown_option_is_refused(url: str, options: dict[str, Any]) -> None:
    with pytest.raises(StoreError, match=r"unknown option\(s\) for \w+://: colour"):
        open_store(url, options)


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("s3://backups/p", {"region": "eu-west-1", "access_key_id": "k", "secret_access_key": "s"}),
        ("az://backups/p", {"account_name": "backstopdev", "account_key": AZURITE_KEY}),
        ("gs://backups/p", {"service_account_key": json.dumps(ServiceAccount.new().key_file())}),
    ],
    ids=["s3", "az", "gs"],
)
def test_the_real_clouds_need_no_endpoint(url: str, options: dict[str, Any]) -> None:
    """Opening a store does not touch the network, and the cloud's own endpoint is the default."""
    assert open_store(url, options).url == url


def _flaky[T](real: Callable[..., T], failures: list[BaseException]) -> tuple[Callable[..., T], list[int]]:
    """`real`, raising the given exceptions on its first calls; and the count of calls."""
    calls = [0]

    def call(*args: Any, **kwargs: Any) -> T:
        calls[0] += 1
        if failures:
            raise failures.pop(0)
        return real(*args, **kwargs)

    return call, calls


def test_transient_failures_are_retried(store_url: StoreURL, monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = store_url
    store = open_store(url, options, retry=FAST)
    put, put_calls = _flaky(obstore.put, [obx.GenericError("connection reset"), OSError("broken pipe")])
    get, get_calls = _flaky(obstore.get, [OSError("timed out")])
    monkeypatch.setattr(obstore, "put", put)
    monkeypatch.setattr(obstore, "get", get)

    store.put("k", b"data")
    assert store.get("k") == b"data"
    assert (put_calls[0], get_calls[0]) == (3, 2)


def test_retries_end_with_store_unavailable(store_url: StoreURL, monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = store_url
    store = open_store(url, options, retry=FAST)
    get, calls = _flaky(obstore.get, [obx.GenericError("503 Slow Down")] * 5)
    monkeypatch.setattr(obstore, "get", get)
    with pytest.raises(StoreUnavailable, match="after 3 attempts: 503 Slow Down") as caught:
        store.get("k")
    assert calls[0] == 3
    assert store.url in str(caught.value)


def test_permanent_failures_are_not_retried(store_url: StoreURL, monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = store_url
    store = open_store(url, options, retry=FAST)
    get, calls = _flaky(obstore.get, [])
    monkeypatch.setattr(obstore, "get", get)
    with pytest.raises(ObjectNotFound):
        store.get("missing")
    assert calls[0] == 1
