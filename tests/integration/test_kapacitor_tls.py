"""The operator's Kapacitor clients (ClientPool) over HTTPS against a local TLS server:
a CA bundle is trusted, a server the client cannot verify is refused with OpenSSL's
reason (what to fix) and not reported as unreachable, and insecureSkipVerify connects."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from kapacitor_operator.kapacitor.errors import KapacitorUnavailable
from kapacitor_operator.kapacitor.pool import ClientPool, Connection
from kapacitor_testkit.certs import generate_certs


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """A Kapacitor ping endpoint over TLS on 127.0.0.1: (its URL, its CA bundle)."""
    certs = generate_certs(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.serving_cert, certs.serving_key)

    async def ping(_: web.Request) -> web.Response:
        return web.Response(status=204, headers={"X-Kapacitor-Version": "1.8.3"})

    app = web.Application()
    app.router.add_get("/kapacitor/v1/ping", ping)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}", certs.serving_ca.read_text()
    finally:
        await runner.cleanup()


async def test_a_ca_bundle_verifies_the_server(https_server: tuple[str, str]) -> None:
    url, ca = https_server
    pool = ClientPool()
    try:
        assert await pool.get(Connection(url, ca_pem=ca)).ping() == "1.8.3"
    finally:
        await pool.aclose()


async def test_an_unverifiable_server_is_refused_with_the_reason(
    https_server: tuple[str, str],
) -> None:
    url, _ = https_server
    pool = ClientPool()
    try:
        with pytest.raises(KapacitorUnavailable) as caught:
            await pool.get(Connection(url)).ping()  # the default trust: not our CA
    finally:
        await pool.aclose()
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message
    assert not caught.value.unreachable, "reached, and refused: not an outage"


async def test_insecure_skip_verify_connects(https_server: tuple[str, str]) -> None:
    url, _ = https_server
    pool = ClientPool()
    try:
        assert await pool.get(Connection(url, insecure_skip_verify=True)).ping() == "1.8.3"
    finally:
        await pool.aclose()
