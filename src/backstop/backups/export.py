"""Export (A-EXPORT): the items a person picked in the Recovery page, written as a zip to download
or as objects in the customer's own storage (Amazon S3, an S3-compatible service, Azure Blob,
Google Cloud Storage).

What an export holds
- One entry (zip) or object per item version, read from the account's repository as a stream
  and copied in 1 MiB chunks: memory stays at a few blobs (~16 MiB) whatever the item's size,
  and a zip export runs at ~200 MB/s from a local repository. Mail (kind "message") is the
  original RFC 822 message, named `*.eml`; files are as they were; a previous version of a
  file (`Docs/report.pdf@v123`) becomes `Docs/report (version 123).pdf`. Zip entries carry
  the item's modified time (UTC, with the extended-timestamp field).
- Names go through `Namer`: every component is cleaned (`safe_component`: no `/`, `\\`, drive
  colons, NUL or control characters, bidirectional overrides, Windows-reserved names or
  trailing dots; at most 255 bytes of UTF-8, the extension kept), `.`, `..` and empty components
  are dropped, and a name already taken (compared case-insensitively, files against folders
  too) gets " (2)", " (3)"… So no entry can land outside the folder it is extracted into, and
  none overwrites another.
- `manifest.csv` at the root (UTF-8 with a byte-order mark, so spreadsheets read it): one row
  per selected item, in order, with columns entry, original_path, kind, size, modified,
  sha256 (of the exported bytes, computed while streaming), status (`exported` or
  `unreadable`) and error. An item the repository cannot give back (a missing or damaged blob)
  is listed as unreadable with the reason; the export goes on and ends Partially succeeded.
  Text cells starting with `=`, `+`, `-` or `@` get a leading `'` (spreadsheet formula guard).

Download destination
- The zip is written to `exports_dir(account) / "export-<job>.<run>.part"`, then fsynced and
  renamed to `export-<job>.zip` once complete. Entries are stored; mail and small text files
  are deflated (level 1): deflate runs at ~60 MB/s here, below what a local repository gives.
- A worker killed mid-export (its lease runs out, `jobs.sweep` puts the job back to Pending and
  another worker runs `run_export` again) **starts the zip over**: the new run deletes the
  partial files of earlier runs and writes everything again. Simple, and the zip is complete and
  correct whichever run finishes it.
- `expire_exports` (periodic) deletes zips 72 hours after their job ended, and partial files of
  jobs that ended.

Object-store destinations
- Each item is its own object under the prefix, with the same names; `manifest.csv` is written
  last. Small items (up to 8 MiB) are read whole and uploaded four at a time; larger ones are
  streamed in a multipart upload (8 MiB parts). Credentials are checked before the job starts
  (`check_destination` writes and deletes a small object), kept sealed in the job's params and
  never shown again.
- Resuming: every 500 items or 30 seconds the uploads in flight are awaited, the manifest rows
  since the last checkpoint are stored as a part object under `.backstop-export-<job>/`, and
  `jobs.save_checkpoint` records how many selected items are done. A resumed run names the done
  items again (naming reads only the catalog) and writes only the rest; the parts are joined
  into `manifest.csv` at the end and deleted.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import ipaddress
import json
import logging
import os
import re
import socket
import struct
import tempfile
import time
import unicodedata
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import quote, urlsplit

import obstore
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone

from backstop import secrets
from backstop.backups import jobs
from backstop.backups.models import CatalogItem, Entity, Job, JobLog, Snapshot
from backstop.backups.recovery import Selected, Selection, resolve
from backstop.backups.repos import open_repository
from backstop.engine.errors import (
    EngineError,
    IntegrityError,
    ItemNotFound,
    ObjectNotFound,
    PathError,
    RepositoryNotFound,
    SnapshotNotFound,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
    UnsupportedFormat,
)
from backstop.engine.repository import Repository, SnapshotInfo
from backstop.engine.stores import RetryPolicy, Store, open_store
from backstop.tenancy.models import Account

log = logging.getLogger(__name__)

EXPORT_HOURS = 72  # a zip is kept, and its link valid, this long after the job ended
MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = ("entry", "original_path", "kind", "size", "modified", "sha256", "status", "error")
CHUNK = 1024 * 1024
NAME_MAX_BYTES = 255
ZIP_ENTRY_MAX_BYTES = 4096  # PATH_MAX on Linux; the zip format allows 65,535
OBJECT_KEY_MAX_BYTES = 1024  # S3, Azure Blob and GCS all stop at 1,024
ZIP64_FROM = 1 << 30  # entries of this size or more get ZIP64 headers from the start
DEFLATE_UP_TO = 8 * 1024 * 1024
SMALL_OBJECT = 8 * 1024 * 1024  # read whole and uploaded in one request; larger: multipart
MULTIPART_CHUNK = 8 * 1024 * 1024
MULTIPART_CONCURRENCY = 4
UPLOAD_THREADS = 4
UPLOADS_IN_FLIGHT = 8
CHECKPOINT_ITEMS = 500
UNREADABLE_LIMIT = 200
CHECK_RETRY = RetryPolicy(attempts=2, first_delay=0.2, max_delay=1.0)

DESTINATION_KINDS = ("download", "s3", "s3_compatible", "azure", "gcs")
DESTINATION_LABELS = {
    "download": "Download (zip)",
    "s3": "Amazon S3",
    "s3_compatible": "S3-compatible storage",
    "azure": "Azure Blob Storage",
    "gcs": "Google Cloud Storage",
}
_TEXT_SUFFIXES = frozenset(
    {".eml", ".txt", ".csv", ".tsv", ".html", ".htm", ".xml", ".json", ".log", ".md", ".rtf", ".svg"}
    | {".ics", ".vcf", ".yaml", ".yml"}
)


class DestinationError(Exception):
    """The destination cannot be used; the message is meant for the person, `field` names the
    form field it is about ("" when it is about the whole destination)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unreadable(Exception):
    """One item the repository cannot give back: listed, skipped, the export goes on."""


