"""Export (A-EXPORT) end to end: real backups (the pipeline writing the engine's repository on
local disk and the catalog rows), exports to a zip downloaded through the signed link, and to
S3 (moto's server, with IAM authentication on) and Azure Blob (Azurite)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import shutil
import subprocess
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.conf import LazySettings
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from backstop.audit.models import AuditEvent
from backstop.backups import downloads, export, jobs, runner
from backstop.backups.export import DestinationError, ExportOutcome, Namer, safe_component, safe_entry_name
from backstop.backups.models import BackupTask, CatalogItem, Entity, Job, Snapshot
from backstop.backups.pipeline import EntityBackup
from backstop.backups.recovery import Selection
from backstop.backups.repos import open_repository, repository_url
from backstop.connectors.base import Connector, Content, EntityInfo, Item, NewCursor, Upsert
from backstop.engine.errors import BlobMissing
from backstop.engine.repository import Repository
from backstop.engine.stores import open_store
from backstop.sandbox.box import BoxSandbox
from backstop.tenancy.models import Account
from tests.backups.sandbox import entity_of, seed_tenant
from tests.conftest import Personas
from tests.engine.conftest import azurite  # noqa: F401 - the session's Azurite, as a fixture here
from tests.engine.servers import Azurite, Server, start_moto, unique_name
from tests.helpers import last_link

ROOT_MODIFIED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _export_settings(settings: LazySettings, tmp_path: Path) -> None:
    settings.BACKSTOP_DATA_DIR = tmp_path / "data"
    # The emulators listen on 127.0.0.1: let the destination check reach them.
    settings.BACKSTOP_EXPORT_PRIVATE_ENDPOINTS = True


# -- building real backups


class ListConnector(Connector):
    """Items given up front, each with a function giving its content: one full listing."""

    service = "box"

    def __init__(self, items: list[tuple[Item, Any]]) -> None:
        super().__init__({}, {})
        self.items = items
        self.content = {item.key: make for item, make in items}

    def check(self) -> None:
        pass

    def discover(self) -> Iterator[EntityInfo]:
        return iter(())

    def changes(self, entity: EntityInfo, cursor: str | None, known: Any) -> Iterator[Any]:
        for item, _ in self.items:
            yield Upsert(item)
        yield NewCursor(f"c{len(self.items)}")

    def open(self, entity: EntityInfo, item: Item) -> Content:
        return self.content[item.key]()

    def restore(self, entity: EntityInfo, items: Any, options: Any) -> Iterator[Any]:
        raise NotImplementedError


def item(
    path: str, data: bytes | None = None, *, size: int | None = None, kind: str = "file", **meta: Any
) -> Item:
    key = meta.pop("key", path)
    return Item(
        key=key,
        path=path,
        version=hashlib.sha1(path.encode() + (data or b"")).hexdigest(),
        content_version=hashlib.sha1(data or path.encode()).hexdigest(),
        size=len(data) if data is not None else int(size or 0),
        kind=kind,
        name=path.rsplit("/", 1)[-1],
        modified=ROOT_MODIFIED,
        meta=meta,
    )


def entity_for(account: Account, key: str = "user-1") -> Entity:
    task = BackupTask.objects.create(
        account=account, service="box", name="Export test", index_for_search=False
    )
    return Entity.objects.create(account=account, task=task, key=key, name=f"User {key}", status="active")


def back_up(entity: Entity, items: list[tuple[Item, Any]]) -> Snapshot:
    """One backup run through the real pipeline: engine snapshot, catalog rows, entity totals."""
    job = Job.objects.create(account=entity.account, kind="backup", task=entity.task, entity=entity)
    claimed = jobs.claim(job.pk)
    assert claimed is not None
    with jobs.Control(claimed) as control:
        repo = open_repository(entity.account)
        result = EntityBackup(claimed, ListConnector(items), repo, control).run()
    jobs.finish(claimed, Job.Status.SUCCEEDED)
    entity.refresh_from_db()
    return Snapshot.objects.get(entity=entity, snapshot_id=result.snapshot_id)


def random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def chunks_of(seed: int, size: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Incompressible content generated a chunk at a time (memory stays one chunk)."""
    rng = random.Random(seed)
    left = size
    while left:
        n = min(chunk, left)
        yield rng.randbytes(n)
        left -= n


def whole(snapshot: Snapshot) -> Selection:
    return Selection(snapshot.entity_id, snapshot.pk, ("",), ())


# -- running export jobs as the runner will


def export_job(
    entity: Entity,
    selection: Selection,
    destination: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
) -> Job:
    params: dict[str, Any] = {
        "selection": selection.as_params(),
        "label": "test export",
        "destination": destination or {"kind": "download"},
        "backup_date": ROOT_MODIFIED.isoformat(),
        "items_total": 0,
        "bytes_total": 0,
    }
    if credentials is not None:
        params["sealed"] = export.seal_credentials(entity.account_id, credentials)
    return Job.objects.create(
        account=entity.account, kind="export", task=entity.task, entity=entity, params=params
    )


def run(job: Job, control: Any = None) -> tuple[Job, ExportOutcome]:
    claimed = jobs.claim(job.pk)
    assert claimed is not None
    if control is None:
        with jobs.Control(claimed) as real:
            outcome = export.run_export(claimed, real)
    else:
        outcome = export.run_export(claimed, control)
    if not outcome.lost:
        jobs.finish(claimed, outcome.status, result=outcome.result, error=outcome.error, **outcome.progress)
    claimed.refresh_from_db()
    return claimed, outcome


