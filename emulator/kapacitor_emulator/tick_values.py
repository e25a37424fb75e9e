"""Values of Kapacitor's TICKscript evaluator, each tagged with its Go type.

Kapacitor's evaluator passes Go values to pipeline methods by reflection, and its errors
name their Go types (``reflect: Call using int64 as type string``, ``%T``), so the
emulator keeps the Go type of every value next to the value itself. A value the
emulator cannot compute (an expression it does not evaluate) has the type ``?`` and
passes every type check: the validator never rejects what it cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UNKNOWN = "?"
NIL = "<nil>"
INT = "int64"
FLOAT = "float64"
STRING = "string"
BOOL = "bool"
DURATION = "time.Duration"
REGEX = "*regexp.Regexp"
LAMBDA = "*ast.LambdaNode"
STAR = "*ast.StarNode"
REFERENCE = "*ast.ReferenceNode"
LIST = "[]interface {}"
TIME_DIMENSION = "kapacitor.TimeDimension"

_VALUE_TYPES = {
    FLOAT: "float",
    INT: "int",
    STRING: "string",
    BOOL: "boolean",
    REGEX: "regex",
    DURATION: "duration",
    LAMBDA: "lambda",
    LIST: "list",
    STAR: "star",
}
"""Go type → ``ast.ValueType`` name, as Kapacitor prints it (``bool`` is ``boolean``)."""

VAR_TYPES = {
    "bool": BOOL,
    "int": INT,
    "float": FLOAT,
    "string": STRING,
    "regex": REGEX,
    "duration": DURATION,
    "lambda": LAMBDA,
    "list": LIST,
    "star": STAR,
}
"""Declared var type (``var x int``, a body var's ``type``) → Go type."""


class EvalError(Exception):
    """The script does not compile; the message is Kapacitor's (after ``invalid TICKscript: ``)."""


@dataclass
class Value:
    """A Go value: its type as ``%T`` prints it, and a Python stand-in for the value."""

    go_type: str
    value: Any = None

    @property
    def unknown(self) -> bool:
        """Whether the emulator could not compute the value (it passes all checks)."""
        return self.go_type == UNKNOWN


def value_type(go_type: str) -> str:
    """The ``ast.ValueType`` name of a Go type (``invalid type`` for nodes and others)."""
    return _VALUE_TYPES.get(go_type, "invalid type")


def zero_value(go_type: str) -> Value:
    """``ast.ZeroValue``: what a template's var without a value evaluates to."""
    zeros: dict[str, Any] = {FLOAT: 0.0, INT: 0, STRING: "", BOOL: False, DURATION: 0, LIST: []}
    return Value(go_type, zeros.get(go_type))


def go_format(value: Value) -> str:
    """Go's ``%v`` of a simple value (others get a best-effort rendering)."""
    if value.go_type == BOOL:
        return "true" if value.value else "false"
    if value.go_type == DURATION:
        return format_go_duration(int(value.value))
    if value.go_type == FLOAT:
        return format_go_float(float(value.value))
    if value.go_type in (INT, STRING):
        return str(value.value)
    return f"{value.go_type}"


def format_go_float(number: float) -> str:
    """Go's ``%v`` of a ``float64`` (shortest representation, ``e+21`` style exponents)."""
    if number == int(number) and abs(number) < 1e21:
        return str(int(number))
    text = repr(number)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mantissa}e{sign}{abs(int(exp)):02d}"
    return text


def format_go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String()``."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _trim(nanos / size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _trim(rest / 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _trim(number: float) -> str:
    text = f"{number:.9f}".rstrip("0").rstrip(".")
    return text or "0"
