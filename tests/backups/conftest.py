"""Fixtures of the backups tests: a Box sandbox server per test."""

from __future__ import annotations

from tests.backups.sandbox import box_sandbox
from tests.test_processes import installation

__all__ = ["box_sandbox", "installation"]
