"""Fixtures of the TaskRun engine's integration tests: a private emulator per module
(runs are scripted per test, and the shared emulator's state must not leak in) and a
Kapacitor client pool per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_operator.kapacitor.pool import ClientPool


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator("memory") as handle:
        yield handle


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool()
    yield clients
    await clients.aclose()
