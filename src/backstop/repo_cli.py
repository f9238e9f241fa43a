"""`backstop repo …`: the operator's hands on one backup repository, without the web app.

    backstop repo init                      create a repository
    backstop repo snapshots                 list snapshots (table or --json)
    backstop repo ls SNAPSHOT [PATH] [-r]   a folder's entries, or everything below it
    backstop repo cat SNAPSHOT PATH         one item's bytes to stdout
    backstop repo restore-to-folder SNAPSHOT DEST [--path P]
    backstop repo check [--read-data F]     exit 1 and the problems listed when not ok
    backstop repo forget --keep-last N …    drop snapshots past a retention policy
    backstop repo prune [--grace-hours H]   free the space forgotten snapshots held
    backstop repo rebuild-index             rebuild the index from the packs
    backstop repo stats                     sizes and counts
    backstop repo rotate-key --new-master-key-file PATH

The repository is `--repo URL` (or BACKSTOP_REPO); store credentials go in `-o key=value`.
The master key is the installation's (BACKSTOP_MASTER_KEY, BACKSTOP_MASTER_KEY_FILE or
<BACKSTOP_DATA_DIR>/master.key) unless `--master-key-file` names another.

Plain Python on top of backstop.engine: no Django. The engine is imported only once a command
runs, so `backstop --help` stays quick. Engine errors (wrong key, store unreachable, no such
snapshot) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import binascii
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from backstop.config import ConfigError, _decode_key, _raw, env_str
from backstop.progress import ProgressBar

if TYPE_CHECKING:
    from backstop.engine import Entry, Repository, SnapshotInfo, Store

PROG = "backstop repo"
EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2
SHORT_ID = 12
COPY_CHUNK = 1 << 20


class UsageError(Exception):
    """A command-line value the parser could not judge alone (an option, a key file)."""


# ---------------------------------------------------------------- output helpers


def _out(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - this is the command's output


def _err(text: str) -> None:
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()


def human_size(size: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'16M', '16MiB', '512k' or '1048576' -> bytes (binary units: 1k = 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 16M, 512KiB, 1048576)")
    number, unit = float(match[1]), match[2].lower()
    return int(number * 1024 ** "_kmgt".index(unit)) if unit else int(number)


def _fraction(text: str) -> float:
    """'0.1' or '10%' -> 0.1."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction: {text!r} (e.g. 0.1 or 10%)") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (or 0% and 100%), got {text}")
    return value


