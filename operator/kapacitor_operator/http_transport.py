"""An httpx transport that sends requests with aiohttp.

httpx's default transport (httpcore on anyio, h11) cost the operator about 1.5 ms of CPU
per request, several times what the request itself costs the API server: with a create,
a finalizer and a status write per KapacitorTask, it was the largest part of the
operator's CPU per object (issue 14). aiohttp, which kopf already uses for its own API
calls, does the same request for a fraction of that. The Kubernetes client and the
Kapacitor clients (kapacitor/pool.py) both send through it: their ordinary calls
straight to `send` (http_client.py's `LeanClient`), the rest through httpx's pipeline.
The clients keep speaking httpx (requests, responses, auth, timeouts and errors as
before); only the wire work moves.

aiohttp's failures become the httpx exceptions the clients already classify: a
connection that could not be made is `httpx.ConnectError` / `httpx.ConnectTimeout`
(the request never left), a read that timed out `httpx.ReadTimeout`, anything else on an
open connection `httpx.ReadError`.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import httpx
import yarl

# Headers aiohttp computes itself from the body it is given.
_SKIP = frozenset({"content-length", "transfer-encoding"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (keep-alive pool of `max_connections`) per transport, created
    on first use in the running event loop and closed with the httpx client."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        max_connections: int = 10,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._verify = verify
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=self._keepalive_expiry,
                ssl=self._verify,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes per Content-Encoding, as it did
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        sni = request.extensions.get("sni_hostname")
        return await self.send(
            request.method,
            str(request.url),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            content=await request.aread(),
            timeouts=timeouts,
            sni=str(sni) if sni else None,
            request=request,
        )

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: list[tuple[str, str]],
        content: bytes | None,
        timeouts: dict[str, Any],
        sni: str | None = None,
        request: httpx.Request | None = None,
    ) -> httpx.Response:
        """One request to `url` (already encoded, query included). `timeouts` holds
        httpx's connect / read / pool seconds."""
        session = self._open()
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        options: dict[str, Any] = {"server_hostname": sni} if sni else {}
        try:
            async with session.request(
                method,
                yarl.URL(url, encoded=True),
                headers=[(k, v) for k, v in headers if k.lower() not in _SKIP],
                data=content or None,
                timeout=timeout,
                allow_redirects=False,
                **options,
            ) as response:
                body = await response.read()
                status, raw = response.status, response.raw_headers
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        except aiohttp.ClientError as exc:
            text = str(exc) or type(exc).__name__
            raise httpx.ReadError(text, request=request) from exc
        return httpx.Response(
            status,
            headers=list(raw),
            content=body,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
