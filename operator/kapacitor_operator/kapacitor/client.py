"""Async client for Kapacitor's HTTP API: TICKscript tasks, Flux tasks and their runs,
recordings and replays.

One instance per Kapacitor server wraps one `httpx.AsyncClient` (connection pool,
explicit timeouts). Errors are classified once (see `errors.py`); only idempotent reads
and deletes get a couple of quick jittered retries: long waits belong to the caller.
No credential is ever part of a log line or an error message.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from kapacitor_operator.http_client import StaticAuth
from kapacitor_operator.kapacitor.errors import (
    KapacitorError,
    KapacitorNotFound,
    KapacitorRunFailed,
    KapacitorUnavailable,
    classify,
)
from kapacitor_operator.kapacitor.schemas import (
    FluxRun,
    FluxTask,
    FluxTaskPage,
    LogEvent,
    Recording,
    Replay,
    TickTask,
    TickTemplate,
)
from kapacitor_operator.kapacitor.scrub import Scrubber

BASE = "/kapacitor/v1"
FLUX = f"{BASE}/api/v2/tasks"

# (endpoint, method, status class, seconds): feeds the latency histogram.
Observer = Callable[[str, str, str, float], None]

_IDEMPOTENT = {"GET", "HEAD", "DELETE"}
_TLS_REASON = re.compile(r"\[SSL: [A-Z0-9_]+\][^(\n]*")
_RETRY_STATUSES = {502, 503, 504}


class BearerAuth(StaticAuth):
    """Authorization: Bearer <token>, without putting the token in any repr."""

    def __init__(self, token: str) -> None:
        self._token = token

    def headers(self) -> list[tuple[str, str]]:
        return [("Authorization", f"Bearer {self._token}")]

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


def transport_detail(exc: httpx.TransportError) -> str:
    """The failure's class, and for TLS failures OpenSSL's reason (`[SSL:
    CERTIFICATE_VERIFY_FAILED] certificate verify failed: ...`), which says what to fix.
    Never the rest of the exception's text: it may quote the request."""
    match = _TLS_REASON.search(str(exc))
    name = type(exc).__name__
    return f"{name} ({match.group(0).strip()})" if match else name


def default_timeout(read: float = 10.0) -> httpx.Timeout:
    return httpx.Timeout(connect=5.0, read=read, write=10.0, pool=10.0)


def call_timeout(seconds: float = 10.0) -> httpx.Timeout:
    """Ordinary calls (KAPACITOR_TIMEOUT): connecting gets 5 s at most; sending,
    answering and waiting for a free connection each get `seconds`, so a Kapacitor that
    accepts connections but never answers is reported within the configured timeout."""
    return httpx.Timeout(connect=min(5.0, seconds), read=seconds, write=seconds, pool=seconds)


