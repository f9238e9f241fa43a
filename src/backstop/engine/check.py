"""`check`: is every byte a snapshot needs present and intact?"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import format as fmt
from .errors import EngineError, IntegrityError, ObjectNotFound, SnapshotNotFound, UnsupportedFormat
from .index import BlobIndex, BlobSet, Location
from .tree import FOLDER

if TYPE_CHECKING:
    from .repository import Repository

Progress = Callable[[int, int | None], None]
INDEX_OBJECT_BLOBS = 100_000


# -- check


@dataclass(slots=True)
class Problem:
    kind: str
    object: str
    message: str
    snapshots: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.kind}: {self.object}: {self.message}"
        if self.snapshots:
            shown = ", ".join(s[:12] for s in self.snapshots[:5])
            text += f" (affects {len(self.snapshots)} snapshot(s): {shown}"
            text += f"; items: {', '.join(self.items[:5])}{' …' if len(self.items) > 5 else ''})"
        return text


@dataclass(slots=True)
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    snapshots_checked: int = 0
    packs_checked: int = 0
    blobs_checked: int = 0
    unindexed_packs: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check(repo: Repository, read_data: float = 0.0, progress: Progress | None = None) -> CheckReport:
    """Every referenced blob must be indexed and in a pack that exists and is long enough; with
    `read_data` (a fraction, 1.0 for all), packs are downloaded and every blob is decrypted and
    hashed. Each problem names the snapshots and items it affects."""
    report = CheckReport()
    bad_packs: dict[str, Problem] = {}
    bad_blobs: dict[bytes, Problem] = {}
    loose: list[Problem] = []
    index = BlobIndex()
    extent: dict[str, int] = defaultdict(int)
    sizes: dict[str, int] = {}
    try:
        for _, packs in repo.index_objects():
            for pack_id, records, size in packs:
                sizes[pack_id] = size
                number = index.pack_number(pack_id)
                for blob_id, blob_type, offset, length, raw in fmt.ENTRY.iter_unpack(records):
                    index.add(blob_id, blob_type, number, offset, length, raw)
                    extent[pack_id] = max(extent[pack_id], offset + length)
    except (IntegrityError, UnsupportedFormat) as exc:
        report.problems.append(Problem("index-corrupt", "index", str(exc)))
    stored = {info.key.rsplit("/", 1)[-1]: info.size for info in repo.store.list("data/")}
    for pack_id, end in extent.items():
        if pack_id not in stored:
            bad_packs[pack_id] = Problem("pack-missing", pack_id, "the pack is missing from the store")
        elif stored[pack_id] != sizes[pack_id] or stored[pack_id] < end + fmt.PACK_TRAILER.size:
            bad_packs[pack_id] = Problem(
                "pack-truncated" if stored[pack_id] < sizes[pack_id] else "pack-size-wrong",
                pack_id,
                f"the pack is {stored[pack_id]} bytes; the index says {sizes[pack_id]}",
            )
    if not report.problems:
        repo.use_index(index)  # the reads below share it: one copy of the index, not two
    report.unindexed_packs = sum(1 for pack_id in stored if pack_id not in extent)
    if read_data > 0:
        candidates = sorted(p for p in extent if p not in bad_packs)
        chosen = (
            candidates if read_data >= 1 else random.sample(candidates, round(len(candidates) * read_data))
        )
        for number, pack_id in enumerate(chosen, 1):
            problem = _read_pack(repo, pack_id, bad_blobs, loose)
            if problem:
                bad_packs[pack_id] = problem
            report.packs_checked += 1
            if progress:
                progress(number, len(chosen))

    def blob_problem(blob_id: bytes) -> Problem | None:
        if blob_id in bad_blobs:
            return bad_blobs[blob_id]
        location = index.get(blob_id)
        if location is None:
            problem = bad_blobs[blob_id] = Problem(
                "blob-not-indexed",
                blob_id.hex(),
                "no index lists this blob: run rebuild-index, then check again",
            )
            return problem
        return bad_packs.get(location.pack)

    clean = BlobSet()
    memo: dict[bytes, list[tuple[str, Problem]]] = {}

    def tree_problems(tree_id: bytes) -> list[tuple[str, Problem]]:
        """(path below the tree, problem) for every damaged item; each tree is read once."""
        if tree_id in clean:
            return []
        if tree_id in memo:
            return memo[tree_id]
        report.blobs_checked += 1
        found: list[tuple[str, Problem]] = []
        problem = blob_problem(tree_id)
        records: list[list[Any]] = []
        if problem is None:
            try:
                records = repo.tree(tree_id)
            except EngineError as exc:
                problem = Problem("tree-unreadable", tree_id.hex(), str(exc))
        if problem is not None:
            found.append(("", problem))
        for record in records:
            if record[1] == FOLDER:
                found += [
                    (f"{record[0]}/{sub}" if sub else record[0], p) for sub, p in tree_problems(record[5])
                ]
                continue
            for blob_id in record[4]:
                report.blobs_checked += 1
                problem = blob_problem(blob_id)
                if problem is not None:
                    found.append((record[0], problem))
                    break
        if found:
            memo[tree_id] = found
        else:
            clean.add(tree_id)
        return found

    for name in repo.snapshot_names():
        try:
            snap = repo.manifest(name)
        except (IntegrityError, UnsupportedFormat) as exc:
            report.problems.append(Problem("snapshot-corrupt", name.key, str(exc)))
            continue
        except SnapshotNotFound:
            continue
        report.snapshots_checked += 1
        for item, problem in tree_problems(bytes.fromhex(snap.tree)):
            if snap.id not in problem.snapshots:
                problem.snapshots.append(snap.id)
            if len(problem.items) < 1000 and (item or "/") not in problem.items:
                problem.items.append(item or "/")
    unique = {id(p): p for p in [*bad_packs.values(), *bad_blobs.values(), *loose]}
    report.problems += list(unique.values())
    return report


def _read_pack(
    repo: Repository, pack_id: str, bad_blobs: dict[bytes, Problem], loose: list[Problem]
) -> Problem | None:
    """Download a pack and verify it; returns a problem for the whole pack, or None when only
    some blobs are damaged (those go into `bad_blobs`) or none is."""
    try:
        data = repo.store.get(fmt.pack_key(pack_id))
    except ObjectNotFound:
        return Problem("pack-missing", pack_id, "the pack is missing from the store")
    if fmt.object_id(data) != pack_id:
        problem = Problem("pack-corrupt", pack_id, "the pack's bytes do not hash to its id")
        # Find which blobs are still intact: only those are reported as lost.
        try:
            entries = fmt.decode_pack_header(repo.crypto, data, f"pack {pack_id}")
        except EngineError as exc:
            problem.message += f"; its header is unreadable ({exc})"
            return problem
        bad = 0
        for entry in entries:
            location = repo_location(entry, pack_id)
            try:
                repo.decode_blob(location, data[entry.offset : entry.offset + entry.length])
            except EngineError:
                bad_blobs[entry.blob_id] = problem
                bad += 1
        problem.message += f"; {bad} of {len(entries)} blobs fail authentication"
        if bad == 0:
            loose.append(problem)
        return None
    try:
        entries = fmt.decode_pack_header(repo.crypto, data, f"pack {pack_id}")
        for entry in entries:
            repo.decode_blob(repo_location(entry, pack_id), data[entry.offset : entry.offset + entry.length])
    except EngineError as exc:
        return Problem("pack-corrupt", pack_id, str(exc))
    return None


def repo_location(entry: fmt.PackEntry, pack_id: str) -> Location:
    return Location(entry.blob_id, entry.type, pack_id, entry.offset, entry.length, entry.raw_length)
