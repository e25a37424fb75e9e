"""``/kapacitor/v1/templates``: TICKscript templates, as ``services/task_store`` keeps them.

Templates share the task object's conventions (ID rules, formatted script, DOT, times).
Their ``vars`` are the script's own ``var`` statements (sorted by name, as Go marshals a
map). The body carries ``id``, ``type`` and ``script`` only. On create the type comes
from the script (the body's is ignored); on PATCH it comes from the body's ``type`` only,
so a new script with the other source is rejected (``name "batch" is undefined. Names in
scope: time,stream``; Kapacitor lists the names in Go map order, so it varies) unless
``type`` changes with it. A PATCH saves the template, then
reloads the associated tasks (:mod:`template_reload`); when one of them
fails to restart the answer is a 500 and the template keeps its new script anyway.
Deleting a template used by tasks succeeds and leaves them pointing at it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.gostruct import Field, GoDecodeError, decode_struct
from kapacitor_emulator.ids import is_valid_tick_id, new_uuid, tick_id_error
from kapacitor_emulator.responses import NativeError, empty, native_json
from kapacitor_emulator.routing import Call
from kapacitor_emulator.state import Template, Var
from kapacitor_emulator.template_links import drop_template, linked_tasks
from kapacitor_emulator.template_reload import reload_template_tasks
from kapacitor_emulator.tick_common import (
    BASE,
    declared_vars,
    parse_script,
    render_script,
    template_check,
    tick_time,
    vars_json,
)
from kapacitor_emulator.tick_format import build_dot
from kapacitor_emulator.tick_lang import TickScript, parse_tickscript
from kapacitor_emulator.tick_lexer import Kind, TickSyntaxError
from kapacitor_emulator.tick_list import ListParams, project
from kapacitor_emulator.tick_tasks import restart

TEMPLATE_FIELDS = ("link", "id", "type", "script", "vars", "dot", "error", "created", "modified")
LIST_FIELDS = ("link", "id", "type", "script", "dot", "error", "created", "modified")
"""What a template list shows unless ``fields`` asks for more (``vars`` only on request)."""


def _task_type(text: str) -> str:
    if text not in ("stream", "batch", "invalid"):
        raise ValueError(f"unknown TaskType {text}")
    return text


_BODY = (
    Field("id", "string", "string"),
    Field("type", "client.TaskType", "text", _task_type),
    Field("script", "string", "string"),
)


def _list_item(token_kind: Kind, text: str) -> dict[str, Any]:
    if token_kind is Kind.STRING:
        value = text[3:-3] if text.startswith("'''") else text[1:-1]
        return {"type": "string", "value": value, "description": ""}
    return {"type": "star" if text == "*" else "string", "value": None, "description": ""}


def template_vars(info: TickScript) -> dict[str, Any]:
    """The template's vars, sorted by name; list literals become lists of vars."""
    out = vars_json(declared_vars(info))
    for decl in info.vars:
        if decl.type == "list" and decl.value_tokens:
            items = [
                _list_item(t.kind, t.text)
                for t in decl.value_tokens
                if t.kind in (Kind.STRING, Kind.IDENT, Kind.STAR)
            ]
            out[decl.name] = Var("list", items, decl.description).to_json()
    return dict(sorted(out.items(), key=lambda i: i[0].encode()))


def _field(template: Template, name: str, raw: bool) -> Any:
    if name in ("vars", "dot"):
        try:
            info = parse_tickscript(template.script)
        except TickSyntaxError:
            return None
        if name == "vars":
            return template_vars(info)
        dot = build_dot(template.id, info, executing=False, labels=False)
        if template.type == "batch":  # a batch template's graph starts at its query nodes
            dot = dot.replace(f"batch0 -> {info.nodes[1]}1;\n" if len(info.nodes) > 1 else "", "")
        return dot
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


def template_json(template: Template, raw: bool = False) -> dict[str, Any]:
    """The full template object."""
    return {name: _field(template, name, raw) for name in TEMPLATE_FIELDS}


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        return decode_struct(raw, "client.CreateTemplateOptions", _BODY)
    except GoDecodeError as exc:
        raise NativeError(400, "invalid JSON") from exc


