"""Validation and rendering shared by TICKscript tasks and templates.

Kapacitor validates a task definition in a fixed order (script present, parse, task
type, compile, dbrps) and renders tasks and templates with the same conventions
(formatted script unless ``script-format=raw``, DOT graph, Go RFC3339Nano times). Both
route modules use these helpers so the order and the messages live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from multidict import MultiMapping

from kapacitor_emulator import tick_validate
from kapacitor_emulator.gojson import ZERO_TIME, format_rfc3339nano
from kapacitor_emulator.responses import NativeError
from kapacitor_emulator.state import Var
from kapacitor_emulator.tick_body import BodyError, parse_influxql_duration
from kapacitor_emulator.tick_format import format_tickscript
from kapacitor_emulator.tick_lang import TickScript, parse_tickscript
from kapacitor_emulator.tick_lexer import Kind, TickSyntaxError

BASE = "/kapacitor/v1"


def tick_time(moment: datetime | None) -> str:
    """A native timestamp; Go's zero time when unset."""
    return format_rfc3339nano(moment) if moment is not None else ZERO_TIME


def parse_script(script: str, *, check_type: bool = True, template: bool = False) -> TickScript:
    """Parse a script, or fail with Kapacitor's 400 messages.

    A template's script is parsed before Kapacitor looks at it being empty, and an empty
    script has no task type: ``invalid task type: invalid``.

    Raises:
        NativeError: empty script, parse error or (with ``check_type``) invalid task type.
    """
    if script == "":
        raise NativeError(
            400, "invalid task type: invalid" if template else "must provide TICKscript"
        )
    try:
        program = tick_validate.parse(script)
    except tick_validate.TickParseError as exc:
        raise NativeError(400, f"invalid TICKscript: {exc}") from exc
    try:
        info = parse_tickscript(script)
    except TickSyntaxError as exc:  # Kapacitor's parser accepted it: summarize what we can
        info = TickScript([], set(), [], [], [], [])
        del exc
    info.script = script
    info.sources = {tick_validate.task_type(program)} - {"invalid"}
    info.dbrps = tick_validate.script_dbrps(program)
    if check_type:
        check_task_type(info)
    return info


def check_task_type(info: TickScript) -> None:
    """Raises: NativeError: ``invalid task type: invalid`` (no or both kinds of source)."""
    if info.task_type == "invalid":
        raise NativeError(400, "invalid task type: invalid")


def compile_check(info: TickScript, provided: Mapping[str, Var]) -> None:
    """Compile a task's script with its vars, as Kapacitor does before storing it.

    Raises:
        NativeError: ``invalid TICKscript: <compile error>``.
    """
    try:
        tick_validate.compile_task(info.script, info.task_type, provided)
    except tick_validate.EvalError as exc:
        raise NativeError(400, f"invalid TICKscript: {exc}") from exc


def template_check(info: TickScript) -> None:
    """Compile a template's script (vars without a value take their zero value).

    Raises:
        NativeError: ``invalid TICKscript: <compile error>``.
    """
    try:
        tick_validate.compile_template(info.script, info.task_type)
    except tick_validate.EvalError as exc:
        raise NativeError(400, f"invalid TICKscript: {exc}") from exc


def check_vars(info: TickScript, provided: Mapping[str, Var]) -> None:
    """The compile step the emulator can check: every declared var has a value.

    Raises:
        NativeError: ``invalid TICKscript: missing value for var "x".``
    """
    for decl in info.vars:
        if decl.type and not decl.value_tokens and decl.name not in provided:
            raise NativeError(400, f'invalid TICKscript: missing value for var "{decl.name}".')


def resolve_dbrps(
    info: TickScript, explicit: list[tuple[str, str]], *, conflict: str
) -> list[tuple[str, str]]:
    """The task's dbrps: the body's, or the script's ``dbrp`` statements.

    Raises:
        NativeError: none at all, or both kinds (``conflict`` is the message).
    """
    if info.dbrps and explicit:
        raise NativeError(400, conflict)
    dbrps = explicit or info.dbrps
    if not dbrps:
        raise NativeError(400, "must specify dbrp")
    return list(dbrps)


def start_error(info: TickScript, dbrps: list[tuple[str, str]]) -> str:
    """Why starting the task fails, or ``""``.

    In Kapacitor's order: building each batch ``query`` node checks its schedule, then
    the queries are checked against the task's dbrps.
    """
    if info.task_type != "batch":
        return ""
    for props in info.query_properties:
        if {"every", "cron"} <= props:
            return "must not set both 'every' and 'cron' properties"
        if not props & {"every", "cron"}:
            return "must define one of 'every' or 'cron'"
    for db, rp in info.batch_sources:
        if (db, rp) not in dbrps:
            return f'batch query is not allowed to request data from "{db}"."{rp}"'
    return ""


def script_options(query: MultiMapping[str]) -> tuple[bool, bool]:
    """``(raw, labels)`` from ``script-format`` and ``dot-view``.

    Raises:
        NativeError: an unknown value, or a ``replay-id`` (no replays run here).
    """
    fmt = query.get("script-format", "formatted")
    if fmt not in ("formatted", "raw"):
        raise NativeError(400, f'invalid script-format parameter "{fmt}"')
    view = query.get("dot-view", "attributes")
    if view not in ("attributes", "labels"):
        raise NativeError(400, f'invalid dot-view parameter "{view}"')
    replay = query.get("replay-id", "")
    if replay:
        raise NativeError(400, f"no running replay with ID: {replay}")
    return fmt == "raw", view == "labels"


def render_script(script: str, raw: bool) -> str:
    """The script as GET shows it."""
    if raw:
        return script
    try:
        return format_tickscript(script)
    except TickSyntaxError:
        return script


def dbrps_json(dbrps: list[tuple[str, str]]) -> list[dict[str, str]]:
    """``[{db, rp}]``."""
    return [{"db": db, "rp": rp} for db, rp in dbrps]


def vars_json(values: Mapping[str, Var]) -> dict[str, Any]:
    """``{name: {type, value, description}}``."""
    return {name: var.to_json() for name, var in values.items()}


def declared_vars(info: TickScript) -> dict[str, Var]:
    """A template's vars: its ``var`` statements with literal or declared types.

    A var declared with a type and no value has the value ``null``.
    """
    out: dict[str, Var] = {}
    for decl in info.vars:
        if not decl.type:
            continue
        value: Any = None
        if decl.value_tokens:
            value = _literal_value(decl.type, decl.value_tokens[0].text, decl.value_tokens)
        out[decl.name] = Var(decl.type, value, decl.description)
    return out


def _literal_value(vtype: str, text: str, tokens: list[Any]) -> Any:
    if vtype == "string":
        return text[3:-3] if text.startswith("'''") else text[1:-1]
    if vtype in ("int", "float"):
        number = float(text) if vtype == "float" else int(text)
        return int(number) if float(number).is_integer() else number
    if vtype == "bool":
        return text == "TRUE"
    if vtype == "regex":
        return text[1:-1]
    if vtype == "duration":
        try:
            return parse_influxql_duration(text)
        except BodyError:
            return 0
    if vtype == "lambda":
        return " ".join(t.text for t in tokens[2:] if t.kind is not Kind.COMMENT)
    return None
