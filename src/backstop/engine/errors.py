"""Every error the engine raises derives from EngineError, so callers can catch one type."""

from __future__ import annotations


class EngineError(Exception):
    """Base of all engine errors."""


class StoreError(EngineError):
    """The object store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The object store could not be reached, even after retrying."""


class StoreAccessDenied(StoreError):
    """The store answered, but the credentials do not allow the operation."""


class ObjectNotFound(StoreError):
    """The object does not exist in the store."""


class ObjectExists(StoreError):
    """A create-only write found the object already there."""


class RepositoryNotFound(EngineError):
    """There is no repository at this location."""


class RepositoryExists(EngineError):
    """A repository already exists at this location."""


class UnsupportedFormat(EngineError):
    """The repository, or one of its objects, uses a format version this code does not read."""


class WrongKey(EngineError):
    """The master key does not open this repository."""


class IntegrityError(EngineError):
    """Stored bytes failed authentication or did not hash to their id: they are never returned."""


class BlobMissing(IntegrityError):
    """A blob a snapshot needs is not in the index, or its pack is gone."""


class PathError(EngineError, ValueError):
    """An item path is empty, has an empty, '.' or '..' component, or contains NUL."""


class SnapshotNotFound(EngineError):
    """No snapshot has this id."""


class ItemNotFound(EngineError):
    """No item exists at this path in the snapshot."""


class Locked(EngineError):
    """Another prune holds the repository's maintenance lock."""
