"""`prune`: delete what no snapshot needs, safely beside running writers.

1. Mark every blob reachable from a snapshot (trees are read once however many snapshots share them).
2. Give each live blob one owner pack, preferring packs no plan wants to delete.
3. Packs that own nothing and are older than the grace period are planned for deletion; packs
   that own little (or, after an erase, that hold any dead blob) are repacked first.
4. A plan is written, then the live writer sessions are recorded in it as blockers. Writers that
   start later skip the planned packs when they deduplicate, so they never rely on them.
5. A plan runs once none of its blockers is alive: the index is rewritten without its packs,
   then the packs are deleted. Until then, nothing is deleted: a prune never waits for a backup
   and never removes what a backup in progress may have reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from . import format as fmt
from .check import repo_location
from .errors import EngineError, ObjectNotFound, SnapshotNotFound
from .index import BlobIndex, BlobSet
from .packer import Packer
from .repair import read_pack_header, write_index_batches
from .sessions import SESSION_TIMEOUT, PruneLock, live_sessions, stale_sessions
from .stores import Store
from .tree import FOLDER

if TYPE_CHECKING:
    from .repository import PackRecords, Repository

Progress = Callable[[int, int | None], None]


@dataclass(slots=True)
class PruneReport:
    blobs_live: int = 0
    packs_deleted: int = 0
    packs_repacked: int = 0
    packs_deferred: int = 0  # in plans a running backup still blocks
    packs_too_young: int = 0  # unused, but younger than the grace period: a later prune takes them
    bytes_freed: int = 0
    index_objects_written: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    key: str
    packs: frozenset[str]
    blockers: tuple[str, ...] | None  # None: the prune died before recording them


def load_plans(repo: Repository) -> list[Plan]:
    plans = []
    for info in repo.store.list("plans/"):
        try:
            value = fmt.open_object(repo.crypto, fmt.KIND_PLAN, repo.store.get(info.key), info.key)
        except ObjectNotFound:
            continue
        blockers = value.get("blockers")
        plans.append(
            Plan(info.key, frozenset(value["packs"]), tuple(blockers) if blockers is not None else None)
        )
    return plans


def doomed_packs(repo: Repository) -> frozenset[str]:
    """Packs some prune plans to delete: a writer must not deduplicate against them."""
    return frozenset(pack for plan in load_plans(repo) for pack in plan.packs)


def note_forget(repo: Repository) -> None:
    """Record that snapshots were removed (forget, erase): see the rule in `_prune`."""
    repo.store.put(f"forgets/{fmt.time_key(datetime.now(UTC))}_{os.urandom(8).hex()}", b"")


def _forget_times(store: Store) -> list[tuple[datetime, str]]:
    times = []
    for info in store.list("forgets/"):
        try:
            times.append((fmt.parse_time_key(info.key.rsplit("/", 1)[-1].partition("_")[0]), info.key))
        except ValueError:
            continue
    return times


def mark_live(
    repo: Repository,
    progress: Progress | None = None,
    live: BlobSet | None = None,
    skip: frozenset[str] = frozenset(),
) -> tuple[BlobSet, set[str], list[bytes]]:
    """Every blob reachable from a snapshot: (the set, the manifests marked, the blobs added).

    With `live` and `skip`, only snapshots not marked before are walked, into the same set."""
    live = live if live is not None else BlobSet()
    added: list[bytes] = []
    names = [n for n in repo.snapshot_names() if n.key not in skip]
    marked: set[str] = set()
    for number, name in enumerate(names, 1):
        try:
            snap = repo.manifest(name)
        except SnapshotNotFound:
            continue  # forgotten while we listed
        marked.add(name.key)
        stack = [bytes.fromhex(snap.tree)]
        while stack:
            tree_id = stack.pop()
            if not live.add(tree_id):
                continue  # shared with a snapshot already marked
            added.append(tree_id)
            for record in repo.tree(tree_id):  # an unreadable tree stops the prune: run check
                if record[1] == FOLDER:
                    stack.append(record[5])
                else:
                    for blob_id in record[4]:
                        if live.add(blob_id):
                            added.append(blob_id)
        if progress:
            progress(number, len(names))
    return live, marked, added


def prune(
    repo: Repository,
    grace: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    progress: Progress | None = None,
    repack_below: float = 0.5,
    session_timeout: timedelta = SESSION_TIMEOUT,
) -> PruneReport:
    now = now or datetime.now(UTC)
    lock = PruneLock(repo.store, now)
    repo.forget_index()  # a long-lived Repository may hold an index older than today's snapshots
    try:
        return _prune(repo, grace, now, progress, repack_below, session_timeout)
    finally:
        lock.release()
        repo.forget_index()


def _prune(
    repo: Repository,
    grace: timedelta,
    now: datetime,
    progress: Progress | None,
    repack_below: float,
    session_timeout: timedelta,
) -> PruneReport:
    report = PruneReport()
    store = repo.store
    erasures = [info.key for info in store.list("erasures/")]
    erasing = bool(erasures)
    old_plans = load_plans(repo)
    planned = frozenset(p for plan in old_plans for p in plan.packs)
    index_keys: list[str] = []
    packs: dict[str, bytes] = {}
    sizes: dict[str, int] = {}
    for key, entries in repo.index_objects():
        index_keys.append(key)
        for pack_id, records, size in entries:
            packs.setdefault(pack_id, records)
            sizes[pack_id] = size
    stored = {info.key.rsplit("/", 1)[-1]: info for info in store.list("data/")}
    # Packs not yet indexed belong to a running writer or a crashed one. A running writer may
    # commit before we mark, so what they hold is read from their own headers and counted like
    # any indexed pack; only unreadable ones (cut short by a crash) stay unknown.
    for pack_id, info in stored.items():
        if pack_id not in packs:
            try:
                packs[pack_id] = read_pack_header(repo, pack_id, info.size)
                sizes[pack_id] = info.size
            except EngineError:
                continue
    live, marked, _ = mark_live(repo, progress)
    report.blobs_live = len(live)

    # Each live blob is owned by one pack, preferring packs that no plan wants to delete.
    owner = BlobIndex(len(live))
    owned_bytes: dict[str, int] = {}
    total_bytes: dict[str, int] = {}
    order = sorted(packs, key=lambda p: p in planned)
    for pack_id in order:
        owned = total = 0
        number = owner.pack_number(pack_id)
        for blob_id, blob_type, _offset, length, raw in fmt.ENTRY.iter_unpack(packs[pack_id]):
            total += length
            if blob_id in live and owner.add(blob_id, blob_type, number, 0, 0, raw):
                owned += length
        owned_bytes[pack_id], total_bytes[pack_id] = owned, total

    def old_enough(pack_id: str) -> bool:
        info = stored.get(pack_id)
        return info is not None and now - info.modified >= grace

    dead = {p for p in packs if owned_bytes[p] == 0 and old_enough(p)}
    report.packs_too_young = sum(
        1 for p in packs if owned_bytes[p] == 0 and p in stored and not old_enough(p)
    )
    dead |= {p for p in stored if p not in packs and old_enough(p)}  # crashed writers' unindexed packs
    with_dead = [p for p in packs if p not in dead and p in stored and owned_bytes[p] < total_bytes[p]]
    # After an erase every pack with a dead blob is repacked, however young: the grace period
    # protects packs a running writer may still reference, and an erased blob is referenced by
    # nothing any more. Otherwise young packs wait, and only mostly-empty ones are repacked.
    sparse = [
        p for p in with_dead if erasing or (old_enough(p) and owned_bytes[p] < total_bytes[p] * repack_below)
    ]
    if sparse:
        report.packs_repacked = _repack(repo, sparse, packs, owner)
        dead |= set(sparse)
    new_plans: list[Plan] = []
    fresh = dead - planned
    if fresh:
        key = f"plans/{fmt.time_key(now)}_{os.urandom(8).hex()}"
        store.put(
            key, fmt.seal_object(repo.crypto, fmt.KIND_PLAN, {"packs": sorted(fresh), "blockers": None})
        )
        # Listed after the plan is stored: any writer that could have missed the plan is here.
        blockers = tuple(s.key for s in live_sessions(store, datetime.now(UTC), session_timeout))
        store.put(
            key,
            fmt.seal_object(repo.crypto, fmt.KIND_PLAN, {"packs": sorted(fresh), "blockers": list(blockers)}),
        )
        new_plans.append(Plan(key, frozenset(fresh), blockers))

    sessions = live_sessions(store, datetime.now(UTC), session_timeout)
    alive = {s.key for s in sessions}
    # A writer carries its parent's trees over by reference. If that parent was forgotten while
    # the writer ran, the writer may refer to packs that look dead: no plan runs until it ends.
    forgets = sorted(_forget_times(store))
    inheriting = bool(forgets) and any(s.started <= forgets[-1][0] for s in sessions)
    runnable: list[Plan] = []
    deferred: list[Plan] = []
    for plan in [*old_plans, *new_plans]:
        blocked = bool(alive) if plan.blockers is None else any(b in alive for b in plan.blockers)
        blocked = blocked or inheriting
        (deferred if blocked else runnable).append(plan)
    doomed = {p for plan in runnable for p in plan.packs if p in dead}
    if doomed:
        # A writer that ended after the marking above (a blocker, or one too short-lived to be
        # listed) committed a snapshot we have not seen: mark it too, and spare what it uses.
        repo.forget_index()  # their trees may sit in packs indexed since we loaded it
        _, _, revived = mark_live(repo, live=live, skip=frozenset(marked))
        if revived:
            again = BlobSet()
            for blob_id in revived:
                again.add(blob_id)
            doomed = {p for p in doomed if not _holds_any(packs.get(p), again)}
    report.packs_deferred = len({p for plan in deferred for p in plan.packs})
    if doomed:
        keep = [(p, r, sizes[p]) for p, r in packs.items() if p not in doomed]
        report.index_objects_written = write_index_batches(repo, keep)
        for key in index_keys:
            store.delete(key)
        # A writer that finished during this prune may have indexed one of these packs (its
        # own, unindexed when we read the index) before its snapshot was forgotten.
        for key, entries in repo.index_objects():
            if any(pack_id in doomed for pack_id, _, _ in entries):
                rest = [entry for entry in entries if entry[0] not in doomed]
                if rest:
                    repo.write_index(rest)
                store.delete(key)
        for pack_id in sorted(doomed):
            size = stored[pack_id].size if pack_id in stored else 0
            store.delete(fmt.pack_key(pack_id))
            report.packs_deleted += 1
            report.bytes_freed += size
    for plan in runnable:
        store.delete(plan.key)
    for key in stale_sessions(store, now, session_timeout):
        store.delete(key)
    oldest = min((s.started for s in sessions), default=None)
    for moment, key in forgets:
        if oldest is None or moment < oldest:
            store.delete(key)  # no running writer is older than this forget: it no longer matters
    if erasing and not deferred:
        for key in erasures:  # only those this run saw: a later erase waits for the next prune
            store.delete(key)
    return report


def _holds_any(records: bytes | None, blobs: BlobSet) -> bool:
    """Whether a pack's ENTRY records name any of `blobs` (an unreadable pack names none)."""
    if records is None:
        return False
    return any(entry[0] in blobs for entry in fmt.ENTRY.iter_unpack(records))


def _repack(repo: Repository, sparse: list[str], packs: dict[str, bytes], owner: BlobIndex) -> int:
    """Copy the live blobs each sparse pack owns into new packs, and index them."""
    written: list[PackRecords] = []
    packer = Packer(
        repo.store,
        repo.crypto,
        pack_size=repo.pack_size,
        level=repo.compression_level,
        on_pack=lambda pack_id, records, size: written.append((pack_id, records, size)),
    )
    try:
        for pack_id in sparse:
            data = repo.store.get(fmt.pack_key(pack_id))
            for entry in fmt.iter_entries(packs[pack_id]):
                owned = owner.get(entry.blob_id)
                if owned is None or owned.pack != pack_id:
                    continue
                location = repo_location(entry, pack_id)
                plain = repo.decode_blob(location, data[entry.offset : entry.offset + entry.length])
                packer.submit(entry.blob_id, entry.type, plain)
        packer.flush()
    finally:
        packer.close()
    if written:
        repo.write_index(written)
    return len(sparse)
