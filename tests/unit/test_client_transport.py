"""KapacitorClient over ``httpx.MockTransport``: error classes, quick retries, timeouts, auth.

No network: every test answers the client from a handler and inspects the requests it
made. Integration tests (``tests/integration/test_client.py``) cover the same client
against the emulator.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

import kapacitor_operator.kapacitor.client as client_module
from kapacitor_operator.kapacitor.client import (
    BearerAuth,
    KapacitorClient,
    call_timeout,
    default_timeout,
)
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorRunFailed,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.pool import ClientPool, Connection

BASE_URL = "http://kapacitor.test:9092"
FLUX = "/kapacitor/v1/api/v2/tasks"
TASK_ID = "cpu_alert_7"
FLUX_ID = "0a1b2c3d4e5f6071"
RUN_ID = "1122334455667788"
PASSWORD = "pw-Wq7Zr9Kx"
TOKEN = "tok-Hn4Vb2Lp"
SECRETS = (PASSWORD, TOKEN)

Handler = Callable[[httpx.Request], httpx.Response]
Call = Callable[[KapacitorClient], Awaitable[Any]]


# --- helpers ------------------------------------------------------------------------------


def native_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message, "message": message})


def flux_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(
        status, json={"code": code, "message": message}, headers={"X-Platform-Error-Code": code}
    )


def tick_task(task_id: str = TASK_ID, script: str = "stream|from()") -> dict[str, Any]:
    return {
        "id": task_id,
        "type": "stream",
        "dbrps": [{"db": "telegraf", "rp": "autogen"}],
        "script": script,
        "status": "disabled",
    }


def flux_task(task_id: str = FLUX_ID, name: str = "hourly") -> dict[str, Any]:
    return {
        "id": task_id,
        "name": name,
        "status": "active",
        "flux": f'option task = {{name: "{name}", every: 1h}}',
        "every": "1h",
    }


def flux_run(run_id: str = RUN_ID, task_id: str = FLUX_ID) -> dict[str, Any]:
    return {
        "id": run_id,
        "taskID": task_id,
        "status": "scheduled",
        "scheduledFor": "2024-05-01T10:00:00Z",
        "requestedAt": "2024-05-01T10:00:00.5Z",
    }


class Server:
    """A MockTransport handler that records requests and answers from a script.

    ``answers`` are consumed in order (a response, or an exception to raise); the last
    one repeats.
    """

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    @property
    def calls(self) -> int:
        return len(self.requests)


def make_client(
    handler: Handler,
    *,
    auth: httpx.Auth | None = None,
    observer: client_module.Observer | None = None,
    quick_retries: int = 2,
) -> KapacitorClient:
    http = httpx.AsyncClient(
        base_url=BASE_URL,
        transport=httpx.MockTransport(handler),
        timeout=default_timeout(),
        auth=auth,
    )
    return KapacitorClient(http, observer=observer, quick_retries=quick_retries)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., KapacitorClient]]:
    """``clients(handler, **kwargs)``: a client over a MockTransport, closed after the test."""
    made: list[KapacitorClient] = []

    def make(handler: Handler, **kwargs: Any) -> KapacitorClient:
        made.append(make_client(handler, **kwargs))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


class _AsyncioWithRecordedSleep:
    """Stands in for ``asyncio`` inside the client module: records quick-retry delays."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry back-off delays the client asked for (no real sleeping in unit tests)."""
    fake = _AsyncioWithRecordedSleep()
    monkeypatch.setattr(client_module, "asyncio", fake)
    return fake.delays


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


# --- error classes ------------------------------------------------------------------------

STATUS_CLASSES = [
    (400, KapacitorRejected),
    (422, KapacitorRejected),
    (404, KapacitorNotFound),
    (401, KapacitorAuthError),
    (403, KapacitorAuthError),
    (500, KapacitorUnavailable),
    (502, KapacitorUnavailable),
    (503, KapacitorUnavailable),
    (504, KapacitorUnavailable),
    (429, KapacitorUnavailable),
]


@pytest.mark.parametrize(("status", "expected"), STATUS_CLASSES)
async def test_error_class_per_status(
    clients: Callable[..., KapacitorClient], status: int, expected: type[KapacitorError]
) -> None:
    server = Server(native_error(status, f"kapacitor says {status}"))
    with pytest.raises(KapacitorError) as caught:
        await clients(server).create_task(tick_task())
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.message == f"kapacitor says {status}"
    assert caught.value.endpoint == "tasks"