def _count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _hours(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return number


def _time(info: SnapshotInfo) -> str:
    return info.time.strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> Iterator[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = (
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        yield "  ".join(cells).rstrip()


def _plain(value: Any) -> Any:
    """Engine results as JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {key: _plain(item) for key, item in asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# ---------------------------------------------------------------- keys and repository


def decode_key_text(data: bytes, source: str) -> bytes:
    """A 32-byte key from a file's content: the raw bytes, 64 hex digits, or base64 (as
    BACKSTOP_MASTER_KEY is written)."""
    if len(data) == 32:
        return data
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ConfigError(
            f"{source}: expected 32 raw bytes, 64 hex digits or base64, got {len(data)} bytes"
        ) from None
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return binascii.unhexlify(text)
    return _decode_key(text, source)


def read_key_file(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the key file: {exc.strerror}") from exc
    return decode_key_text(data, path)


def installation_master_key(env: Mapping[str, str]) -> bytes:
    """The key the server uses, read as backstop.config reads it, but never created: a fresh key
    would open nothing."""
    text = _raw(env, "BACKSTOP_MASTER_KEY")
    if text:
        return _decode_key(text, "BACKSTOP_MASTER_KEY")
    path = Path(env_str(env, "BACKSTOP_DATA_DIR", "./var")).expanduser() / "master.key"
    if not path.exists():
        raise ConfigError(
            f"no master key: set BACKSTOP_MASTER_KEY (or BACKSTOP_MASTER_KEY_FILE), point BACKSTOP_DATA_DIR "
            f"at the installation's data folder, or give --master-key-file ({path} does not exist)"
        )
    return _decode_key(path.read_text().strip(), str(path))


def store_options(pairs: Sequence[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"-o takes key=value, got {pair!r}")
        options[key.strip()] = value
    return options


class Context:
    """What every command needs: the store, the master key, and a progress bar on demand."""

    def __init__(self, options: argparse.Namespace, env: Mapping[str, str]) -> None:
        url = getattr(options, "repo", None) or env.get("BACKSTOP_REPO")
        if not url:
            raise UsageError("no repository: give --repo URL or set BACKSTOP_REPO")
        self.url: str = url
        pairs = [*getattr(options, "store_options_before", []), *getattr(options, "store_options", [])]
        self.store_options = store_options(pairs)
        self.key_file: str | None = getattr(options, "master_key_file", None)
        self.progress_forced: bool | None = getattr(options, "progress", None)
        self.env = env
        self._store: Store | None = None

    def master_key(self) -> bytes:
        return read_key_file(self.key_file) if self.key_file else installation_master_key(self.env)

    def store(self) -> Store:
        if self._store is None:
            from backstop.engine import open_store

            self._store = open_store(self.url, self.store_options or None)
        return self._store

    def open(self) -> Repository:
        from backstop.engine import Repository

        key = self.master_key()
        return Repository.open(self.store(), key)

    @contextmanager
    def progress(self, label: str, unit: str) -> Iterator[Callable[[int, int | None], None]]:
        with ProgressBar(label, unit=unit, enabled=self.progress_forced) as bar:
            yield bar


def resolve(repo: Repository, snapshot: str) -> SnapshotInfo:
    """A snapshot from its id or a unique prefix of it."""
    return repo.snapshot(snapshot)


# ---------------------------------------------------------------- commands


def cmd_init(ctx: Context, options: argparse.Namespace) -> int:
    from backstop.engine import Repository

    key = ctx.master_key()
    Repository.init(
        ctx.store(), key, pack_size=options.pack_size, compression_level=options.compression_level
    )
    _out(f"Created a repository at {ctx.url} (packs of {human_size(options.pack_size)}).")
    return EXIT_OK


def cmd_snapshots(ctx: Context, options: argparse.Namespace) -> int:
    repo = ctx.open()
    snapshots = repo.snapshots(entity=options.entity)
    if options.json:
        _out(json.dumps([_plain(info) for info in snapshots], indent=2, default=str))
        return EXIT_OK
    if not snapshots:
        _out("No snapshots." if options.entity is None else f"No snapshots of {options.entity}.")
        return EXIT_OK
    rows = [("ID", "TIME (UTC)", "ENTITY", "ITEMS", "SIZE")]
    rows += [
        (info.id[:SHORT_ID], _time(info), info.entity, str(info.items), human_size(info.size))
        for info in snapshots
    ]
    for line in _table(rows, right={3, 4}):
        _out(line)
    _out(f"{len(snapshots)} snapshot{'s' if len(snapshots) != 1 else ''}")
    return EXIT_OK


def _entry_line(entry: Entry, path: str) -> tuple[str, str, str]:
    if entry.kind == "folder":
        return (human_size(entry.size), f"{entry.items} items", path.rstrip("/") + "/")
    return (human_size(entry.size), "", path)


def cmd_ls(ctx: Context, options: argparse.Namespace) -> int:
    repo = ctx.open()
    snapshot_id = resolve(repo, options.snapshot).id
    path = options.path.strip("/")
    if path:
        entry = repo.entry(snapshot_id, path)
        if entry.kind != "folder":
            for line in _table([_entry_line(entry, path)], right={0}):
                _out(line)
            return EXIT_OK
    rows: list[tuple[str, str, str]]
    if options.recursive:
        rows = [_entry_line(entry, full) for full, entry in repo.walk(snapshot_id, path)]
    else:
        rows = [_entry_line(entry, entry.name) for entry in repo.ls(snapshot_id, path)]
    for line in _table(rows, right={0, 1}) if rows else ():
        _out(line)
    return EXIT_OK


def cmd_cat(ctx: Context, options: argparse.Namespace) -> int:
    repo = ctx.open()
    snapshot_id = resolve(repo, options.snapshot).id
    stream: BinaryIO = repo.open_item(snapshot_id, options.path.strip("/"))
    target = sys.stdout.buffer
    try:
        shutil.copyfileobj(stream, target, COPY_CHUNK)
    finally:
        stream.close()
    target.flush()
    return EXIT_OK


def cmd_restore(ctx: Context, options: argparse.Namespace) -> int:
    repo = ctx.open()
    snapshot_id = resolve(repo, options.snapshot).id
    dest = Path(options.dest)
    with ctx.progress("restore", "B") as progress:
        stats = repo.restore_to_folder(snapshot_id, dest, path=options.path.strip("/"), progress=progress)
    _out(
        f"Restored {stats.files} files and {stats.folders} folders ({human_size(stats.bytes)}) "
        f"from {snapshot_id[:SHORT_ID]} to {dest}."
    )
    return EXIT_OK


def cmd_check(ctx: Context, options: argparse.Namespace) -> int:
    repo = ctx.open()
    with ctx.progress("check: reading", "packs") as progress:
        report = repo.check(read_data=options.read_data, progress=progress)
    _out(
        f"Checked {report.snapshots_checked} snapshots, {report.packs_checked} packs and "
        f"{report.blobs_checked} blobs"
        + (f" (read {options.read_data:.0%} of the data)." if options.read_data else " (no data read).")
    )
    unindexed = getattr(report, "unindexed_packs", 0)
    if unindexed:
        _out(f"{unindexed} packs are in no index (left by an interrupted backup); prune removes them.")
    if report.ok:
        _out("No problems found.")
        return EXIT_OK
    _out(f"{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}:")
    for problem in report.problems:
        _out(f"  {problem}")
    return EXIT_PROBLEMS


def cmd_forget(ctx: Context, options: argparse.Namespace) -> int:
    from backstop.engine import RetentionPolicy

    policy = RetentionPolicy(
        within_days=options.within_days,
        within_months=options.within_months,
        within_years=options.within_years,
        keep_last=options.keep_last,
    )
    if all(
        value is None
        for value in (options.within_days, options.within_months, options.within_years, options.keep_last)
    ):
        raise UsageError(
            "forget needs a policy: --within-days, --within-months, --within-years or --keep-last"
        )
    repo = ctx.open()
    result = repo.forget(policy, entity=options.entity, dry_run=options.dry_run)
    verb = "Would remove" if options.dry_run else "Removed"
    if result.removed:
        rows = [(info.id[:SHORT_ID], _time(info), info.entity) for info in result.removed]
        for line in _table(rows):
            _out(f"  {line}")
    _out(f"{verb} {len(result.removed)} snapshots, keeping {len(result.kept)}.")
    if result.removed and not options.dry_run:
        _out("Run `backstop repo prune` to free the space they held.")
    return EXIT_OK


def cmd_prune(ctx: Context, options: argparse.Namespace) -> int:
    repo = ctx.open()
    with ctx.progress("prune: marking", "snapshots") as progress:
        report = repo.prune(grace=timedelta(hours=options.grace_hours), progress=progress)
    _out(
        f"Deleted {report.packs_deleted} packs and repacked {report.packs_repacked}, "
        f"freeing {human_size(report.bytes_freed)}."
    )
    if report.packs_deferred:
        _out(
            f"{report.packs_deferred} packs are younger than the grace period "
            f"({options.grace_hours:g} h) and wait for a later prune."
        )
    return EXIT_OK


def cmd_rebuild_index(ctx: Context, options: argparse.Namespace) -> int:
    repo = ctx.open()
    with ctx.progress("rebuild-index", "packs") as progress:
        report = repo.rebuild_index(progress=progress)
    _out(f"Rebuilt the index from {report.packs} packs ({report.blobs} blobs).")
    unreadable = getattr(report, "unreadable", [])
    if unreadable:
        _out(f"{len(unreadable)} unreadable pack{'s' if len(unreadable) != 1 else ''} left out:")
        for line in unreadable:
            _out(f"  {line}")
        return EXIT_PROBLEMS
    return EXIT_OK


def cmd_stats(ctx: Context, options: argparse.Namespace) -> int:
    repo = ctx.open()
    stats = repo.stats()
    if options.json:
        _out(json.dumps(_plain(stats), indent=2, default=str))
        return EXIT_OK
    ratio = f"{stats.raw_bytes / stats.pack_bytes:.2f}x" if stats.pack_bytes else "-"
    rows = [
        ("snapshots", str(stats.snapshots)),
        ("entities", str(stats.entities)),
        ("packs", str(stats.packs)),
        ("stored", human_size(stats.pack_bytes)),
        ("blobs", str(stats.blobs)),
        ("raw data", human_size(stats.raw_bytes)),
        ("raw / stored", ratio),
    ]
    for line in _table(rows):
        _out(line)
    return EXIT_OK


def cmd_rotate_key(ctx: Context, options: argparse.Namespace) -> int:
    from backstop.engine import Repository

    new_key = read_key_file(options.new_master_key_file)
    repo = ctx.open()
    repo.rotate_master_key(new_key)
    Repository.open(ctx.store(), new_key)  # proves the new key opens it before we say so
    _out(
        "The repository's data key is now wrapped by the new master key; the old one no longer "
        "opens it. Give the new key to every process (BACKSTOP_MASTER_KEY) before they next run."
    )
    return EXIT_OK


COMMANDS: dict[str, Callable[[Context, argparse.Namespace], int]] = {
    "init": cmd_init,
    "snapshots": cmd_snapshots,
    "ls": cmd_ls,
    "cat": cmd_cat,
    "restore-to-folder": cmd_restore,
    "check": cmd_check,
    "forget": cmd_forget,
    "prune": cmd_prune,
    "rebuild-index": cmd_rebuild_index,
    "stats": cmd_stats,
    "rotate-key": cmd_rotate_key,
}


# ---------------------------------------------------------------- parser


def _common(options_dest: str = "store_options") -> argparse.ArgumentParser:
    """Options every command takes, before or after the command's name. SUPPRESS keeps a value
    given before the name from being reset by the subcommand's default; `-o` collects into
    `options_dest`, so that options given before and after the name add up."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("repository")
    group.add_argument(
        "--repo",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="file:///path, s3://bucket/prefix, az://container/prefix, gs://bucket/prefix "
        "(default: $BACKSTOP_REPO)",
    )
    group.add_argument(
        "-o",
        dest=options_dest,
        metavar="KEY=VALUE",
        action="append",
        default=argparse.SUPPRESS,
        help="a store option (endpoint, region, access_key_id, secret_access_key, account_name, "
        "account_key, ...); repeat as needed",
    )
    group.add_argument(
        "--master-key-file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="32 raw bytes, 64 hex digits or base64 (default: the installation's master key)",
    )
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="draw a progress bar on stderr (default: when stderr is a terminal)",
    )
    return common


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Adds `repo` and its commands to the `backstop` parser's subparsers."""
    common = _common()
    repo = commands.add_parser(
        "repo",
        parents=[_common("store_options_before")],
        help="operate a backup repository (init, snapshots, check, prune, ...)",
        description="Operate one backup repository directly.",
    )
    sub = repo.add_subparsers(dest="repo_command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help, description=help)

    init = add("init", "create a repository")
    init.add_argument(
        "--pack-size", type=parse_size, default=16 * 2**20, help="target pack size (default 16M)"
    )
    init.add_argument("--compression-level", type=int, default=3, help="zstd level (default 3)")

    snapshots = add("snapshots", "list snapshots, oldest first")
    snapshots.add_argument("--entity", help="only this entity's snapshots")
    snapshots.add_argument("--json", action="store_true", help="print JSON")

    ls = add("ls", "list a folder of a snapshot")
    ls.add_argument("snapshot", help="snapshot id or a unique prefix")
    ls.add_argument("path", nargs="?", default="", help="folder (default: the top)")
    ls.add_argument("-r", "--recursive", action="store_true", help="everything below, with full paths")

    cat = add("cat", "write an item's bytes to stdout")
    cat.add_argument("snapshot", help="snapshot id or a unique prefix")
    cat.add_argument("path")

    restore = add("restore-to-folder", "restore a snapshot (or part of it) into a local folder")
    restore.add_argument("snapshot", help="snapshot id or a unique prefix")
    restore.add_argument("dest", help="folder to write into")
    restore.add_argument("--path", default="", help="only this folder or item")

    check = add("check", "verify the repository; exit 1 and list the problems when not ok")
    check.add_argument(
        "--read-data",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="also read and verify this share of the packs (0..1 or a percentage; default 0)",
    )

    forget = add("forget", "remove snapshots a retention policy does not keep")
    forget.add_argument("--within-days", type=_count, metavar="N", help="keep snapshots of the last N days")
    forget.add_argument(
        "--within-months", type=_count, metavar="N", help="keep snapshots of the last N months"
    )
    forget.add_argument("--within-years", type=_count, metavar="N", help="keep snapshots of the last N years")
    forget.add_argument(
        "--keep-last", type=_count, metavar="N", help="keep the last N snapshots of each entity"
    )
    forget.add_argument("--entity", help="only this entity's snapshots")
    forget.add_argument("--dry-run", action="store_true", help="only show what would be removed")

    prune = add("prune", "delete data no snapshot needs any more")
    prune.add_argument(
        "--grace-hours",
        type=_hours,
        default=1.0,
        metavar="H",
        help="spare packs younger than this, which a running backup may still use (default 1)",
    )

    add("rebuild-index", "rebuild the index from the packs; exit 1 when some are unreadable")
    stats = add("stats", "sizes and counts")
    stats.add_argument("--json", action="store_true", help="print JSON")

    rotate = add("rotate-key", "re-wrap the repository's data key with a new master key")
    rotate.add_argument("--new-master-key-file", required=True, metavar="PATH", help="the new key")
    return repo


# ---------------------------------------------------------------- running


def _describe(error: Exception, url: str) -> str:
    """One line for an engine error: a short category an operator can grep for, then the
    engine's own words (which name the repository, snapshot or item)."""
    from backstop import engine

    labels: list[tuple[type[Exception], str]] = [
        (engine.WrongKey, "wrong key"),
        (engine.RepositoryNotFound, "not found"),
        (engine.SnapshotNotFound, "not found"),
        (engine.ItemNotFound, "not found"),
        (engine.RepositoryExists, "already exists"),
        (engine.StoreUnavailable, "store unreachable"),
        (engine.StoreAccessDenied, "access denied"),
        (engine.UnsupportedFormat, "unsupported format"),
        (engine.IntegrityError, "integrity error"),
        (engine.Locked, "locked"),
    ]
    label = next((label for kind, label in labels if isinstance(error, kind)), "error")
    detail = str(error).strip() or f"{type(error).__name__} at {url}"
    return f"{label}: {detail}"


def run(options: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        ctx = Context(options, env)
    except UsageError as error:
        _err(str(error))
        return EXIT_ERROR
    from backstop.engine import EngineError

    try:
        return COMMANDS[options.repo_command](ctx, options)
    except UsageError as error:
        _err(str(error))
    except EngineError as error:
        _err(_describe(error, ctx.url))
    except BrokenPipeError:
        # `backstop repo cat … | head`: the reader left; say nothing more on a closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:  # a local folder or key file: not writable, full disk...
        _err(str(error))
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    return EXIT_ERROR
