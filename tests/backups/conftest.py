"""Fixtures of the backups tests: a Box sandbox server per test, the session's Dovecot and moto S3 server."""

from __future__ import annotations

from tests.backups.mailbox import dovecot
from tests.backups.sandbox import box_sandbox
from tests.engine.conftest import moto_s3
from tests.test_processes import installation

__all__ = ["box_sandbox", "dovecot", "installation", "moto_s3"]
