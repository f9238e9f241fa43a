"""How a connector says what went wrong, so the job runner knows what to do about it.

- `Throttled` / `Unavailable`: wait and try again (the HTTP layer already retried with backoff,
  honouring Retry-After; raising it means the budget for this call ran out).
- `ItemError`: this one item could not be read or written; skip it, record it, and try it again
  next run. The run ends Partially succeeded.
- `AuthError`: the grant is gone (revoked, expired, password changed). Fatal for the task: it
  becomes Disconnected until someone authenticates again.
- `SourceError`: anything else fatal for this run (the source answered nonsense, a folder we
  need is not there).
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error a connector raises on purpose."""


class AuthError(ConnectorError):
    """Credentials refused or grant revoked: the task is Disconnected."""


class Throttled(ConnectorError):
    """The source keeps asking us to slow down; `retry_after` is its last hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ConnectorError):
    """The source is down or the connection keeps dropping: try the whole run again later."""


class ItemError(ConnectorError):
    """One item failed; the others go on. `key` is the item's key at the source."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class CursorExpired(ConnectorError):
    """A change cursor the source no longer honours. Connectors normally handle this
    themselves by falling back to a full listing; raised only where they cannot."""


class SourceError(ConnectorError):
    """A fatal error for this run that is not about credentials."""