class StopAfter:
    """A control that lets `items` items through, then asks to stop: a cancel, or (`lost`) a
    lease taken by another worker, as when this one was killed."""

    def __init__(self, items: int, lost: bool = False) -> None:
        self.left = items
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._lose = lost

    @property
    def should_stop(self) -> bool:
        if self.left <= 0:
            (self.lost if self._lose else self.cancelled).set()
            return True
        self.left -= 1
        return False

    def progress(self, items: int, bytes_: int, failed: int = 0) -> None:
        pass


def manifest_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith("\ufeff".encode()), "the manifest starts with a byte-order mark"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def unguard(cell: str) -> str:
    return cell[1:] if cell[:2] in ("'=", "'+", "'-", "'@") else cell


def safe_extract(archive: zipfile.ZipFile, dest: Path) -> dict[str, Path]:
    """Extracts refusing anything that would land outside `dest` or over another file."""
    root = dest.resolve()
    root.mkdir(parents=True, exist_ok=True)
    placed: dict[str, Path] = {}
    for info in archive.infolist():
        name = info.filename
        assert name and not name.startswith("/") and "\\" not in name and ":" not in name, name
        assert not any(ord(c) < 32 or c == "\x7f" for c in name), repr(name)
        parts = name.split("/")
        assert all(part not in ("", ".", "..") and len(part.encode()) <= 255 for part in parts), name
        target = (root / name).resolve()
        assert target.is_relative_to(root), name
        assert not target.exists(), f"{name} would overwrite {target}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(target, "xb") as out:
            shutil.copyfileobj(source, out)
        placed[name] = target
    return placed


def unzip_test(path: Path) -> None:
    """Info-ZIP's own check of the archive (an independent reader), when installed."""
    if shutil.which("unzip"):
        done = subprocess.run(["unzip", "-tqq", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


# -- names (no database)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("../../etc/passwd", "etc/passwd"),
        ("/abs/path", "abs/path"),
        ("a/./b/../c.txt", "a/b/c.txt"),
        ("C:\\x", "C__x"),
        ("..\\..\\windows\\system32", ".._.._windows_system32"),
        ("dir/na\x00me.txt", "dir/na_me.txt"),
        ("ctl\x01\x1b[31m\n.txt", "ctl__[31m_.txt"),
        ("evil\u202etxt.exe", "evil_txt.exe"),
        ("...", "unnamed"),
        ("", "unnamed"),
        ("a/ /b", "a/unnamed/b"),
        ("trailing. ", "trailing"),
        ("CON", "_CON"),
        ("docs/lpt1.txt", "docs/_lpt1.txt"),
        ('q<u>o"t|e?s*.txt', "q_u_o_t_e_s_.txt"),
        ("Mailbox/Hello: world?.eml", "Mailbox/Hello_ world_.eml"),
    ],
)
def test_safe_entry_name(path: str, expected: str) -> None:
    assert safe_entry_name(path) == expected


def test_long_names_are_cut_to_255_bytes_keeping_the_extension() -> None:
    long = "x" * 300 + ".pdf"
    name = safe_component(long)
    assert len(name.encode()) <= 255 and name.endswith(".pdf") and name.startswith("xxx")
    accented = "é" * 300 + ".txt"  # two bytes a character: the cut must not split one
    name = safe_component(accented)
    assert len(name.encode()) <= 255 and name.endswith(".txt")
    name.encode("utf-8").decode("utf-8")
    namer = Namer()
    first, second = namer.name("d/" + long), namer.name("d/" + long)
    assert first != second and second.endswith(" (2).pdf") and len(second.split("/")[-1].encode()) <= 255


def test_the_namer_makes_names_unique_case_insensitively_files_against_folders() -> None:
    namer = Namer()
    names = [
        namer.name(p)
        for p in [
            "Docs/report.pdf",
            "Docs/report.pdf",
            "docs/REPORT.pdf",
            "Docs/report (2).pdf",
            "manifest.csv",
            "x",
            "x/inside.txt",
            "x/more.txt",
            "y/inside.txt",
            "y",
            "a:b.txt",
            "a_b.txt",
        ]
    ]
    assert names == [
        "Docs/report.pdf",
        "Docs/report (2).pdf",
        "Docs/REPORT (3).pdf",
        "Docs/report (2) (2).pdf",
        "manifest (2).csv",
        "x",
        "x (2)/inside.txt",
        "x (2)/more.txt",
        "y/inside.txt",
        "y (2)",
        "a_b.txt",
        "a_b (2).txt",
    ]
    assert len({n.casefold() for n in names}) == len(names)
    # Deterministic: a resumed export names the same paths the same way.
    again = Namer()
    assert [again.name(p) for p in ["Docs/report.pdf", "Docs/report.pdf"]] == names[:2]


def test_a_path_too_long_in_all_goes_under_long_names() -> None:
    namer = Namer(max_bytes=1000)
    deep = "/".join(["folder" * 40] * 10) + "/file.txt"
    name = namer.name(deep)
    assert len(name.encode()) <= 1000 and name.startswith("_long names/") and name.endswith("file.txt")


def _check_safe(name: str) -> None:
    assert name and not name.startswith("/")
    for part in name.split("/"):
        assert part not in ("", ".", "..")
        assert len(part.encode("utf-8")) <= 255
        assert not any(c in part for c in '\\:*?"<>|')
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in part)
        assert part == part.strip(" ") and not part.endswith(".")


@hsettings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("/\\.:"), max_size=80), max_size=25
    )
)
def test_any_paths_get_safe_unique_names(paths: list[str]) -> None:
    namer = Namer()
    names = [namer.name(p) for p in paths]
    for name in names:
        _check_safe(name)
    assert len({n.casefold() for n in names}) == len(names)
    files = {n.casefold() for n in names}
    for name in names:  # no file is also a folder of another entry
        parts = name.casefold().split("/")
        assert not any("/".join(parts[:i]) in files for i in range(1, len(parts)))


