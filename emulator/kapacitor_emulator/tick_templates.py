"""``/kapacitor/v1/templates``: TICKscript templates.

Templates share the task object's conventions (ID rules, formatted script, DOT, times).
Their ``vars`` are the script's own ``var`` statements; tasks created from a template take
its script, and updating a template reloads the tasks linked to it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.ids import is_valid_tick_id, new_uuid, tick_id_error
from kapacitor_emulator.responses import NativeError, empty, native_json
from kapacitor_emulator.routing import Call
from kapacitor_emulator.state import Template
from kapacitor_emulator.tick_body import BodyError, TaskBody, decode_task_body
from kapacitor_emulator.tick_common import (
    BASE,
    declared_vars,
    parse_script,
    render_script,
    script_options,
    template_check,
    tick_time,
    vars_json,
)
from kapacitor_emulator.tick_format import build_dot
from kapacitor_emulator.tick_lang import parse_tickscript
from kapacitor_emulator.tick_lexer import TickSyntaxError
from kapacitor_emulator.tick_list import ListParams, project
from kapacitor_emulator.tick_tasks import reload_template_tasks

TEMPLATE_FIELDS = (
    "link",
    "id",
    "type",
    "script",
    "vars",
    "dot",
    "error",
    "created",
    "modified",
)


def _field(template: Template, name: str, raw: bool, labels: bool) -> Any:
    if name in ("vars", "dot"):
        try:
            info = parse_tickscript(template.script)
        except TickSyntaxError:
            return None
        if name == "vars":
            return vars_json(declared_vars(info))
        return build_dot(template.id, info, executing=False, labels=labels)
    values: dict[str, Any] = {
        "link": {"rel": "self", "href": f"{BASE}/templates/{template.id}"},
        "id": template.id,
        "type": template.type,
        "script": render_script(template.script, raw),
        "error": "",
        "created": tick_time(template.created),
        "modified": tick_time(template.modified),
    }
    return values[name]


def template_json(template: Template, raw: bool = False, labels: bool = False) -> dict[str, Any]:
    """The full template object."""
    return {name: _field(template, name, raw, labels) for name in TEMPLATE_FIELDS}


def _decode(raw: bytes) -> TaskBody:
    try:
        return decode_task_body(raw)
    except BodyError as exc:
        raise NativeError(400, "invalid JSON") from exc


def _template_id(call: Call) -> str:
    template_id = call.params["id"]
    if not template_id:
        raise NativeError(400, "must specify template id on path")
    return template_id


async def create_template(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /kapacitor/v1/templates."""
    body = _decode(await call.body())
    template_id = body.id or new_uuid()
    if not is_valid_tick_id(template_id):
        raise NativeError(400, tick_id_error("template", template_id))
    if template_id in emu.state.templates:
        raise NativeError(400, f"template {template_id} already exists")
    info = parse_script(body.script, template=True)
    template_check(info)
    now = emu.clock.now()
    template = Template(template_id, info.task_type, body.script, now, now)
    emu.state.templates[template_id] = template
    return native_json(template_json(template))


async def get_template(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /kapacitor/v1/templates/{id}."""
    template_id = _template_id(call)
    raw, labels = script_options(call.query)
    template = emu.state.templates.get(template_id)
    if template is None:
        raise NativeError(404, "no template exists")
    return native_json(template_json(template, raw, labels))


async def patch_template(emu: Emulator, call: Call) -> web.StreamResponse:
    """PATCH /kapacitor/v1/templates/{id}."""
    body = _decode(await call.body())
    template_id = _template_id(call)
    template = emu.state.templates.get(template_id)
    if template is None:
        raise NativeError(404, "template does not exist, cannot update")
    if body.script:
        info = parse_script(body.script)
        template_check(info)
        reload_template_tasks(emu, template_id, body.script)
        template.script = body.script
        template.type = info.task_type
    if body.id and body.id != template_id:
        if body.id in emu.state.templates:
            raise NativeError(
                500, "failed to create new template during ID change: object already exists"
            )
        del emu.state.templates[template_id]
        template.id = body.id
        emu.state.templates[body.id] = template
        for task in emu.state.tasks.values():
            if task.template_id == template_id:
                task.template_id = body.id
    template.modified = emu.clock.now()
    return native_json(template_json(template))


async def delete_template(emu: Emulator, call: Call) -> web.StreamResponse:
    """DELETE /kapacitor/v1/templates/{id}: 204 whether or not it exists."""
    template_id = _template_id(call)
    emu.state.templates.pop(template_id, None)
    return empty(204)


async def list_templates(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /kapacitor/v1/templates."""
    params = ListParams.parse(call.query)
    raw, labels = script_options(call.query)
    items = []
    for template_id in params.select(list(emu.state.templates)):
        template = emu.state.templates[template_id]

        def value_of(name: str, template: Template = template) -> Any:
            return _field(template, name, raw, labels)

        items.append(project(params.fields, TEMPLATE_FIELDS, value_of))
    return native_json({"templates": items})
