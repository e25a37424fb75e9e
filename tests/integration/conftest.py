"""Fixtures for tests against a Kapacitor HTTP server.

Contract tests take ``kapacitor_server`` (a base URL) and speak plain HTTP, so the same
tests can later run against a real ``kapacitord``: add a kind to ``SERVER_KINDS`` and a
branch in ``_start_server``. They never reset shared state; they use unique IDs instead
(``uid``). Emulator-only tests (control API, faults, outcomes) take ``emulator``, the
:class:`EmulatorHandle`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kapacitor_operator.emulator.process import EmulatorHandle, running_emulator

SERVER_KINDS = ["emulator"]
"""Kinds of Kapacitor server the contract tests run against."""

AUTH_USER = "alice"
AUTH_PASSWORD = "s3cret"
SHARED_SECRET = "jwt-shared-secret"


@contextmanager
def _start_server(kind: str, run_storage: str, extra: list[str] | None = None) -> Iterator[str]:
    if kind == "emulator":
        with running_emulator(run_storage=run_storage, extra_args=extra) as handle:
            yield handle.base_url
        return
    raise pytest.UsageError(f"unknown Kapacitor server kind {kind!r}")


@pytest.fixture(scope="module", params=SERVER_KINDS)
def kapacitor_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL of a server keeping finished Flux runs (emulator: ``--run-storage memory``)."""
    with _start_server(request.param, "memory") as url:
        yield url


@pytest.fixture(scope="module", params=SERVER_KINDS)
def kapacitor_server_none(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL of a server with ``task-run-influxdb = "none"``: finished runs vanish."""
    with _start_server(request.param, "none") as url:
        yield url


@pytest.fixture(params=SERVER_KINDS)
def fresh_kapacitor_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server of its own for one test (for assertions about a whole, empty list)."""
    with _start_server(request.param, "memory") as url:
        yield url


@dataclass(frozen=True)
class AuthServer:
    """A server with auth on, and its one user and JWT shared secret."""

    url: str
    username: str
    password: str
    shared_secret: str


@pytest.fixture(scope="module", params=SERVER_KINDS)
def kapacitor_auth_server(request: pytest.FixtureRequest) -> Iterator[AuthServer]:
    """A server with auth on: one user and a JWT shared secret."""
    extra = ["--username", AUTH_USER, "--password", AUTH_PASSWORD]
    extra += ["--shared-secret", SHARED_SECRET]
    with _start_server(request.param, "memory", extra) as url:
        yield AuthServer(url, AUTH_USER, AUTH_PASSWORD, SHARED_SECRET)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    """The emulator with its control API (emulator-only tests)."""
    with running_emulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def emulator_none() -> Iterator[EmulatorHandle]:
    """The emulator with ``--run-storage none`` (emulator-only tests)."""
    with running_emulator(run_storage="none") as handle:
        yield handle


@pytest.fixture
def uid() -> str:
    """A short unique suffix for IDs and names."""
    return uuid.uuid4().hex[:10]


def _client(base_url: str) -> httpx.Client:
    """A plain client: no redirects followed, generous timeouts."""
    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0), follow_redirects=False)


@pytest.fixture
def api(kapacitor_server: str) -> Iterator[httpx.Client]:
    """An HTTP client for ``kapacitor_server``."""
    with _client(kapacitor_server) as client:
        yield client


def _wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s (last value: {result!r})")
        time.sleep(interval)


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """``wait_for(check, timeout=10)``: poll until ``check()`` is truthy, with a deadline."""
    return _wait_for


@pytest.fixture
def client_for() -> Iterator[Callable[[str], httpx.Client]]:
    """``client_for(base_url)``: an httpx client closed after the test."""
    clients: list[httpx.Client] = []

    def make(base_url: str) -> httpx.Client:
        clients.append(_client(base_url))
        return clients[-1]

    yield make
    for client in clients:
        client.close()
