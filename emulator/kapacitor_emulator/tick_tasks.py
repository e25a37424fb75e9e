"""``/kapacitor/v1/tasks``: TICKscript tasks, as ``services/task_store`` behaves.

The notable behaviours kept here: create answers 200 with the task disabled unless asked
otherwise; PATCH answers 200 with the task; a new script or new dbrps on an enabled task
do not restart it (the task keeps a separate running definition, visible through
``dot``, until a disabled→enabled transition); DELETE is idempotent.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.ids import is_valid_tick_id, new_uuid, tick_id_error
from kapacitor_emulator.responses import NativeError, empty, native_json
from kapacitor_emulator.routing import Call
from kapacitor_emulator.state import TickDefinition, TickTask
from kapacitor_emulator.task_stats import node_stats, script_nodes
from kapacitor_emulator.template_links import link, relink, unlink
from kapacitor_emulator.template_reload import compile_error
from kapacitor_emulator.tick_body import BodyError, TaskBody, decode_task_body
from kapacitor_emulator.tick_common import (
    BASE,
    check_task_type,
    compile_check,
    dbrps_json,
    parse_script,
    render_script,
    resolve_dbrps,
    script_options,
    start_error,
    tick_time,
    vars_json,
)
from kapacitor_emulator.tick_format import build_dot
from kapacitor_emulator.tick_lang import parse_tickscript
from kapacitor_emulator.tick_lexer import TickSyntaxError
from kapacitor_emulator.tick_list import ListParams, project

TASK_FIELDS = (
    "link",
    "id",
    "template-id",
    "type",
    "dbrps",
    "script",
    "vars",
    "dot",
    "status",
    "executing",
    "error",
    "stats",
    "created",
    "modified",
    "last-enabled",
)


def _dot(task: TickTask, labels: bool) -> str | None:
    definition = task.running if task.executing and task.running else task.definition
    try:
        info = parse_tickscript(definition.script)
    except TickSyntaxError:
        return None
    return build_dot(task.id, info, executing=task.executing, labels=labels)


def _stats(task: TickTask) -> dict[str, Any]:
    if not task.executing or task.running is None:
        return {}
    return node_stats(script_nodes(task.running.script), task.running.points)


def _field(task: TickTask, name: str, raw: bool, labels: bool) -> Any:
    values: dict[str, Any] = {
        "link": {"rel": "self", "href": f"{BASE}/tasks/{task.id}"},
        "id": task.id,
        "template-id": task.template_id,
        "type": task.type,
        "dbrps": dbrps_json(task.definition.dbrps),
        "script": render_script(task.definition.script, raw),
        "vars": vars_json(task.definition.vars),
        "status": task.status,
        "executing": task.executing,
        "error": task.error,
        "created": tick_time(task.created),
        "modified": tick_time(task.modified),
        "last-enabled": tick_time(task.last_enabled),
    }
    if name == "dot":
        return _dot(task, labels)
    if name == "stats":
        return _stats(task)
    return values[name]


def task_json(task: TickTask, raw: bool = False, labels: bool = False) -> dict[str, Any]:
    """The full task object of GET/POST/PATCH."""
    out = {name: _field(task, name, raw, labels) for name in TASK_FIELDS}
    out["dot"] = out["dot"] or ""
    if error := compile_error(task):  # Kapacitor compiles the task to show it
        out["dot"], out["error"] = "", error
    return out


def _enable(emu: Emulator, task: TickTask) -> None:
    """A real disabled→enabled change: record it and start the task."""
    task.last_enabled = emu.clock.now()
    _start(task)


def _start(task: TickTask) -> None:
    """Start the task: its stored definition becomes the running one."""
    info = parse_tickscript(task.definition.script)
    task.error = start_error(info, task.definition.dbrps)
    task.running = None if task.error else copy.deepcopy(task.definition)


def _disable(task: TickTask) -> None:
    task.running = None
    task.error = ""


def _decode(raw: bytes) -> TaskBody:
    try:
        return decode_task_body(raw)
    except BodyError as exc:
        raise NativeError(400, "invalid JSON") from exc


def _template_script(emu: Emulator, template_id: str) -> str:
    template = emu.state.templates.get(template_id)
    if template is None:
        raise NativeError(400, f"unknown template {template_id}: err: no template exists")
    return template.script


async def create_task(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /kapacitor/v1/tasks."""
    body = _decode(await call.body())
    task_id = body.id or new_uuid()
    if not is_valid_tick_id(task_id):
        raise NativeError(400, tick_id_error("task", task_id))
    if task_id in emu.state.tasks:
        raise NativeError(400, f"task {task_id} already exists")
    script = _template_script(emu, body.template_id) if body.template_id else body.script
    info = parse_script(script)
    compile_check(info, body.vars)
    dbrps = resolve_dbrps(
        info, body.dbrps, conflict="cannot specify dbrp in both implicitly and explicitly"
    )
    now = emu.clock.now()
    task = TickTask(
        id=task_id,
        template_id=body.template_id,
        type=info.task_type,
        definition=TickDefinition(script, dbrps, body.vars),
        status="disabled",
        created=now,
        modified=now,
    )
    emu.state.tasks[task_id] = task
    link(emu, body.template_id, task_id)
    if body.status == "enabled":
        task.status = "enabled"
        _enable(emu, task)
        if task.error:
            raise NativeError(500, task.error)
    return native_json(task_json(task))