@dataclass
class ExportOutcome:
    """What `run_export` reports. `lost`: the lease was lost, another worker has the job: do not
    finish it. `retryable`: a storage failure that may pass (the runner may try again later; the
    checkpoint keeps the work done)."""

    status: str
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    lost: bool = False
    retryable: bool = False

    @property
    def items_done(self) -> int:
        return int(self.result.get("items", 0))

    @property
    def bytes_done(self) -> int:
        return int(self.result.get("bytes", 0))

    @property
    def items_failed(self) -> int:
        return int(self.result.get("failed", 0))

    @property
    def progress(self) -> dict[str, int]:
        """The keyword arguments of `jobs.finish` for the final counts."""
        return {
            "items_done": self.items_done,
            "bytes_done": self.bytes_done,
            "items_failed": self.items_failed,
        }


# -- names


_BAD_CHARS = re.compile('[\x00-\x1f\x7f-\x9f<>:"/\\\\|?*\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]')
_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{i}" for i in "123456789¹²³"]
    + [f"lpt{i}" for i in "123456789¹²³"]
    + ["conin$", "conout$"]
)
_EXTENSION = re.compile(r"^(?P<stem>.+?)(?P<ext>\.[A-Za-z0-9_-]{1,16})$")


def _split_ext(name: str) -> tuple[str, str]:
    """("report", ".pdf"); a dot-file or a name without a short extension has none."""
    match = _EXTENSION.match(name)
    if match is None or match["stem"].strip(".") == "":
        return name, ""
    return match["stem"], match["ext"]


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[: max(limit, 0)].decode("utf-8", "ignore")


def _cap(name: str, limit: int = NAME_MAX_BYTES, suffix: str = "") -> str:
    """`name` plus `suffix` (before the extension) in at most `limit` bytes, the extension kept."""
    stem, ext = _split_ext(name)
    if len(ext.encode()) + len(suffix.encode()) >= limit - 8:
        stem, ext = name, ""
    room = limit - len(ext.encode()) - len(suffix.encode())
    if len(stem.encode()) > room:
        stem = _truncate_utf8(stem, room).rstrip(". ") or "_"
    return stem + suffix + ext


def safe_component(name: str, fallback: str = "unnamed") -> str:
    """One path component any file system and object store accepts and that cannot climb out:
    separators, drive colons, control and bidirectional characters become `_`; leading and
    trailing spaces and trailing dots go (Windows drops them); a name of dots only, or nothing,
    becomes `fallback`; a Windows device name (`CON`, `LPT1.txt`) gets a leading `_`; the result
    is at most 255 bytes of UTF-8, its extension kept."""
    text = unicodedata.normalize("NFC", name.encode("utf-8", "replace").decode("utf-8"))
    text = _BAD_CHARS.sub("_", text).strip(" ").rstrip(". ")
    if not text.strip("."):
        return fallback
    if text.split(".", 1)[0].rstrip(" ").casefold() in _WINDOWS_RESERVED:
        text = "_" + text
    return _cap(text)


def _components(path: str) -> list[str]:
    """The cleaned components of a "/"-separated path: "", "." and ".." are dropped."""
    return [safe_component(part) for part in path.split("/") if part not in ("", ".", "..")]


def safe_entry_name(path: str) -> str:
    """A relative, clean name for `path` (without the uniqueness `Namer` adds)."""
    parts = _components(path)
    return "/".join(parts) if parts else "unnamed"


def _key(name: str) -> int:
    """A compact, case-insensitive identity of a name (8 bytes of BLAKE2b): a million names
    cost ~60 MB as ints in a set, where the strings would cost several times that."""
    return int.from_bytes(hashlib.blake2b(name.casefold().encode("utf-8"), digest_size=8).digest(), "big")


class Namer:
    """Unique, safe entry names for a stream of paths, in a deterministic way: the same paths in
    the same order give the same names (a resumed export relies on it).

    A file name already used by a file or a folder (case-insensitively) gets " (2)", " (3)"…;
    a folder whose name is already a file's gets the suffix too, and keeps it for the items
    that follow. Folders differing only in case become one, spelled as first seen. A name
    longer than `max_bytes` in all goes to `_long names/<hash> <name>`.

    Memory: 8 bytes of hash a file (~60 MB for a million) and the path of each folder."""

    def __init__(
        self, reserved: tuple[str, ...] = (MANIFEST_NAME,), max_bytes: int = ZIP_ENTRY_MAX_BYTES
    ) -> None:
        self.max_bytes = max_bytes
        self._files: set[int] = {_key(name) for name in reserved}
        self._dirs: dict[int, str] = {}  # a folder's key -> its path as first spelled
        self._renamed: dict[int, str] = {}
        self._last_dir: tuple[tuple[str, ...], str] | None = None

    def name_for(self, selected: Selected) -> str:
        """The entry name of a selected item version (see `export_path`)."""
        return self.name(export_path(selected.row))

    def name(self, path: str) -> str:
        parts = _components(path)
        leaf = parts.pop() if parts else "unnamed"
        folder = self._folder(tuple(parts))
        entry = self._file(folder, leaf)
        if len(entry.encode()) > self.max_bytes:
            digest = hashlib.sha256(path.encode("utf-8", "replace")).hexdigest()[:16]
            room = min(NAME_MAX_BYTES, self.max_bytes - 40)
            entry = self._file(self._folder(("_long names",)), _cap(f"{digest} {leaf}", room))
        return entry

    def _folder(self, parts: tuple[str, ...]) -> str:
        if self._last_dir is not None and self._last_dir[0] == parts:
            return self._last_dir[1]
        final = ""
        for part in parts:
            candidate = f"{final}/{part}" if final else part
            key = _key(candidate)
            if key in self._renamed:
                final = self._renamed[key]
            elif key in self._dirs:
                final = self._dirs[key]
            elif key in self._files:
                number = 2
                while True:
                    renamed = _join(final, _cap(part, suffix=f" ({number})"))
                    if _key(renamed) not in self._files and _key(renamed) not in self._dirs:
                        break
                    number += 1
                self._renamed[key] = renamed
                self._dirs[_key(renamed)] = renamed
                final = renamed
            else:
                self._dirs[key] = candidate
                final = candidate
        self._last_dir = (parts, final)
        return final

    def _file(self, folder: str, leaf: str) -> str:
        candidate = _join(folder, leaf)
        number = 1
        while True:
            key = _key(candidate)
            if key not in self._files and key not in self._dirs and key not in self._renamed:
                self._files.add(key)
                return candidate
            number += 1
            candidate = _join(folder, _cap(leaf, suffix=f" ({number})"))


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def export_path(row: CatalogItem) -> str:
    """The path an item takes in an export, before cleaning: messages end in `.eml`; a previous
    file version `Docs/report.pdf@v123` becomes `Docs/report (version 123).pdf`."""
    folder, _, leaf = row.path.rpartition("/")
    if row.kind == "file_version":
        version = str(row.meta.get("file_version_id") or "")
        base = str(row.meta.get("file_name") or "")
        mark = f"@v{version}"
        if not base:
            base = leaf[: -len(mark)] if version and leaf.endswith(mark) else leaf
        stem, ext = _split_ext(base.replace("/", "_"))
        leaf = f"{stem} (version {version}){ext}" if version else f"{stem} (earlier version){ext}"
    elif row.kind == "message" and not leaf.lower().endswith(".eml"):
        leaf += ".eml"
    return _join(folder, leaf)


