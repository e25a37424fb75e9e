"""Fixtures for tests against a Kapacitor HTTP server: the emulator or a real kapacitord.

Every server fixture is parametrized over the kinds of server that can be configured its
way (ids ``emulator`` and ``kapacitord``), so one test runs against each. The real server
(``hack/provision-kapacitord.sh`` builds it) has no InfluxDB behind it, which limits it
to ``task-run-influxdb = "none"`` and to the ``noauth`` user service; the param lists
below say which fixture gets which kinds. A missing kapacitord binary FAILS each test
that takes a ``kapacitord`` server (in the test's own call phase, so it is reported as
FAILED, not as a setup error), with a message naming the provisioning script; it is never
a skip.

Contract tests speak plain HTTP, never reset shared state and use unique IDs (``uid``)
instead, so servers are shared. Emulator-only tests (control API, outcomes, faults,
clock) take ``emulator``, the :class:`EmulatorHandle`.
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

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_testkit.kapacitord import (
    KapacitordNotFoundError,
    find_kapacitord,
    running_kapacitord,
)

EMULATOR = "emulator"
KAPACITORD = "kapacitord"
SERVER_KINDS = [EMULATOR, KAPACITORD]
"""Every kind of Kapacitor server the tests know."""

RUN_STORAGE_KINDS: dict[str, list[str]] = {"memory": [EMULATOR], "none": SERVER_KINDS}
"""The kinds that can run with each Flux run storage. Keeping finished runs needs an
InfluxDB (``task-run-influxdb``), which the real server does not have here: ``memory``
is the emulator's stand-in for it, so tests of stored runs are emulator-only."""

USER_AUTH_KINDS = [EMULATOR]
"""Auth with one real user (a wrong password is rejected). Kapacitor's user store
(``[auth] enabled = true``) is an InfluxDB Enterprise meta node, which cannot be had
offline, so only the emulator can be configured this way."""

NOAUTH_KINDS = SERVER_KINDS
"""Auth on with the ``noauth`` user service (``[http] auth-enabled = true``,
``[auth] enabled = false``): credentials are required and JWTs are checked against the
shared secret, but any Basic user/password passes. Both kinds can do this."""

MISSING_KAPACITORD_URL = "http://kapacitord-not-provisioned.invalid"
"""Stands in for a kapacitord that could not start; its tests fail before using it."""

AUTH_USER = "alice"
AUTH_PASSWORD = "s3cret"
SHARED_SECRET = "jwt-shared-secret"


@dataclass(frozen=True)
class AuthServer:
    """A server with auth on, its user (for ``noauth``: any name) and JWT shared secret."""

    url: str
    username: str
    password: str
    shared_secret: str


@contextmanager
def _start_server(
    kind: str, run_storage: str, *, user: bool = False, shared_secret: str | None = None
) -> Iterator[str]:
    """Start a server of ``kind``; yields its base URL."""
    if kind == EMULATOR:
        extra = ["--username", AUTH_USER, "--password", AUTH_PASSWORD] if user else []
        extra += ["--shared-secret", shared_secret] if shared_secret else []
        with running_emulator(run_storage=run_storage, extra_args=extra) as handle:
            yield handle.base_url
        return
    if kind != KAPACITORD or run_storage != "none" or user:
        raise pytest.UsageError(f"no {kind!r} server with run storage {run_storage!r}")
    try:
        binary = find_kapacitord()
    except KapacitordNotFoundError:
        yield MISSING_KAPACITORD_URL  # pytest_runtest_call fails each test that gets it
        return
    with running_kapacitord(str(binary), shared_secret=shared_secret) as kapacitord:
        yield kapacitord.base_url


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Fail (never skip) a test parametrized with a kapacitord server when there is none."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or KAPACITORD not in callspec.params.values():
        return
    try:
        find_kapacitord()
        return
    except KapacitordNotFoundError as exc:
        missing = str(exc)
    pytest.fail(f"kapacitord is not available: {missing}", pytrace=False)


@pytest.fixture(scope="session", params=RUN_STORAGE_KINDS["none"])
def contract_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL of each kind of server with run storage ``none``: finished runs vanish.

    The contract tests' default server. ``none`` is the one run storage both kinds have,
    so tests that do not care about run storage use it too (through ``api``).
    """
    with _start_server(request.param, "none") as url:
        yield url


@pytest.fixture
def contract_kind(request: pytest.FixtureRequest, contract_server: str) -> str:
    """Which kind of server ``contract_server`` is in this test (``emulator`` or
    ``kapacitord``), for the few steps that must be done differently on each (making an
    alert fire, reading what a handler received)."""
    kind: str = request.node.callspec.params["contract_server"]
    return kind


@pytest.fixture(scope="module", params=RUN_STORAGE_KINDS["memory"])
def kapacitor_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL of a server keeping finished Flux runs (emulator: ``--run-storage memory``)."""
    with _start_server(request.param, "memory") as url:
        yield url


@pytest.fixture(scope="module", params=[EMULATOR])
def kapacitor_server_none(request: pytest.FixtureRequest) -> Iterator[str]:
    """The emulator with ``--run-storage none``, for the client tests.

    Emulator-only: the client tests that take it run ``from()`` scripts, which fail on a
    real server without InfluxDB. Contract tests take ``contract_server``.
    """
    with _start_server(request.param, "none") as url:
        yield url


@pytest.fixture(params=RUN_STORAGE_KINDS["none"])
def fresh_kapacitor_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server of its own for one test (for assertions about a whole, empty list)."""
    with _start_server(request.param, "none") as url:
        yield url


@pytest.fixture(scope="module", params=USER_AUTH_KINDS)
def kapacitor_auth_server(request: pytest.FixtureRequest) -> Iterator[AuthServer]:
    """A server with auth on: one user (wrong passwords fail) and a JWT shared secret."""
    with _start_server(request.param, "memory", user=True, shared_secret=SHARED_SECRET) as url:
        yield AuthServer(url, AUTH_USER, AUTH_PASSWORD, SHARED_SECRET)


@pytest.fixture(scope="session", params=NOAUTH_KINDS)
def kapacitor_noauth_server(request: pytest.FixtureRequest) -> Iterator[AuthServer]:
    """Auth on with the ``noauth`` user service: any Basic user/password passes."""
    with _start_server(request.param, "none", shared_secret=SHARED_SECRET) as url:
        yield AuthServer(url, AUTH_USER, "any-password", SHARED_SECRET)


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
def api(contract_server: str) -> Iterator[httpx.Client]:
    """An HTTP client for ``contract_server`` (each kind, run storage ``none``)."""
    with _client(contract_server) as client:
        yield client


@pytest.fixture
def api_memory(kapacitor_server: str) -> Iterator[httpx.Client]:
    """An HTTP client for ``kapacitor_server`` (keeps finished runs: emulator only)."""
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
