"""Async access to the test apiserver for the benchmark: writes, and watches that timestamp
when objects reach a state.

One aiohttp session with the admin client certificate serves both the floor script and
the benchmark's own object creation, so every side pays the same client costs. Watch
events are timestamped on receipt (monotonic and wall clock) by one task per namespace.

aiohttp rather than httpx: at 50 requests in flight httpx spent 3-6 ms of the
benchmark's CPU per create (httpcore walks its pool on every request), aiohttp 0.4 ms,
measured on the test apiserver. On two cores the harness was the bulk phase's
bottleneck, and at N = 10,000 it would have taken a minute of CPU per side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

GROUP = "kapacitor.operator.dev"
VERSION = "v1alpha1"
API = f"{GROUP}/{VERSION}"

RETRIES_429 = 60
#: Objects per list page (what client-go's pager asks for).
LIST_PAGE = 500
#: Read buffer, so the largest watch event line read whole (aiohttp's default: 64 KiB).
MAX_LINE = 16 * 1024 * 1024
#: Errors of the connection rather than of the apiserver's answer.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)

Predicate = Callable[[dict[str, Any]], bool]


class KubeError(RuntimeError):
    """The apiserver refused a request."""


@dataclass(frozen=True)
class Reply:
    """A complete answer (aiohttp responses are only readable inside their context)."""

    status: int
    body: bytes
    retry_after: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def _raise_for(status: int, text: str, what: str) -> None:
    if status >= 400:
        raise KubeError(f"{what}: HTTP {status}: {text[:400]}")


class Kube:
    """Create, patch and list objects on one apiserver as admin."""

    def __init__(
        self,
        server_url: str,
        ca_path: Path,
        cert_path: Path,
        key_path: Path,
        *,
        max_connections: int = 100,
    ) -> None:
        context = ssl.create_default_context(cafile=str(ca_path))
        context.load_cert_chain(str(cert_path), str(key_path))
        self._context = context
        self.server_url = server_url.rstrip("/")
        self.http = self.new_session(max_connections)
        #: 429 answers retried so far (reported: throttling would distort timings).
        self.throttled = 0

    def new_session(
        self, max_connections: int, *, timeout: float | None = 30.0
    ) -> aiohttp.ClientSession:
        """A fresh session on the same credentials (watches use their own, untimed).
        Call it inside the event loop."""
        return aiohttp.ClientSession(
            base_url=self.server_url,
            connector=aiohttp.TCPConnector(limit=max_connections, ssl=self._context),
            timeout=aiohttp.ClientTimeout(total=timeout),
            read_bufsize=MAX_LINE,
        )

    async def aclose(self) -> None:
        await self.http.close()

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        """One request; a 429 (storage initialising, priority and fairness) was not
        processed, so it is retried after the server's Retry-After, as kubectl does."""
        reply = Reply(429, b"")
        for _ in range(RETRIES_429):
            async with self.http.request(method, path, **kwargs) as resp:
                reply = Reply(resp.status, await resp.read(), resp.headers.get("Retry-After"))
            if reply.status != 429:
                return reply
            self.throttled += 1
            try:
                delay = float(reply.retry_after or "1")
            except ValueError:
                delay = 1.0
            await asyncio.sleep(min(delay, 5.0))
        return reply

    @staticmethod
    def path(plural: str, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{API}/namespaces/{namespace}/{plural}"
        if name is not None:
            base += f"/{name}"
        if sub is not None:
            base += f"/{sub}"
        return base

    async def create_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        resp = await self.request("POST", "/api/v1/namespaces", json=body)
        if resp.status != 409:
            _raise_for(resp.status, resp.text, f"create namespace {name}")

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.request("POST", self.path(plural, namespace), json=body)
        _raise_for(
            resp.status, resp.text, f"create {plural} {namespace}/{body['metadata']['name']}"
        )
        created: dict[str, Any] = resp.json()
        return created

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        resp = await self.request(
            "PATCH",
            self.path(plural, namespace, name, "status"),
            data=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        _raise_for(resp.status, resp.text, f"patch status {plural} {namespace}/{name}")
        patched: dict[str, Any] = resp.json()
        return patched

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        resp = await self.request("GET", self.path(plural, namespace, name))
        if resp.status == 404:
            return None
        _raise_for(resp.status, resp.text, f"get {plural} {namespace}/{name}")
        found: dict[str, Any] = resp.json()
        return found

    async def list(self, plural: str, namespace: str) -> tuple[list[dict[str, Any]], str]:
        """Every object and the list's resourceVersion, in pages of LIST_PAGE (one
        response of 10,000 objects would be tens of MB, held twice while it parses).

        Raises:
            KubeError: a page was refused (410 Gone if the continue token expired).
        """
        items: list[dict[str, Any]] = []
        params = {"limit": str(LIST_PAGE)}
        while True:
            resp = await self.request("GET", self.path(plural, namespace), params=params)
            _raise_for(resp.status, resp.text, f"list {plural} {namespace}")
            data = resp.json()
            items.extend(data.get("items") or [])
            token = data["metadata"].get("continue")
            if not token:
                return items, str(data["metadata"]["resourceVersion"])
            params = {"limit": str(LIST_PAGE), "continue": str(token)}


def condition(obj: dict[str, Any], cond: str) -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == cond:
            found: dict[str, Any] = item
            return found
    return None


def is_ready(obj: dict[str, Any]) -> bool:
    """Ready=True describing the current generation (what `kubectl wait` users rely on)."""
    ready = condition(obj, "Ready")
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    return (
        ready is not None
        and ready.get("status") == "True"
        and status.get("observedGeneration") == generation
    )


TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Cancelled"})


def is_terminal_run(obj: dict[str, Any]) -> bool:
    return (obj.get("status") or {}).get("phase") in TERMINAL_PHASES


@dataclass
class Reached:
    """When an object was first seen satisfying the watcher's predicate."""

    monotonic: float
    wall: float
    body: dict[str, Any]


@dataclass
class Watcher:
    """Watch one kind in one namespace; remember when each object first satisfied `done`.

    Also counts every event after the initial list (`events`) and the receipt time of the
    latest one, which tells writes by anyone (the operator, kopf, the floor) apart from
    silence. Without `keep_bodies` only the moments are kept, not the objects: at
    N = 10,000 the bodies would be the benchmark's largest use of memory.
    """

    kube: Kube
    plural: str
    namespace: str
    done: Predicate
    keep_bodies: bool = True
    reached: dict[str, Reached] = field(default_factory=dict)
    #: Receipt times (monotonic) of every event per object, when `timeline` is set.
    timeline: bool = False
    times: dict[str, list[float]] = field(default_factory=dict)
    events: int = 0
    modified: int = 0
    last_event_wall: float = 0.0
    _signals: dict[str, asyncio.Event] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _session: aiohttp.ClientSession | None = None
    _resource_version: str = ""
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        """List (objects already done count as reached now), then watch in a task."""
        self._session = self.kube.new_session(2, timeout=None)
        items, self._resource_version = await self.kube.list(self.plural, self.namespace)
        for item in items:
            self._observe(item)
        self._task = asyncio.create_task(self._run(), name=f"watch-{self.namespace}")
        await asyncio.wait_for(self._ready.wait(), timeout=30.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _observe(self, obj: dict[str, Any]) -> None:
        name = str(obj["metadata"]["name"])
        if name not in self.reached and self.done(obj):
            body = obj if self.keep_bodies else {}
            self.reached[name] = Reached(time.monotonic(), time.time(), body)
            signal = self._signals.get(name)
            if signal is not None:
                signal.set()
            self._changed.set()

    async def _run(self) -> None:
        assert self._session is not None
        path = self.kube.path(self.plural, self.namespace)
        while True:
            params = {
                "watch": "1",
                "resourceVersion": self._resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "600",
            }
            try:
                async with self._session.get(path, params=params) as resp:
                    if resp.status >= 400:
                        text = await resp.text()
                        _raise_for(resp.status, text, f"watch {self.plural} {self.namespace}")
                    self._ready.set()
                    async for line in resp.content:
                        if line.strip():
                            self._handle(json.loads(line))
            except (*TRANSPORT_ERRORS, _Gone):
                items, self._resource_version = await self.kube.list(self.plural, self.namespace)
                for item in items:
                    self._observe(item)

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj: dict[str, Any] = event.get("object") or {}
        if kind == "ERROR":
            raise _Gone(str(obj.get("message")))
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self._resource_version = str(rv)
        if kind == "BOOKMARK":
            return
        self.events += 1
        if kind == "MODIFIED":
            self.modified += 1
        self.last_event_wall = time.time()
        if self.timeline:
            name = str((obj.get("metadata") or {}).get("name"))
            self.times.setdefault(name, []).append(time.monotonic())
        self._observe(obj)

    async def wait(self, name: str, within: float) -> Reached:
        """The moment `name` was first seen done; waits for it up to `within` seconds.

        Raises:
            TimeoutError: not reached in time.
        """
        if name not in self.reached:
            signal = self._signals.setdefault(name, asyncio.Event())
            try:
                await asyncio.wait_for(signal.wait(), timeout=within)
            except TimeoutError:
                raise TimeoutError(
                    f"{self.plural} {self.namespace}/{name} not done in {within}s"
                ) from None
            finally:
                self._signals.pop(name, None)
        return self.reached[name]

    async def wait_count(self, count: int, within: float) -> None:
        """Wait until `count` objects were seen done.

        Raises:
            TimeoutError: fewer in time.
        """
        deadline = time.monotonic() + within
        while len(self.reached) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{len(self.reached)}/{count} {self.plural} done in "
                    f"{self.namespace} after {within}s"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 1.0))


class _Gone(Exception):
    """The watch ended with an ERROR event (e.g. 410 Gone): list again."""
