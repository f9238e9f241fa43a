"""The backup repository engine: deduplicated, compressed, encrypted snapshots on object stores.

A plain library (no Django): the backup services, the operator CLI and the tests drive it
alike. The on-store format is described in docs/REPOSITORY_FORMAT.md.
"""

from .check import CheckReport, Problem
from .erase import EraseReport
from .errors import (
    BlobMissing,
    EngineError,
    IntegrityError,
    ItemNotFound,
    Locked,
    ObjectExists,
    ObjectNotFound,
    PathError,
    RepositoryExists,
    RepositoryNotFound,
    SnapshotNotFound,
    StoreAccessDenied,
    StoreError,
    StoreUnavailable,
    UnsupportedFormat,
    WrongKey,
)
from .prune import PruneReport
from .reader import RestoreStats
from .repair import RebuildReport, RepoStats
from .repository import Repository, SnapshotInfo
from .retention import ForgetResult, RetentionPolicy
from .stores import ObjectInfo, RetryPolicy, Store, open_store
from .tree import Entry
from .writer import CommitResult, SnapshotStats, SnapshotWriter

__all__ = [
    "BlobMissing",
    "CheckReport",
    "CommitResult",
    "EngineError",
    "Entry",
    "EraseReport",
    "ForgetResult",
    "IntegrityError",
    "ItemNotFound",
    "Locked",
    "ObjectExists",
    "ObjectInfo",
    "ObjectNotFound",
    "PathError",
    "Problem",
    "PruneReport",
    "RebuildReport",
    "RepoStats",
    "Repository",
    "RepositoryExists",
    "RepositoryNotFound",
    "RestoreStats",
    "RetentionPolicy",
    "RetryPolicy",
    "SnapshotInfo",
    "SnapshotNotFound",
    "SnapshotStats",
    "SnapshotWriter",
    "Store",
    "StoreAccessDenied",
    "StoreError",
    "StoreUnavailable",
    "UnsupportedFormat",
    "WrongKey",
    "open_store",
]