def test_hierarchy_lets_callers_catch_broadly() -> None:
    assert issubclass(KapacitorNotFound, KapacitorRejected)
    assert issubclass(KapacitorAuthError, KapacitorRejected)
    assert not issubclass(KapacitorRunFailed, KapacitorUnavailable)
    assert not issubclass(KapacitorUnavailable, KapacitorRejected)


async def test_native_error_body_gives_message(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(native_error(400, "task cpu_alert_7 already exists"))
    with pytest.raises(KapacitorRejected) as caught:
        await clients(server).create_task(tick_task())
    assert caught.value.message == "task cpu_alert_7 already exists"
    assert caught.value.code is None
    assert str(caught.value) == "HTTP 400: task cpu_alert_7 already exists (tasks)"


async def test_flux_error_body_gives_message_and_code(
    clients: Callable[..., KapacitorClient],
) -> None:
    server = Server(flux_error(400, "invalid", "invalid options: missing required option: name"))
    with pytest.raises(KapacitorRejected) as caught:
        await clients(server).create_flux_task('from(bucket: "b")')
    assert caught.value.message == "invalid options: missing required option: name"
    assert caught.value.code == "invalid"
    assert caught.value.status == 400


async def test_flux_422_is_rejected(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(flux_error(422, "conflict", "failed to force run: run already queued"))
    with pytest.raises(KapacitorRejected) as caught:
        await clients(server).start_run(FLUX_ID)
    assert type(caught.value) is KapacitorRejected
    assert caught.value.message == "failed to force run: run already queued"


async def test_non_json_body_is_cut_short(clients: Callable[..., KapacitorClient]) -> None:
    page = "<html><body>" + "bad gateway " * 500 + "</body></html>"
    server = Server(httpx.Response(400, text=page, headers={"Content-Type": "text/html"}))
    with pytest.raises(KapacitorRejected) as caught:
        await clients(server).create_task(tick_task())
    assert caught.value.message == page[:256]
    assert len(str(caught.value)) < 256 + 40


async def test_plain_text_405_keeps_the_text(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(httpx.Response(405, text="Method Not Allowed\n"))
    with pytest.raises(KapacitorRejected) as caught:
        await clients(server).patch_flux_task(FLUX_ID, {"every": "2h"})
    assert (caught.value.status, caught.value.message) == (405, "Method Not Allowed")


async def test_empty_error_body_still_has_a_message(
    clients: Callable[..., KapacitorClient],
) -> None:
    server = Server(httpx.Response(400, content=b""))
    with pytest.raises(KapacitorRejected) as caught:
        await clients(server).create_task(tick_task())
    assert caught.value.message


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_read(clients: Callable[..., KapacitorClient], status: int) -> None:
    server = Server(
        httpx.Response(status, json={"error": "slow down"}, headers={"Retry-After": "7"})
    )
    with pytest.raises(KapacitorUnavailable) as caught:
        await clients(server).create_task(tick_task())
    assert caught.value.retry_after == 7.0
    assert caught.value.message == "slow down"


async def test_no_retry_after_header_means_none(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(native_error(500, "internal"))
    with pytest.raises(KapacitorUnavailable) as caught:
        await clients(server).create_task(tick_task())
    assert caught.value.retry_after is None


# --- quick retries ------------------------------------------------------------------------

IDEMPOTENT_CALLS: dict[str, Call] = {
    "GET": lambda c: c.get_task(TASK_ID),
    "DELETE": lambda c: c.delete_task(TASK_ID),
    "GET flux": lambda c: c.list_runs(FLUX_ID),
    "DELETE flux": lambda c: c.delete_flux_task(FLUX_ID),
}
WRITE_CALLS: dict[str, Call] = {
    "POST": lambda c: c.create_task(tick_task()),
    "PATCH": lambda c: c.patch_task(TASK_ID, {"status": "enabled"}),
    "POST flux": lambda c: c.create_flux_task('option task = {name: "x", every: 1h}'),
    "PATCH flux": lambda c: c.patch_flux_task(FLUX_ID, {"every": "2h"}),
    "POST run": lambda c: c.start_run(FLUX_ID),
    "POST retry": lambda c: c.retry_run(FLUX_ID, RUN_ID),
}


def _transient() -> dict[str, Callable[[], httpx.Response | Exception]]:
    return {
        "connect error": connect_error,
        "connect timeout": lambda: httpx.ConnectTimeout("timed out"),
        "502": lambda: native_error(502, "bad gateway"),
        "503": lambda: native_error(503, "unavailable"),
        "504": lambda: native_error(504, "gateway timeout"),
    }


TRANSIENT = _transient()


@pytest.mark.parametrize("failure", TRANSIENT)
@pytest.mark.parametrize("call", IDEMPOTENT_CALLS)
async def test_idempotent_calls_retry_transient_failures(
    clients: Callable[..., KapacitorClient], sleeps: list[float], call: str, failure: str
) -> None:
    server = Server(TRANSIENT[failure]())
    with pytest.raises(KapacitorUnavailable):
        await IDEMPOTENT_CALLS[call](clients(server))
    assert server.calls == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.WriteTimeout("timed out")],
    ids=["read timeout", "write timeout"],
)
@pytest.mark.parametrize("call", IDEMPOTENT_CALLS)
async def test_a_hanging_kapacitor_is_reported_after_one_timeout(
    clients: Callable[..., KapacitorClient], sleeps: list[float], call: str, failure: Exception
) -> None:
    # It took the connection and does not answer: asking again only multiplies the wait.
    server = Server(failure)
    with pytest.raises(KapacitorUnavailable) as caught:
        await IDEMPOTENT_CALLS[call](clients(server))
    assert server.calls == 1
    assert sleeps == []
    assert (caught.value.timed_out, caught.value.unreachable) == (True, False)


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("timed out")],
    ids=["connect error", "connect timeout"],
)
async def test_no_connection_is_unreachable_not_hanging(
    clients: Callable[..., KapacitorClient], failure: Exception
) -> None:
    with pytest.raises(KapacitorUnavailable) as caught:
        await clients(Server(failure)).get_task(TASK_ID)
    assert (caught.value.timed_out, caught.value.unreachable) == (False, True)


