"""Decode TICKscript task and template request bodies the way Go's encoding/json does.

Kapacitor answers ``invalid JSON`` both for bodies that are not JSON and for bodies whose
fields have the wrong type, an unknown enum value or a var whose value does not match
its declared type. Go matches field names case-insensitively and ignores unknown keys;
this module does the same and returns plain Python values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kapacitor_emulator.state import Var
from kapacitor_emulator.tick_lang import VAR_TYPES


class BodyError(ValueError):
    """The body cannot be decoded; Kapacitor says ``invalid JSON``."""


@dataclass
class TaskBody:
    """Decoded fields of a task or template POST/PATCH body (zero values when absent)."""

    id: str = ""
    template_id: str = ""
    type: str = ""
    dbrps: list[tuple[str, str]] = field(default_factory=list)
    script: str = ""
    status: str = ""
    vars: dict[str, Var] = field(default_factory=dict)


_DURATION_UNITS = {
    "ns": 1,
    "u": 1_000,
    "µ": 1_000,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+)(ns|us|u|µ|ms|s|m|h|d|w)")


def parse_influxql_duration(text: str) -> int:
    """InfluxQL duration (``10s``, ``1h30m``, ``1w``) in nanoseconds.

    Raises:
        BodyError: not a duration.
    """
    pos, total = 0, 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise BodyError(f"invalid duration {text!r}")
        total += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise BodyError("invalid duration")
    return total


def _field(obj: dict[str, Any], name: str) -> Any:
    """Go's field lookup: exact key first, then case-insensitive."""
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return None


def _string(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BodyError("expected a string")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and not isinstance(value, bool)


def decode_var(raw: Any) -> Var:
    """Decode one ``{type, value, description}`` var.

    Raises:
        BodyError: unknown type or a value of the wrong type.
    """
    if not isinstance(raw, dict):
        raise BodyError("var must be an object")
    vtype = _string(_field(raw, "type"))
    value = _field(raw, "value")
    description = _string(_field(raw, "description"))
    if vtype not in VAR_TYPES:
        raise BodyError(f"invalid var type {vtype!r}")
    if vtype == "bool" and not isinstance(value, bool):
        raise BodyError("bool var")
    if vtype == "int" and not (_is_int(value) or (isinstance(value, float) and value.is_integer())):
        raise BodyError("int var")
    if vtype == "float" and not _is_number(value):
        raise BodyError("float var")
    if vtype in ("string", "regex", "lambda") and not isinstance(value, str):
        raise BodyError(f"{vtype} var")
    if vtype == "duration":
        if isinstance(value, str):
            value = parse_influxql_duration(value)
        elif not _is_int(value):
            raise BodyError("duration var")
    if vtype == "int":
        value = int(value)
    if vtype == "float" and float(value).is_integer() and abs(value) < 1e21:
        value = int(value)  # Go prints 1.0 as 1
    if vtype == "list":
        if not isinstance(value, list):
            raise BodyError("list var")
        if not all(isinstance(item, dict) and {"type", "value"} <= item.keys() for item in value):
            raise BodyError("list items need a type and a value")
        value = [decode_var(item).to_json() for item in value]
    if vtype == "star":
        value = None
    return Var(vtype, value, description)


def _dbrps(raw: Any) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BodyError("dbrps must be a list")
    out: list[tuple[str, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise BodyError("dbrp must be an object")
        out.append((_string(_field(item, "db")), _string(_field(item, "rp"))))
    return out


def _enum(value: Any, allowed: tuple[str, ...]) -> str:
    text = _string(value)
    if text and text not in allowed:
        raise BodyError(f"unknown value {text!r}")
    return text


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode the first JSON value of a body (Go's ``json.Decoder``), which must be an object.

    Raises:
        BodyError: not JSON, or not an object.
    """
    try:
        text = raw.decode("utf-8").lstrip()
        value, _ = json.JSONDecoder().raw_decode(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyError(str(exc)) from exc
    if not isinstance(value, dict):
        raise BodyError("body must be an object")
    return value


def decode_task_body(raw: bytes) -> TaskBody:
    """Decode a task/template body.

    Raises:
        BodyError: the body is not a valid task body (answer ``invalid JSON``).
    """
    obj = parse_json_object(raw)
    vars_raw = _field(obj, "vars")
    if vars_raw is not None and not isinstance(vars_raw, dict):
        raise BodyError("vars must be an object")
    return TaskBody(
        id=_string(_field(obj, "id")),
        template_id=_string(_field(obj, "template-id")),
        type=_enum(_field(obj, "type"), ("stream", "batch")),
        dbrps=_dbrps(_field(obj, "dbrps")),
        script=_string(_field(obj, "script")),
        status=_enum(_field(obj, "status"), ("enabled", "disabled")),
        vars={name: decode_var(v) for name, v in (vars_raw or {}).items()},
    )