def test_export_paths_of_messages_and_file_versions() -> None:
    def row(path: str, kind: str, **meta: Any) -> CatalogItem:
        return CatalogItem(path=path, kind=kind, meta=meta)

    assert export.export_path(row("INBOX/42.eml", "message")) == "INBOX/42.eml"
    assert export.export_path(row("INBOX/Re: hello", "message")) == "INBOX/Re: hello.eml"
    version = row("Docs/report.pdf@v123", "file_version", file_name="report.pdf", file_version_id="123")
    assert export.export_path(version) == "Docs/report (version 123).pdf"
    bare = row("Docs/notes@v7", "file_version", file_version_id="7")
    assert export.export_path(bare) == "Docs/notes (version 7)"


def test_destination_fields_are_checked_with_clear_messages(settings: LazySettings) -> None:
    ok = {"kind": "s3", "bucket": "my-bucket", "region": "eu-west-3", "prefix": "/backups/2026/"}
    assert export.validate_destination(ok) == {
        "kind": "s3",
        "bucket": "my-bucket",
        "prefix": "backups/2026",
        "region": "eu-west-3",
    }
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"kind": "ftp"}, "kind", "Choose where"),
        ({"kind": "s3", "bucket": "My_Bucket"}, "bucket", "S3 bucket name"),
        ({"kind": "s3", "bucket": "192.168.1.1"}, "bucket", "S3 bucket name"),
        ({"kind": "s3", "bucket": "ok-bucket", "region": "mars-1"}, "region", "not an AWS region"),
        ({"kind": "s3", "bucket": "ok-bucket", "prefix": "a/../b"}, "prefix", "no . or .. parts"),
        ({"kind": "s3", "bucket": "ok-bucket", "prefix": "a\\b"}, "prefix", "prefix"),
        ({"kind": "s3", "bucket": "ok-bucket", "endpoint": "https://x"}, "endpoint", "needs no endpoint"),
        ({"kind": "s3_compatible", "bucket": "b1b"}, "endpoint", "endpoint URL"),
        (
            {"kind": "s3_compatible", "bucket": "b1b", "endpoint": "ftp://h"},
            "endpoint",
            "http:// or https://",
        ),
        (
            {"kind": "s3_compatible", "bucket": "b1b", "endpoint": "javascript:alert(1)"},
            "endpoint",
            "http://",
        ),
        ({"kind": "s3_compatible", "bucket": "b1b", "endpoint": "https://u:p@h"}, "endpoint", "credentials"),
        ({"kind": "azure", "bucket": "Bad--name", "account_name": "acct"}, "bucket", "container name"),
        ({"kind": "azure", "bucket": "good", "account_name": "Not OK"}, "account_name", "storage account"),
        ({"kind": "gcs", "bucket": "goog-bucket"}, "bucket", "bucket name"),
    ]
    for destination, field, words in bad:
        with pytest.raises(DestinationError) as caught:
            export.validate_destination(destination)
        assert caught.value.field == field, destination
        assert words in caught.value.message, (destination, caught.value.message)
    # Credentials are checked too, before any network call.
    with pytest.raises(DestinationError, match="secret access key"):
        export.check_destination({"kind": "s3", "bucket": "ok-bucket"}, {"access_key_id": "AKIA"})
    with pytest.raises(DestinationError, match="service account"):
        export.check_destination({"kind": "gcs", "bucket": "ok-bucket"}, {"service_account_key": "{}"})
    with pytest.raises(DestinationError, match="account key or a SAS"):
        export.check_destination({"kind": "azure", "bucket": "box", "account_name": "acct"}, {})
    export.check_destination({"kind": "download"}, {})  # nothing to check
    # Our own network is out of reach unless the installation allows it.
    settings.BACKSTOP_EXPORT_PRIVATE_ENDPOINTS = False
    metadata = {"kind": "s3_compatible", "bucket": "b1b", "endpoint": "http://169.254.169.254"}
    with pytest.raises(DestinationError, match="private or reserved"):
        export.check_destination(metadata, {"access_key_id": "a", "secret_access_key": "b"})


@pytest.mark.django_db
def test_credentials_are_sealed_for_their_account() -> None:
    sealed = export.seal_credentials(7, {"access_key_id": "AKIA1", "secret_access_key": "s3cr3t"})
    assert "s3cr3t" not in sealed and "AKIA1" not in sealed
    job = Job(account_id=7, kind="export", params={"sealed": sealed})
    assert export.unseal_credentials(job) == {"access_key_id": "AKIA1", "secret_access_key": "s3cr3t"}
    other = Job(account_id=8, kind="export", params={"sealed": sealed})
    with pytest.raises(Exception, match="cannot be opened"):
        export.unseal_credentials(other)
    assert export.unseal_credentials(Job(account_id=7, kind="export", params={})) == {}


@pytest.mark.django_db
def test_credentials_are_forgotten_and_destinations_described_without_them(personas: Personas) -> None:
    sealed = export.seal_credentials(personas.a.pk, {"account_key": "a2V5"})
    job = Job.objects.create(account=personas.a, kind="export", params={"sealed": sealed, "label": "x"})
    jobs.forget_secrets(job)
    job.refresh_from_db()
    assert job.params == {"label": "x"}
    destination = {"kind": "azure", "bucket": "box", "account_name": "acct", "prefix": "p/q"}
    assert export.describe_destination(destination) == "Azure Blob Storage container “box”, folder “p/q”"
    assert export.describe_destination({"kind": "download"}) == "a zip file to download"


# -- zip exports


def thousand_items() -> list[tuple[Item, Any]]:
    made = []
    for i in range(1000):
        data = random_bytes(i, 200 + (i * 37) % 3000)
        folder = f"Documents/Part {i % 7}" if i % 3 else "Mail/INBOX"
        if i % 3:
            made.append((item(f"{folder}/file-{i:04}.bin", data), lambda d=data: d))
        else:
            made.append((item(f"{folder}/{i}", data, kind="message"), lambda d=data: d))
    return made