def test_ordinary_calls_wait_at_most_the_configured_timeout() -> None:
    assert call_timeout(3.0).as_dict() == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert call_timeout(30.0).connect == 5.0


@pytest.mark.parametrize("failure", [*TRANSIENT, "read timeout"])
@pytest.mark.parametrize("call", WRITE_CALLS)
async def test_writes_are_never_retried(
    clients: Callable[..., KapacitorClient], sleeps: list[float], call: str, failure: str
) -> None:
    first = httpx.ReadTimeout("timed out") if failure == "read timeout" else TRANSIENT[failure]()
    server = Server(first, httpx.Response(200, json=tick_task()))
    with pytest.raises(KapacitorUnavailable):
        await WRITE_CALLS[call](clients(server))
    assert server.calls == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 429, 500])
async def test_get_is_not_retried_on_other_statuses(
    clients: Callable[..., KapacitorClient], status: int
) -> None:
    server = Server(native_error(status, "no"), httpx.Response(204))
    with pytest.raises(KapacitorError):
        await clients(server).ping()
    assert server.calls == 1


async def test_get_recovers_after_a_transient_failure(
    clients: Callable[..., KapacitorClient],
) -> None:
    server = Server(
        native_error(503, "busy"), connect_error(), httpx.Response(200, json=tick_task())
    )
    task = await clients(server).get_task(TASK_ID)
    assert task is not None
    assert task.id == TASK_ID
    assert server.calls == 3


async def test_retry_delays_are_jittered_and_grow(
    clients: Callable[..., KapacitorClient], sleeps: list[float]
) -> None:
    server = Server(native_error(503, "busy"))
    with pytest.raises(KapacitorUnavailable) as caught:
        await clients(server).ping()
    assert caught.value.status == 503
    first, second = sleeps
    assert 0.1 <= first <= 0.4
    assert 0.2 <= second <= 0.8


