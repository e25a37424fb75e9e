"""A Kapacitor (or a proxy) that echoes the request back cannot put the credentials it
was sent into an error message, hence into a condition or an Event (issue 12)."""

from __future__ import annotations

import base64

import httpx
import pytest

from kapacitor_operator.kapacitor.client import KapacitorClient, default_timeout, transport_detail
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.kapacitor.pool import Connection
from kapacitor_operator.kapacitor.scrub import Scrubber, secret_forms

USER = "user-Qm2s"
PASSWORD = "pw-Bv71xR"
TOKEN = "tok-Lp09wE"


def echo(status: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        return httpx.Response(status, json={"error": headers, "message": f"echo {headers}"})

    return httpx.MockTransport(handler)


def secrets_in(text: str, connection: Connection) -> list[str]:
    basic = base64.b64encode(f"{connection.username}:{connection.password}".encode()).decode()
    values = [connection.password, connection.token, connection.username, basic]
    return [v for v in values if v and v in text]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 503])
@pytest.mark.parametrize(
    "connection",
    [
        Connection("http://k.test", username=USER, password=PASSWORD),
        Connection("http://k.test", token=TOKEN),
    ],
    ids=["basic", "bearer"],
)
async def test_an_echoing_server_cannot_leak_the_credentials(
    connection: Connection, status: int
) -> None:
    http = httpx.AsyncClient(
        base_url="http://k.test",
        transport=echo(status),
        timeout=default_timeout(),
        auth=connection.auth(),
    )
    scrub = Scrubber(secret_forms(connection.username, connection.password, connection.token))
    client = KapacitorClient(http, quick_retries=0, scrub=scrub)
    try:
        with pytest.raises(KapacitorError) as caught:
            await client.ping()
    finally:
        await client.aclose()
    assert "***" in caught.value.message, "the echo reached the message, masked"
    for text in (str(caught.value), repr(caught.value), caught.value.message):
        assert secrets_in(text, connection) == []


def test_the_longest_secret_is_masked_whole() -> None:
    scrub = Scrubber(["abcd", "abcdefgh"])
    assert scrub("x abcdefgh y abcd") == "x *** y ***"


def test_short_values_are_left_alone() -> None:
    assert secret_forms("a", "bc", "") == (base64.b64encode(b"a:bc").decode(),)
    assert Scrubber(["a"])("a cat") == "a cat"


def test_repr_counts_never_shows() -> None:
    assert PASSWORD not in repr(Scrubber([PASSWORD]))


def test_tls_failures_say_why_and_nothing_else() -> None:
    exc = httpx.ConnectError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
        f"issuer certificate (_ssl.c:1000) while sending Authorization: Basic {PASSWORD}"
    )
    detail = transport_detail(exc)
    assert detail.startswith("ConnectError ([SSL: CERTIFICATE_VERIFY_FAILED] certificate")
    assert PASSWORD not in detail
    assert transport_detail(httpx.ConnectError(f"http://u:{PASSWORD}@k")) == "ConnectError"