@pytest.mark.django_db(transaction=True)
def test_a_thousand_items_export_to_a_zip_downloaded_through_the_link(personas: Personas) -> None:
    entity = entity_for(personas.a)
    items = thousand_items()
    snapshot = back_up(entity, items)
    assert CatalogItem.objects.filter(entity=entity).count() == 1000
    job, _outcome = run(export_job(entity, whole(snapshot)))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.items_done == 1000 and job.items_failed == 0
    assert job.bytes_done == sum(i.size for i, _ in items)
    assert job.result["file"] == f"a{personas.a.pk}/export-{job.pk}.zip"
    assert job.result["items"] == 1000 and job.result["failed"] == 0 and job.result["unreadable"] == []
    path = export.zip_path(job)
    assert job.result["size"] == path.stat().st_size
    assert not list(path.parent.glob("*.part")), "no partial file is left"

    link = downloads.link_for(job)
    assert link.startswith("/exports/") and link.endswith("/")
    response = personas.client(personas.alice).get(link)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="backstop-export-{job.pk}-' in response["Content-Disposition"]
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    response.close()
    (seen,) = AuditEvent.objects.filter(account=personas.a, activity="export_downloaded")
    assert seen.performed_by == personas.alice.email and str(job.pk) in seen.description

    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert len(names) == 1001 and names[-1] == "manifest.csv"
        rows = manifest_rows(archive.read("manifest.csv"))
        expected = {i.path: hashlib.sha256(make()).hexdigest() for i, make in items}
        by_path = {row["original_path"]: row for row in rows}
        assert set(by_path) == set(expected) and len(rows) == 1000
        for original, digest in expected.items():
            row = by_path[original]
            assert row["status"] == "exported" and row["sha256"] == digest
            data = archive.read(row["entry"])
            assert hashlib.sha256(data).hexdigest() == digest, original
            assert int(row["size"]) == len(data)
            assert row["modified"] == ROOT_MODIFIED.isoformat()
        info = archive.getinfo("Mail/INBOX/0.eml")  # mail goes in as .eml, deflated
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.date_time == (2026, 3, 4, 5, 6, 6)
        assert archive.getinfo("Documents/Part 1/file-0001.bin").compress_type == zipfile.ZIP_STORED
    unzip_test(path)

    # Three days later the link is dead, with a page that says why.
    later = datetime.now(UTC).timestamp() + 72 * 3600 + 60
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("time.time", lambda: later)
        expired = personas.client(personas.alice).get(link)
    assert expired.status_code == 410
    text = expired.content.decode()
    assert "This download link expired on" in text and "run the export again" in text.lower()
    assert "Recovery page" in text

    # Another tenant, a member without the Export permission, a forged token: nothing.
    assert personas.client(personas.charlie).get(link).status_code == 404
    assert personas.client(personas.bob).get(link).status_code == 404
    assert personas.client(personas.alice).get(link.replace("/exports/", "/exports/x")).status_code == 404
    forged = link.rstrip("/").rsplit(":", 1)[0] + ":AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"
    assert personas.client(personas.alice).get(forged).status_code == 404
    anonymous = personas.client(personas.alice)
    anonymous.logout()
    assert anonymous.get(link).status_code == 302
    # A token signed for something else on the site (another salt) does not open it either.
    from django.core import signing

    other = signing.TimestampSigner(salt="something-else").sign(str(job.pk))
    assert personas.client(personas.alice).get(f"/exports/{other}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_hostile_names_never_escape_the_zip(personas: Personas, tmp_path: Path) -> None:
    entity = entity_for(personas.a)
    hostile = [
        "..\\..\\evil.txt",
        "C:\\Windows\\system32\\drivers\\etc\\hosts",
        "/abs/path",
        "ctl\x01\x1b[2J\n.txt",
        "x" * 300 + ".pdf",
        "folder/" + "é" * 200 + ".docx",
        "dup/Report.txt",
        "dup/report.txt",
        "dup/REPORT.TXT",
        "...",
        "CON",
        "manifest.csv",
        "right\u202egnp.exe",
    ]
    items = [
        (item(p, f"content of {i}".encode()), lambda i=i: f"content of {i}".encode())
        for i, p in enumerate(hostile)
    ]
    items.append(
        (item("INBOX/17", b"From: a@b\r\n\r\nhi\r\n", kind="message"), lambda: b"From: a@b\r\n\r\nhi\r\n")
    )
    old = b"the first version"
    items.append(
        (
            item(
                "dup/plan.pdf@v99",
                old,
                kind="file_version",
                key="f1@99",
                file_name="plan.pdf",
                file_version_id="99",
            ),
            lambda: old,
        )
    )
    snapshot = back_up(entity, items)
    job, _ = run(export_job(entity, whole(snapshot)))
    assert job.status == Job.Status.SUCCEEDED, job.error
    path = export.zip_path(job)
    unzip_test(path)
    with zipfile.ZipFile(path) as archive:
        placed = safe_extract(archive, tmp_path / "out")
        rows = manifest_rows(archive.read("manifest.csv"))
    assert len(placed) == len(items) + 1
    for row in rows:
        assert placed[unguard(row["entry"])].read_bytes() == next(
            make() for i, make in items if i.path == unguard(row["original_path"])
        )
    names = set(placed)
    # Which duplicate keeps the plain name follows the database's order of paths.
    dups = sorted(n for n in names if n.casefold().startswith("dup/report"))
    assert len(dups) == 3 and len({n.casefold() for n in dups}) == 3
    assert sum(1 for n in dups if "(" not in n) == 1 and any(
        n.endswith(" (2).txt") or n.endswith(" (2).TXT") for n in dups
    )
    assert {"_CON", "unnamed", "manifest.csv", "manifest (2).csv", "abs/path", "INBOX/17.eml"} <= names
    assert ".._.._evil.txt" in names and "C__Windows_system32_drivers_etc_hosts" in names
    assert "dup/plan (version 99).pdf" in names
    assert (tmp_path / "out" / "dup/plan (version 99).pdf").read_bytes() == old
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


@pytest.mark.django_db(transaction=True)
def test_unreadable_items_are_listed_and_the_export_goes_on(personas: Personas) -> None:
    entity = entity_for(personas.a)
    first = back_up(entity, [(item("keep/a.txt", b"alpha"), lambda: b"alpha")])
    store = open_store(repository_url(personas.a))
    before = {info.key for info in store.list("data/")}
    second = back_up(
        entity,
        [(item("keep/a.txt", b"alpha"), lambda: b"alpha"), (item("lost/b.txt", b"bravo"), lambda: b"bravo")],
    )
    for key in {info.key for info in store.list("data/")} - before:
        store.delete(key)  # the second backup's pack is gone: its tree and b.txt with it
    rows = CatalogItem.objects.filter(entity=entity)
    a = rows.get(path="keep/a.txt", valid_from=first)
    b = rows.get(path="lost/b.txt", valid_from=second)
    job, _ = run(export_job(entity, Selection(entity.pk, items=(a.pk, b.pk))))
    assert job.status == Job.Status.PARTIAL, job.error
    assert (job.items_done, job.items_failed) == (1, 1)
    assert job.result["unreadable"][0]["path"] == "lost/b.txt"
    assert "missing" in job.result["unreadable"][0]["error"]
    assert "1 item(s) could not be read" in job.error
    with zipfile.ZipFile(export.zip_path(job)) as archive:
        assert archive.namelist() == ["keep/a.txt", "manifest.csv"]
        listed = {r["original_path"]: r for r in manifest_rows(archive.read("manifest.csv"))}
    assert listed["lost/b.txt"]["status"] == "unreadable" and "missing" in listed["lost/b.txt"]["error"]
    assert listed["keep/a.txt"]["status"] == "exported"
    assert job.log_lines.filter(text__contains="Not exported: lost/b.txt").exists()


@pytest.mark.django_db(transaction=True)
def test_an_item_breaking_off_mid_stream_leaves_no_partial_entry(
    personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    entity = entity_for(personas.a)
    big = 6 * 1024 * 1024
    snapshot = back_up(
        entity,
        [
            (item("a/before.bin", size=big), lambda: chunks_of(1, big)),
            (item("b/broken.bin", size=big), lambda: chunks_of(2, big)),
            (item("c/after.txt", b"after"), lambda: b"after"),
        ],
    )
    repo = open_repository(personas.a, create=False)
    content = repo.entry(repo.snapshot(snapshot.snapshot_id), "b/broken.bin").content
    assert len(content) > 2, "the item spans several blobs"
    doomed = content[-1]
    real = Repository.read_blob

    def read_blob(self: Repository, blob_id: bytes) -> bytes:
        if blob_id == doomed:
            raise BlobMissing(f"pack holding blob {blob_id.hex()} is missing")
        return real(self, blob_id)

    monkeypatch.setattr(Repository, "read_blob", read_blob)
    job, _ = run(export_job(entity, whole(snapshot)))
    assert job.status == Job.Status.PARTIAL and job.items_failed == 1
    path = export.zip_path(job)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["a/before.bin", "c/after.txt", "manifest.csv"]
        assert (
            hashlib.sha256(archive.read("a/before.bin")).digest()
            == hashlib.sha256(b"".join(chunks_of(1, big))).digest()
        )
        assert archive.read("c/after.txt") == b"after"
    # The broken entry's bytes were cut off the file: it holds little more than the two others.
    assert path.stat().st_size < big + 64 * 1024
    unzip_test(path)


@pytest.mark.django_db(transaction=True)
def test_a_large_item_streams_in_bounded_memory(personas: Personas) -> None:
    size = 64 * 1024 * 1024
    entity = entity_for(personas.a)
    snapshot = back_up(entity, [(item("big/video.bin", size=size), lambda: chunks_of(9, size))])
    expected = hashlib.sha256()
    for chunk in chunks_of(9, size):
        expected.update(chunk)
    job = export_job(entity, whole(snapshot))
    tracemalloc.start()
    try:
        done, _ = run(job, StopAfter(10))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.status == Job.Status.SUCCEEDED, done.error
    # What remains is the engine's read of one blob (up to 4 MiB: sealed, opened, sliced), not the item.
    assert peak < 24 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB item"
    with zipfile.ZipFile(export.zip_path(done)) as archive:
        info = archive.getinfo("big/video.bin")
        assert info.file_size == size
        digest = hashlib.sha256()
        with archive.open(info) as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        assert digest.hexdigest() == expected.hexdigest()
        rows = manifest_rows(archive.read("manifest.csv"))
    assert rows[0]["sha256"] == expected.hexdigest()


@pytest.mark.django_db(transaction=True)
def test_a_cancel_mid_export_ends_canceled_with_honest_counts(personas: Personas) -> None:
    entity = entity_for(personas.a)
    items = [(item(f"f/{i:02}.txt", b"x" * (i + 1)), lambda i=i: b"x" * (i + 1)) for i in range(20)]
    snapshot = back_up(entity, items)
    job, outcome = run(export_job(entity, whole(snapshot)), StopAfter(5))
    assert job.status == Job.Status.CANCELED and outcome.error == "canceled"
    assert (job.items_done, job.bytes_done, job.items_failed) == (5, 1 + 2 + 3 + 4 + 5, 0)
    assert "file" not in job.result
    folder = export.exports_dir(personas.a)
    assert not list(folder.glob(f"export-{job.pk}*")), "a canceled export leaves no file"


@pytest.mark.django_db(transaction=True)
def test_a_killed_zip_export_starts_over_and_ends_complete(personas: Personas) -> None:
    entity = entity_for(personas.a)
    items = [
        (item(f"f/{i:02}.txt", f"item {i}".encode()), lambda i=i: f"item {i}".encode()) for i in range(30)
    ]
    snapshot = back_up(entity, items)
    job = export_job(entity, whole(snapshot))
    first, outcome = run(job, StopAfter(12, lost=True))
    assert outcome.lost and first.status == Job.Status.RUNNING  # not finished: another worker has it
    # What a SIGKILLed worker leaves: a partial file. The lease runs out; the sweep resumes the job.
    folder = export.exports_dir(personas.a)
    stale = folder / f"export-{job.pk}.0123456789ab.part"
    stale.write_bytes(b"PK\x03\x04 half a zip")
    Job.objects.filter(pk=job.pk).update(lease_until=datetime.now(UTC) - timedelta(seconds=1))
    assert job.pk in jobs.sweep()
    done, _ = run(job)
    assert done.status == Job.Status.SUCCEEDED and done.items_done == 30
    assert not stale.exists() and not list(folder.glob("*.part"))
    with zipfile.ZipFile(export.zip_path(done)) as archive:
        assert archive.testzip() is None
        assert len(archive.namelist()) == 31
        assert archive.read("f/29.txt") == b"item 29"
    assert done.log_lines.filter(text__contains="writing the zip again").exists()


@pytest.mark.django_db(transaction=True)
def test_expire_exports_deletes_old_zips_and_leftovers(personas: Personas) -> None:
    entity = entity_for(personas.a)
    now = datetime.now(UTC)

    def make(status: str, ended: datetime | None, name: str = "zip") -> Path:
        job = Job.objects.create(account=entity.account, kind="export", status=status, ended_at=ended)
        folder = export.exports_dir(personas.a)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (f"export-{job.pk}.zip" if name == "zip" else f"export-{job.pk}.abcdef.part")
        path.write_bytes(b"zip")
        return path

    old = make(Job.Status.SUCCEEDED, now - timedelta(hours=73))
    fresh = make(Job.Status.SUCCEEDED, now - timedelta(hours=1))
    leftover = make(Job.Status.FAILED, now - timedelta(minutes=5), "part")
    writing = make(Job.Status.RUNNING, None, "part")
    orphan = export.exports_dir(personas.b) / "export-999999.zip"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"zip")
    assert export.expire_exports(now) == 3
    assert fresh.exists() and writing.exists()
    assert not old.exists() and not leftover.exists() and not orphan.exists()
    assert not orphan.parent.exists(), "an emptied account folder goes too"
    assert export.expire_exports(now + timedelta(hours=72)) == 1 and not fresh.exists() and writing.exists()


@pytest.mark.django_db(transaction=True)
def test_a_link_to_a_deleted_zip_says_it_is_gone(personas: Personas) -> None:
    entity = entity_for(personas.a)
    snapshot = back_up(entity, [(item("a.txt", b"a"), lambda: b"a")])
    job, _ = run(export_job(entity, whole(snapshot)))
    link = downloads.link_for(job)
    assert downloads.is_available(job)
    export.zip_path(job).unlink()
    assert not downloads.is_available(job)
    response = personas.client(personas.alice).get(link)
    assert response.status_code == 410 and "no longer available" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_box_backup_with_versions_exports_the_old_version_beside_the_file(
    personas: Personas, box_sandbox: BoxSandbox, settings: LazySettings
) -> None:
    settings.BACKSTOP_SANDBOX = True
    tenant = seed_tenant(box_sandbox, users=1, files_per_user=4, size=500)
    task = tenant.task(personas.a)
    entity = entity_of(task, tenant.users[0])
    assert runner_backup(entity).status == Job.Status.SUCCEEDED
    files = tenant.files[tenant.users[0].login]
    tenant.state.new_version(files[1], b"the second version")
    assert runner_backup(entity).status == Job.Status.SUCCEEDED
    latest = Snapshot.objects.filter(entity=entity).order_by("-pk").first()
    assert latest is not None
    job, _ = run(export_job(entity, whole(latest)))
    assert job.status == Job.Status.SUCCEEDED, job.error
    with zipfile.ZipFile(export.zip_path(job)) as archive:
        names = archive.namelist()
        versions = [n for n in names if "(version " in n]
        assert len(versions) == 1 and versions[0].startswith("Documents/file-001 (version ")
        assert versions[0].endswith(").txt")
        assert archive.read(versions[0]).startswith(b"user 0 file 1 ")
        assert archive.read("Documents/file-001.txt") == b"the second version"
        assert len(names) == 4 + 1 + 1


def runner_backup(entity: Entity) -> Job:
    from backstop.backups.services import backup_now

    (job,) = backup_now([entity])
    runner.run(job.pk)
    job.refresh_from_db()
    return job


# -- object stores


@dataclass
class AuthMoto:
    """moto's S3 with IAM authentication on: only the key made here is accepted."""

    endpoint: str
    access_key_id: str
    secret_access_key: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def new_bucket(self) -> str:
        name = unique_name("export")
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        client = self.client()
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}

    def destination(self, bucket: str, prefix: str = "") -> dict[str, Any]:
        return {
            "kind": "s3_compatible",
            "bucket": bucket,
            "prefix": prefix,
            "endpoint": self.endpoint,
            "region": "us-east-1",
        }

    def credentials(self, secret: str | None = None) -> dict[str, str]:
        return {"access_key_id": self.access_key_id, "secret_access_key": secret or self.secret_access_key}