def _template_id(call: Call) -> str:
    template_id = call.params["id"]
    if not template_id:
        raise NativeError(400, "must specify template id on path")
    return template_id


def _script_format(call: Call) -> bool:
    fmt = call.query.get("script-format", "") or "formatted"
    if fmt not in ("formatted", "raw"):
        raise NativeError(400, f'invalid script-format parameter "{fmt}"')
    return fmt == "raw"


def _check_type(info: TickScript, template_type: str) -> None:
    """Compiling a script against the template's type: the other source is undefined."""
    for source in sorted(info.sources):
        if source != template_type:
            raise NativeError(
                400,
                f'invalid TICKscript: name "{source}" is undefined. '
                f"Names in scope: time,{template_type}",
            )


def _compile(script: str, template_type: str | None) -> TickScript:
    """Parse and compile a template script as the task store does (vars without a value
    take their zero value). On create the type comes from the script; on PATCH it is the
    body's (or the old one), and a script using the other source is undefined there.

    Raises:
        NativeError: 400 ``invalid task type: invalid`` (empty), ``invalid TICKscript: ...``.
    """
    info = parse_script(script, template=True, check_type=template_type is None)
    if template_type is not None:
        _check_type(info, template_type)
    template_check(info)
    return info


async def create_template(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /kapacitor/v1/templates."""
    body = _decode(await call.body())
    template_id = body["id"] or new_uuid()
    if not is_valid_tick_id(template_id):
        raise NativeError(400, tick_id_error("template", template_id))
    if template_id in emu.state.templates:
        raise NativeError(400, f"template {template_id} already exists")
    info = _compile(body["script"], None)
    now = emu.clock.now()
    template = Template(template_id, info.task_type, body["script"], now, now)
    emu.state.templates[template_id] = template
    return native_json(template_json(template))


async def get_template(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /kapacitor/v1/templates/{id} (``script-format`` only; no dot-view here)."""
    template_id = _template_id(call)
    template = emu.state.templates.get(template_id)
    if template is None:
        raise NativeError(404, "no template exists")
    return native_json(template_json(template, _script_format(call)))


async def patch_template(emu: Emulator, call: Call) -> web.StreamResponse:
    """PATCH /kapacitor/v1/templates/{id}."""
    template_id = _template_id(call)
    body = _decode(await call.body())
    original = emu.state.templates.get(template_id)
    if original is None:
        raise NativeError(404, "template does not exist, cannot update")
    updated = Template(
        body["id"] or original.id,
        body["type"] if body["type"] in ("stream", "batch") else original.type,
        body["script"] or original.script,
        original.created,
        emu.clock.now(),
    )
    _compile(updated.script, updated.type)
    task_ids = linked_tasks(emu, original.id)
    if updated.id != original.id:
        if updated.id in emu.state.templates:
            raise NativeError(
                500, "failed to create new template for ID change: template already exists"
            )
        del emu.state.templates[original.id]
        drop_template(emu, original.id)
    emu.state.templates[updated.id] = updated
    reload_template_tasks(emu, original, updated, task_ids, restart)
    return native_json(template_json(updated))


async def delete_template(emu: Emulator, call: Call) -> web.StreamResponse:
    """DELETE /kapacitor/v1/templates/{id}: 204 whether or not it exists, even when tasks
    use it (they keep their ``template-id``; see :mod:`template_links`)."""
    template_id = _template_id(call)
    emu.state.templates.pop(template_id, None)
    drop_template(emu, template_id)
    return empty(204)


async def list_templates(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /kapacitor/v1/templates."""
    params = ListParams.parse(call.query)
    raw = _script_format(call)
    items = []
    for template_id in params.select(list(emu.state.templates)):
        template = emu.state.templates[template_id]

        def value_of(name: str, template: Template = template) -> Any:
            return _field(template, name, raw)

        fields = params.fields or list(LIST_FIELDS)
        items.append(project(fields, TEMPLATE_FIELDS, value_of))
    return native_json({"templates": items})
