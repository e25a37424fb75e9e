"""AiohttpTransport against a local aiohttp server: what httpx sends arrives as sent,
answers come back as httpx responses, and aiohttp's failures become the httpx exceptions
the clients classify (a refused connection never left; a read that hangs timed out).

e2e tests run the Kubernetes client on it against kube-apiserver (TLS, client certs)."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from kapacitor_operator.http_transport import AiohttpTransport
from tests.unit.local_http import serving, slow

seen: list[dict[str, object]] = []


async def echo(request: web.Request) -> web.Response:
    seen.append(
        {
            "method": request.method,
            "path": request.rel_url.raw_path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": await request.read(),
        }
    )
    return web.json_response({"ok": True}, status=201, headers={"X-Thing": "a"})


async def zipped(_: web.Request) -> web.Response:
    body = gzip.compress(json.dumps({"items": [1, 2]}).encode())
    return web.Response(body=body, headers={"Content-Encoding": "gzip"}, content_type="text/x")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/echo/{tail:.*}", echo)
    app.router.add_get("/zipped", zipped)
    app.router.add_get("/slow", slow)
    seen.clear()
    async with serving(app) as url:
        yield url


async def test_request_and_response_as_httpx_sends_them(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, transport=AiohttpTransport()) as client:
        response = await client.request(
            "PATCH",
            "/echo/a%2Fb/c",
            params={"x": "1 2"},
            content=b'{"a": 1}',
            headers={"Content-Type": "application/merge-patch+json", "Accept": "x/y"},
        )
        again = await client.get("/echo/second")
    assert response.status_code == 201
    assert response.json() == {"ok": True}
    assert response.headers["X-Thing"] == "a"
    assert again.status_code == 201
    first = seen[0]
    assert first["method"] == "PATCH"
    assert first["path"] == "/echo/a%2Fb/c"  # as httpx encoded it, not re-encoded
    assert first["query"] == {"x": "1 2"}
    assert first["body"] == b'{"a": 1}'
    headers = first["headers"]
    assert isinstance(headers, dict)
    assert headers["Content-Type"] == "application/merge-patch+json"
    assert headers["Accept"] == "x/y"
    assert headers["Content-Length"] == "8"
    assert headers["User-Agent"].startswith("python-httpx")  # httpx's, not aiohttp's


async def test_compressed_answers_are_decoded_once(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, transport=AiohttpTransport()) as client:
        response = await client.get("/zipped")
    assert response.json() == {"items": [1, 2]}


async def test_read_timeout_is_httpx_read_timeout(server: str) -> None:
    timeout = httpx.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0)
    async with httpx.AsyncClient(
        base_url=server, transport=AiohttpTransport(), timeout=timeout
    ) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/slow")


async def test_refused_connection_is_httpx_connect_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", transport=AiohttpTransport()
    ) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/")


async def test_closed_transport_opens_a_new_session(server: str) -> None:
    transport = AiohttpTransport()
    async with httpx.AsyncClient(base_url=server, transport=transport) as client:
        assert (await client.get("/echo/1")).status_code == 201
    await transport.aclose()  # idempotent
    async with httpx.AsyncClient(base_url=server, transport=transport) as client:
        assert (await client.get("/echo/2")).status_code == 201
