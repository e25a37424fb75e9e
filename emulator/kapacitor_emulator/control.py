"""The ``/emulator/v1`` test API: request log, run outcomes, faults, outages, clock, state.

Served on its own port (which stays up when the Kapacitor listener is taken down) and
also on the main port, except ``down``/``up`` which only the control port accepts (a
request cannot close the listener it arrived on). JSON in and out; errors are
``{"error": "..."}``. Never subject to auth or faults, never in the request log.
"""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any, Protocol

from aiohttp import web

from kapacitor_emulator import control_data
from kapacitor_emulator.core import Emulator
from kapacitor_emulator.flux_tasks import task_json as flux_task_json
from kapacitor_emulator.gojson import (
    format_rfc3339nano,
    go_dumps,
    parse_rfc3339,
    truncate_seconds,
)
from kapacitor_emulator.ids import FluxIDError, decode_flux_id
from kapacitor_emulator.runner import run_json, scheduler_tick, start_scheduled_run
from kapacitor_emulator.state import Faults, Outcome
from kapacitor_emulator.tick_body import BodyError, parse_json_object
from kapacitor_emulator.tick_tasks import task_json as tick_task_json
from kapacitor_emulator.tick_templates import template_json

PREFIX = "/emulator/v1"


class Listeners(Protocol):
    """What the control API needs from the server: its URLs and the API listener switch."""

    @property
    def api_url(self) -> str:
        """Base URL of the Kapacitor API listener."""
        ...

    @property
    def control_url(self) -> str:
        """Base URL of the control listener."""
        ...

    @property
    def api_up(self) -> bool:
        """Whether the API listener accepts connections."""
        ...

    async def down(self) -> None:
        """Close the API listener."""

    async def up(self) -> None:
        """Reopen the API listener on the same port."""


