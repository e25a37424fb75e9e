"""``/kapacitor/v1/api/v2/tasks/{id}/runs...`` and ``/logs``: Flux task runs.

Manual runs and retries are synchronous (the response is written when the run has
finished, and a client that goes away cancels the run). Reads merge queued and in-flight
runs with stored ones (only kept with run storage ``memory``, over the last 14 days), in
Kapacitor's order: queued, then in flight, then stored newest ``scheduledFor`` first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.flux_body import (
    decode_error,
    flux_id,
    go_atoi,
    json_body,
    optional_string,
    rfc3339,
)
from kapacitor_emulator.gojson import truncate_seconds
from kapacitor_emulator.responses import FluxError, empty, flux_json
from kapacitor_emulator.routing import Call
from kapacitor_emulator.runner import (
    FLUX_BASE,
    RunAlreadyQueued,
    cancel_run,
    log_json,
    queue_manual_run,
    run_json,
    wait_for_run,
)
from kapacitor_emulator.state import FluxTask, Run

RETENTION = timedelta(days=14)
"""Kapacitor reads stored runs over the last 14 days only."""

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def stored_runs(emu: Emulator, task_id: str) -> list[Run]:
    """Finished runs still visible (memory storage, within the retention window)."""
    horizon = emu.clock.now() - RETENTION
    return [r for r in emu.state.stored_runs.get(task_id, []) if r.scheduled_for > horizon]


def _limit(raw: str | None) -> int:
    if not raw:
        return 100
    limit = go_atoi(raw)
    if not 1 <= limit <= 500:
        raise decode_error("run limit is out of bounds, must be between 1 and 500")
    return limit


async def list_runs(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /runs: the task itself is not checked."""
    task_id = flux_id(call.params["id"])
    query = call.query
    after_id = flux_id(query["after"]) if query.get("after") else ""
    limit = _limit(query.get("limit"))
    after = rfc3339(query["afterTime"]) if query.get("afterTime") else None
    before = rfc3339(query["beforeTime"]) if query.get("beforeTime") else None
    if after is not None and before is not None and before <= after:
        raise decode_error("beforeTime must be later than afterTime")
    lower, upper = after or _EPOCH, before or emu.clock.now()

    def visible(run: Run) -> bool:
        return lower < run.scheduled_for < upper

    runs: list[Run] = []
    task = emu.state.flux_tasks.get(task_id)
    live = [*task.queued, *task.inflight.values()] if task is not None else []
    runs = [r for r in live if visible(r)][:limit]
    if len(runs) < limit:
        stored = [
            r for r in stored_runs(emu, task_id) if visible(r) and (not after_id or r.id > after_id)
        ]
        stored.sort(key=lambda r: r.scheduled_for, reverse=True)
        runs += stored[: limit - len(runs)]
    links = {"self": f"{FLUX_BASE}/{task_id}/runs", "task": f"{FLUX_BASE}/{task_id}"}
    return flux_json({"links": links, "runs": [run_json(r) for r in runs]})


def _scheduled_for(emu: Emulator, call: Call, raw: bytes) -> datetime:
    chunked = "chunked" in call.request.headers.get("Transfer-Encoding", "").lower()
    length = -1 if chunked else (call.request.content_length or 0)
    value = None
    if length != 0 and length < 1000:
        value = optional_string(json_body(raw, "struct"), "scheduledFor", "struct")
    if not value:
        return truncate_seconds(emu.clock.now())
    return truncate_seconds(rfc3339(value))


async def _finish_sync(
    run: Run, snapshot: dict[str, Any], prefix: str, status: int
) -> web.Response:
    await wait_for_run(run)
    if run.status == "success":
        return flux_json(snapshot, status)
    raise FluxError("internal error", f"{prefix}: {run.error}")


async def force_run(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /runs: a synchronous manual run (201 on success, 500 on failure)."""
    task_id = flux_id(call.params["id"])
    scheduled_for = _scheduled_for(emu, call, await call.body())
    task = emu.state.flux_tasks.get(task_id)
    if task is None:
        raise FluxError("not found", "failed to force run: task not found")
    try:
        run = queue_manual_run(emu, task, scheduled_for)
    except RunAlreadyQueued as exc:
        raise FluxError("conflict", "failed to force run: run already queued") from exc
    call.started_run(run.id)
    return await _finish_sync(run, run_json(run), "failed to force run", 201)


def _retry_source(emu: Emulator, task: FluxTask, run_id: str) -> tuple[Run, bool] | None:
    """The run to retry and whether it was in flight."""
    live = task.inflight.get(run_id)
    if live is not None:
        if emu.config.run_storage == "none" and not task.had_manual_run:
            return None
        return live, True
    for run in stored_runs(emu, task.id):
        if run.id == run_id:
            return run, False
    return None


async def retry_run(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /runs/{rid}/retry: a new run with the same scheduledFor (200, synchronous)."""
    task_id, run_id = flux_id(call.params["id"]), flux_id(call.params["rid"])
    task = emu.state.flux_tasks.get(task_id)
    if task is None:
        raise FluxError("not found", "failed to retry run: task not found")
    source = _retry_source(emu, task, run_id)
    if source is None:
        raise FluxError("not found", "failed to retry run: run not found")
    original, in_flight = source
    try:
        run = queue_manual_run(
            emu,
            task,
            original.scheduled_for,
            requested=not in_flight,
            log=original.log if in_flight else None,
        )
    except RunAlreadyQueued as exc:
        raise FluxError("conflict", "failed to retry run: run already queued") from exc
    call.started_run(run.id)
    return await _finish_sync(run, run_json(run), "failed to retry run", 200)


def _find_run(emu: Emulator, call: Call) -> Run | None:
    task_id, run_id = flux_id(call.params["id"]), flux_id(call.params["rid"])
    task = emu.state.flux_tasks.get(task_id)
    if task is not None and run_id in task.inflight:
        return task.inflight[run_id]
    return next((r for r in stored_runs(emu, task_id) if r.id == run_id), None)


async def get_run(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /runs/{rid}."""
    run = _find_run(emu, call)
    if run is None:
        raise FluxError("not found", "failed to find run: run not found")
    return flux_json(run_json(run))


async def cancel(emu: Emulator, call: Call) -> web.StreamResponse:
    """DELETE /runs/{rid}: in-flight runs only; 200 with an empty body."""
    task_id, run_id = flux_id(call.params["id"]), flux_id(call.params["rid"])
    task = emu.state.flux_tasks.get(task_id)
    run = task.inflight.get(run_id) if task is not None else None
    if run is None:
        raise FluxError("not found", "failed to cancel run: run not found")
    cancel_run(run)
    return empty(200)


def _events(runs: list[Run]) -> list[dict[str, Any]] | None:
    events = [log_json(e) for r in runs for e in r.log]
    return events or None


async def run_logs(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /runs/{rid}/logs."""
    run = _find_run(emu, call)
    if run is None:
        raise FluxError("not found", "failed to find task logs: run not found")
    return flux_json({"events": _events([run])})


async def task_logs(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /logs: stored runs (oldest first), then in-flight ones."""
    task_id = flux_id(call.params["id"])
    stored = sorted(stored_runs(emu, task_id), key=lambda r: r.scheduled_for)
    task = emu.state.flux_tasks.get(task_id)
    live = list(task.inflight.values()) if task is not None else []
    return flux_json({"events": _events([*stored, *live])})
