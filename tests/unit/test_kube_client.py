"""KubeClient over ``httpx.MockTransport``: error class per status, Status messages, quick
retries, the 401 token refresh, token rotation and no secret in any message or log line.

e2e tests (``tests/e2e/test_kube_api.py``) run the same client against kube-apiserver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import kapacitor_operator.k8s.client as client_module
from kapacitor_operator.k8s.client import QUICK_RETRIES, KubeClient
from kapacitor_operator.k8s.credentials import KubeCredentials
from kapacitor_operator.k8s.errors import (
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeUnauthorized,
    KubeUnavailable,
)

SERVER = "https://kube.test:6443"
TOKEN = "tok-Pq4Ls8Mn"
NEW_TOKEN = "tok-Rt6Yh2Kc"
PATH = "/api/v1/namespaces/ns/configmaps/cm"

Handler = Callable[[httpx.Request], httpx.Response]


def status(code: int, reason: str, message: str, **details: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return httpx.Response(code, json=body)


class Recorder:
    """Answers from a list (the last repeats) and records every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(attempt: int) -> None:
        return None

    monkeypatch.setattr(client_module, "_pause", instant)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Clients:
    """Makes clients on one fake clock (token rereads) and closes them afterwards."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.made: list[KubeClient] = []

    def __call__(self, handler: Handler, **creds: Any) -> KubeClient:
        credentials = KubeCredentials(server=SERVER, source="test", **{"token": TOKEN, **creds})
        client = KubeClient(credentials, transport=httpx.MockTransport(handler), clock=self.clock)
        self.made.append(client)
        return client


@pytest.fixture
async def make() -> AsyncIterator[Clients]:
    clients = Clients()
    yield clients
    for client in clients.made:
        await client.aclose()


# --- success and what is sent -------------------------------------------------------------


async def test_json_call_sends_token_accept_and_body(make: Clients) -> None:
    rec = Recorder(httpx.Response(200, json={"kind": "ConfigMap"}))
    client = make(rec)
    answer = await client.json(
        "PATCH", PATH, body={"a": 1}, content_type="application/merge-patch+json"
    )
    assert answer == {"kind": "ConfigMap"}
    sent = rec.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Content-Type"] == "application/merge-patch+json"
    assert sent.content == b'{"a": 1}'
    assert str(sent.url) == SERVER + PATH


async def test_no_token_no_authorization_header(make: Clients) -> None:
    rec = Recorder(httpx.Response(200, json={}))
    await make(rec, token=None).json("GET", PATH)
    assert "Authorization" not in rec.requests[0].headers


async def test_tls_server_name_goes_to_the_transport(make: Clients) -> None:
    rec = Recorder(httpx.Response(200, json={}))
    await make(rec, tls_server_name="api.internal").json("GET", PATH)
    assert rec.requests[0].extensions["sni_hostname"] == "api.internal"


async def test_non_object_answer_is_an_error(make: Clients) -> None:
    with pytest.raises(KubeError, match="not a JSON object"):
        await make(Recorder(httpx.Response(200, text="ok"))).json("GET", PATH)


# --- error classes ------------------------------------------------------------------------

INVALID_JOB = 'Job.batch "x" is invalid: spec.template.spec.containers[0].image: Required value'


@pytest.mark.parametrize(
    ("response", "cls", "reason", "message"),
    [
        (status(403, "Forbidden", 'secrets "s" is forbidden'), KubeForbidden, "Forbidden", None),
        (status(404, "NotFound", 'jobs.batch "j" not found'), KubeNotFound, "NotFound", None),
        (
            status(409, "AlreadyExists", 'jobs "j" already exists'),
            KubeConflict,
            "AlreadyExists",
            None,
        ),
        (status(409, "Conflict", "the object has been modified"), KubeConflict, "Conflict", None),
        (status(422, "Invalid", INVALID_JOB), KubeInvalid, "Invalid", INVALID_JOB),
        (status(400, "BadRequest", "bad selector"), KubeError, "BadRequest", None),
        (status(500, "InternalError", "etcd down"), KubeUnavailable, "InternalError", None),
        (httpx.Response(502, text="<html>bad gateway</html>"), KubeUnavailable, "", None),
    ],
)
async def test_error_class_per_status(
    make: Clients,
    response: httpx.Response,
    cls: type[KubeError],
    reason: str,
    message: str | None,
) -> None:
    with pytest.raises(KubeError) as excinfo:
        await make(Recorder(response)).json("POST", PATH, body={})
    error = excinfo.value
    assert type(error) is cls
    assert (error.status, error.reason) == (response.status_code, reason)
    if message is not None:
        assert error.message == message  # the server's full message, verbatim
    assert str(error).startswith(f"{response.status_code}")
    assert "POST " + PATH in str(error)


async def test_already_exists_is_told_apart_from_a_stale_write(
    make: Clients,
) -> None:
    for reason, expected in (("AlreadyExists", True), ("Conflict", False)):
        with pytest.raises(KubeConflict) as excinfo:
            await make(Recorder(status(409, reason, "x"))).json("POST", PATH)
        assert excinfo.value.already_exists is expected


async def test_long_raw_bodies_are_cut(make: Clients) -> None:
    with pytest.raises(KubeError) as excinfo:
        await make(Recorder(httpx.Response(418, text="x" * 5000))).json("GET", PATH)
    assert len(excinfo.value.message) == 256


async def test_throttling_carries_retry_after(make: Clients) -> None:
    throttled = status(429, "TooManyRequests", "slow down")
    throttled.headers["Retry-After"] = "7"
    with pytest.raises(KubeUnavailable) as excinfo:
        await make(Recorder(throttled)).json("POST", PATH)
    assert excinfo.value.retry_after == 7.0
    busy = status(503, "ServiceUnavailable", "busy", retryAfterSeconds=3)
    with pytest.raises(KubeUnavailable) as excinfo:
        await make(Recorder(busy)).json("POST", PATH)
    assert excinfo.value.retry_after == 3.0


# --- quick retries ------------------------------------------------------------------------


async def test_never_sent_requests_are_retried_even_writes(
    make: Clients,
) -> None:
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(201, json={"ok": True}))
    assert await make(rec).json("POST", PATH, body={}) == {"ok": True}
    assert len(rec.requests) == 2


async def test_connection_failure_ends_as_unavailable(make: Clients) -> None:
    rec = Recorder(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(KubeUnavailable, match="Connection refused") as excinfo:
        await make(rec).json("GET", PATH)
    assert excinfo.value.never_sent is True
    assert len(rec.requests) == 1 + QUICK_RETRIES


async def test_writes_are_not_retried_after_a_read_timeout(
    make: Clients,
) -> None:
    rec = Recorder(httpx.ReadTimeout("slow"))
    with pytest.raises(KubeUnavailable, match="ReadTimeout") as excinfo:
        await make(rec).json("PATCH", PATH, body={})
    assert excinfo.value.never_sent is False
    assert len(rec.requests) == 1


async def test_reads_are_retried_after_timeouts_and_gateway_errors(
    make: Clients,
) -> None:
    rec = Recorder(
        httpx.ReadTimeout("slow"),
        status(503, "ServiceUnavailable", "x"),
        httpx.Response(200, json={}),
    )
    assert await make(rec).json("GET", PATH) == {}
    assert len(rec.requests) == 3
    rec = Recorder(status(503, "ServiceUnavailable", "x"))
    with pytest.raises(KubeUnavailable):
        await make(rec).json("POST", PATH)
    assert len(rec.requests) == 1


# --- 401 and the token file ---------------------------------------------------------------


def token_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "token"
    path.write_text(token)
    return path


async def test_401_rereads_the_token_once_and_succeeds(make: Clients, tmp_path: Path) -> None:
    path = token_file(tmp_path, TOKEN)
    rec = Recorder(status(401, "Unauthorized", "Unauthorized"), httpx.Response(200, json={}))
    client = make(rec, token_file=str(path))
    path.write_text(NEW_TOKEN)  # the kubelet rotated it
    assert await client.json("GET", PATH) == {}
    sent = [r.headers["Authorization"] for r in rec.requests]
    assert sent == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]


async def test_401_after_the_refresh_is_unauthorized(make: Clients, tmp_path: Path) -> None:
    path = token_file(tmp_path, TOKEN)
    rec = Recorder(status(401, "Unauthorized", "Unauthorized"))
    client = make(rec, token_file=str(path))
    path.write_text(NEW_TOKEN)
    with pytest.raises(KubeUnauthorized):
        await client.json("GET", PATH)
    assert len(rec.requests) == 2


async def test_401_with_an_unchanged_token_is_not_repeated(make: Clients, tmp_path: Path) -> None:
    rec = Recorder(status(401, "Unauthorized", "Unauthorized"))
    with pytest.raises(KubeUnauthorized):
        await make(rec, token_file=str(token_file(tmp_path, TOKEN))).json("GET", PATH)
    with pytest.raises(KubeUnauthorized):
        await make(rec).json("GET", PATH)  # a fixed token: nothing to reread
    assert len(rec.requests) == 2


async def test_rotated_token_file_is_picked_up_within_a_minute(
    make: Clients, tmp_path: Path
) -> None:
    path = token_file(tmp_path, TOKEN)
    rec = Recorder(httpx.Response(200, json={}))
    client = make(rec, token_file=str(path))
    path.write_text(NEW_TOKEN)
    await client.json("GET", PATH)
    make.clock.now += 61
    await client.json("GET", PATH)
    sent = [r.headers["Authorization"] for r in rec.requests]
    assert sent == [f"Bearer {TOKEN}", f"Bearer {NEW_TOKEN}"]


# --- no secrets -----------------------------------------------------------------------------


async def test_no_secret_in_errors_reprs_or_logs(
    make: Clients, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    path = token_file(tmp_path, TOKEN)
    client = make(Recorder(status(401, "Unauthorized", "Unauthorized")), token_file=str(path))
    path.write_text(NEW_TOKEN)
    errors: list[BaseException] = []
    for response in (status(401, "Unauthorized", "Unauthorized"), httpx.ConnectError("x")):
        with pytest.raises(KubeError) as excinfo:
            await make(Recorder(response)).json("GET", PATH)
        errors.append(excinfo.value)
    with pytest.raises(KubeError) as excinfo:
        await client.json("GET", PATH)
    errors.append(excinfo.value)
    text = " ".join([repr(client), caplog.text, *(f"{e!s} {e!r}" for e in errors)])
    assert TOKEN not in text
    assert NEW_TOKEN not in text


async def test_in_flight_requests_are_bounded(make: Clients) -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={})

    credentials = KubeCredentials(server=SERVER, source="test")
    client = KubeClient(credentials, transport=httpx.MockTransport(slow), max_connections=3)
    try:
        await asyncio.gather(*(client.json("GET", PATH) for _ in range(10)))
    finally:
        await client.aclose()
    assert peak == 3