@pytest.fixture(scope="session")
def moto_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthMoto]:
    server: Server
    with pytest.MonkeyPatch.context() as patch:
        # The first four requests (the IAM user, its key, its policy, a bucket) go unauthenticated.
        patch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "4")
        server, s3 = start_moto(tmp_path_factory.mktemp("moto-auth"))
    try:
        anyone = {"endpoint_url": s3.endpoint, "region_name": "us-east-1"}
        iam = boto3.client("iam", aws_access_key_id="x", aws_secret_access_key="y", **anyone)
        iam.create_user(UserName="exporter")
        key = iam.create_access_key(UserName="exporter")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="exporter", PolicyName="s3", PolicyDocument=json.dumps(policy))
        yield AuthMoto(s3.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        server.stop()


def _object_items() -> list[tuple[Item, Any]]:
    big = 20 * 1024 * 1024  # above SMALL_OBJECT: a multipart upload
    made: list[tuple[Item, Any]] = [(item("big/archive.bin", size=big), lambda: chunks_of(5, big))]
    for i in range(25):
        data = random_bytes(100 + i, 500 + i * 50)
        made.append((item(f"Docs/ü {i:02}.bin", data), lambda d=data: d))
    made.append((item("Docs/bad:name?.txt", b"odd"), lambda: b"odd"))
    return made


def _expected(items: list[tuple[Item, Any]]) -> dict[str, bytes]:
    out = {}
    for each, make in items:
        data = make()
        out[each.path] = data if isinstance(data, bytes) else b"".join(data)
    return out


@pytest.mark.django_db(transaction=True)
def test_s3_destination_is_checked_then_written_intact(personas: Personas, moto_auth: AuthMoto) -> None:
    bucket = moto_auth.new_bucket()
    destination = moto_auth.destination(bucket, "exports/acme")
    with pytest.raises(DestinationError) as caught:
        export.check_destination(destination, moto_auth.credentials(secret="wrong-secret"))
    assert (
        caught.value.message.startswith("The access key was refused")
        and caught.value.field == "access_key_id"
    )
    wrong_key = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "nope"}
    with pytest.raises(DestinationError, match="The access key was refused"):
        export.check_destination(destination, wrong_key)
    with pytest.raises(DestinationError, match="does not exist") as missing:
        export.check_destination(moto_auth.destination("no-such-bucket-here"), moto_auth.credentials())
    assert missing.value.field == "bucket" and "“no-such-bucket-here”" in missing.value.message
    unreachable = dict(destination, endpoint="http://127.0.0.1:9")
    with pytest.raises(DestinationError, match=r"Cannot reach http://127\.0\.0\.1:9"):
        export.check_destination(unreachable, moto_auth.credentials())
    assert moto_auth.objects(bucket) == {}, "a refused check writes nothing"

    export.check_destination(destination, moto_auth.credentials())
    assert moto_auth.objects(bucket) == {}, "the check's test object is deleted"

    entity = entity_for(personas.a)
    items = _object_items()
    snapshot = back_up(entity, items)
    job, _ = run(export_job(entity, whole(snapshot), destination, moto_auth.credentials()))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["objects"] == len(items) + 1 and job.items_done == len(items)
    assert moto_auth.secret_access_key not in json.dumps(job.result) + job.error
    stored = moto_auth.objects(bucket)
    rows = manifest_rows(stored.pop("exports/acme/manifest.csv"))
    expected = _expected(items)
    assert len(stored) == len(items) and len(rows) == len(items)
    for row in rows:
        data = stored[f"exports/acme/{unguard(row['entry'])}"]
        assert data == expected[unguard(row["original_path"])], row["original_path"]
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
    assert stored["exports/acme/Docs/bad_name_.txt"] == b"odd"


