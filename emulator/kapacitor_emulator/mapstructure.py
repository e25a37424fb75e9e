"""``mapstructure`` v1.5.0 decoding (``ErrorUnused``, not weakly typed), errors included.

Kapacitor decodes alert handler ``options`` into each kind's Go config struct with it, so
an unknown key or a value of the wrong type is a 500 whose text lists every problem:
``1 error(s) decoding:\\n\\n* '' has invalid keys: url``. Values arrive as
``encoding/json`` leaves them in ``interface{}`` (numbers are float64), which decides
which conversions succeed (a float fits an int field, a string never does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kapacitor_emulator.goformat import go_kind_name, go_type_name, v_text


@dataclass(frozen=True)
class GoType:
    """A Go type as far as decoding cares: kind, name (for messages), element, fields."""

    kind: str  # string bool int uint slice map any struct ptrstruct text
    name: str
    elem: GoType | None = None
    fields: tuple[tuple[str, GoType], ...] = ()
    accepted: tuple[str, ...] = ()  # for ``text``: what UnmarshalText accepts
    text_error: str = ""


STRING = GoType("string", "string")
BOOL = GoType("bool", "bool")
INT64 = GoType("int", "int64")
DURATION = GoType("int", "time.Duration")
FILEMODE = GoType("uint", "fs.FileMode")
ANY = GoType("any", "interface {}")
STRINGS = GoType("slice", "[]string", STRING)
STRING_MAP = GoType("map", "map[string]string", STRING)
ANY_MAP = GoType("map", "map[string]interface {}", ANY)
TEMPLATE = GoType("ptrstruct", "*template.Template")


def struct(name: str, *fields: tuple[str, GoType]) -> GoType:
    """A struct type with its fields in declaration order (names as mapstructure sees them)."""
    return GoType("struct", name, fields=tuple(fields))


def _unconvertible(name: str, target: GoType, value: Any) -> str:
    return (
        f"'{name}' expected type '{target.name}', got unconvertible type "
        f"'{go_type_name(value)}', value: '{v_text(value)}'"
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _decode(name: str, value: Any, target: GoType, errors: list[str]) -> None:
    if value is None or target.kind == "any":
        return
    kind = target.kind
    if kind == "text" and isinstance(value, str):
        if value not in target.accepted:
            errors.append(f"error decoding '{name}': {target.text_error}")
        return
    if kind in ("string", "bool"):
        ok = isinstance(value, str) if kind == "string" else isinstance(value, bool)
        if not ok:
            errors.append(_unconvertible(name, target, value))
    elif kind == "int":
        if not _number(value):
            errors.append(_unconvertible(name, target, value))
    elif kind in ("uint", "text"):
        if not _number(value):
            errors.append(_unconvertible(name, target, value))
        elif value < 0:
            errors.append(f"cannot parse '{name}', {float(value):f} overflows uint")
    elif kind == "slice":
        if not isinstance(value, list):
            errors.append(
                f"'{name}': source data must be an array or slice, got {go_kind_name(value)}"
            )
            return
        assert target.elem is not None
        for index, item in enumerate(value):
            _decode(f"{name}[{index}]", item, target.elem, errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"'{name}' expected a map, got '{go_kind_name(value)}'")
            return
        assert target.elem is not None
        for key, item in value.items():
            _decode(f"{name}[{key}]", item, target.elem, errors)
    elif kind in ("struct", "ptrstruct"):
        if not isinstance(value, dict):
            errors.append(f"'{name}' expected a map, got '{go_kind_name(value)}'")
            return
        _decode_struct(name, value, target.fields, errors)


def _decode_struct(
    name: str, value: dict[str, Any], fields: Sequence[tuple[str, GoType]], errors: list[str]
) -> None:
    unused = set(value)
    for field_name, target in fields:
        key: str | None = field_name if field_name in value else None
        if key is None:
            key = next((k for k in value if k.lower() == field_name.lower()), None)
        if key is None:
            continue
        unused.discard(key)
        full = f"{name}.{field_name}" if name else field_name
        _decode(full, value[key], target, errors)
    if unused:
        errors.append(f"'{name}' has invalid keys: {', '.join(sorted(unused))}")


def decode_options(options: dict[str, Any] | None, config: GoType) -> str | None:
    """Decode handler options into ``config``; the error text, or None when they fit.

    The text is ``failed to decode options into *<type>: N error(s) decoding:...``.
    """
    if options is None:
        return None
    errors: list[str] = []
    _decode_struct("", options, config.fields, errors)
    if not errors:
        return None
    points = "\n".join(sorted(f"* {e}" for e in errors))
    return (
        f"failed to decode options into *{config.name}: "
        f"{len(errors)} error(s) decoding:\n\n{points}"
    )
