"""Small helpers shared by the engine tests."""

from __future__ import annotations

import os
from pathlib import Path

from backstop.engine import Repository, Store

MASTER = b"m" * 32
SMALL_PACKS = 64 * 1024  # many packs from little data, so pack-level behaviour shows


def new_repo(store: Store, pack_size: int = SMALL_PACKS) -> Repository:
    return Repository.init(store, MASTER, pack_size=pack_size)


def snapshot_files(repo: Repository, snapshot_id: str) -> dict[str, bytes]:
    """Every item of a snapshot with its bytes, read through open_item."""
    return {
        path: repo.open_item(snapshot_id, path).read()
        for path, entry in repo.walk(snapshot_id)
        if not entry.is_folder
    }


def folder_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write(repo: Repository, entity: str, files: dict[str, bytes], **options: object) -> str:
    with repo.writer(entity, **options) as writer:  # type: ignore[arg-type]
        for path, data in files.items():
            writer.add(path, {"size": len(data)}, data)
        return writer.commit().snapshot_id


def pack_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "data").rglob("*") if p.is_file())


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