# -- credentials


def _context(account_id: int) -> str:
    return f"export:{account_id}"


def seal_credentials(account_id: int, credentials: Mapping[str, Any]) -> str:
    """The job's `params["sealed"]`: base64 of the credentials sealed for this account."""
    return base64.b64encode(secrets.seal(credentials, _context(account_id))).decode("ascii")


def unseal_credentials(job: Job) -> dict[str, Any]:
    sealed = job.params.get("sealed")
    if not sealed:
        return {}
    return secrets.unseal(base64.b64decode(sealed), _context(job.account_id))


# -- destinations

_AWS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_COMPATIBLE_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
_AZURE_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
_AZURE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_FREE_REGION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _text(value: Any) -> str:
    return str(value or "").strip()


def _clean_prefix(value: Any) -> str:
    prefix = _text(value).strip("/")
    if not prefix:
        return ""
    parts = prefix.split("/")
    for part in parts:
        if part in ("", ".", "..") or part != safe_component(part, fallback=""):
            raise DestinationError(
                "The folder (prefix) may hold letters, digits, spaces and - _ . separated by "
                'single slashes; no . or .. parts, no \\ : * ? " < > |.',
                "prefix",
            )
    if len(prefix.encode()) > 512:
        raise DestinationError("The folder (prefix) is too long: 512 bytes at most.", "prefix")
    return prefix


