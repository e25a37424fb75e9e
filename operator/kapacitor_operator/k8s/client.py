"""One async HTTP client for the Kubernetes API: a shared pool, explicit timeouts, typed errors.

It replaces the synchronous `kubernetes` package, which ran every call in a worker thread
and was most of the operator's memory (issue 14). Every call is a coroutine on a single
`httpx.AsyncClient` whose wire is aiohttp (http_transport.py: httpx's own transport cost
about three times the CPU per call) and whose calls skip httpx's request pipeline
(http_client.py); in-flight requests are bounded by the pool's size. Errors
are classified once (errors.py). A request that never left (connect failure or timeout)
is retried quickly, as are reads and deletes after a transient failure; other waits
belong to the callers (kopf's backoff, the TaskRun worker). A 401 rereads the token once
before it becomes `KubeUnauthorized`. No header is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from kapacitor_operator import __version__
from kapacitor_operator.http_client import LeanClient
from kapacitor_operator.http_transport import AiohttpTransport
from kapacitor_operator.k8s.auth import TOKEN_MAX_AGE, TokenSource, ssl_context
from kapacitor_operator.k8s.credentials import KubeCredentials
from kapacitor_operator.k8s.errors import KubeError, KubeUnavailable, classify

log = logging.getLogger(__name__)

# Reads can be slow on big lists; nothing we send is a watch (kopf watches).
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)
# As many as the controllers have workers (sync/controller.py): each worker's writes
# (status, finalizer) wait for a free connection, so with 4 the operator created 1,000
# KapacitorTasks at half a core, the connections its limit (issue 14). aiohttp's pool,
# unlike httpcore's (which scanned every pooled connection per request), costs the
# same per request with 16 connections as with 4.
MAX_CONNECTIONS = 16
# Keep idle connections a while: the operator's calls come in bursts (drift checks,
# TaskRun polls), and a new TLS handshake costs more CPU than the request itself.
KEEPALIVE_EXPIRY = 30.0
QUICK_RETRIES = 2
MERGE_PATCH = "application/merge-patch+json"

_IDEMPOTENT = frozenset({"GET", "DELETE"})
_RETRY_STATUSES = frozenset({502, 503, 504})
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Params = Mapping[str, str | int] | None


class KubeClient:
    """Raw API calls (method, path, JSON) against the server named by the credentials."""

    def __init__(
        self,
        credentials: KubeCredentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        token_max_age: float = TOKEN_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """`headers` are sent with every request (the kubectl plugin's user agent and
        `Impersonate-*` headers for `--as`).

        Raises:
            CredentialsError: the TLS material in the credentials is unusable.
        """
        self.credentials = credentials
        self._token = TokenSource(
            credentials.token, credentials.token_file, max_age=token_max_age, clock=clock
        )
        if transport is None:
            https = credentials.server.startswith("https:")
            transport = AiohttpTransport(
                verify=ssl_context(credentials) if https else True,
                max_connections=max_connections,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            )
        self._http = LeanClient(
            base_url=credentials.server,
            transport=transport,
            timeout=timeout,
            headers=_headers(headers),
            # Like kopf: no proxy or CA bundle from the environment, only the credentials.
            trust_env=False,
        )
        self._slots = asyncio.Semaphore(max_connections)
        self._extensions: dict[str, Any] = (
            {"sni_hostname": credentials.tls_server_name} if credentials.tls_server_name else {}
        )

    def __repr__(self) -> str:
        return f"KubeClient(server={self.credentials.server!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> httpx.Response:
        """One API call; a 2xx response, or the classified error.

        Raises:
            KubeError: its subclass per status (KubeUnavailable for transport failures).
        """
        content = None if body is None else json.dumps(body).encode("utf-8")
        name = f"{method} {path}"
        refreshed = False
        attempt = 0
        while True:
            headers = {"Accept": accept}
            if content is not None:
                headers["Content-Type"] = content_type
            token = self._token.current()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            started = time.monotonic()
            try:
                async with self._slots:
                    response = await self._http.request(
                        method,
                        path,
                        params=params,
                        content=content,
                        headers=headers,
                        extensions=self._extensions,
                    )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, _NEVER_SENT)
                if attempt < QUICK_RETRIES and (never_sent or method in _IDEMPOTENT):
                    attempt += 1
                    await _pause(attempt)
                    continue
                text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise KubeUnavailable(text, request=name, never_sent=never_sent) from exc
            log.debug(
                "%s -> %d in %.0f ms",
                name,
                response.status_code,
                1e3 * (time.monotonic() - started),
            )
            if response.is_success:
                return response
            status = response.status_code
            if status == 401 and not refreshed and self._token.refresh():
                refreshed = True
                continue
            if status in _RETRY_STATUSES and method in _IDEMPOTENT and attempt < QUICK_RETRIES:
                attempt += 1
                await _pause(attempt)
                continue
            raise classify(
                status,
                response.content,
                request=name,
                retry_after=response.headers.get("Retry-After"),
            )

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One API call whose answer is a JSON object.

        Raises:
            KubeError: the call failed, or the answer is not a JSON object.
        """
        response = await self.request(
            method, path, params=params, body=body, content_type=content_type
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise KubeError(
                "answer is not a JSON object",
                status=response.status_code,
                request=f"{method} {path}",
            )
        return data


def _headers(extra: Sequence[tuple[str, str]]) -> httpx.Headers:
    """Our User-Agent (unless `extra` names one) plus `extra`, repeated names kept."""
    agent = [("User-Agent", f"kapacitor-operator/{__version__}")]
    if any(name.lower() == "user-agent" for name, _ in extra):
        agent = []
    return httpx.Headers([*agent, *extra])


async def _pause(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0.05, 0.2) * attempt)
