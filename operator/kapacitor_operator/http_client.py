"""An httpx client whose ordinary calls skip httpx's request machinery.

With the wire already in aiohttp (http_transport.py), what was left of httpx per call,
building the `Request` and running the client's send pipeline (auth flow, redirects,
cookies, event hooks), cost about 0.4 ms of CPU per call, half of all the client-side
work of a call (issue 14: a status write and a Kapacitor write per new KapacitorTask).
`LeanClient.request` does the little of that the operator needs itself: the base URL,
default and per-call headers, a static `Authorization` header, a JSON body, the query,
the timeout. It hands the result to the transport and gets the same `httpx.Response`, and
the same httpx exceptions, as before.

Anything else takes httpx's own path unchanged: a transport other than
`AiohttpTransport` (the tests' mock transports), mounted transports (a proxy), an auth
that is not one static header, or a call with options the short path does not know
(files, cookies, `auth=`, ...).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from httpx._client import USE_CLIENT_DEFAULT, UseClientDefault

from kapacitor_operator.http_transport import AiohttpTransport

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | None
TimeoutArg = httpx.Timeout | float | None | UseClientDefault


class StaticAuth(httpx.Auth):
    """Marker base: an auth that only sets `headers()`, the same on every request."""

    def headers(self) -> list[tuple[str, str]]:
        raise NotImplementedError


def static_auth_headers(auth: httpx.Auth | None) -> list[tuple[str, str]] | None:
    """The header(s) `auth` adds to every request, or None when it does more than that."""
    if auth is None:
        return []
    if isinstance(auth, StaticAuth):
        return auth.headers()
    if isinstance(auth, httpx.BasicAuth):
        probe = httpx.Request("GET", "http://probe/")
        authorized = next(auth.sync_auth_flow(probe))
        return [("Authorization", authorized.headers["Authorization"])]
    return None


def _text(value: Any) -> str:
    """A query value as httpx writes it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def query_string(params: Params) -> str:
    """`params` encoded as httpx encodes them (repeated keys kept, in order)."""
    if not params:
        return ""
    pairs = params.items() if isinstance(params, Mapping) else params
    flat: list[tuple[str, str]] = []
    for key, value in pairs:
        if isinstance(value, list | tuple):
            flat.extend((str(key), _text(item)) for item in value)
        else:
            flat.append((str(key), _text(value)))
    return urlencode(flat)


#: What stays as it is in a path: httpx's choice (RFC 3986 sub-delims, ':', '@', '/'),
#: and '%' so that names the callers quoted already are not quoted twice.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def quoted_path(path: str) -> str:
    """`path` with what may not stand in a URL path percent-encoded (UTF-8), as httpx
    does; Kapacitor IDs may hold letters of any script."""
    return quote(path, safe=_PATH_SAFE)


def merged_headers(
    defaults: Sequence[tuple[str, str]], extra: Mapping[str, str] | None
) -> list[tuple[str, str]]:
    """`defaults` (repeated names kept) with every name in `extra` replaced by its value."""
    if not extra:
        return list(defaults)
    replaced = {name.lower() for name in extra}
    kept = [(k, v) for k, v in defaults if k.lower() not in replaced]
    return [*kept, *extra.items()]


class LeanClient(httpx.AsyncClient):
    """`httpx.AsyncClient` with a short path for the calls the operator makes."""

    def __init__(self, *, auth: httpx.Auth | None = None, **kwargs: Any) -> None:
        super().__init__(auth=auth, **kwargs)
        transport = kwargs.get("transport")
        auth_headers = static_auth_headers(auth)
        # A transport mounted for some URLs (an explicit `proxy=` or `mounts=`) keeps
        # httpx's path, which routes by them. (With a transport given, httpx ignores
        # HTTP_PROXY and friends: so did the clients before.)
        proxied = any(mounted is not None for mounted in self._mounts.values())
        self._lean: AiohttpTransport | None = (
            transport
            if isinstance(transport, AiohttpTransport) and auth_headers is not None and not proxied
            else None
        )
        # The client's default headers (httpx's own Accept, Accept-Encoding, Connection
        # and User-Agent, as overridden at construction) and the auth's header last.
        self._lean_headers = [*self.headers.multi_items(), *(auth_headers or [])]
        self._lean_base = str(self.base_url).rstrip("/")

    async def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        json: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,  # noqa: ASYNC109 (httpx's signature)
        extensions: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> httpx.Response:
        plain = params is None or (
            isinstance(params, Mapping | list | tuple) and not isinstance(params, httpx.QueryParams)
        )
        if self._lean is None or options or not plain or "://" in url or "?" in url:
            return await super().request(
                method, url, content=content, json=json, params=params,
                headers=headers, timeout=timeout, extensions=extensions, **options,
            )  # fmt: skip
        extra = dict(headers or {})
        if json is not None:
            content = jsonlib.dumps(
                json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
            extra.setdefault("Content-Type", "application/json")
        query = query_string(params)
        chosen = self.timeout if isinstance(timeout, UseClientDefault) else httpx.Timeout(timeout)
        sni = (extensions or {}).get("sni_hostname")
        return await self._lean.send(
            method,
            f"{self._lean_base}{quoted_path(url)}" + (f"?{query}" if query else ""),
            headers=merged_headers(self._lean_headers, extra),
            content=content,
            timeouts=chosen.as_dict(),
            sni=str(sni) if sni else None,
        )