def _check_endpoint(value: Any, required: bool) -> str:
    endpoint = _text(value).rstrip("/")
    if not endpoint:
        if required:
            raise DestinationError("Enter the service's endpoint URL (https://…).", "endpoint")
        return ""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationError(
            "The endpoint must be an http:// or https:// URL with a host name.", "endpoint"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise DestinationError(
            "The endpoint URL must not carry credentials, a query or a fragment.", "endpoint"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise DestinationError("The endpoint URL has an invalid port.", "endpoint") from None
    return endpoint


def validate_destination(destination: Mapping[str, Any]) -> dict[str, str]:
    """The destination's fields checked and normalised (the shape kept in `job.params`); raises
    DestinationError naming the field. Makes no network call."""
    kind = _text(destination.get("kind"))
    if kind not in DESTINATION_KINDS:
        raise DestinationError("Choose where to export to.", "kind")
    if kind == "download":
        return {"kind": "download"}
    bucket = _text(destination.get("bucket"))
    result = {"kind": kind, "bucket": bucket, "prefix": _clean_prefix(destination.get("prefix"))}
    if kind == "s3":
        if not _AWS_BUCKET.match(bucket) or ".." in bucket or _is_ip(bucket):
            raise DestinationError(
                "An S3 bucket name has 3 to 63 lower-case letters, digits, dots and hyphens, "
                "and starts and ends with a letter or digit.",
                "bucket",
            )
        region = _text(destination.get("region")) or "us-east-1"
        if not _AWS_REGION.match(region):
            raise DestinationError(
                f"“{region}” is not an AWS region (like us-east-1 or eu-west-3).", "region"
            )
        result["region"] = region
        if _text(destination.get("endpoint")):
            raise DestinationError(
                "Amazon S3 needs no endpoint: choose S3-compatible storage instead.", "endpoint"
            )
    elif kind == "s3_compatible":
        if not _COMPATIBLE_BUCKET.match(bucket):
            raise DestinationError(
                "A bucket name has 3 to 255 letters, digits, dots, hyphens and underscores, "
                "and starts and ends with a letter or digit.",
                "bucket",
            )
        region = _text(destination.get("region")) or "us-east-1"
        if not _FREE_REGION.match(region):
            raise DestinationError("The region may hold letters, digits, - and _ only.", "region")
        result["region"] = region
        result["endpoint"] = _check_endpoint(destination.get("endpoint"), required=True)
    elif kind == "azure":
        if not _AZURE_CONTAINER.match(bucket):
            raise DestinationError(
                "A container name has 3 to 63 lower-case letters, digits and single hyphens, "
                "and starts and ends with a letter or digit.",
                "bucket",
            )
        account = _text(destination.get("account_name"))
        if not _AZURE_ACCOUNT.match(account):
            raise DestinationError(
                "A storage account name has 3 to 24 lower-case letters and digits.", "account_name"
            )
        result["account_name"] = account
        endpoint = _check_endpoint(destination.get("endpoint"), required=False)
        if endpoint:
            result["endpoint"] = endpoint
    elif kind == "gcs" and (
        not _GCS_BUCKET.match(bucket) or bucket.startswith("goog") or ".." in bucket or _is_ip(bucket)
    ):
        raise DestinationError(
            "A bucket name has 3 to 63 lower-case letters, digits, dots, hyphens and "
            "underscores, and starts and ends with a letter or digit.",
            "bucket",
        )
    return result


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _store_options(destination: Mapping[str, str], credentials: Mapping[str, Any]) -> dict[str, Any]:
    kind = destination["kind"]
    if kind in ("s3", "s3_compatible"):
        key_id = _text(credentials.get("access_key_id"))
        secret = _text(credentials.get("secret_access_key"))
        if not key_id:
            raise DestinationError("Enter the access key ID.", "access_key_id")
        if not secret:
            raise DestinationError("Enter the secret access key.", "secret_access_key")
        options = {"region": destination["region"], "access_key_id": key_id, "secret_access_key": secret}
        if destination.get("endpoint"):
            options["endpoint"] = destination["endpoint"]
        return options
    if kind == "azure":
        options = {"account_name": destination["account_name"]}
        if destination.get("endpoint"):
            options["endpoint"] = destination["endpoint"]
        account_key = _text(credentials.get("account_key"))
        sas = _text(credentials.get("sas_token")).lstrip("?")
        if account_key:
            try:
                base64.b64decode(account_key, validate=True)
            except ValueError:
                raise DestinationError(
                    "The account key is not valid (it is a base64 text).", "account_key"
                ) from None
            options["account_key"] = account_key
        elif sas:
            if "sig=" not in sas:
                raise DestinationError("The SAS token has no signature (sig=…).", "sas_token")
            options["sas_token"] = sas
        else:
            raise DestinationError("Enter the storage account key or a SAS token.", "account_key")
        return options
    if kind == "gcs":
        return {"service_account_key": _service_account_key(credentials.get("service_account_key"))}
    raise DestinationError("Choose where to export to.", "kind")


# Key file fields with which object_store talks to an emulator instead of Google. In a customer's
# key they would have Backstop send requests to any host they name, so they are only accepted
# naming the installation's own emulator (BACKSTOP_GCS_EMULATOR_URL: the tests', never production).
GCS_EMULATOR_FIELDS = ("gcs_base_url", "disable_oauth")


def _service_account_key(value: Any) -> str:
    """The text of a Google Cloud service account's JSON key file, checked (no network call)."""
    text = _text(value)
    try:
        key = json.loads(text)
    except ValueError:
        key = None
    needed = ("private_key", "private_key_id", "client_email")
    if (
        not isinstance(key, dict)
        or key.get("type") != "service_account"
        or not all(isinstance(key.get(name), str) and key[name] for name in needed)
    ):
        raise DestinationError(
            "Paste the JSON key file of a Google Cloud service account.", "service_account_key"
        )
    if any(name in key for name in GCS_EMULATOR_FIELDS):
        emulator = str(getattr(settings, "BACKSTOP_GCS_EMULATOR_URL", "") or "")
        if not emulator or key.get("gcs_base_url") != emulator:
            raise DestinationError(
                "This key file sends Backstop to another server than Google Cloud Storage "
                f"({' and '.join(name for name in GCS_EMULATOR_FIELDS if name in key)}): paste the key "
                "file exactly as Google Cloud gives it.",
                "service_account_key",
            )
    try:
        private_key = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        private_key = None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise DestinationError(
            "The private key in this key file cannot be read: create a new key for the service account "
            "and paste its whole file.",
            "service_account_key",
        )
    return text


def _url(destination: Mapping[str, str]) -> str:
    scheme = {"s3": "s3", "s3_compatible": "s3", "azure": "az", "gcs": "gs"}[destination["kind"]]
    prefix = destination.get("prefix", "")
    return f"{scheme}://{destination['bucket']}/{quote(prefix, safe='/')}".rstrip("/")


def describe_destination(destination: Mapping[str, Any]) -> str:
    """For logs, e-mails and pages (never a secret): `Amazon S3 bucket “b”, folder “p”`."""
    kind = _text(destination.get("kind"))
    if kind == "download":
        return "a zip file to download"
    label = DESTINATION_LABELS.get(kind, kind)
    noun = "container" if kind == "azure" else "bucket"
    where = f"{label} {noun} “{_text(destination.get('bucket'))}”"
    if destination.get("endpoint"):
        where += f" at {_text(destination.get('endpoint'))}"
    if destination.get("prefix"):
        where += f", folder “{_text(destination.get('prefix'))}”"
    return where


def _allow_private_endpoints() -> bool:
    return bool(settings.BACKSTOP_EXPORT_PRIVATE_ENDPOINTS)


def _check_reachable_host(destination: Mapping[str, str]) -> None:
    """Refuses endpoints that resolve to loopback, private, link-local or reserved addresses
    (the customer's endpoint must not reach our own network), unless the installation allows it
    (`BACKSTOP_EXPORT_PRIVATE_ENDPOINTS`, for tests and on-premises object stores)."""
    endpoint = destination.get("endpoint")
    if not endpoint or _allow_private_endpoints():
        return
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError:
        raise DestinationError(f"Cannot reach {host}: the name does not resolve.", "endpoint") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise DestinationError(
                f"{host} resolves to a private or reserved address; use the service's public endpoint.",
                "endpoint",
            )


def open_destination(
    destination: Mapping[str, Any], credentials: Mapping[str, Any], retry: RetryPolicy | None = None
) -> tuple[Store, dict[str, str]]:
    """The store for an object-store destination and the normalised destination."""
    clean = validate_destination(destination)
    if clean["kind"] == "download":
        raise DestinationError("A download has no object store.", "kind")
    options = _store_options(clean, credentials)
    try:
        return open_store(_url(clean), options, retry=retry), clean
    except (StoreError, ValueError) as exc:
        raise DestinationError(f"The destination cannot be used: {exc}") from exc


def _refused(exc: BaseException) -> str:
    """The service's own error code, when its answer carries one."""
    text = f"{exc} {exc.__cause__ or ''}"
    match = re.search(r"<Code>([A-Za-z]+)</Code>", text)
    return match.group(1) if match else ""


_REFUSALS = {
    "InvalidAccessKeyId": ": the service does not know this access key ID",
    "SignatureDoesNotMatch": ": the secret access key does not match the access key ID",
    "AuthenticationFailed": ": the key or token does not match the storage account",
    "AuthorizationFailure": ": the key or token does not match the storage account",
    "ExpiredToken": ": it has expired",
    "AuthenticationRequired": ": Google Cloud does not accept it (the key may have been deleted or disabled)",
}


def _credentials_word(destination: Mapping[str, str], credentials: Mapping[str, Any]) -> tuple[str, str]:
    kind = destination["kind"]
    if kind == "azure":
        if _text(credentials.get("account_key")):
            return "The storage account key", "account_key"
        return "The SAS token", "sas_token"
    if kind == "gcs":
        return "The service account key", "service_account_key"
    return "The access key", "access_key_id"


def _destination_error(
    exc: BaseException, destination: Mapping[str, str], credentials: Mapping[str, Any]
) -> DestinationError:
    noun = "container" if destination["kind"] == "azure" else "bucket"
    bucket = destination.get("bucket", "")
    host = destination.get("endpoint") or DESTINATION_LABELS.get(destination["kind"], "the service")
    if isinstance(exc, ObjectNotFound):
        return DestinationError(
            f"The {noun} “{bucket}” does not exist (or is not visible with these credentials).", "bucket"
        )
    if isinstance(exc, StoreAccessDenied):
        what, field_name = _credentials_word(destination, credentials)
        code = _refused(exc)
        if code in ("AccessDenied", "AuthorizationPermissionMismatch", "AuthorizationPermissionDenied"):
            return DestinationError(
                f"{what} was accepted but may not write to the {noun} “{bucket}”: allow writing and "
                "deleting objects there.",
                field_name,
            )
        detail = _REFUSALS.get(code, f" ({code})" if code else "")
        return DestinationError(f"{what} was refused{detail}.", field_name)
    if isinstance(exc, StoreUnavailable):
        field_name = "endpoint" if destination.get("endpoint") else ""
        return DestinationError(f"Cannot reach {host}: {_short(exc)}", field_name)
    return DestinationError(f"The {noun} “{bucket}” cannot be written: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc).split(" - ", 1)[0].strip()
    return text[:300] or type(exc).__name__


def check_destination(destination: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
    """Raises DestinationError unless a small test object can be written to the destination and
    deleted again. Call it before creating the job; a download needs no check."""
    clean = validate_destination(destination)
    if clean["kind"] == "download":
        return
    store, clean = open_destination(clean, credentials, retry=CHECK_RETRY)
    _check_reachable_host(clean)
    key = f".backstop-check-{uuid.uuid4().hex[:12]}.txt"
    try:
        store.put(key, b"Backstop checks that it can write here before an export; this object is deleted.\n")
    except (StoreError, ValueError) as exc:
        raise _destination_error(exc, clean, credentials) from exc
    try:
        store.delete(key)
    except StoreAccessDenied as exc:
        raise DestinationError(
            "Backstop could write to the destination but not delete its test object "
            f"“{key}”: allow deleting objects there too (Backstop removes its temporary files).",
        ) from exc
    except (StoreError, ValueError) as exc:
        raise _destination_error(exc, clean, credentials) from exc


# -- files of downloads


def exports_root() -> Path:
    return Path(settings.BACKSTOP_DATA_DIR) / "exports"


def exports_dir(account: Account | int) -> Path:
    account_id = account if isinstance(account, int) else account.pk
    return exports_root() / f"a{account_id}"


def zip_path(job: Job) -> Path:
    return exports_dir(job.account_id) / f"export-{job.pk}.zip"


_EXPORT_FILE = re.compile(r"^export-(?P<job>\d+)(?:\.zip|\.(?P<run>[0-9a-f]+)\.part)$")


def expire_exports(now: datetime | None = None) -> int:
    """Deletes zips whose job ended more than 72 hours ago (or is gone), and the partial files of
    jobs that ended or are gone. Returns the number of files deleted."""
    now = now or timezone.now()
    root = exports_root()
    if not root.is_dir():
        return 0
    found: list[tuple[Path, int, bool]] = []
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = _EXPORT_FILE.match(path.name)
            if match:
                found.append((path, int(match["job"]), match["run"] is not None))
    known = {
        pk: (status, ended_at)
        for pk, status, ended_at in Job.objects.filter(
            pk__in={pk for _, pk, _ in found}, kind=Job.Kind.EXPORT
        ).values_list("pk", "status", "ended_at")
    }
    cutoff = now - timedelta(hours=EXPORT_HOURS)
    deleted = 0
    for path, pk, partial in found:
        status, ended_at = known.get(pk, (None, None))
        finished = status is None or status in Job.FINISHED
        if partial:
            doomed = finished
        else:
            doomed = status is None or (finished and (ended_at is None or ended_at <= cutoff))
        if doomed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted += 1
    for folder in root.iterdir():
        if folder.is_dir():
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
    return deleted


# -- the manifest


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class _Rows:
    """Manifest rows spooled to a temporary file (a million rows never sit in memory)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.file: IO[bytes] = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - closed in close()
        self._text = io.TextIOWrapper(self.file, encoding="utf-8", newline="", write_through=True)
        self._csv = csv.writer(self._text)

    def exported(
        self, row: CatalogItem, entry: str, size: int, sha256: str, modified: datetime | None
    ) -> None:
        when = modified.astimezone(UTC).isoformat() if modified else ""
        self._csv.writerow([_cell(entry), _cell(row.path), row.kind, size, when, sha256, "exported", ""])

    def unreadable(self, row: CatalogItem, entry: str, error: str) -> None:
        self._csv.writerow(
            [_cell(entry), _cell(row.path), row.kind, row.size, "", "", "unreadable", _cell(error)]
        )

    def take(self) -> bytes:
        """The rows written so far, emptied."""
        self._text.flush()
        self.file.seek(0)
        data = self.file.read()
        self.file.seek(0)
        self.file.truncate()
        return data

    def chunks(self) -> Iterator[bytes]:
        self._text.flush()
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield chunk

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._text.detach()
        self.file.close()


def _manifest_header() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(MANIFEST_FIELDS)
    return "\ufeff".encode() + out.getvalue().encode()


# -- running


def _describe(exc: BaseException) -> str:
    if isinstance(exc, IntegrityError) and "missing" in str(exc):
        return f"Part of the item's backed-up content is missing: {exc}"
    if isinstance(exc, IntegrityError):
        return f"The backed-up content failed its integrity check: {exc}"
    if isinstance(exc, ItemNotFound | SnapshotNotFound | ObjectNotFound):
        return f"The item is no longer in the backup: {exc}"
    return f"{type(exc).__name__}: {exc}"


# Errors of one item; anything else from the repository (the storage down, the key refused) fails
# the export.
_ITEM_ERRORS = (IntegrityError, ItemNotFound, SnapshotNotFound, ObjectNotFound, PathError, UnsupportedFormat)


class _SourceFailed(Exception):
    """The repository's storage failed (not one item): the export stops."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


class _Run:
    """What zip and object exports share: the selection, the repository, counts, the manifest."""

    def __init__(self, job: Job, control: jobs.Control, entity: Entity, repo: Repository) -> None:
        self.job, self.control, self.entity, self.repo = job, control, entity, repo
        self.selection = Selection.from_params(job.params.get("selection") or {})
        self.items = 0
        self.bytes = 0
        self.failed = 0
        self.unreadable: list[dict[str, str]] = []
        self._snapshots: dict[str, SnapshotInfo] = {}

    def open(self, selected: Selected) -> BinaryIO:
        try:
            info = self._snapshots.get(selected.snapshot_id)
            if info is None:
                info = self._snapshots[selected.snapshot_id] = self.repo.snapshot(selected.snapshot_id)
            return self.repo.open_item(info, selected.row.path)
        except _ITEM_ERRORS as exc:
            raise Unreadable(_describe(exc)) from exc
        except StoreError as exc:
            raise _SourceFailed(exc) from exc

    def read_chunks(self, stream: BinaryIO) -> Iterator[bytes]:
        try:
            while chunk := stream.read(CHUNK):
                yield chunk
        except _ITEM_ERRORS as exc:
            raise Unreadable(_describe(exc)) from exc
        except StoreError as exc:
            raise _SourceFailed(exc) from exc

    def note_unreadable(self, selected: Selected, error: str) -> None:
        self.failed += 1
        if len(self.unreadable) < UNREADABLE_LIMIT:
            self.unreadable.append({"path": selected.row.path, "error": error})
            jobs.add_log(self.job, f"Not exported: {selected.row.path}: {error}", JobLog.Level.WARNING)

    def report(self) -> None:
        self.control.progress(self.items, self.bytes, self.failed)

    def counts(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "bytes": self.bytes,
            "failed": self.failed,
            "unreadable": list(self.unreadable),
            "manifest": MANIFEST_NAME,
        }

    def summary_error(self) -> str:
        if not self.failed:
            return ""
        return f"{self.failed} item(s) could not be read from the backup; see {MANIFEST_NAME}."

    def final_status(self) -> str:
        if self.failed and not self.items:
            return Job.Status.FAILED
        return Job.Status.PARTIAL if self.failed else Job.Status.SUCCEEDED


def _zip_time(moment: datetime | None) -> tuple[tuple[int, int, int, int, int, int], int]:
    """The entry's DOS date (UTC, clamped to 1980 to 2107) and its Unix time for the extended
    timestamp field."""
    moment = (moment or datetime(1980, 1, 1, tzinfo=UTC)).astimezone(UTC)
    unix = max(min(int(moment.timestamp()), 2**31 - 1), -(2**31))
    year = min(max(moment.year, 1980), 2107)
    if moment.year != year:
        moment = datetime(year, 1 if year == 1980 else 12, 1 if year == 1980 else 31, tzinfo=UTC)
    stamp = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    return stamp, unix


class _ZipExport(_Run):
    def run(self) -> ExportOutcome:
        folder = exports_dir(self.job.account_id)
        folder.mkdir(parents=True, exist_ok=True)
        earlier = list(folder.glob(f"export-{self.job.pk}.*.part"))
        final = zip_path(self.job)
        if earlier or final.exists():
            jobs.add_log(self.job, "An earlier run of this export stopped part-way; writing the zip again.")
        for path in earlier:
            path.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        part = folder / f"export-{self.job.pk}.{uuid.uuid4().hex[:12]}.part"
        rows = _Rows(folder)
        stopped = False
        try:
            with open(part, "w+b") as handle:
                with zipfile.ZipFile(handle, "w", allowZip64=True) as archive:
                    namer = Namer()
                    for selected in resolve(self.entity, self.selection):
                        if self.control.should_stop:
                            stopped = True
                            break
                        entry = namer.name_for(selected)
                        try:
                            size, digest = self._add(archive, entry, selected)
                        except Unreadable as exc:
                            rows.unreadable(selected.row, entry, str(exc))
                            self.note_unreadable(selected, str(exc))
                        else:
                            rows.exported(selected.row, entry, size, digest, selected.row.modified)
                            self.items += 1
                            self.bytes += size
                        self.report()
                    if not stopped:
                        info = zipfile.ZipInfo(MANIFEST_NAME, _zip_time(timezone.now())[0])
                        info.compress_type = zipfile.ZIP_DEFLATED
                        info.external_attr = 0o644 << 16
                        with archive.open(info, "w") as out:
                            out.write(_manifest_header())
                            for chunk in rows.chunks():
                                out.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if stopped or self.control.lost.is_set():
                part.unlink(missing_ok=True)
                return self._stopped()
            size = part.stat().st_size
            os.replace(part, final)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        finally:
            rows.close()
        result = {
            **self.counts(),
            "destination": "download",
            "file": final.relative_to(exports_root()).as_posix(),
            "size": size,
        }
        return ExportOutcome(self.final_status(), result, self.summary_error())

    def _stopped(self) -> ExportOutcome:
        lost = self.control.lost.is_set()
        result = {**self.counts(), "destination": "download"}
        return ExportOutcome(Job.Status.CANCELED, result, "lease lost" if lost else "canceled", lost=lost)

    def _add(self, archive: zipfile.ZipFile, entry: str, selected: Selected) -> tuple[int, str]:
        row = selected.row
        stream = self.open(selected)
        with stream:
            chunks = self.read_chunks(stream)
            first = next(chunks, b"")  # a first failure leaves no entry behind
            stamp, unix = _zip_time(row.modified or selected.row.valid_from.time)
            info = zipfile.ZipInfo(entry, stamp)
            info.file_size = row.size  # decides ZIP64 headers up front
            info.external_attr = 0o644 << 16
            info.extra = struct.pack("<HHBl", 0x5455, 5, 1, unix)  # extended timestamp: mtime
            textual = row.kind == "message" or Path(entry).suffix.lower() in _TEXT_SUFFIXES
            if textual and row.size <= DEFLATE_UP_TO:
                info.compress_type = zipfile.ZIP_DEFLATED
                info.compress_level = 1  # type: ignore[attr-defined]  # public since Python 3.13
            digest = hashlib.sha256()
            size = 0
            try:
                with archive.open(info, "w", force_zip64=row.size >= ZIP64_FROM) as out:
                    chunk = first
                    while chunk:
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                        chunk = next(chunks, b"")
            except Unreadable:
                _drop_last_entry(archive, info)
                raise
        return size, digest.hexdigest()


def _drop_last_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Takes the entry just written off the end of the archive (its content broke off part-way):
    the file is cut back to where the entry began, as if it had never been written."""
    if archive.filelist and archive.filelist[-1] is info:
        archive.filelist.pop()
    archive.NameToInfo.pop(info.filename, None)
    archive.start_dir = info.header_offset
    assert archive.fp is not None
    archive.fp.seek(info.header_offset)
    archive.fp.truncate()


def put_stream(store: Store, key: str, chunks: Callable[[], Iterator[bytes]]) -> None:
    """Writes the chunks as one object: buffered up to MULTIPART_CHUNK, a multipart upload beyond,
    published only when complete (an error drops the upload, no partial object appears). Runs in
    the Store wrapper's retry loop; each attempt calls `chunks()` afresh.

    The chunks are pushed from this thread (`open_writer`), not pulled by obstore from an
    iterator: pulling runs inside obstore's runtime, where reading the repository (obstore
    again) is not allowed."""

    def attempt() -> None:
        writer = obstore.open_writer(
            store._raw, key, buffer_size=MULTIPART_CHUNK, max_concurrency=MULTIPART_CONCURRENCY
        )
        for chunk in chunks():
            writer.write(chunk)
        writer.close()

    store._call("write", key, attempt)


class _ObjectExport(_Run):
    def __init__(
        self,
        job: Job,
        control: jobs.Control,
        entity: Entity,
        repo: Repository,
        store: Store,
        destination: dict[str, str],
        credentials: Mapping[str, Any],
    ) -> None:
        super().__init__(job, control, entity, repo)
        self.store, self.destination, self.credentials = store, destination, credentials
        self.parts_prefix = f".backstop-export-{job.pk}"
        self.objects = 0
        self.parts = 0
        self.done = 0  # selected items (exported or not) up to the last checkpoint
        self._resume_path = ""  # the path of the last of them
        self._pending: deque[tuple[Future[None], int]] = deque()
        self._last_checkpoint = time.monotonic()
        self._since_checkpoint = 0

    def run(self) -> ExportOutcome:
        self._resume()
        rows = _Rows()
        prefix_bytes = len(self.destination.get("prefix", "").encode())
        namer = Namer(max_bytes=OBJECT_KEY_MAX_BYTES - prefix_bytes - 1)
        stopped = restart = False
        last_path = ""
        seen = 0
        pool = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix=f"export-{self.job.pk}")
        try:
            for index, selected in enumerate(resolve(self.entity, self.selection)):
                seen = index + 1
                entry = namer.name_for(selected)
                if index < self.done:
                    moved = self._resume_path and selected.row.path != self._resume_path
                    if index == self.done - 1 and moved:
                        restart = True
                        break
                    continue  # written by an earlier run: only named again
                if self._checkpoint_due():
                    self._checkpoint(rows, index, last_path)
                if self.control.should_stop:
                    stopped = True
                    break
                self._export(pool, rows, entry, selected)
                last_path = selected.row.path
                self._since_checkpoint += 1
                self.report()
            self._drain()
            restart = restart or seen < self.done  # the selection shrank since the checkpoint
            if stopped and self.control.lost.is_set():
                return self._outcome(Job.Status.CANCELED, "lease lost", lost=True)
            if not restart:
                self._write_manifest(rows)
        except StoreUnavailable as exc:
            error = f"Cannot write to the destination: {_short(exc)}"
            return self._outcome(Job.Status.FAILED, error, retryable=True)
        except (StoreAccessDenied, ObjectNotFound) as exc:
            refused = _destination_error(exc, self.destination, self.credentials)
            return self._outcome(Job.Status.FAILED, refused.message)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            rows.close()
        if restart:
            jobs.add_log(self.job, "The selection changed since the export started; writing all items again.")
            jobs.save_checkpoint(self.job, {})
            again = _ObjectExport(
                self.job, self.control, self.entity, self.repo, self.store, self.destination, self.credentials
            )
            return again.run()
        if stopped:
            return self._outcome(Job.Status.CANCELED, "canceled")
        return self._outcome(self.final_status(), self.summary_error())

    def _outcome(self, status: str, error: str, lost: bool = False, retryable: bool = False) -> ExportOutcome:
        result = {
            **self.counts(),
            "destination": self.destination["kind"],
            "location": describe_destination(self.destination),
            "objects": self.objects,
        }
        return ExportOutcome(status, result, error, lost=lost, retryable=retryable)

    # -- resuming

    def _resume(self) -> None:
        checkpoint = self.job.checkpoint or {}
        if not checkpoint.get("done"):
            return
        self.done = int(checkpoint["done"])
        self._resume_path = str(checkpoint.get("after", ""))
        self.parts = int(checkpoint.get("parts", 0))
        self.items = int(checkpoint.get("items", 0))
        self.bytes = int(checkpoint.get("bytes", 0))
        self.failed = int(checkpoint.get("failed", 0))
        self.objects = int(checkpoint.get("objects", 0))
        self.unreadable = list(checkpoint.get("unreadable", []))
        jobs.add_log(self.job, f"Resuming after {self.done} items already written.")

    def _checkpoint_due(self) -> bool:
        if not self._since_checkpoint:
            return False
        return (
            self._since_checkpoint >= CHECKPOINT_ITEMS
            or time.monotonic() - self._last_checkpoint >= settings.BACKSTOP_CHECKPOINT_SECONDS
        )

    def _checkpoint(self, rows: _Rows, index: int, last_path: str) -> None:
        self._drain()
        data = rows.take()
        if data:
            self.parts += 1
            self.store.put(f"{self.parts_prefix}/manifest-{self.parts:05}.csv", data)
        self.done = index
        jobs.save_checkpoint(
            self.job,
            {
                "done": index,
                "after": last_path,
                "parts": self.parts,
                "items": self.items,
                "bytes": self.bytes,
                "failed": self.failed,
                "objects": self.objects,
                "unreadable": self.unreadable,
            },
        )
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()

    # -- one item

    def _export(self, pool: ThreadPoolExecutor, rows: _Rows, entry: str, selected: Selected) -> None:
        row = selected.row
        try:
            data = self._read_small(selected) if row.size <= SMALL_OBJECT else None
            if data is not None:
                size, digest = len(data), hashlib.sha256(data).hexdigest()
                self._pending.append((pool.submit(self.store.put, entry, data), size))
                if len(self._pending) >= UPLOADS_IN_FLIGHT:
                    self._settle_oldest()
            else:
                size, digest = self._stream(entry, selected)
        except Unreadable as exc:
            rows.unreadable(row, entry, str(exc))
            self.note_unreadable(selected, str(exc))
            return
        rows.exported(row, entry, size, digest, row.modified)
        self.items += 1
        self.bytes += size
        self.objects += 1

    def _read_small(self, selected: Selected) -> bytes | None:
        """The whole item, or None when it is larger than SMALL_OBJECT after all."""
        buffer = bytearray()
        stream = self.open(selected)
        with stream:
            for chunk in self.read_chunks(stream):
                buffer += chunk
                if len(buffer) > SMALL_OBJECT:
                    return None
        return bytes(buffer)

    def _stream(self, entry: str, selected: Selected) -> tuple[int, str]:
        """A multipart upload fed from the repository; a retry reads the item again."""
        self._drain()
        outcome: dict[str, Any] = {}

        def chunks() -> Iterator[bytes]:
            digest, size = hashlib.sha256(), 0
            stream = self.open(selected)
            with stream:
                for chunk in self.read_chunks(stream):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
            outcome.update(size=size, sha256=digest.hexdigest())

        put_stream(self.store, entry, chunks)
        return int(outcome["size"]), str(outcome["sha256"])

    def _settle_oldest(self) -> None:
        future, _ = self._pending.popleft()
        future.result()

    def _drain(self) -> None:
        while self._pending:
            self._settle_oldest()

    # -- the manifest

    def _write_manifest(self, rows: _Rows) -> None:
        missing: set[int] = set()

        def chunks() -> Iterator[bytes]:
            yield _manifest_header()
            for number in range(1, self.parts + 1):
                try:
                    yield self.store.get(f"{self.parts_prefix}/manifest-{number:05}.csv")
                except ObjectNotFound:
                    missing.add(number)
            yield from rows.chunks()

        put_stream(self.store, MANIFEST_NAME, chunks)
        self.objects += 1
        if missing:
            jobs.add_log(
                self.job,
                f"Part of the manifest kept during the export was deleted from the destination; "
                f"manifest.csv lacks the rows of {len(missing)} checkpoint(s).",
                JobLog.Level.WARNING,
            )
        for info in self.store.list(f"{self.parts_prefix}/"):
            self.store.delete(info.key)


def _entity_of(job: Job, selection: Selection) -> Entity:
    return Entity.objects.select_related("task").get(pk=selection.entity_id, account_id=job.account_id)


def run_export(job: Job, control: jobs.Control) -> ExportOutcome:
    """Runs the export job (the runner calls it inside `jobs.Control` and finishes the job with
    the outcome unless `outcome.lost`). Storage failures that may pass come back Failed with
    `retryable`; a wrong destination comes back Failed with a message for the person."""
    params = job.params or {}
    try:
        selection = Selection.from_params(params.get("selection") or {})
        entity = _entity_of(job, selection)
    except (KeyError, ValueError, TypeError, Entity.DoesNotExist):
        return ExportOutcome(Job.Status.FAILED, {}, "The export's selection is no longer valid.")
    if (
        selection.snapshot_id is not None
        and not Snapshot.objects.filter(pk=selection.snapshot_id, entity=entity).exists()
    ):
        return ExportOutcome(Job.Status.FAILED, {}, "The backup the selection was made in is no longer kept.")
    destination = dict(params.get("destination") or {"kind": "download"})
    try:
        repo = open_repository(job.account, create=False)
    except RepositoryNotFound:
        return ExportOutcome(Job.Status.FAILED, {}, "This account has no backups to export.")
    except StoreUnavailable as exc:
        error = f"The backup storage cannot be reached: {exc}"
        return ExportOutcome(Job.Status.FAILED, {}, error, retryable=True)
    try:
        if destination.get("kind") == "download":
            return _ZipExport(job, control, entity, repo).run()
        try:
            credentials = unseal_credentials(job)
        except (secrets.SecretUnreadable, ValueError):
            error = "The destination's credentials cannot be read any more."
            return ExportOutcome(Job.Status.FAILED, {}, error)
        try:
            store, clean = open_destination(destination, credentials)
            _check_reachable_host(clean)
        except DestinationError as exc:
            return ExportOutcome(Job.Status.FAILED, {}, exc.message)
        return _ObjectExport(job, control, entity, repo, store, clean, credentials).run()
    except _SourceFailed as exc:
        retry = isinstance(exc.error, StoreUnavailable)
        error = f"The backup storage cannot be read: {exc}"
        return ExportOutcome(Job.Status.FAILED, {}, error, retryable=retry)
    except StoreUnavailable as exc:
        error = f"The backup storage cannot be read: {exc}"
        return ExportOutcome(Job.Status.FAILED, {}, error, retryable=True)
    except EngineError as exc:
        log.exception("export job %s failed", job.pk)
        return ExportOutcome(Job.Status.FAILED, {}, f"The backup cannot be read: {exc}")


__all__ = [
    "DESTINATION_KINDS",
    "DESTINATION_LABELS",
    "EXPORT_HOURS",
    "MANIFEST_NAME",
    "DestinationError",
    "ExportOutcome",
    "Namer",
    "check_destination",
    "describe_destination",
    "expire_exports",
    "export_path",
    "exports_dir",
    "exports_root",
    "open_destination",
    "run_export",
    "safe_component",
    "safe_entry_name",
    "seal_credentials",
    "unseal_credentials",
    "validate_destination",
    "zip_path",
]
