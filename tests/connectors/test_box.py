"""The Box connector against the Box emulator over real HTTP: the conformance suite, then what is
Box's own (OAuth, enterprise users as themselves, versions, events, throttling, restore modes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backstop.sandbox.box import BoxSandbox
from tests.connectors.box_harness import BoxHarness
from tests.connectors.conformance import *  # noqa: F403


@pytest.fixture
def sandbox() -> Iterator[BoxSandbox]:
    with BoxSandbox() as sb:
        yield sb


@pytest.fixture
def harness(sandbox: BoxSandbox) -> BoxHarness:
    return BoxHarness(sandbox)