@pytest.mark.django_db(transaction=True)
def test_wrong_credentials_at_run_time_fail_the_export_clearly(
    personas: Personas, moto_auth: AuthMoto
) -> None:
    bucket = moto_auth.new_bucket()
    entity = entity_for(personas.a)
    snapshot = back_up(entity, [(item("a.txt", b"a"), lambda: b"a")])
    bad = moto_auth.credentials(secret="rotated-since")
    job, outcome = run(export_job(entity, whole(snapshot), moto_auth.destination(bucket), bad))
    assert job.status == Job.Status.FAILED and not outcome.retryable
    assert job.error.startswith("The access key was refused")
    assert moto_auth.objects(bucket) == {}


@pytest.mark.django_db(transaction=True)
def test_azure_destination_is_checked_then_written_intact(personas: Personas, azurite: Azurite) -> None:  # noqa: F811
    container = azurite.new_container()
    destination = {
        "kind": "azure",
        "bucket": container,
        "account_name": azurite.account_name,
        "endpoint": azurite.endpoint,
        "prefix": "acme",
    }
    import base64

    wrong = base64.b64encode(b"0" * 64).decode()
    with pytest.raises(DestinationError) as caught:
        export.check_destination(destination, {"account_key": wrong})
    assert caught.value.message.startswith("The storage account key was refused")
    assert caught.value.field == "account_key"
    with pytest.raises(DestinationError, match="The container “missing-container” does not exist"):
        export.check_destination(
            dict(destination, bucket="missing-container"), {"account_key": azurite.account_key}
        )
    raw = open_store(f"az://{container}", azurite.options())
    assert raw.list("") == []
    export.check_destination(destination, {"account_key": azurite.account_key})
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    sas = generate_container_sas(
        azurite.account_name,
        container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    export.check_destination(destination, {"sas_token": "?" + sas})
    assert raw.list("") == []

    entity = entity_for(personas.a)
    items = _object_items()
    snapshot = back_up(entity, items)
    job, _ = run(export_job(entity, whole(snapshot), destination, {"account_key": azurite.account_key}))
    assert job.status == Job.Status.SUCCEEDED, job.error
    stored = {info.key: raw.get(info.key) for info in raw.list("")}
    rows = manifest_rows(stored.pop("acme/manifest.csv"))
    expected = _expected(items)
    assert len(stored) == len(items) == len(rows)
    for row in rows:
        assert stored[f"acme/{unguard(row['entry'])}"] == expected[unguard(row["original_path"])]


@pytest.mark.django_db(transaction=True)
def test_a_resumed_object_export_writes_only_what_was_not_done(
    personas: Personas, moto_auth: AuthMoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "CHECKPOINT_ITEMS", 10)
    bucket = moto_auth.new_bucket()
    entity = entity_for(personas.a)
    items = [
        (item(f"f/{i:02}.txt", f"item {i}".encode()), lambda i=i: f"item {i}".encode()) for i in range(45)
    ]
    snapshot = back_up(entity, items)
    job = export_job(entity, whole(snapshot), moto_auth.destination(bucket, "p"), moto_auth.credentials())

    first, outcome = run(job, StopAfter(25, lost=True))
    assert outcome.lost and first.status == Job.Status.RUNNING
    assert first.checkpoint["done"] == 20 and first.checkpoint["after"] == "f/19.txt"
    assert first.checkpoint["parts"] == 2
    client = moto_auth.client()
    written = moto_auth.objects(bucket)
    assert {f"p/f/{i:02}.txt" for i in range(25)} <= set(written)
    assert "p/manifest.csv" not in written
    # Mark what the checkpoint says is done: a resumed run must not write those again.
    for i in range(20):
        client.put_object(Bucket=bucket, Key=f"p/f/{i:02}.txt", Body=b"untouched")

    Job.objects.filter(pk=job.pk).update(lease_until=datetime.now(UTC) - timedelta(seconds=1))
    assert job.pk in jobs.sweep()
    done, _ = run(job)
    assert done.status == Job.Status.SUCCEEDED, done.error
    assert done.items_done == 45 and done.result["objects"] == 46
    stored = moto_auth.objects(bucket)
    assert [stored[f"p/f/{i:02}.txt"] for i in range(20)] == [b"untouched"] * 20
    assert [stored[f"p/f/{i:02}.txt"] for i in range(20, 45)] == [f"item {i}".encode() for i in range(20, 45)]
    rows = manifest_rows(stored["p/manifest.csv"])
    assert [r["original_path"] for r in rows] == [f"f/{i:02}.txt" for i in range(45)]
    assert all(r["sha256"] == hashlib.sha256(f"item {i}".encode()).hexdigest() for i, r in enumerate(rows))
    assert not [k for k in stored if ".backstop-export-" in k], "the manifest parts are cleaned up"
    assert done.log_lines.filter(text__contains="Resuming after 20 items").exists()


@pytest.mark.django_db(transaction=True)
def test_a_resume_whose_selection_changed_writes_everything_again(
    personas: Personas, moto_auth: AuthMoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "CHECKPOINT_ITEMS", 10)
    bucket = moto_auth.new_bucket()
    entity = entity_for(personas.a)
    items = [
        (item(f"f/{i:02}.txt", f"item {i}".encode()), lambda i=i: f"item {i}".encode()) for i in range(30)
    ]
    snapshot = back_up(entity, items)
    job = export_job(entity, whole(snapshot), moto_auth.destination(bucket), moto_auth.credentials())
    _, outcome = run(job, StopAfter(15, lost=True))
    assert outcome.lost
    CatalogItem.objects.filter(entity=entity, path="f/03.txt").delete()  # purged meanwhile
    Job.objects.filter(pk=job.pk).update(lease_until=datetime.now(UTC) - timedelta(seconds=1))
    jobs.sweep()
    done, _ = run(job)
    assert done.status == Job.Status.SUCCEEDED and done.items_done == 29
    rows = manifest_rows(moto_auth.objects(bucket)["manifest.csv"])
    assert [r["original_path"] for r in rows] == [f"f/{i:02}.txt" for i in range(30) if i != 3]
    assert done.log_lines.filter(text__contains="selection changed").exists()


@pytest.mark.django_db(transaction=True)
def test_a_canceled_object_export_keeps_what_it_wrote_and_lists_it(
    personas: Personas, moto_auth: AuthMoto
) -> None:
    bucket = moto_auth.new_bucket()
    entity = entity_for(personas.a)
    items = [(item(f"f/{i:02}.txt", b"x"), lambda: b"x") for i in range(10)]
    snapshot = back_up(entity, items)
    job, _outcome = run(
        export_job(entity, whole(snapshot), moto_auth.destination(bucket), moto_auth.credentials()),
        StopAfter(4),
    )
    assert job.status == Job.Status.CANCELED and (job.items_done, job.bytes_done) == (4, 4)
    stored = moto_auth.objects(bucket)
    assert set(stored) == {f"f/{i:02}.txt" for i in range(4)} | {"manifest.csv"}
    assert len(manifest_rows(stored["manifest.csv"])) == 4


@pytest.mark.django_db(transaction=True)
def test_the_runner_runs_an_export_and_mails_its_link(personas: Personas, outbox: Path) -> None:
    entity = entity_for(personas.a)
    snapshot = back_up(entity, [(item("docs/a.txt", b"alpha"), lambda: b"alpha")])
    job = export_job(entity, whole(snapshot))
    Job.objects.filter(pk=job.pk).update(initiator=personas.alice)
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.items_done, job.bytes_done) == (1, 5)
    link = last_link(outbox, personas.alice.email, "/exports/")
    assert link.startswith(f"/exports/{job.pk}:")
    response = personas.client(personas.alice).get(link)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:  # type: ignore[attr-defined]
        assert archive.read("docs/a.txt") == b"alpha"
    response.close()
