"""`backstop repo …` run as an operator runs it, against a file:// repository in tmp_path.

Snapshots are written through the engine's API; everything else goes through the command line:
`backstop.cli.main(argv)` with captured output, and the installed `backstop` script where the
real process matters (binary stdout, no traceback).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backstop import cli
from backstop.config import ConfigError
from backstop.engine import Repository, open_store
from backstop.progress import ProgressBar
from backstop.repo_cli import decode_key_text, human_size, parse_size

KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))
ENTITY = "mail:alice@acme.test"
MESSAGE = b"From: bob@acme.test\r\nSubject: hello\r\n\r\nFirst message.\r\n"
BIG = os.urandom(300_000)  # incompressible, so it really lands in a pack
BACKSTOP = Path(sys.executable).parent / "backstop"


@dataclass
class Result:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode()


@dataclass
class Setup:
    root: Path  # the repository's folder
    url: str
    key_file: Path
    snapshot: str  # the id of the one snapshot `repo` wrote

    def open(self) -> Repository:
        return Repository.open(open_store(self.url), KEY)


Run = Callable[..., Result]


def write_key(path: Path, key: bytes) -> Path:
    path.write_text(base64.b64encode(key).decode() + "\n")
    return path


@pytest.fixture
def run(capsysbinary: pytest.CaptureFixture[bytes]) -> Run:
    """Runs `backstop ARGS…` in this process; stdout as bytes (cat is binary), stderr as text."""

    def call(*args: str) -> Result:
        capsysbinary.readouterr()
        umask = os.umask(0o022)  # cli.main sets 0o077: give the test process its own back after
        try:
            code = cli.main(list(args))
        finally:
            os.umask(umask)
        out, err = capsysbinary.readouterr()
        return Result(code, out, err.decode())

    return call


@pytest.fixture
def setup(tmp_path: Path, run: Run) -> Iterator[Setup]:
    root = tmp_path / "repo"
    url = root.as_uri()
    key_file = write_key(tmp_path / "master.key", KEY)
    created = run("repo", "init", "--repo", url, "--master-key-file", str(key_file), "--pack-size", "1M")
    assert created.code == 0, created.err
    assert "Created a repository" in created.text
    repo = Repository.open(open_store(url), KEY)
    with repo.writer(ENTITY, time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) as writer:
        writer.add("INBOX/msg-1.eml", {"subject": "hello"}, MESSAGE)
        writer.add("INBOX/2024/big.bin", {}, BIG)
        writer.add("notes.txt", {}, b"some notes\n")
        snapshot = writer.commit().snapshot_id
    yield Setup(root, url, key_file, snapshot)


def repo_args(setup: Setup, *args: str) -> list[str]:
    return ["repo", *args, "--repo", setup.url, "--master-key-file", str(setup.key_file)]


def test_snapshots_table_and_json(setup: Setup, run: Run) -> None:
    table = run(*repo_args(setup, "snapshots"))
    assert table.code == 0, table.err
    lines = table.text.splitlines()
    assert lines[0].split() == ["ID", "TIME", "(UTC)", "ENTITY", "ITEMS", "SIZE"]
    row = lines[1].split()
    assert row[0] == setup.snapshot[:12]
    assert row[1:4] == ["2024-05-01", "12:00:00", ENTITY]
    assert row[4] == "3"
    assert " ".join(row[5:]) == human_size(len(MESSAGE) + len(BIG) + len(b"some notes\n"))
    assert lines[-1] == "1 snapshot"

    as_json = run(*repo_args(setup, "snapshots", "--json"))
    assert as_json.code == 0, as_json.err
    [entry] = json.loads(as_json.out)
    assert entry["id"] == setup.snapshot
    assert entry["entity"] == ENTITY
    assert entry["items"] == 3
    assert datetime.fromisoformat(entry["time"]) == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    other = run(*repo_args(setup, "snapshots", "--entity", "mail:nobody@acme.test"))
    assert other.code == 0
    assert other.text.strip() == "No snapshots of mail:nobody@acme.test."


def test_options_before_the_command_and_from_the_environment(
    setup: Setup, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = run("repo", "--repo", setup.url, "--master-key-file", str(setup.key_file), "snapshots")
    assert before.code == 0, before.err
    assert setup.snapshot[:12] in before.text

    monkeypatch.setenv("BACKSTOP_REPO", setup.url)
    monkeypatch.setenv("BACKSTOP_MASTER_KEY", base64.b64encode(KEY).decode())
    from_env = run("repo", "snapshots")
    assert from_env.code == 0, from_env.err
    assert setup.snapshot[:12] in from_env.text


def test_ls(setup: Setup, run: Run) -> None:
    short = setup.snapshot[:10]  # a unique prefix is enough
    top = run(*repo_args(setup, "ls", short))
    assert top.code == 0, top.err
    names = [line.split()[-1] for line in top.text.splitlines()]
    assert names == ["INBOX/", "notes.txt"]
    assert "2 items" in top.text.splitlines()[0]

    inbox = run(*repo_args(setup, "ls", short, "INBOX"))
    assert [line.split()[-1] for line in inbox.text.splitlines()] == ["2024/", "msg-1.eml"]

    everything = run(*repo_args(setup, "ls", short, "-r"))
    assert everything.code == 0, everything.err
    paths = {line.split()[-1] for line in everything.text.splitlines()}
    assert {"INBOX/", "INBOX/2024/", "INBOX/2024/big.bin", "INBOX/msg-1.eml", "notes.txt"} <= paths

    one = run(*repo_args(setup, "ls", short, "notes.txt"))
    assert one.code == 0, one.err
    assert one.text.split() == ["11", "B", "notes.txt"]


def test_cat_writes_the_item_bytes(setup: Setup, run: Run) -> None:
    message = run(*repo_args(setup, "cat", setup.snapshot, "INBOX/msg-1.eml"))
    assert message.code == 0, message.err
    assert message.out == MESSAGE
    big = run(*repo_args(setup, "cat", setup.snapshot, "INBOX/2024/big.bin"))
    assert big.out == BIG


def test_cat_through_the_installed_script(setup: Setup) -> None:
    """A real process: stdout carries the bytes unchanged (CRLF, binary), nothing else."""
    args = repo_args(setup, "cat", setup.snapshot, "INBOX/2024/big.bin")
    done = subprocess.run([str(BACKSTOP), *args], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == BIG
    assert done.stderr == b""


def test_restore_to_folder(setup: Setup, run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "restored"
    whole = run(*repo_args(setup, "restore-to-folder", setup.snapshot, str(dest)))
    assert whole.code == 0, whole.err
    assert "Restored 3 files" in whole.text
    assert (dest / "INBOX" / "msg-1.eml").read_bytes() == MESSAGE
    assert (dest / "INBOX" / "2024" / "big.bin").read_bytes() == BIG
    assert (dest / "notes.txt").read_bytes() == b"some notes\n"

    part = tmp_path / "part"
    only = run(*repo_args(setup, "restore-to-folder", setup.snapshot, str(part), "--path", "INBOX/2024"))
    assert only.code == 0, only.err
    assert "Restored 1 files" in only.text
    [restored] = [path for path in part.rglob("*") if path.is_file()]
    assert restored.name == "big.bin"
    assert restored.read_bytes() == BIG


def test_check_ok_then_a_corrupted_pack_is_reported(setup: Setup, run: Run) -> None:
    ok = run(*repo_args(setup, "check", "--read-data", "1"))
    assert ok.code == 0, ok.err + ok.text
    assert "No problems found." in ok.text

    packs = sorted((path for path in (setup.root / "data").rglob("*") if path.is_file()), key=_size)
    pack = packs[-1]  # the largest: it holds big.bin
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))

    bad = run(*repo_args(setup, "check", "--read-data", "100%"))
    assert bad.code == 1, bad.err + bad.text
    assert "problem" in bad.text
    assert "No problems found." not in bad.text
    assert pack.name in bad.text or pack.name[:12] in bad.text, bad.text
    assert "Traceback" not in bad.err


def _size(path: Path) -> int:
    return path.stat().st_size


def test_forget_prune_stats_rebuild_index(setup: Setup, run: Run) -> None:
    repo = setup.open()
    with repo.writer(ENTITY, inherit=False, time=datetime(2024, 5, 2, 12, 0, tzinfo=UTC)) as writer:
        writer.add("notes.txt", {}, b"newer notes\n")
        newer = writer.commit().snapshot_id

    before = run(*repo_args(setup, "stats"))
    assert before.code == 0, before.err
    assert _stat(before.text, "snapshots") == "2"

    dry = run(*repo_args(setup, "forget", "--keep-last", "1", "--dry-run"))
    assert dry.code == 0, dry.err
    assert "Would remove 1 snapshots, keeping 1." in dry.text
    assert setup.snapshot[:12] in dry.text
    assert len(setup.open().snapshots()) == 2

    forgot = run(*repo_args(setup, "forget", "--keep-last", "1", "--entity", ENTITY))
    assert forgot.code == 0, forgot.err
    assert "Removed 1 snapshots, keeping 1." in forgot.text
    assert [info.id for info in setup.open().snapshots()] == [newer]

    pruned = run(*repo_args(setup, "prune", "--grace-hours", "0"))
    assert pruned.code == 0, pruned.err
    assert "freeing" in pruned.text
    assert "0 B" not in pruned.text.split("freeing")[1], pruned.text

    after = run(*repo_args(setup, "stats", "--json"))
    assert after.code == 0, after.err
    stats = json.loads(after.out)
    assert stats["snapshots"] == 1
    assert stats["pack_bytes"] < len(BIG)

    for index in (setup.root / "index").rglob("*"):  # lost: rebuilt from the packs alone
        if index.is_file():
            index.unlink()
    rebuilt = run(*repo_args(setup, "rebuild-index"))
    assert rebuilt.code == 0, rebuilt.err
    assert rebuilt.text.startswith("Rebuilt the index from ")

    ok = run(*repo_args(setup, "check", "--read-data", "1"))
    assert ok.code == 0, ok.text
    assert run(*repo_args(setup, "cat", newer, "notes.txt")).out == b"newer notes\n"


def _stat(text: str, name: str) -> str:
    for line in text.splitlines():
        label, _, value = line.partition("  ")
        if label.strip() == name:
            return value.strip()
    raise AssertionError(f"{name} not in {text!r}")


def test_forget_without_a_policy_is_refused(setup: Setup, run: Run) -> None:
    refused = run(*repo_args(setup, "forget"))
    assert refused.code == 2
    assert "forget needs a policy" in refused.err
    assert len(setup.open().snapshots()) == 1


def test_rotate_key(setup: Setup, run: Run, tmp_path: Path) -> None:
    new_key_file = tmp_path / "new.key"
    new_key_file.write_text(OTHER_KEY.hex())  # hex works as well as base64
    rotated = run(*repo_args(setup, "rotate-key", "--new-master-key-file", str(new_key_file)))
    assert rotated.code == 0, rotated.err
    assert "new master key" in rotated.text

    old = run(*repo_args(setup, "snapshots"))
    assert old.code == 2
    assert "backstop repo: wrong key: " in old.err
    new = run("repo", "snapshots", "--repo", setup.url, "--master-key-file", str(new_key_file))
    assert new.code == 0, new.err
    assert setup.snapshot[:12] in new.text
    # The data is still readable under the new key.
    cat = run(
        "repo",
        "cat",
        setup.snapshot,
        "notes.txt",
        "--repo",
        setup.url,
        "--master-key-file",
        str(new_key_file),
    )
    assert cat.out == b"some notes\n"


def test_wrong_master_key_is_one_clear_line(setup: Setup, tmp_path: Path) -> None:
    wrong = write_key(tmp_path / "wrong.key", OTHER_KEY)
    done = subprocess.run(
        [str(BACKSTOP), "repo", "snapshots", "--repo", setup.url, "--master-key-file", str(wrong)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("backstop repo: wrong key: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_unknown_snapshot_and_item(setup: Setup, run: Run) -> None:
    snapshot = run(*repo_args(setup, "ls", "0123456789abcdef"))
    assert snapshot.code == 2
    assert snapshot.err.startswith("backstop repo: not found: ")
    assert "0123456789abcdef" in snapshot.err
    assert snapshot.out == b""
    item = run(*repo_args(setup, "cat", setup.snapshot, "INBOX/missing.eml"))
    assert item.code == 2
    assert item.err.startswith("backstop repo: not found: ")
    assert "INBOX/missing.eml" in item.err
    assert "Traceback" not in snapshot.err + item.err


def test_missing_repository_and_missing_options(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = write_key(tmp_path / "master.key", KEY)
    empty = (tmp_path / "empty").as_uri()
    missing = run("repo", "snapshots", "--repo", empty, "--master-key-file", str(key_file))
    assert missing.code == 2
    assert missing.err.startswith("backstop repo: not found: ")
    assert str(tmp_path / "empty") in missing.err

    monkeypatch.delenv("BACKSTOP_REPO", raising=False)
    no_repo = run("repo", "snapshots", "--master-key-file", str(key_file))
    assert no_repo.code == 2
    assert "give --repo URL or set BACKSTOP_REPO" in no_repo.err

    bad_option = run("repo", "stats", "--repo", empty, "-o", "endpoint")
    assert bad_option.code == 2
    assert "-o takes key=value" in bad_option.err

    monkeypatch.delenv("BACKSTOP_MASTER_KEY", raising=False)
    monkeypatch.setenv("BACKSTOP_DATA_DIR", str(tmp_path / "no-data"))
    no_key = run("repo", "stats", "--repo", empty)
    assert no_key.code == 2
    assert "no master key" in no_key.err
    assert not (tmp_path / "no-data" / "master.key").exists()  # never invented


def test_init_refuses_an_existing_repository(setup: Setup, run: Run) -> None:
    again = run(*repo_args(setup, "init"))
    assert again.code == 2
    assert again.err.startswith("backstop repo: already exists: ")


# ---------------------------------------------------------------- the pieces, without a repository


def test_key_formats(tmp_path: Path) -> None:
    assert decode_key_text(KEY, "raw") == KEY
    assert decode_key_text(KEY.hex().encode() + b"\n", "hex") == KEY
    assert decode_key_text(base64.b64encode(KEY) + b"\n", "base64") == KEY
    with pytest.raises(ConfigError, match="expected 32 bytes"):
        decode_key_text(base64.b64encode(b"short"), "short")


def test_sizes() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(16 * 2**20) == "16.0 MiB"
    assert parse_size("16M") == parse_size("16MiB") == 16 * 2**20
    assert parse_size("512k") == 512 * 1024
    assert parse_size("1048576") == 2**20


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_is_throttled_and_ends_its_line() -> None:
    stream, clock = io.StringIO(), Clock()
    bar = ProgressBar("check", stream=stream, enabled=True, clock=clock)
    bar(0, 200)
    for done in range(1, 100):  # a burst within 0.05 s: no redraw
        clock.now += 0.0005
        bar(done, 200)
    assert stream.getvalue().count("\r") == 1
    clock.now = 101.0
    bar(100, 200)
    line = stream.getvalue().rsplit("\r", 1)[1]
    assert "50.0%" in line
    assert "100/200" in line
    assert "100/s" in line
    assert "0:01 left" in line
    bar(200, 200)  # the end is always drawn
    assert "100.0%" in stream.getvalue().rsplit("\r", 1)[1]
    bar.close()
    assert stream.getvalue().endswith("\n")


def test_progress_bar_without_total_and_off_when_not_a_terminal() -> None:
    stream, clock = io.StringIO(), Clock()
    with ProgressBar("prune", stream=stream, enabled=True, clock=clock) as bar:
        bar(0, None)
        clock.now += 2
        bar(3000, None)
    assert "3.0k" in stream.getvalue()
    assert "1.5k/s" in stream.getvalue()
    assert "%" not in stream.getvalue()

    sized = io.StringIO()
    with ProgressBar("restore", unit="B", stream=sized, enabled=True, clock=clock) as bar:
        bar(0, 4 * 2**20)
        clock.now += 1
        bar(2**20, 4 * 2**20)
    assert "1.0 MiB/4.0 MiB  1.0 MiB/s  0:03 left" in sized.getvalue()

    counted = io.StringIO()
    with ProgressBar("check", unit="packs", stream=counted, enabled=True, clock=clock) as bar:
        bar(0, 10)
        clock.now += 1
        bar(5, 10)
    assert "5/10 packs  5 packs/s" in counted.getvalue()

    quiet = io.StringIO()  # StringIO is no terminal
    with ProgressBar("prune", stream=quiet) as bar:
        bar(1, 2)
    assert quiet.getvalue() == ""


def test_forced_progress_goes_to_stderr_only(setup: Setup, run: Run) -> None:
    forced = run(*repo_args(setup, "check", "--progress"))
    assert forced.code == 0, forced.err
    assert "No problems found." in forced.text
    assert "\r" not in forced.text
    # The engine reports progress during a check; when it does, the bar is on stderr.
    if forced.err:
        assert forced.err.startswith("\rcheck") and forced.err.endswith("\n")
