"""LeanClient: its short path sends what httpx's own path sends, to the byte where it
matters (method, path, query, body, the headers a server reads), answers the same, and
fails with the same httpx exceptions. Anything it does not cover takes httpx's path.

The clients run on it against kube-apiserver and kapacitord in the integration tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from kapacitor_operator.http_client import (
    LeanClient,
    merged_headers,
    query_string,
    quoted_path,
    static_auth_headers,
)
from kapacitor_operator.http_transport import AiohttpTransport
from kapacitor_operator.kapacitor.client import BearerAuth
from tests.unit.local_http import serving, slow

# The headers a server acts on; Host and Content-Length are aiohttp's to write.
COMPARED = ("authorization", "content-type", "accept", "accept-encoding", "user-agent", "x-as")

seen: list[dict[str, Any]] = []


async def echo(request: web.Request) -> web.Response:
    seen.append(
        {
            "method": request.method,
            "target": request.rel_url.raw_path_qs,
            "headers": {k.lower(): v for k, v in request.headers.items() if k.lower() in COMPARED},
            "body": await request.read(),
        }
    )
    return web.json_response({"ok": True}, status=201, headers={"Retry-After": "3"})


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/echo/{tail:.*}", echo)
    app.router.add_get("/slow", slow)
    seen.clear()
    async with serving(app) as url:
        yield url


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/echo/tasks", {}),
    ("GET", "/echo/tasks", {"params": {"limit": 500, "offset": 0, "pattern": "a b+c/d:e"}}),
    ("GET", "/echo/list", {"params": [("fields", "id"), ("fields", "status"), ("on", True)]}),
    ("GET", "/echo/l", {"params": {"labelSelector": "k in (a,b)", "dot-commas": ["x", "y"]}}),
    ("POST", "/echo/tasks", {"json": {"id": "ä", "script": "stream\n|from()", "n": 1.5}}),
    (
        "PATCH",
        "/echo/ns/a%2Fb/x/status",
        {
            "content": b'{"status":{}}',
            "headers": {"Content-Type": "application/merge-patch+json", "Accept": "x/y"},
        },
    ),
    ("DELETE", "/echo/tasks/cpu_ä b%20c:d", {}),
    ("GET", "/echo/h", {"headers": {"User-Agent": "mine", "X-As": "bob"}}),
]


@pytest.mark.parametrize(("method", "path", "options"), CALLS)
@pytest.mark.parametrize(
    "auth", [None, httpx.BasicAuth("u", "p:w"), BearerAuth("t0k")], ids=["none", "basic", "bearer"]
)
async def test_the_short_path_sends_what_httpx_sends(
    server: str, method: str, path: str, options: dict[str, Any], auth: httpx.Auth | None
) -> None:
    common: dict[str, Any] = {
        "base_url": server,
        "auth": auth,
        "headers": {"User-Agent": "kapacitor-operator"},
    }
    async with (
        httpx.AsyncClient(transport=AiohttpTransport(), **common) as plain,
        LeanClient(transport=AiohttpTransport(), **common) as lean,
    ):
        assert lean._lean is not None, "the short path is taken"
        by_httpx = await plain.request(method, path, **options)
        by_lean = await lean.request(method, path, **options)
    assert seen[1] == seen[0]
    assert (by_lean.status_code, by_lean.json()) == (by_httpx.status_code, by_httpx.json())
    assert by_lean.headers["Retry-After"] == "3"


async def test_a_call_the_short_path_does_not_cover_takes_httpx_s_path(server: str) -> None:
    async with LeanClient(base_url=server, transport=AiohttpTransport()) as lean:
        response = await lean.request("GET", "/echo/x", params="raw=1", auth=("a", "b"))
    assert response.status_code == 201
    assert seen[0]["target"] == "/echo/x?raw=1"
    assert seen[0]["headers"]["authorization"].startswith("Basic ")


async def test_other_transports_and_auths_take_httpx_s_path() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"path": request.url.path})

    mocked = LeanClient(base_url="http://k", transport=httpx.MockTransport(answer))
    digest = LeanClient(
        base_url="http://k", transport=AiohttpTransport(), auth=httpx.DigestAuth("u", "p")
    )
    assert mocked._lean is None
    assert digest._lean is None
    assert (await mocked.request("GET", "/a")).json() == {"path": "/a"}
    await mocked.aclose()
    await digest.aclose()


async def test_a_mounted_transport_keeps_httpx_s_path() -> None:
    mounted = LeanClient(
        base_url="http://k",
        transport=AiohttpTransport(),
        mounts={"http://other": httpx.AsyncHTTPTransport()},
    )
    assert mounted._lean is None
    await mounted.aclose()


async def test_failures_are_httpx_s() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    async with LeanClient(base_url=f"http://127.0.0.1:{port}", transport=AiohttpTransport()) as c:
        with pytest.raises(httpx.ConnectError):
            await c.request("GET", "/x")


async def test_a_read_past_its_timeout_is_a_read_timeout(server: str) -> None:
    async with LeanClient(base_url=server, transport=AiohttpTransport()) as lean:
        with pytest.raises(httpx.ReadTimeout):
            await lean.request("GET", "/slow", timeout=httpx.Timeout(5.0, read=0.2))
        lean.timeout = httpx.Timeout(5.0, read=0.2)  # the client's own timeout
        with pytest.raises(httpx.ReadTimeout):
            await lean.request("GET", "/slow")


@pytest.mark.parametrize(
    "params",
    [
        {"a": "1 2", "b": True, "c": False, "d": None, "e": 3, "f": 1.5},
        [("k", "v"), ("k", "w"), ("sel", "app in (a,b),x!=y")],
        {"list": ["x", "y"], "ä": "ö/+"},
    ],
)
def test_queries_are_encoded_as_httpx_encodes_them(params: Any) -> None:
    by_httpx = httpx.Request("GET", "http://x/", params=params).url.query.decode()
    assert query_string(params) == by_httpx


@pytest.mark.parametrize(
    "path", ["/a/b", "/tasks/ä b", "/ns/a%2Fb/x", "/t/x:y@z!$&'()*+,;=", "/q/50%", "/w/a~b"]
)
def test_paths_are_quoted_as_httpx_quotes_them(path: str) -> None:
    assert quoted_path(path) == httpx.Request("GET", f"http://x{path}").url.raw_path.decode()


def test_per_call_headers_replace_defaults_of_the_same_name_only() -> None:
    defaults = [("Accept", "*/*"), ("Impersonate-Group", "a"), ("Impersonate-Group", "b")]
    assert merged_headers(defaults, None) == defaults
    assert merged_headers(defaults, {"accept": "x/y"}) == [
        ("Impersonate-Group", "a"), ("Impersonate-Group", "b"), ("accept", "x/y"),
    ]  # fmt: skip


def test_static_auths_are_one_header_and_others_none() -> None:
    assert static_auth_headers(None) == []
    assert static_auth_headers(BearerAuth("t")) == [("Authorization", "Bearer t")]
    basic = httpx.Request("GET", "http://x/", headers={})
    expected = next(httpx.BasicAuth("u", "p").sync_auth_flow(basic)).headers["Authorization"]
    assert static_auth_headers(httpx.BasicAuth("u", "p")) == [("Authorization", expected)]
    assert static_auth_headers(httpx.DigestAuth("u", "p")) is None