async def get_task(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /kapacitor/v1/tasks/{id}."""
    task_id = call.params["id"]
    if not task_id:
        raise NativeError(400, "must specify task id on path")
    raw, labels = script_options(call.query)
    task = emu.state.tasks.get(task_id)
    if task is None:
        raise NativeError(404, "no task exists")
    return native_json(task_json(task, raw, labels))


def _updated_definition(emu: Emulator, task: TickTask, body: TaskBody) -> TickDefinition:
    definition = copy.deepcopy(task.definition)
    template_id = body.template_id or task.template_id
    if template_id:  # a template task always takes its template's current script
        template = emu.state.templates.get(template_id)
        if template is None:  # (Kapacitor names the body's template-id, often "")
            raise NativeError(400, f"unknown template {body.template_id}: err: no template exists")
        definition.script = template.script
        task.template_id = template_id
    elif body.script:
        old_dbrps = parse_script(definition.script, check_type=False).dbrps
        if old_dbrps and not parse_script(body.script, check_type=False).dbrps and not body.dbrps:
            raise NativeError(400, "must specify dbrp")  # the dbrp statements went away
        definition.script = body.script
    if body.vars:
        definition.vars = body.vars
    info = parse_script(definition.script, check_type=False)
    if body.dbrps or info.dbrps:
        definition.dbrps = resolve_dbrps(
            info, body.dbrps, conflict="cannot specify dbrp in implicitly and explicitly"
        )
    check_task_type(info)
    compile_check(info, definition.vars)
    task.type = info.task_type
    return definition


async def patch_task(emu: Emulator, call: Call) -> web.StreamResponse:
    """PATCH /kapacitor/v1/tasks/{id}."""
    body = _decode(await call.body())
    task_id = call.params["id"]
    if not task_id:
        raise NativeError(400, "must specify task id on path")
    task = emu.state.tasks.get(task_id)
    if task is None:
        raise NativeError(404, "task does not exist, cannot update")
    work = copy.deepcopy(task)
    work.definition = _updated_definition(emu, work, body)
    if body.id and body.id != task_id:
        if body.id in emu.state.tasks:
            raise NativeError(
                500, "failed to create new task during ID change: object already exists"
            )
        del emu.state.tasks[task_id]
        work.id = body.id
    work.modified = emu.clock.now()
    emu.state.tasks[work.id] = work
    relink(emu, (task.template_id, task.id), (work.template_id, work.id))
    if body.status == "enabled" and task.status == "disabled":
        work.status = "enabled"
        _enable(emu, work)
        if work.error:
            raise NativeError(500, work.error)
    elif body.status == "disabled" and task.status == "enabled":
        work.status = "disabled"
        _disable(work)
    return native_json(task_json(work))


async def delete_task(emu: Emulator, call: Call) -> web.StreamResponse:
    """DELETE /kapacitor/v1/tasks/{id}: 204 whether or not it exists."""
    task_id = call.params["id"]
    if not task_id:
        raise NativeError(400, "must specify task id on path")
    task = emu.state.tasks.pop(task_id, None)
    if task is not None:
        unlink(emu, task.template_id, task_id)
    return empty(204)


async def list_tasks(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /kapacitor/v1/tasks."""
    params = ListParams.parse(call.query)
    raw, labels = script_options(call.query)
    items = []
    for task_id in params.select(list(emu.state.tasks)):
        task = emu.state.tasks[task_id]

        def value_of(name: str, task: TickTask = task) -> Any:
            if name == "stats":
                return _stats(task) or None
            return _field(task, name, raw, labels)

        items.append(project(params.fields, TASK_FIELDS, value_of, omit_empty=("template-id",)))
    return native_json({"tasks": items})


def restart(task: TickTask) -> None:
    """(Re)start a task from its stored definition (template reloads use this)."""
    _start(task)
