"""Decode a JSON body into a Go struct the way ``encoding/json`` does, errors included.

Used by the recording, replay and alert handler endpoints, which answer a bad body with
Go's own error text. A struct is described by :class:`Field` s (JSON name, Go type name,
kind). Keys match case-insensitively (an exact match wins), unknown keys are ignored,
``null`` leaves the zero value, and the first type error is reported after the whole
object was read, as ``json: cannot unmarshal <json kind> into Go struct field
<Struct>.<name> of type <Go type>``. ``time.Time`` and ``TextUnmarshaler`` fields report
their own errors unwrapped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from kapacitor_emulator.gojson import go_quote
from kapacitor_emulator.gosyntax import GoSyntaxError, check_syntax

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
"""Go's zero ``time.Time``."""


class GoDecodeError(ValueError):
    """The body does not decode; the message is Go's error text."""


@dataclass(frozen=True)
class Field:
    """One struct field: JSON name, Go type (for messages) and kind.

    Kinds: ``string``, ``bool``, ``time`` (RFC3339 string), ``map`` (an object),
    ``text`` (a string given to ``parse``, whose ValueError text is the error).
    """

    name: str
    go_type: str
    kind: str
    parse: Callable[[str], Any] | None = None


def json_kind(value: Any) -> str:
    """The JSON kind Go names in ``cannot unmarshal <kind>``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _lookup(obj: dict[str, Any], name: str) -> tuple[bool, Any]:
    if name in obj:
        return True, obj[name]
    found, value = False, None
    for key, item in obj.items():  # the last case-insensitive match wins, as in Go
        if key.lower() == name.lower():
            found, value = True, item
    return found, value


_ZERO: dict[str, Any] = {"string": "", "bool": False, "time": ZERO_TIME, "map": None}


def decode_struct(
    raw: bytes, struct: str, fields: Sequence[Field], *, stream: bool = True
) -> dict[str, Any]:
    """Decode ``raw`` into ``{field name: value}`` (zero values for absent fields).

    Raises:
        GoDecodeError: a syntax error, a non-object body or a field of the wrong type.
    """
    try:
        check_syntax(raw, stream=stream)
    except GoSyntaxError as exc:
        raise GoDecodeError(str(exc)) from exc
    text = raw.decode("utf-8", errors="replace").lstrip()
    value, _ = json.JSONDecoder().raw_decode(text)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise GoDecodeError(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type {struct}"
        )
    out: dict[str, Any] = {}
    first_error: str | None = None
    for field in fields:
        out[field.name] = _ZERO.get(field.kind)
        found, item = _lookup(value, field.name)
        if not found or item is None:
            continue
        try:
            out[field.name] = _convert(field, item)
        except _TypeMismatch:
            message = (
                f"json: cannot unmarshal {json_kind(item)} into Go struct field "
                f"{struct.split('.')[-1]}.{field.name} of type {field.go_type}"
            )
            first_error = first_error or message
        except ValueError as exc:
            raise GoDecodeError(str(exc)) from exc
    if first_error:
        raise GoDecodeError(first_error)
    return out


class _TypeMismatch(Exception):
    pass


def _convert(field: Field, item: Any) -> Any:
    if field.kind == "bool":
        if not isinstance(item, bool):
            raise _TypeMismatch
        return item
    if field.kind == "map":
        if not isinstance(item, dict):
            raise _TypeMismatch
        return item
    if field.kind == "time":
        if not isinstance(item, str):
            raise ValueError("Time.UnmarshalJSON: input is not a JSON string")
        return parse_go_time(item)
    if not isinstance(item, str):
        raise _TypeMismatch
    if field.kind == "text" and field.parse is not None:
        return field.parse(item)
    return item


_LAYOUT = "2006-01-02T15:04:05Z07:00"
_ELEMENTS: list[tuple[str, str]] = [
    ("num4", "2006"),
    ("lit", "-"),
    ("num2", "01"),
    ("lit", "-"),
    ("num2", "02"),
    ("lit", "T"),
    ("num2", "15"),
    ("lit", ":"),
    ("num2", "04"),
    ("lit", ":"),
    ("num2", "05"),
    ("zone", "Z07:00"),
]
_FRACTION = re.compile(r"\.\d+")
_ZONE = re.compile(r"Z|[+-]\d\d:\d\d")


def parse_go_time(text: str) -> datetime:
    """``time.Parse(time.RFC3339, text)`` with Go's error texts for the common mistakes.

    Raises:
        ValueError: ``parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse ...``.
    """
    pos, parts = 0, []
    fraction = ""
    zone = "Z"
    for kind, elem in _ELEMENTS:
        rest = text[pos:]
        width = 4 if kind == "num4" else 2
        ok = False
        if kind.startswith("num"):
            ok = len(rest) >= width and rest[:width].isdigit()
            if ok:
                parts.append(int(rest[:width]))
                pos += width
                if elem == "05" and (match := _FRACTION.match(text, pos)):
                    fraction = match.group(0)[1:]
                    pos = match.end()
        elif kind == "lit":
            ok = rest.startswith(elem)
            pos += len(elem) if ok else 0
        else:
            match = _ZONE.match(rest)
            ok = match is not None
            if match is not None:
                zone = match.group(0)
                pos += match.end()
        if not ok:
            raise ValueError(
                f"parsing time {go_quote(text)} as {go_quote(_LAYOUT)}: "
                f"cannot parse {go_quote(rest)} as {go_quote(elem)}"
            )
    if pos < len(text):
        raise ValueError(f"parsing time {go_quote(text)}: extra text: {go_quote(text[pos:])}")
    year, month, day, hour, minute, second = parts
    tz = UTC
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    for label, value, low, high in (
        ("month", month, 1, 12),
        ("day", day, 1, 31),
        ("hour", hour, 0, 23),
        ("minute", minute, 0, 59),
        ("second", second, 0, 59),
    ):
        if not low <= value <= high:
            raise ValueError(f"parsing time {go_quote(text)}: {label} out of range")
    micros = int((fraction + "000000")[:6]) if fraction else 0
    try:
        moment = datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"parsing time {go_quote(text)}: day out of range") from exc
    return moment.astimezone(UTC) if year > 1 else moment