async def test_quick_retries_can_be_turned_off(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(connect_error())
    with pytest.raises(KapacitorUnavailable):
        await clients(server, quick_retries=0).ping()
    assert server.calls == 1


async def test_last_retry_error_is_the_one_raised(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(connect_error(), connect_error(), native_error(504, "gateway timeout"))
    with pytest.raises(KapacitorUnavailable) as caught:
        await clients(server).ping()
    assert (caught.value.status, caught.value.message) == (504, "gateway timeout")
    assert caught.value.never_sent is False


# --- never_sent ---------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["POST", "GET"])
async def test_connect_error_was_never_sent(
    clients: Callable[..., KapacitorClient], call: str
) -> None:
    server = Server(connect_error())
    calls = {**IDEMPOTENT_CALLS, **WRITE_CALLS}
    with pytest.raises(KapacitorUnavailable) as caught:
        await calls[call](clients(server))
    assert caught.value.never_sent is True
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectTimeout("timed out"), httpx.PoolTimeout("no free connection")],
    ids=["connect timeout", "pool timeout"],
)
async def test_timeout_before_connecting_was_never_sent(
    clients: Callable[..., KapacitorClient], failure: Exception
) -> None:
    server = Server(failure)
    with pytest.raises(KapacitorUnavailable) as caught:
        await clients(server).start_run(FLUX_ID)
    assert caught.value.never_sent is True


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
    ids=["read timeout", "read error", "protocol error"],
)
async def test_failure_after_sending_may_have_had_effect(
    clients: Callable[..., KapacitorClient], failure: Exception
) -> None:
    server = Server(failure)
    with pytest.raises(KapacitorUnavailable) as caught:
        await clients(server).start_run(FLUX_ID)
    assert caught.value.never_sent is False
    assert server.calls == 1


