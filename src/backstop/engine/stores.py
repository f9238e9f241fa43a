"""Object stores behind one small interface, on top of obstore.

The engine needs only get (whole or a range), put (optionally create-only), delete, list and
head. Every call goes through `Store._call`, the one place where transient failures are retried
with exponential backoff and obstore's exceptions become the engine's own.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import obstore
from obstore import exceptions as obx
from obstore.store import AzureStore, GCSStore, LocalStore, MemoryStore, S3Store

from .errors import ObjectExists, ObjectNotFound, StoreAccessDenied, StoreError, StoreUnavailable
from .memory import tune_malloc

tune_malloc()  # before obstore's runtime starts its threads (on first use)

SCHEMES = ("memory", "file", "s3", "az", "gs")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    first_delay: float = 0.2
    max_delay: float = 10.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay * (0.5 + random.random())  # jitter, so many workers do not retry in step
            delay = min(delay * 2, self.max_delay)


# Errors that say something about the request, not the weather: retrying cannot help.
_PERMANENT = (
    obx.NotFoundError,
    obx.AlreadyExistsError,
    obx.PermissionDeniedError,
    obx.UnauthenticatedError,
    obx.InvalidPathError,
    obx.NotSupportedError,
    obx.UnknownConfigurationKeyError,
    obx.PreconditionError,
)


class Store:
    """One object store location (a bucket or container and a prefix, a folder, or memory)."""

    def __init__(self, raw: Any, url: str, retry: RetryPolicy | None = None, uploads: int = 2) -> None:
        self._raw = raw
        self.url = url  # credentials never appear here
        self.retry = retry or RetryPolicy()
        # Packs uploaded at once: latency to hide on a network store, none on local disk. Each
        # costs a pack of memory.
        self.uploads = uploads

    def __repr__(self) -> str:
        return f"Store({self.url})"

    def _call[T](self, what: str, key: str, fn: Callable[[], T]) -> T:
        delays = self.retry.delays()
        while True:
            try:
                return fn()
            except (obx.NotFoundError, FileNotFoundError) as exc:
                raise ObjectNotFound(f"{self.url}: {key} does not exist") from exc
            except obx.AlreadyExistsError as exc:
                raise ObjectExists(f"{self.url}: {key} already exists") from exc
            except (obx.PermissionDeniedError, obx.UnauthenticatedError) as exc:
                raise StoreAccessDenied(
                    f"{self.url}: access denied to {what} {key}: {_first_line(exc)}"
                ) from exc
            except _PERMANENT as exc:
                raise StoreError(f"{self.url}: cannot {what} {key}: {_first_line(exc)}") from exc
            except (obx.BaseError, OSError) as exc:
                text = str(exc)
                if "403 Forbidden" in text or "401 Unauthorized" in text:
                    raise StoreAccessDenied(
                        f"{self.url}: access denied to {what} {key}: {_first_line(exc)}"
                    ) from exc
                if (
                    "Invalid range" in text
                    or "range was invalid" in text
                    or "416 Range Not Satisfiable" in text
                ):
                    raise StoreError(f"{self.url}: cannot {what} {key}: {_first_line(exc)}") from exc
                delay = next(delays, None)
                if delay is None:
                    attempts = self.retry.attempts
                    raise StoreUnavailable(
                        f"{self.url}: cannot {what} {key} after {attempts} attempts: {_first_line(exc)}"
                    ) from exc
                time.sleep(delay)

    def get(self, key: str) -> bytes:
        return self._call("read", key, lambda: obstore.get(self._raw, key).bytes().to_bytes())

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        if end <= start:
            return b""
        return self._call(
            "read", key, lambda: obstore.get_range(self._raw, key, start=start, end=end).to_bytes()
        )

    def put(self, key: str, data: bytes | bytearray | memoryview, *, create_only: bool = False) -> None:
        mode: Literal["create", "overwrite"] = "create" if create_only else "overwrite"
        self._call("write", key, lambda: obstore.put(self._raw, key, data, mode=mode))

    def delete(self, key: str) -> None:
        """Remove the object; removing one that is already gone is not an error."""
        with contextlib.suppress(ObjectNotFound):
            self._call("delete", key, lambda: obstore.delete(self._raw, key))

    def head(self, key: str) -> ObjectInfo:
        meta = self._call("inspect", key, lambda: obstore.head(self._raw, key))
        return ObjectInfo(meta["path"], meta["size"], meta["last_modified"])

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with `prefix` (a folder-like prefix ending in '/')."""

        def run() -> list[ObjectInfo]:
            return [
                ObjectInfo(m["path"], m["size"], m["last_modified"])
                for batch in obstore.list(self._raw, prefix=prefix, chunk_size=1000)
                for m in batch
            ]

        return self._call("list", prefix, run)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_store(url: str, options: Mapping[str, Any] | None = None, retry: RetryPolicy | None = None) -> Store:
    """A store from a URL: memory://, file:///path (or a plain path), s3://bucket/prefix,
    az://container/prefix, gs://bucket/prefix. `options` carries what a URL should not:

    - s3: endpoint, region, access_key_id, secret_access_key, session_token
    - az: account_name, account_key, sas_token, endpoint, use_emulator
    - gs: service_account_key (the JSON text), service_account_path; a key file's `gcs_base_url`
      field sends the requests to an emulator instead of Google (http:// allowed there)
    """
    opts = dict(options or {})
    if "://" not in url:
        url = Path(url).absolute().as_uri()
    parts = urlsplit(url)
    scheme = parts.scheme
    prefix = unquote(parts.path).strip("/") or None
    # obstore retries inside HTTP stores too; we turn that off so `Store._call` is the only retry loop.
    no_retry: Any = {"max_retries": 0, "retry_timeout": timedelta(seconds=60)}
    # A server that accepts and never answers must not hold a backup for minutes per attempt.
    timeouts: Any = {"connect_timeout": "10s", "timeout": "120s"}
    raw: Any
    if scheme == "memory":
        raw = MemoryStore()
    elif scheme == "file":
        folder = Path(unquote(parts.path))
        folder.mkdir(parents=True, exist_ok=True)
        raw = LocalStore(folder, mkdir=True)
    elif scheme == "s3":
        endpoint = opts.pop("endpoint", None)
        client: Any = {**timeouts, "allow_http": bool(endpoint and str(endpoint).startswith("http://"))}
        raw = S3Store(
            parts.netloc,
            prefix=prefix,
            region=opts.pop("region", None) or "us-east-1",
            client_options=client,
            retry_config=no_retry,
            **_only(opts, "access_key_id", "secret_access_key", "session_token"),
            **({"endpoint": endpoint} if endpoint else {}),
        )
    elif scheme == "az":
        endpoint = opts.pop("endpoint", None)
        client = {**timeouts, "allow_http": bool(endpoint and str(endpoint).startswith("http://"))}
        raw = AzureStore(
            parts.netloc,
            prefix=prefix,
            client_options=client,
            retry_config=no_retry,
            **_only(opts, "account_name", "account_key", "sas_token", "use_emulator"),
            **({"endpoint": endpoint} if endpoint else {}),
        )
    elif scheme == "gs":
        client = {**timeouts, "allow_http": _gcs_base_url(opts).startswith("http://")}
        raw = GCSStore(
            parts.netloc,
            prefix=prefix,
            client_options=client,
            retry_config=no_retry,
            **_only(opts, "service_account_key", "service_account_path"),
        )
    else:
        raise StoreError(f"unknown store scheme {scheme!r} in {url!r}: use one of {', '.join(SCHEMES)}")
    if opts:
        raise StoreError(f"unknown option(s) for {scheme}://: {', '.join(sorted(opts))}")
    shown = f"{scheme}://{parts.netloc}{parts.path}" if scheme != "memory" else "memory://"
    return Store(raw, shown, retry, uploads=1 if scheme in ("memory", "file") else 2)


def _gcs_base_url(opts: Mapping[str, Any]) -> str:
    """The `gcs_base_url` of a service account key (object_store's way to reach an emulator), or ""."""
    text = opts.get("service_account_key")
    try:
        if text is None and opts.get("service_account_path"):
            text = Path(opts["service_account_path"]).read_text()
        key = json.loads(text) if text else {}
    except (OSError, ValueError):
        return ""  # obstore reports the unreadable key itself
    return str(key.get("gcs_base_url") or "") if isinstance(key, dict) else ""


def _only(opts: dict[str, Any], *names: str) -> dict[str, Any]:
    picked = {name: opts.pop(name, None) for name in names}
    return {name: value for name, value in picked.items() if value is not None}
