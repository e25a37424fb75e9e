"""Request decoding for the Flux task API, with InfluxDB's ``failed to decode request`` errors.

The vendored InfluxDB handlers decode query strings and JSON bodies before touching the
store, and wrap every decoding problem as a 400 ``failed to decode request: <cause>``
where the cause is Go's own error text (``strconv.Atoi: ...``, ``EOF``, ``invalid ID``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from kapacitor_emulator.gojson import parse_rfc3339
from kapacitor_emulator.ids import FluxIDError, decode_flux_id
from kapacitor_emulator.responses import FluxError

_GO_TYPES = {
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}

_GO_SYNTAX = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name": "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
}
"""Python's JSON syntax errors → the tail of Go's ``invalid character`` messages."""


def decode_error(cause: str) -> FluxError:
    """``failed to decode request: <cause>`` (code ``invalid``)."""
    return FluxError("invalid", f"failed to decode request: {cause}")


def flux_id(value: str) -> str:
    """Decode a path or query ID.

    Raises:
        FluxError: 400 ``failed to decode request: <why>``.
    """
    try:
        return decode_flux_id(value)
    except FluxIDError as exc:
        raise decode_error(str(exc)) from exc


def json_body(raw: bytes, struct: str) -> dict[str, Any]:
    """Decode a JSON object body the way Go's ``json.Decoder`` reports problems.

    Raises:
        FluxError: 400 ``failed to decode request: EOF`` / ``invalid character ...``.
    """
    text = raw.decode("utf-8", errors="replace").lstrip()
    if not text:
        raise decode_error("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text) or exc.msg.startswith("Unterminated"):
            raise decode_error("unexpected EOF") from exc
        where = next((w for m, w in _GO_SYNTAX.items() if exc.msg.startswith(m)), "in value")
        raise decode_error(f"invalid character {text[exc.pos]!r} {where}") from exc
    if not isinstance(value, dict):
        kind = _GO_TYPES.get(type(value), "value")
        raise decode_error(f"json: cannot unmarshal {kind} into Go value of type {struct}")
    return value


def _get(obj: dict[str, Any], key: str) -> Any:
    """Go's field matching: the exact key, else a case-insensitive match."""
    if key in obj:
        return obj[key]
    return next((v for k, v in obj.items() if k.lower() == key.lower()), None)


def optional_string(obj: dict[str, Any], key: str, struct: str) -> str | None:
    """A string field; None when absent or null.

    Raises:
        FluxError: the field has another JSON type.
    """
    value = _get(obj, key)
    if value is None:
        return None
    if not isinstance(value, str):
        kind = _GO_TYPES.get(type(value), "value")
        raise decode_error(
            f"json: cannot unmarshal {kind} into Go struct field {struct}.{key} of type string"
        )
    return value


def optional_int(obj: dict[str, Any], key: str, struct: str) -> int | None:
    """An integer field; None when absent or null.

    Raises:
        FluxError: the field is not an integer.
    """
    value = _get(obj, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        kind = _GO_TYPES.get(type(value), "value")
        raise decode_error(
            f"json: cannot unmarshal {kind} into Go struct field {struct}.{key} of type int64"
        )
    return value


def go_atoi(raw: str) -> int:
    """Go's ``strconv.Atoi``.

    Raises:
        FluxError: 400 ``failed to decode request: strconv.Atoi: parsing "x": ...``.
    """
    if not re.fullmatch(r"[+-]?\d+", raw):
        raise decode_error(f'strconv.Atoi: parsing "{raw}": invalid syntax')
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise decode_error(f'strconv.Atoi: parsing "{raw}": value out of range')
    return value


def rfc3339(raw: str) -> datetime:
    """A strict RFC3339 time.

    Raises:
        FluxError: 400 ``failed to decode request: parsing time ...``.
    """
    try:
        return parse_rfc3339(raw)
    except ValueError as exc:
        raise decode_error(str(exc)) from exc