class KapacitorClient:
    """Typed calls to one Kapacitor server."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        observer: Observer | None = None,
        quick_retries: int = 2,
        run_http: httpx.AsyncClient | None = None,
        max_in_flight: int = 50,
        scrub: Scrubber | None = None,
    ) -> None:
        self._http = http
        # Error texts come from the server: a server that echoes the request must not put
        # the credentials it was sent into a condition (issue 12).
        self._scrub = scrub or Scrubber()
        # Manual runs and retries hold their connection until the run ends: they get a
        # pool of their own so long runs never starve ordinary calls.
        self._run_http = run_http or http
        self._observer = observer
        self._quick_retries = quick_retries
        # Bound queued requests: 1000 reconciles at once wait here, in order, rather than
        # each holding a request and its timeout in the transport's pool.
        self._slots = asyncio.Semaphore(max_in_flight)

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._run_http is not self._http:
            await self._run_http.aclose()

    # --- transport ------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        json: Any = None,
        http_timeout: httpx.Timeout | None = None,
        long_call: bool = False,
    ) -> httpx.Response:
        if long_call:
            return await self._send(
                method, path, endpoint, params, json, http_timeout, self._run_http
            )
        async with self._slots:
            return await self._send(method, path, endpoint, params, json, http_timeout, self._http)

    async def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        params: Mapping[str, Any] | list[tuple[str, str]] | None,
        json: Any,
        http_timeout: httpx.Timeout | None,
        http: httpx.AsyncClient,
    ) -> httpx.Response:
        attempts = 1 + (self._quick_retries if method in _IDEMPOTENT else 0)
        last: KapacitorError | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(random.uniform(0.1, 0.4) * attempt)
            started = time.monotonic()
            try:
                kwargs: dict[str, Any] = {"params": params, "json": json}
                if http_timeout is not None:
                    kwargs["timeout"] = http_timeout
                response = await http.request(method, path, **kwargs)
            except httpx.TimeoutException as exc:
                self._observe(endpoint, method, "timeout", started)
                # No connection was made (or none was free): the request never left.
                never_sent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                # Kapacitor took the request and did not answer within the timeout (it
                # hangs): asking again would only multiply the wait before anyone is told.
                hanging = isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout)
                last = KapacitorUnavailable(
                    f"timed out: {type(exc).__name__}",
                    endpoint=endpoint,
                    never_sent=never_sent,
                    timed_out=hanging,
                    unreachable=isinstance(exc, httpx.ConnectTimeout),
                )
                last.__cause__ = exc
                if hanging:
                    break
                continue
            except httpx.TransportError as exc:
                self._observe(endpoint, method, "error", started)
                last = KapacitorUnavailable(
                    f"cannot reach Kapacitor: {transport_detail(exc)}",
                    endpoint=endpoint,
                    never_sent=isinstance(exc, httpx.ConnectError),
                    # A TLS failure reaches the server: it says what to fix instead.
                    unreachable=isinstance(exc, httpx.ConnectError)
                    and not _TLS_REASON.search(str(exc)),
                )
                last.__cause__ = exc
                continue
            self._observe(endpoint, method, f"{response.status_code // 100}xx", started)
            if response.status_code < 400:
                return response
            error = classify(
                response.status_code,
                response.content,
                endpoint=endpoint,
                retry_after=response.headers.get("Retry-After"),
            )
            error.message = self._scrub(error.message)
            error.args = (error.message,)
            if response.status_code in _RETRY_STATUSES:
                last = error
                continue
            raise error
        assert last is not None
        raise last

    def _observe(self, endpoint: str, method: str, status_class: str, started: float) -> None:
        if self._observer is not None:
            self._observer(endpoint, method, status_class, time.monotonic() - started)

    # --- server ---------------------------------------------------------------------

    async def ping(self) -> str:
        """Check reachability and credentials; returns X-Kapacitor-Version.

        Raises:
            KapacitorError: unreachable, or credentials refused.
        """
        response = await self._request("GET", f"{BASE}/ping", endpoint="ping")
        return str(response.headers.get("X-Kapacitor-Version", ""))

    # --- TICKscript tasks -----------------------------------------------------------

    async def get_task(self, task_id: str, *, script_format: str = "raw") -> TickTask | None:
        """The task, with its script as stored (`raw`) by default; None if absent.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self._request(
                "GET",
                f"{BASE}/tasks/{task_id}",
                endpoint="tasks/{id}",
                params={"script-format": script_format},
            )
        except KapacitorNotFound:
            return None
        return TickTask.model_validate(response.json())

    async def create_task(self, definition: Mapping[str, Any]) -> TickTask:
        """POST /tasks. Kapacitor answers 200 and the full task (formatted script).

        Raises:
            KapacitorRejected: invalid definition or the ID exists (400).
            KapacitorUnavailable: transient failure; when the task was enabled and failed
                to start, Kapacitor answers 500 but keeps the task.
        """
        response = await self._request(
            "POST", f"{BASE}/tasks", endpoint="tasks", json=dict(definition)
        )
        return TickTask.model_validate(response.json())

    async def patch_task(self, task_id: str, changes: Mapping[str, Any]) -> TickTask:
        """PATCH /tasks/{id}: empty fields stay unchanged; dbrps and vars replace all.

        Raises:
            KapacitorNotFound: the task does not exist.
            KapacitorError: any other failure.
        """
        response = await self._request(
            "PATCH", f"{BASE}/tasks/{task_id}", endpoint="tasks/{id}", json=dict(changes)
        )
        return TickTask.model_validate(response.json())

    async def delete_task(self, task_id: str) -> None:
        """DELETE /tasks/{id}: idempotent (204 whether or not it existed).

        Raises:
            KapacitorError: any failure.
        """
        await self._request("DELETE", f"{BASE}/tasks/{task_id}", endpoint="tasks/{id}")

    async def list_tasks(
        self,
        *,
        pattern: str | None = None,
        fields: list[str] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[TickTask]:
        """GET /tasks, sorted by ID.

        Raises:
            KapacitorError: any failure.
        """
        page = await self.list_task_dicts(
            pattern=pattern, fields=fields, offset=offset, limit=limit
        )
        return [TickTask.model_validate(t) for t in page]

    async def list_task_dicts(
        self,
        *,
        pattern: str | None = None,
        fields: list[str] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """GET /tasks as Kapacitor sends them, for a caller that models only some of a page
        (drift passes: a server may hold many tasks no resource names).

        Raises:
            KapacitorError: any failure.
        """
        params: list[tuple[str, str]] = [
            ("offset", str(offset)),
            ("limit", str(limit)),
            ("script-format", "raw"),
        ]
        if pattern:
            params.append(("pattern", pattern))
        params.extend(("fields", f) for f in fields or [])
        response = await self._request("GET", f"{BASE}/tasks", endpoint="tasks", params=params)
        return [t for t in response.json().get("tasks") or [] if isinstance(t, dict)]

    # --- TICKscript templates ----------------------------------------------------------

    async def get_template(self, template_id: str) -> TickTemplate | None:
        """The template with its script as stored (`raw`); None if absent.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self._request(
                "GET",
                f"{BASE}/templates/{template_id}",
                endpoint="templates/{id}",
                params={"script-format": "raw"},
            )
        except KapacitorNotFound:
            return None
        return TickTemplate.model_validate(response.json())

    async def create_template(self, body: Mapping[str, Any]) -> TickTemplate:
        """POST /templates (`id`, `type`, `script`).

        Raises:
            KapacitorRejected: invalid script, or the ID exists (400).
            KapacitorError: any other failure.
        """
        response = await self._request(
            "POST", f"{BASE}/templates", endpoint="templates", json=dict(body)
        )
        return TickTemplate.model_validate(response.json())

    async def patch_template(self, template_id: str, changes: Mapping[str, Any]) -> TickTemplate:
        """PATCH /templates/{id}: Kapacitor saves it, then reloads the tasks made from it.

        Raises:
            KapacitorNotFound: the template does not exist.
            KapacitorUnavailable: 500, e.g. a linked enabled task failed to restart (the
                template keeps its new script anyway).
            KapacitorError: any other failure.
        """
        response = await self._request(
            "PATCH",
            f"{BASE}/templates/{template_id}",
            endpoint="templates/{id}",
            json=dict(changes),
        )
        return TickTemplate.model_validate(response.json())

    async def delete_template(self, template_id: str) -> None:
        """DELETE /templates/{id}: idempotent (204 whether or not it existed).

        Raises:
            KapacitorError: any failure.
        """
        await self._request("DELETE", f"{BASE}/templates/{template_id}", endpoint="templates/{id}")

    async def list_templates(
        self, *, fields: list[str] | None = None, offset: int = 0, limit: int = 100
    ) -> list[TickTemplate]:
        """GET /templates (one page, sorted by ID), scripts as stored (`raw`).

        Raises:
            KapacitorError: any failure.
        """
        params: list[tuple[str, str]] = [
            ("offset", str(offset)),
            ("limit", str(limit)),
            ("script-format", "raw"),
        ]
        params.extend(("fields", f) for f in fields or [])
        response = await self._request(
            "GET", f"{BASE}/templates", endpoint="templates", params=params
        )
        return [TickTemplate.model_validate(t) for t in response.json().get("templates") or []]

    async def list_template_ids(self, *, page: int = 500) -> list[str]:
        """Every template ID, across pages.

        Raises:
            KapacitorError: any failure.
        """
        ids: list[str] = []
        while True:
            params = [("offset", str(len(ids))), ("limit", str(page)), ("fields", "id")]
            response = await self._request(
                "GET", f"{BASE}/templates", endpoint="templates", params=params
            )
            batch = [str(t["id"]) for t in response.json().get("templates") or []]
            ids.extend(batch)
            if len(batch) < page:
                return ids

    async def list_task_templates(self, *, page: int = 500) -> dict[str, str]:
        """Every TICKscript task ID with its template ID (`""` for none), across pages.

        Raises:
            KapacitorError: any failure.
        """
        found: dict[str, str] = {}
        offset = 0
        while True:
            batch = await self.list_tasks(fields=["template-id"], offset=offset, limit=page)
            found.update((t.id, t.template_id) for t in batch)
            offset += len(batch)
            if len(batch) < page:
                return found

    # --- Flux tasks -----------------------------------------------------------------

    async def create_flux_task(
        self, flux: str, *, active: bool = True, description: str = ""
    ) -> FluxTask:
        """POST /api/v2/tasks; name and schedule come from the script's `option task`.

        Raises:
            KapacitorRejected: invalid script or options.
            KapacitorError: any other failure.
        """
        body: dict[str, Any] = {"flux": flux, "status": "active" if active else "inactive"}
        if description:
            body["description"] = description
        response = await self._request("POST", FLUX, endpoint="flux/tasks", json=body)
        return FluxTask.model_validate(response.json())

    async def get_flux_task(self, task_id: str) -> FluxTask | None:
        """The Flux task, or None if absent.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self._request("GET", f"{FLUX}/{task_id}", endpoint="flux/tasks/{id}")
        except KapacitorNotFound:
            return None
        return FluxTask.model_validate(response.json())

    async def list_flux_tasks(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> FluxTaskPage:
        """One page of GET /api/v2/tasks (ordered by ID); `next_after` is set when full.

        Raises:
            KapacitorError: any failure.
        """
        params: dict[str, str] = {"limit": str(limit)}
        if name:
            params["name"] = name
        if status:
            params["status"] = status
        if after:
            params["after"] = after
        response = await self._request("GET", FLUX, endpoint="flux/tasks", params=params)
        data = response.json()
        tasks = [FluxTask.model_validate(t) for t in data.get("tasks") or []]
        has_next = bool((data.get("links") or {}).get("next")) and len(tasks) == limit
        return FluxTaskPage(tasks=tasks, next_after=tasks[-1].id if has_next and tasks else None)

    async def find_flux_tasks(self, name: str) -> list[FluxTask]:
        """Every Flux task with this exact name, across pages, ordered by ID.

        Raises:
            KapacitorError: any failure.
        """
        found: list[FluxTask] = []
        after: str | None = None
        while True:
            page = await self.list_flux_tasks(name=name, after=after, limit=500)
            found.extend(t for t in page.tasks if t.name == name)
            if page.next_after is None:
                return found
            after = page.next_after

    async def patch_flux_task(self, task_id: str, changes: Mapping[str, Any]) -> FluxTask:
        """PATCH /api/v2/tasks/{id}; Kapacitor reformats the whole script.

        Raises:
            KapacitorNotFound: the task does not exist.
            KapacitorError: any other failure (a syntax error in new flux is a 500).
        """
        response = await self._request(
            "PATCH", f"{FLUX}/{task_id}", endpoint="flux/tasks/{id}", json=dict(changes)
        )
        return FluxTask.model_validate(response.json())

    async def delete_flux_task(self, task_id: str) -> bool:
        """DELETE /api/v2/tasks/{id}; False when it was already gone (Kapacitor says 404).

        Raises:
            KapacitorError: any other failure.
        """
        try:
            await self._request("DELETE", f"{FLUX}/{task_id}", endpoint="flux/tasks/{id}")
        except KapacitorNotFound:
            return False
        return True

    # --- Flux runs ------------------------------------------------------------------

    async def list_runs(
        self,
        task_id: str,
        *,
        after: str | None = None,
        after_time: str | None = None,
        before_time: str | None = None,
        limit: int = 100,
    ) -> list[FluxRun]:
        """GET .../runs: queued, then in-flight, then stored runs newest first.

        Raises:
            KapacitorError: any failure (limit outside 1..500 is a 400).
        """
        params: dict[str, str] = {"limit": str(limit)}
        if after:
            params["after"] = after
        if after_time:
            params["afterTime"] = after_time
        if before_time:
            params["beforeTime"] = before_time
        response = await self._request(
            "GET", f"{FLUX}/{task_id}/runs", endpoint="flux/runs", params=params
        )
        return [FluxRun.model_validate(r) for r in response.json().get("runs") or []]

    async def get_run(self, task_id: str, run_id: str) -> FluxRun | None:
        """The run, or None when Kapacitor no longer has it (finished under `none` storage).

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self._request(
                "GET", f"{FLUX}/{task_id}/runs/{run_id}", endpoint="flux/runs/{id}"
            )
        except KapacitorNotFound:
            return None
        return FluxRun.model_validate(response.json())

    async def start_run(
        self, task_id: str, *, scheduled_for: str | None = None, run_timeout: float = 3600.0
    ) -> FluxRun:
        """POST .../runs: a manual run. Synchronous: returns when the run has finished.

        Raises:
            KapacitorRunFailed: the run finished with a failure.
            KapacitorNotFound: the task does not exist.
            KapacitorUnavailable: transport failure (the run is cancelled with the connection).
            KapacitorRejected: e.g. 422 run already queued.
        """
        body = {"scheduledFor": scheduled_for} if scheduled_for else None
        return await self._run_call(
            "POST", f"{FLUX}/{task_id}/runs", "flux/runs", body, run_timeout
        )

    async def retry_run(self, task_id: str, run_id: str, *, run_timeout: float = 3600.0) -> FluxRun:
        """POST .../runs/{runID}/retry: a new run with the same scheduledFor. Synchronous.

        Raises:
            KapacitorRunFailed: the new run finished with a failure.
            KapacitorNotFound: task or run unknown (finished runs vanish under `none` storage).
            KapacitorUnavailable: transport failure.
        """
        return await self._run_call(
            "POST",
            f"{FLUX}/{task_id}/runs/{run_id}/retry",
            "flux/runs/{id}/retry",
            None,
            run_timeout,
        )

    async def _run_call(
        self, method: str, path: str, endpoint: str, body: Any, run_timeout: float
    ) -> FluxRun:
        try:
            response = await self._request(
                method,
                path,
                endpoint=endpoint,
                json=body,
                http_timeout=default_timeout(read=run_timeout),
                long_call=True,
            )
        except KapacitorUnavailable as exc:
            if exc.status is not None and exc.status >= 500 and exc.code is not None:
                # Flux API errors (code set) on a run call mean the run itself failed.
                raise KapacitorRunFailed(
                    exc.message, status=exc.status, code=exc.code, endpoint=endpoint
                ) from exc
            raise
        return FluxRun.model_validate(response.json())

    async def cancel_run(self, task_id: str, run_id: str) -> bool:
        """DELETE .../runs/{runID}: cancel an in-flight run; False if it is not in flight.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            await self._request(
                "DELETE", f"{FLUX}/{task_id}/runs/{run_id}", endpoint="flux/runs/{id}"
            )
        except KapacitorNotFound:
            return False
        return True

    async def run_logs(self, task_id: str, run_id: str) -> list[LogEvent] | None:
        """The run's log events; None when Kapacitor no longer has the run.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self._request(
                "GET", f"{FLUX}/{task_id}/runs/{run_id}/logs", endpoint="flux/runs/{id}/logs"
            )
        except KapacitorNotFound:
            return None
        return [LogEvent.model_validate(e) for e in response.json().get("events") or []]

    async def task_logs(self, task_id: str) -> list[LogEvent]:
        """Log events of the task's runs that Kapacitor still has.

        Raises:
            KapacitorError: any failure.
        """
        response = await self._request("GET", f"{FLUX}/{task_id}/logs", endpoint="flux/logs")
        return [LogEvent.model_validate(e) for e in response.json().get("events") or []]

    # --- recordings and replays ------------------------------------------------------

    async def record_stream(self, recording_id: str, task_id: str, stop: str) -> Recording:
        """POST /recordings/stream: record the points written for the task's dbrps and
        measurements, stamped up to `stop` (RFC3339).

        Raises:
            KapacitorNotFound: the task does not exist.
            KapacitorError: any other failure (500 `recording already exists`).
        """
        body = {"id": recording_id, "task": task_id, "stop": stop}
        response = await self._request(
            "POST", f"{BASE}/recordings/stream", endpoint="recordings/stream", json=body
        )
        return Recording.model_validate(response.json())

    async def get_recording(self, recording_id: str) -> Recording | None:
        """The recording (202 while running, 200 after); None when it does not exist
        (Kapacitor answers 500 `no recording exists`).

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self._request(
                "GET", f"{BASE}/recordings/{recording_id}", endpoint="recordings/{id}"
            )
        except KapacitorError as exc:
            if "no recording exists" in exc.message:
                return None
            raise
        return Recording.model_validate(response.json())

    async def delete_recording(self, recording_id: str) -> None:
        """DELETE /recordings/{id}: 204 whether or not it exists.

        Raises:
            KapacitorError: any failure.
        """
        await self._request(
            "DELETE", f"{BASE}/recordings/{recording_id}", endpoint="recordings/{id}"
        )

    async def create_replay(
        self, replay_id: str, task_id: str, recording_id: str, *, clock: str, recording_time: bool
    ) -> Replay:
        """POST /replays: replay a recording against a task (a copy of it; the task is
        untouched). Kapacitor starts a second replay under an ID in use: look first.

        Raises:
            KapacitorNotFound: the task or the recording does not exist.
            KapacitorError: any other failure.
        """
        body = {
            "id": replay_id,
            "task": task_id,
            "recording": recording_id,
            "clock": clock,
            "recording-time": recording_time,
        }
        response = await self._request("POST", f"{BASE}/replays", endpoint="replays", json=body)
        return Replay.model_validate(response.json())

    async def get_replay(self, replay_id: str) -> Replay | None:
        """The replay (202 while running, 200 after); None when it does not exist.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self._request(
                "GET", f"{BASE}/replays/{replay_id}", endpoint="replays/{id}"
            )
        except KapacitorNotFound:
            return None
        return Replay.model_validate(response.json())

    async def delete_replay(self, replay_id: str) -> None:
        """DELETE /replays/{id}: 204 whether or not it exists.

        Raises:
            KapacitorError: any failure.
        """
        await self._request("DELETE", f"{BASE}/replays/{replay_id}", endpoint="replays/{id}")