class ControlError(Exception):
    """A 4xx answer of the control API."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(value: Any, status: int = 200) -> web.Response:
    resp = web.Response(status=status, body=(go_dumps(value, pretty=False) + "\n").encode())
    resp.headers["Content-Type"] = "application/json; charset=utf-8"
    return resp


async def _body(request: web.BaseRequest) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return parse_json_object(raw)
    except BodyError as exc:
        raise ControlError(400, f"invalid JSON: {exc}") from exc


def _int(obj: dict[str, Any], key: str, default: int, low: int = 0, high: int = 2**62) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError(400, f"{key} must be an integer in [{low}, {high}]")
    return value


def _outcome(raw: Any) -> Outcome:
    if not isinstance(raw, dict):
        raise ControlError(400, "each outcome must be an object")
    status = raw.get("status", "success")
    if status not in ("success", "failed"):
        raise ControlError(400, 'outcome status must be "success" or "failed"')
    message = raw.get("message", "")
    if not isinstance(message, str):
        raise ControlError(400, "outcome message must be a string")
    return Outcome(status, message, _int(raw, "durationMs", 0), _int(raw, "queuedMs", 0))


def _faults(body: dict[str, Any]) -> Faults:
    rate = body.get("errorRate", 0.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise ControlError(400, "errorRate must be a number in [0, 1]")
    paths = body.get("paths")
    try:
        compiled = re.compile(paths) if isinstance(paths, str) and paths else None
    except re.error as exc:
        raise ControlError(400, f"paths is not a valid regex: {exc}") from exc
    seed = _int(body, "seed", 0)
    return Faults(
        latency_ms=_int(body, "latencyMs", 0),
        error_rate=float(rate),
        error_status=_int(body, "errorStatus", 503, 100, 599),
        paths=compiled,
        seed=seed,
        rng=random.Random(seed),
    )


def _task_id(raw: str) -> str:
    try:
        return decode_flux_id(raw)
    except FluxIDError as exc:
        raise ControlError(400, f"bad task ID: {exc}") from exc


def dump_state(emu: Emulator) -> dict[str, Any]:
    """Everything, for debugging."""
    state = emu.state
    tasks = []
    for task in state.tasks.values():
        item = tick_task_json(task, raw=True)
        running = task.running
        item["running"] = (
            {"script": running.script, "dbrps": [{"db": d, "rp": r} for d, r in running.dbrps]}
            if running
            else None
        )
        tasks.append(item)
    flux = []
    for ftask in state.flux_tasks.values():
        item = flux_task_json(ftask)
        item["onScheduler"] = ftask.on_scheduler
        item["queuedRuns"] = [run_json(r) for r in ftask.queued]
        item["inflightRuns"] = [run_json(r) for r in ftask.inflight.values()]
        flux.append(item)
    return {
        "tasks": tasks,
        "templates": [template_json(t, raw=True) for t in state.templates.values()],
        "fluxTasks": flux,
        "storedRuns": {k: [run_json(r) for r in v] for k, v in state.stored_runs.items()},
        "outcomes": {k: [o.to_json() for o in v] for k, v in state.outcomes.items()},
        "faults": state.faults.to_json(),
        "alerts": state.alerts.dump(),
        "replay": state.replay.dump(),
        "templateLinks": sorted([t, k] for t, k in state.template_links),
        "runStorage": emu.config.run_storage,
        "now": format_rfc3339nano(emu.clock.now()),
    }


async def _task_route(
    emu: Emulator, method: str, parts: list[str], request: web.BaseRequest
) -> Any:
    task_id = _task_id(parts[1])
    if parts[2] == "outcomes":
        queue = emu.state.outcomes.setdefault(task_id, [])
        if method in ("PUT", "POST"):
            raw = (await _body(request)).get("outcomes", [])
            if not isinstance(raw, list):
                raise ControlError(400, "outcomes must be a list")
            new = [_outcome(o) for o in raw]
            queue[:] = new if method == "PUT" else [*queue, *new]
        elif method == "DELETE":
            queue.clear()
        return {"outcomes": [o.to_json() for o in queue]}
    task = emu.state.flux_tasks.get(task_id)
    if task is None:
        raise ControlError(404, f"no Flux task {task_id}")
    body = await _body(request)
    when = body.get("scheduledFor")
    try:
        if isinstance(when, str) and when:
            moment = truncate_seconds(parse_rfc3339(when))
        else:
            # As Kapacitor's scheduler: a scheduled run is always for a time after the
            # task's latest completed one (which starts at the task's creation).
            floor = max(task.latest_completed, task.latest_scheduled or task.latest_completed)
            moment = max(
                truncate_seconds(emu.clock.now()), truncate_seconds(floor) + timedelta(seconds=1)
            )
    except ValueError as exc:
        raise ControlError(400, str(exc)) from exc
    return start_scheduled_run(emu, task, moment)


async def _dispatch(
    emu: Emulator, listeners: Listeners, request: web.BaseRequest, on_control_port: bool
) -> web.Response:
    method = request.method
    parts = request.path[len(PREFIX) + 1 :].strip("/").split("/")
    key = (method, parts[0])
    if key == ("GET", "info"):
        return _json(_info(emu, listeners))
    if parts[0] == "requests" and method in ("GET", "DELETE"):
        if method == "DELETE":
            emu.state.requests.clear()
        return _json({"requests": [r.to_json() for r in emu.state.requests]})
    if parts[0] == "faults" and method in ("GET", "PUT", "DELETE"):
        if method != "GET":
            emu.state.faults = _faults(await _body(request)) if method == "PUT" else Faults()
        return _json(emu.state.faults.to_json())
    if key in (("POST", "down"), ("POST", "up")):
        if not on_control_port:
            raise ControlError(409, "down/up must be called on the control port")
        await (listeners.down() if parts[0] == "down" else listeners.up())
        return _json(_info(emu, listeners))
    if key == ("POST", "reset"):
        emu.reset()
        return _json({"reset": True})
    if key == ("GET", "state"):
        return _json(dump_state(emu))
    if parts[0] == "clock" and method in ("GET", "PUT"):
        if method == "PUT":
            body = await _body(request)
            offset = emu.clock.offset + timedelta(milliseconds=_int(body, "advanceMs", 0))
            if "offsetMs" in body:
                offset = timedelta(milliseconds=_int(body, "offsetMs", 0, -(2**40), 2**40))
            emu.clock.offset = offset
        return _json(_clock(emu))
    if key == ("POST", "scheduler") and parts[1:] == ["tick"]:
        return _json({"runs": [run_json(r) for r in scheduler_tick(emu)]})
    if parts[0] == "tasks" and len(parts) == 3:
        if parts[2] == "outcomes" and method in ("GET", "PUT", "POST", "DELETE"):
            return _json(await _task_route(emu, method, parts, request))
        if parts[2] == "scheduled-runs" and method == "POST":
            run = await _task_route(emu, method, parts, request)
            return _json(run_json(run), 201)
    if (result := await control_data.dispatch(emu, method, parts, request)) is not None:
        return _json(result)
    raise ControlError(404, f"no control route {method} {request.path}")


def _info(emu: Emulator, listeners: Listeners) -> dict[str, Any]:
    config = emu.config
    return {
        "api": listeners.api_url,
        "control": listeners.control_url,
        "apiUp": listeners.api_up,
        "version": config.version,
        "runStorage": config.run_storage,
        "auth": config.auth_enabled,
        "scheduler": config.scheduler,
        "defaultRunMs": config.default_run_ms,
    }


def _clock(emu: Emulator) -> dict[str, Any]:
    offset_ms = int(emu.clock.offset / timedelta(milliseconds=1))
    return {"now": format_rfc3339nano(emu.clock.now()), "offsetMs": offset_ms}


async def handle_control(
    emu: Emulator, listeners: Listeners, request: web.BaseRequest, *, on_control_port: bool
) -> web.Response:
    """Serve one ``/emulator/v1/...`` request."""
    try:
        return await _dispatch(emu, listeners, request, on_control_port)
    except (ControlError, control_data.ControlDataError) as exc:
        return _json({"error": str(exc)}, exc.status)
