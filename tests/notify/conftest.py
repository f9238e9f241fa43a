"""Fixtures of the notification tests: the Box sandbox of the backups tests and the SMTP sink."""

from __future__ import annotations

from tests.backups.sandbox import box_sandbox
from tests.smtp_sink import smtp_server, smtp_sink

__all__ = ["box_sandbox", "smtp_server", "smtp_sink"]
