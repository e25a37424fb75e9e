"""``/kapacitor/v1/api/v2/tasks[/{id}]``: Flux task CRUD, as InfluxDB 2's task service.

Options (``name``, ``every``, ``cron``, ``offset``) always come from the script's
``option task`` record: POST ignores them in the body, PATCH
(:mod:`~kapacitor_emulator.flux_patch`) writes them into the record and
reformats the script. DELETE of a missing task is a 404 (not idempotent).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.flux_body import (
    decode_error,
    flux_id,
    go_atoi,
    json_body,
    optional_string,
)
from kapacitor_emulator.flux_options import (
    FluxOptionsError,
    FluxSyntaxError,
    TaskOptions,
    extract_options,
)
from kapacitor_emulator.gojson import format_rfc3339, truncate_seconds
from kapacitor_emulator.ids import new_flux_id
from kapacitor_emulator.responses import FluxError, empty, flux_json
from kapacitor_emulator.routing import Call
from kapacitor_emulator.runner import FLUX_BASE, cancel_run
from kapacitor_emulator.state import FluxTask

STATUSES = ("active", "inactive")


def task_json(task: FluxTask) -> dict[str, Any]:
    """The API's Flux task object (empty optional fields omitted)."""
    base = f"{FLUX_BASE}/{task.id}"
    out: dict[str, Any] = {
        "links": {"self": base, "runs": f"{base}/runs", "logs": f"{base}/logs"},
        "labels": None,
        "id": task.id,
        "orgID": "",
        "ownerID": task.owner_id,
        "name": task.name,
    }
    if task.description:
        out["description"] = task.description
    out["status"] = task.status
    out["flux"] = task.flux
    optional = {
        "every": task.every,
        "cron": task.cron,
        "offset": task.offset,
        "latestCompleted": format_rfc3339(task.latest_completed),
        "lastRunStatus": task.last_run_status,
        "lastRunError": task.last_run_error,
        "createdAt": format_rfc3339(task.created_at),
        "updatedAt": format_rfc3339(task.updated_at) if task.updated_at else "",
    }
    out.update({k: v for k, v in optional.items() if v})
    return out


def apply_options(task: FluxTask, opts: TaskOptions) -> None:
    task.name, task.every, task.cron, task.offset = opts.name, opts.every, opts.cron, opts.offset


def _status(value: str | None) -> str | None:
    if value is not None and value not in STATUSES:
        raise decode_error(f'invalid task status: "{value}"')
    return value


async def create_task(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /api/v2/tasks → 201."""
    body = json_body(await call.body(), "taskmodel.TaskCreate")
    flux = optional_string(body, "flux", "TaskCreate") or ""
    status = optional_string(body, "status", "TaskCreate")
    description = optional_string(body, "description", "TaskCreate") or ""
    org_id = optional_string(body, "orgID", "TaskCreate")
    if org_id is not None:
        flux_id(org_id)
    if not flux:
        raise decode_error("missing flux")
    _status(status or None)
    try:
        opts = extract_options(flux)
    except (FluxSyntaxError, FluxOptionsError) as exc:
        raise FluxError("invalid", f"invalid options: {exc}") from exc
    now = truncate_seconds(emu.clock.now())
    task = FluxTask(
        id=new_flux_id(emu.state.flux_tasks),
        owner_id=call.user,
        name=opts.name,
        description=description,
        status=status or "active",
        flux=flux,
        every=opts.every,
        cron=opts.cron,
        offset=opts.offset,
        created_at=now,
        latest_completed=now,
    )
    # Creating an inactive task schedules it too (same root cause as the PATCH bug).
    task.on_scheduler = True
    emu.state.flux_tasks[task.id] = task
    return flux_json(task_json(task), 201)


async def list_tasks(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /api/v2/tasks with after/limit/status/name/user."""
    query = call.query
    after = flux_id(query["after"]) if query.get("after") else ""
    limit = 100
    if query.get("limit"):
        limit = go_atoi(query["limit"])
        if not 1 <= limit <= 500:
            raise decode_error("limit must be between 1 and 500")
    status = query.get("status") if query.get("status") in STATUSES else None
    name, user = query.get("name", ""), query.get("user", "")
    found: list[FluxTask] = []
    for task_id in sorted(emu.state.flux_tasks):
        task = emu.state.flux_tasks[task_id]
        if (after and task_id <= after) or (status and task.status != status):
            continue
        if (name and task.name != name) or (user and task.owner_id != user):
            continue
        found.append(task)
        if len(found) >= limit:
            break
    params: dict[str, str] = {}
    if after:
        params["after"] = after
    params["limit"] = str(limit)
    if user:
        params["username"] = user
    links = {"self": f"{FLUX_BASE}?{urlencode(sorted(params.items()))}"}
    if len(found) >= limit:
        params["after"] = found[-1].id
        links["next"] = f"{FLUX_BASE}?{urlencode(sorted(params.items()))}"
    return flux_json({"links": links, "tasks": [task_json(t) for t in found]})


def _find(emu: Emulator, call: Call, prefix: str) -> FluxTask:
    task = emu.state.flux_tasks.get(flux_id(call.params["id"]))
    if task is None:
        raise FluxError("not found", f"{prefix}: task not found")
    return task


async def get_task(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /api/v2/tasks/{id}."""
    return flux_json(task_json(_find(emu, call, "failed to find task")))


async def delete_task(emu: Emulator, call: Call) -> web.StreamResponse:
    """DELETE /api/v2/tasks/{id} → 204; a missing task is a 404."""
    task = emu.state.flux_tasks.pop(flux_id(call.params["id"]), None)
    if task is None:
        raise FluxError("not found", "failed to delete task: task not found")
    for run in [*task.queued, *task.inflight.values()]:
        cancel_run(run)
    return empty(204)
