"""PATCH ``/api/v2/tasks/{id}``, as InfluxDB's ``TaskUpdate`` and kv ``updateTask`` do it.

Decoding and ``TaskUpdate.Validate`` come first (400 ``failed to decode request: ...``).
``Validate`` is a Go ``switch`` whose first matching case wins, so a non-zero ``every``
or ``offset`` skips the later checks: ``{"every": "1h", "status": "paused"}`` passes and
stores the status ``paused`` (a Kapacitor bug, reproduced). Then, when ``flux`` is given
or the options are not all zero, ``UpdateFlux`` writes the options into the script (and
reformats it) and the task's options are read back from it. Options that are only
``concurrency``/``retry`` leave nothing to write, and Kapacitor then dereferences a nil
script: a 500 ``a panic has occurred`` (also reproduced). A zero ``offset`` alongside
other content does not count as an option, so it removes nothing unless the script is
rewritten anyway.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.flux_body import (
    decode_error,
    flux_id,
    json_body,
    optional_int,
    optional_string,
)
from kapacitor_emulator.flux_lang import DURATION_RE, duration_ns
from kapacitor_emulator.flux_options import (
    FluxEditError,
    FluxOptionsError,
    FluxSyntaxError,
    TaskOptions,
    extract_options,
    update_flux,
)
from kapacitor_emulator.flux_tasks import STATUSES, apply_options, task_json
from kapacitor_emulator.gojson import truncate_seconds
from kapacitor_emulator.responses import FluxError, flux_json
from kapacitor_emulator.routing import Call
from kapacitor_emulator.state import FluxTask

_PANIC = "runtime error: invalid memory address or nil pointer dereference"


def _duration(body: dict[str, Any], key: str) -> str | None:
    """A duration field: None when absent; ``options.Duration``'s error when invalid."""
    value = optional_string(body, key, "TaskUpdate")
    if value is not None and not DURATION_RE.match(value):
        raise decode_error(f"invalid duration {value}")
    return value


def _nonzero(duration: str | None) -> bool:
    return bool(duration) and duration_ns(duration or "0s") != 0


def _validate(body: dict[str, Any]) -> None:
    """``TaskUpdate.Validate``: the first matching case decides."""
    every, offset = body["every"], body["offset"]
    if _nonzero(every) and body["cron"]:
        raise decode_error("cannot specify both every and cron")
    if _nonzero(every) or _nonzero(offset):
        return
    if body["flux"] is None and body["status"] is None and not _options_given(body):
        raise decode_error("cannot update task without content")
    if body["status"] is not None and body["status"] not in STATUSES:
        raise decode_error(f'invalid task status: "{body["status"]}"')


def _options_given(body: dict[str, Any]) -> bool:
    """``!Options.IsZero()``."""
    extra = body["concurrency"] is not None or body["retry"] is not None
    named = bool(body["name"] or body["cron"])
    return named or _nonzero(body["every"]) or _nonzero(body["offset"]) or extra


def _decode(raw: bytes) -> dict[str, Any]:
    body = json_body(raw, "taskmodel.TaskUpdate")
    out: dict[str, Any] = {
        k: optional_string(body, k, "TaskUpdate") for k in ("flux", "status", "description")
    }
    out["name"] = optional_string(body, "name", "TaskUpdate") or ""
    out["cron"] = optional_string(body, "cron", "TaskUpdate") or ""
    out["every"], out["offset"] = _duration(body, "every"), _duration(body, "offset")
    for key in ("concurrency", "retry"):
        out[key] = optional_int(body, key, "TaskUpdate")
    return out


def _new_flux(call: Call, task: FluxTask, body: dict[str, Any]) -> tuple[str, TaskOptions]:
    """``UpdateFlux`` then ``FromScriptAST``."""
    flux: str | None = body["flux"]
    every = body["every"] if _nonzero(body["every"]) else ""
    writes = bool(body["name"] or every or body["cron"]) or body["offset"] is not None
    if flux is None and not writes:
        raise FluxError("internal error", f"a panic has occurred: {call.path}: {_PANIC}")
    try:
        if writes:
            flux = update_flux(
                flux or task.flux,
                name=body["name"],
                every=every,
                cron=body["cron"],
                offset=body["offset"],
            )
        assert flux is not None
        return flux, extract_options(flux)
    except (FluxSyntaxError, FluxEditError) as exc:
        raise FluxError("internal error", f"failed to update task: {exc}") from exc
    except FluxOptionsError as exc:
        raise FluxError("invalid", f"failed to update task: invalid options: {exc}") from exc


async def patch_task(emu: Emulator, call: Call) -> web.StreamResponse:
    """PATCH /api/v2/tasks/{id} → 200."""
    task_id = flux_id(call.params["id"])
    body = _decode(await call.body())
    _validate(body)
    task = emu.state.flux_tasks.get(task_id)
    if task is None:
        raise FluxError("not found", "failed to update task: task not found")
    new: tuple[str, TaskOptions] | None = None
    if body["flux"] is not None or _options_given(body):
        new = _new_flux(call, task, body)
    _apply(emu, task, new, body["status"], body["description"])
    return flux_json(task_json(task))


def _apply(
    emu: Emulator,
    task: FluxTask,
    new: tuple[str, TaskOptions] | None,
    status: str | None,
    description: str | None,
) -> None:
    now = truncate_seconds(emu.clock.now())
    was_inactive = task.status == "inactive"
    updated = False
    if new is not None:
        task.flux = new[0]
        apply_options(task, new[1])
        updated = True
    if description is not None:
        task.description = description
        updated = True
    if status is not None and status != task.status:
        task.status = status
        updated = True
        if status == "active":
            # Missed runs are not back-filled after re-activation.
            task.latest_completed = now
            task.latest_scheduled = now
    if updated:
        task.updated_at = now
    # Vendored bug (fixed upstream in influxdb#22211): any PATCH of a task that was
    # already inactive puts it back on the scheduler.
    task.on_scheduler = task.status == "active" or was_inactive