async def test_http_error_status_was_sent(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(native_error(503, "unavailable"))
    with pytest.raises(KapacitorUnavailable) as caught:
        await clients(server).create_task(tick_task())
    assert caught.value.never_sent is False


# --- run calls ----------------------------------------------------------------------------

RUN_CALLS: dict[str, Call] = {
    "start_run": lambda c: c.start_run(FLUX_ID),
    "retry_run": lambda c: c.retry_run(FLUX_ID, RUN_ID),
}


@pytest.mark.parametrize("call", RUN_CALLS)
async def test_flux_5xx_on_a_run_call_is_a_failed_run(
    clients: Callable[..., KapacitorClient], call: str
) -> None:
    message = "failed to force run: unexpected error from queryd: boom"
    server = Server(flux_error(500, "internal error", message))
    with pytest.raises(KapacitorRunFailed) as caught:
        await RUN_CALLS[call](clients(server))
    assert caught.value.message == message
    assert (caught.value.status, caught.value.code) == (500, "internal error")
    assert isinstance(caught.value.__cause__, KapacitorUnavailable)
    assert server.calls == 1


@pytest.mark.parametrize("call", RUN_CALLS)
async def test_native_5xx_on_a_run_call_stays_unavailable(
    clients: Callable[..., KapacitorClient], call: str
) -> None:
    server = Server(native_error(503, "emulated fault"))
    with pytest.raises(KapacitorUnavailable) as caught:
        await RUN_CALLS[call](clients(server))
    assert not isinstance(caught.value, KapacitorRunFailed)
    assert server.calls == 1


async def test_run_call_not_found(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(flux_error(404, "not found", "failed to retry run: run not found"))
    with pytest.raises(KapacitorNotFound) as caught:
        await clients(server).retry_run(FLUX_ID, RUN_ID)
    assert caught.value.message == "failed to retry run: run not found"


async def test_run_calls_use_a_long_read_timeout(
    clients: Callable[..., KapacitorClient],
) -> None:
    server = Server(lambda request: httpx.Response(201, json=flux_run()))
    client = clients(server)
    await client.start_run(FLUX_ID)
    await client.start_run(FLUX_ID, run_timeout=1234.0)
    await client.retry_run(FLUX_ID, RUN_ID, run_timeout=99.0)
    await client.get_run(FLUX_ID, RUN_ID)
    reads = [r.extensions["timeout"]["read"] for r in server.requests]
    assert reads == [3600.0, 1234.0, 99.0, 10.0]
    assert server.requests[1].extensions["timeout"] == {
        "connect": 5.0,
        "read": 1234.0,
        "write": 10.0,
        "pool": 10.0,
    }


async def test_start_run_request(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(httpx.Response(201, json=flux_run()))
    client = clients(server)
    run = await client.start_run(FLUX_ID)
    await client.start_run(FLUX_ID, scheduled_for="2024-05-01T10:00:00Z")
    plain, scheduled = server.requests
    assert (plain.method, plain.url.path) == ("POST", f"{FLUX}/{FLUX_ID}/runs")
    assert plain.content == b""  # Kapacitor ignores a body with Content-Length 0: now()
    assert json.loads(scheduled.content) == {"scheduledFor": "2024-05-01T10:00:00Z"}
    assert (run.id, run.task_id, run.status) == (RUN_ID, FLUX_ID, "scheduled")
    assert run.scheduled_for == "2024-05-01T10:00:00Z"


async def test_retry_run_request(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(httpx.Response(200, json=flux_run("99aabbccddeeff00")))
    run = await clients(server).retry_run(FLUX_ID, RUN_ID)
    (request,) = server.requests
    assert (request.method, request.url.path) == ("POST", f"{FLUX}/{FLUX_ID}/runs/{RUN_ID}/retry")
    assert request.content == b""
    assert run.id == "99aabbccddeeff00"


# --- auth and secrets ---------------------------------------------------------------------


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


async def test_bearer_token_is_sent(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(httpx.Response(204))
    await clients(server, auth=BearerAuth(TOKEN)).ping()
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_basic_auth_is_sent(clients: Callable[..., KapacitorClient]) -> None:
    connection = Connection(BASE_URL, username="alice", password=PASSWORD)
    server = Server(httpx.Response(204))
    await clients(server, auth=connection.auth()).ping()
    expected = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert server.requests[0].headers["Authorization"] == f"Basic {expected}"


def test_connection_auth_choice() -> None:
    assert Connection(BASE_URL).auth() is None
    assert isinstance(Connection(BASE_URL, username="a", password=PASSWORD).auth(), httpx.BasicAuth)
    both = Connection(BASE_URL, username="a", password=PASSWORD, token=TOKEN)
    assert isinstance(both.auth(), BearerAuth)


def test_reprs_hide_secrets() -> None:
    connection = Connection(
        BASE_URL, username="alice", password=PASSWORD, token=TOKEN, ca_pem="-----PEM-----"
    )
    assert_no_secret(repr(connection))
    assert "-----PEM-----" not in repr(connection)
    assert BASE_URL in repr(connection)
    assert_no_secret(repr(BearerAuth(TOKEN)))
    assert_no_secret(repr(Connection(BASE_URL, username="alice", password=PASSWORD).auth()))
    assert_no_secret(repr(Connection(BASE_URL, token=TOKEN).auth()))


@pytest.mark.parametrize(
    "answer",
    [
        native_error(401, "authorization failed"),
        native_error(403, 'user alice does not have "write" privilege for API endpoint "/x"'),
        httpx.ConnectError(f"cannot connect to http://alice:{PASSWORD}@kapacitor.test"),
        httpx.ReadTimeout(f"timed out with Authorization: Bearer {TOKEN}"),
        native_error(503, "unavailable"),
    ],
    ids=["401", "403", "connect error", "timeout", "503"],
)
@pytest.mark.parametrize("credentials", ["basic", "bearer"])
async def test_errors_never_contain_credentials(
    clients: Callable[..., KapacitorClient], answer: httpx.Response | Exception, credentials: str
) -> None:
    connection = (
        Connection(BASE_URL, username="alice", password=PASSWORD)
        if credentials == "basic"
        else Connection(BASE_URL, token=TOKEN)
    )
    server = Server(answer)
    client = clients(server, auth=connection.auth())
    for call in (client.ping, lambda: client.create_task(tick_task())):
        with pytest.raises(KapacitorError) as caught:
            await call()
        assert_no_secret(str(caught.value))
        assert_no_secret(repr(caught.value))
        assert_no_secret(caught.value.message)


async def test_pool_reuses_one_client_per_connection() -> None:
    pool = ClientPool()
    try:
        first = pool.get(Connection(BASE_URL, username="alice", password=PASSWORD))
        again = pool.get(Connection(BASE_URL + "/", username="alice", password=PASSWORD))
        other = pool.get(Connection(BASE_URL, username="alice", password="other"))
        assert first is again
        assert other is not first
        assert first.base_url == BASE_URL
    finally:
        await pool.aclose()


def test_fingerprint_hides_secrets() -> None:
    fingerprint = Connection(BASE_URL, username="alice", password=PASSWORD, token=TOKEN)
    assert_no_secret(fingerprint.fingerprint())


# --- requests and paging ------------------------------------------------------------------


async def test_get_task_asks_for_the_raw_script(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(httpx.Response(200, json=tick_task(script="stream|from()")))
    client = clients(server)
    task = await client.get_task(TASK_ID)
    await client.get_task(TASK_ID, script_format="formatted")
    raw, formatted = server.requests
    assert raw.url.path == f"/kapacitor/v1/tasks/{TASK_ID}"
    assert raw.url.params["script-format"] == "raw"
    assert formatted.url.params["script-format"] == "formatted"
    assert task is not None
    assert task.script == "stream|from()"


async def test_get_task_missing_is_none(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(native_error(404, "no task exists"))
    assert await clients(server).get_task(TASK_ID) is None
    assert server.calls == 1


async def test_list_tasks_params(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(httpx.Response(200, json={"tasks": [tick_task("a"), tick_task("b")]}))
    tasks = await clients(server).list_tasks(
        pattern="cpu_*", fields=["status", "script"], offset=5, limit=2
    )
    (request,) = server.requests
    assert request.url.params.get_list("fields") == ["status", "script"]
    assert (request.url.params["pattern"], request.url.params["limit"]) == ("cpu_*", "2")
    assert request.url.params["offset"] == "5"
    assert request.url.params["script-format"] == "raw"
    assert [t.id for t in tasks] == ["a", "b"]


async def test_list_flux_tasks_params(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(httpx.Response(200, json={"links": {}, "tasks": [flux_task()]}))
    page = await clients(server).list_flux_tasks(
        name="hourly", status="active", after="00000000000000aa", limit=10
    )
    assert dict(server.requests[0].url.params) == {
        "name": "hourly",
        "status": "active",
        "after": "00000000000000aa",
        "limit": "10",
    }
    assert [t.id for t in page.tasks] == [FLUX_ID]
    assert page.next_after is None


async def test_find_flux_tasks_follows_next_links(
    clients: Callable[..., KapacitorClient],
) -> None:
    first_page = [flux_task(f"{i:016x}", "hourly") for i in range(1, 501)]
    first_page[3] = flux_task(first_page[3]["id"], "hourly-2")  # names match exactly only
    second_page = [flux_task(f"{i:016x}", "hourly") for i in range(501, 504)]

    def pages(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        if after is None:
            links = {"self": FLUX, "next": f"{FLUX}?after={500:016x}&limit=500"}
            return httpx.Response(200, json={"links": links, "tasks": first_page})
        return httpx.Response(200, json={"links": {"self": FLUX}, "tasks": second_page})

    server = Server(pages)
    found = await clients(server).find_flux_tasks("hourly")
    assert server.calls == 2
    assert [r.url.params.get("after") for r in server.requests] == [None, f"{500:016x}"]
    assert {r.url.params["name"] for r in server.requests} == {"hourly"}
    assert len(found) == 502
    assert [t.id for t in found] == [
        t["id"] for t in first_page + second_page if t["name"] == "hourly"
    ]


async def test_find_flux_tasks_stops_without_next(
    clients: Callable[..., KapacitorClient],
) -> None:
    server = Server(httpx.Response(200, json={"links": {"self": FLUX}, "tasks": [flux_task()]}))
    found = await clients(server).find_flux_tasks("hourly")
    assert [t.id for t in found] == [FLUX_ID]
    assert server.calls == 1


async def test_absent_objects(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(flux_error(404, "not found", "failed to find task: task not found"))
    client = clients(server)
    assert await client.get_flux_task(FLUX_ID) is None
    assert await client.get_run(FLUX_ID, RUN_ID) is None
    assert await client.run_logs(FLUX_ID, RUN_ID) is None
    assert await client.delete_flux_task(FLUX_ID) is False
    assert await client.cancel_run(FLUX_ID, RUN_ID) is False
    assert server.calls == 5
    with pytest.raises(KapacitorNotFound):
        await client.patch_task(TASK_ID, {"status": "enabled"})


async def test_null_events_are_an_empty_list(clients: Callable[..., KapacitorClient]) -> None:
    server = Server(httpx.Response(200, json={"events": None}))
    client = clients(server)
    assert await client.task_logs(FLUX_ID) == []
    assert await client.run_logs(FLUX_ID, RUN_ID) == []


# --- observer -----------------------------------------------------------------------------


def fake_kapacitor(request: httpx.Request) -> httpx.Response:
    """Well-formed answers for every endpoint the client uses."""
    path, method = request.url.path, request.method
    if path.endswith("/ping"):
        return httpx.Response(204, headers={"X-Kapacitor-Version": "1.8.3"})
    if path.startswith(FLUX):
        if path.endswith("/logs"):
            return httpx.Response(200, json={"events": [{"runID": RUN_ID, "message": "m"}]})
        if path.endswith("/runs") and method == "GET":
            return httpx.Response(200, json={"runs": [flux_run()]})
        if "/runs" in path and method == "DELETE":
            return httpx.Response(200)
        if "/runs" in path:
            return httpx.Response(201, json=flux_run())
        if path == FLUX and method == "GET":
            return httpx.Response(200, json={"links": {}, "tasks": [flux_task()]})
        if method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json=flux_task())
    if path == "/kapacitor/v1/tasks" and method == "GET":
        return httpx.Response(200, json={"tasks": [tick_task()]})
    if method == "DELETE":
        return httpx.Response(204)
    return httpx.Response(200, json=tick_task())


ALL_CALLS: list[Call] = [
    lambda c: c.ping(),
    lambda c: c.get_task(TASK_ID),
    lambda c: c.create_task(tick_task()),
    lambda c: c.patch_task(TASK_ID, {"status": "enabled"}),
    lambda c: c.delete_task(TASK_ID),
    lambda c: c.list_tasks(pattern="cpu*"),
    lambda c: c.create_flux_task('option task = {name: "hourly", every: 1h}'),
    lambda c: c.get_flux_task(FLUX_ID),
    lambda c: c.list_flux_tasks(name="hourly"),
    lambda c: c.find_flux_tasks("hourly"),
    lambda c: c.patch_flux_task(FLUX_ID, {"every": "2h"}),
    lambda c: c.delete_flux_task(FLUX_ID),
    lambda c: c.list_runs(FLUX_ID),
    lambda c: c.get_run(FLUX_ID, RUN_ID),
    lambda c: c.start_run(FLUX_ID),
    lambda c: c.retry_run(FLUX_ID, RUN_ID),
    lambda c: c.cancel_run(FLUX_ID, RUN_ID),
    lambda c: c.run_logs(FLUX_ID, RUN_ID),
    lambda c: c.task_logs(FLUX_ID),
]


async def test_observer_sees_bounded_endpoint_templates(
    clients: Callable[..., KapacitorClient],
) -> None:
    seen: list[tuple[str, str, str, float]] = []
    client = clients(fake_kapacitor, observer=lambda *args: seen.append(args))
    for call in ALL_CALLS:
        await call(client)
    endpoints = {endpoint for endpoint, _, _, _ in seen}
    assert endpoints == {
        "ping",
        "tasks",
        "tasks/{id}",
        "flux/tasks",
        "flux/tasks/{id}",
        "flux/runs",
        "flux/runs/{id}",
        "flux/runs/{id}/retry",
        "flux/runs/{id}/logs",
        "flux/logs",
    }
    for endpoint in endpoints:
        for identifier in (TASK_ID, FLUX_ID, RUN_ID):
            assert identifier not in endpoint
    assert {status for _, _, status, _ in seen} == {"2xx"}
    assert {method for _, method, _, _ in seen} == {"GET", "POST", "PATCH", "DELETE"}
    assert all(seconds >= 0 for _, _, _, seconds in seen)
    assert len(seen) == len(ALL_CALLS)


async def test_observer_status_classes(clients: Callable[..., KapacitorClient]) -> None:
    seen: list[tuple[str, str, str, float]] = []
    server = Server(
        native_error(404, "no task exists"),
        native_error(500, "boom"),
        connect_error(),
        httpx.ReadTimeout("slow"),
    )
    client = clients(server, observer=lambda *args: seen.append(args), quick_retries=0)
    assert await client.get_task(TASK_ID) is None
    for _ in range(3):
        with pytest.raises(KapacitorUnavailable):
            await client.get_task(TASK_ID)
    assert [(e, m, s) for e, m, s, _ in seen] == [
        ("tasks/{id}", "GET", "4xx"),
        ("tasks/{id}", "GET", "5xx"),
        ("tasks/{id}", "GET", "error"),
        ("tasks/{id}", "GET", "timeout"),
    ]


async def test_observer_sees_every_retry(clients: Callable[..., KapacitorClient]) -> None:
    seen: list[tuple[str, str, str, float]] = []
    server = Server(native_error(503, "busy"), native_error(503, "busy"), httpx.Response(204))
    await clients(server, observer=lambda *args: seen.append(args)).ping()
    assert [s for _, _, s, _ in seen] == ["5xx", "5xx", "2xx"]
