"""`erase`: remove chosen items from every snapshot of an entity (the right to erasure).

Each snapshot holding one of the items is rewritten without it (same time, metadata and
parent) and the old manifest removed. An erasure marker then makes the next prune repack every
pack holding a dead blob, so the items' content and the old trees naming them are gone for good.
Content still referenced by another item (deduplicated) is kept: that item still needs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import format as fmt
from .errors import ItemNotFound
from .prune import note_forget
from .tree import split_path

if TYPE_CHECKING:
    from .repository import Repository


@dataclass(frozen=True, slots=True)
class EraseReport:
    snapshots_rewritten: int
    items_erased: int


def erase(repo: Repository, entity: str, paths: Iterable[str]) -> EraseReport:
    wanted = ["/".join(split_path(p)) for p in paths]
    rewritten = erased = 0
    for snap in repo.snapshots(entity):
        present = []
        for path in wanted:
            try:
                entry = repo.entry(snap, path)
            except ItemNotFound:
                continue
            present.append((path, entry.items))
        if not present:
            continue
        with repo.writer(entity, parent=snap.id, inherit=True, meta=snap.meta, time=snap.time) as writer:
            for path, _ in present:
                writer.delete(path)
            writer.manifest_overrides = {
                "parent": snap.parent,
                "stats": snap.stats,
                "erased": sum(items for _, items in present),
            }
            writer.commit()
        note_forget(repo)
        repo.store.delete(snap.key)
        rewritten += 1
        erased += sum(items for _, items in present)
    if rewritten:
        marker = fmt.seal_object(repo.crypto, fmt.KIND_ERASURE, {"entity": entity, "items": erased})
        repo.store.put(f"erasures/{os.urandom(8).hex()}", marker)
    return EraseReport(rewritten, erased)
