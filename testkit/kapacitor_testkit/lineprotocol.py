"""InfluxDB line protocol, written (never parsed): what Telegraf sends to Kapacitor.

The data writer (:mod:`kapacitor_testkit.datawriter`) renders its points with this, so
the escaping rules live in one small place a unit test can pin: measurement names escape
commas and spaces, tag keys and values also escape ``=``, string fields are quoted with
``"`` and ``\\`` escaped, integers end in ``i``, and timestamps are nanoseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FieldValue = float | int | bool | str


@dataclass(frozen=True)
class Point:
    """One point: a series (measurement and tags), its fields and a time in ns."""

    measurement: str
    fields: Mapping[str, FieldValue]
    time_ns: int
    tags: Mapping[str, str] = field(default_factory=dict)


def _escape(text: str, specials: str) -> str:
    text = text.replace("\\", "\\\\")
    for char in specials:
        text = text.replace(char, "\\" + char)
    return text


def escape_measurement(name: str) -> str:
    """A measurement name: commas and spaces are escaped."""
    return _escape(name, ", ")


def escape_key(text: str) -> str:
    """A tag key, tag value or field key: commas, ``=`` and spaces are escaped."""
    return _escape(text, ",= ")


def format_value(value: FieldValue) -> str:
    """A field value as line protocol writes it.

    Raises:
        ValueError: a float that is NaN or infinite (line protocol cannot carry it).
    """
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"line protocol has no float {value!r}")
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_point(point: Point) -> str:
    """One line: tags sorted by key (as InfluxDB stores them), fields in given order.

    Raises:
        ValueError: no fields, an empty tag value, or a non-finite float.
    """
    if not point.fields:
        raise ValueError(f"point {point.measurement!r} has no fields")
    series = escape_measurement(point.measurement)
    for key in sorted(point.tags):
        if not point.tags[key]:
            raise ValueError(f"tag {key!r} of {point.measurement!r} is empty")
        series += f",{escape_key(key)}={escape_key(point.tags[key])}"
    fields = ",".join(f"{escape_key(k)}={format_value(v)}" for k, v in point.fields.items())
    return f"{series} {fields} {point.time_ns}"


def render_lines(points: Iterable[Point]) -> str:
    """A write body: one line per point, newline-terminated.

    Raises:
        ValueError: as :func:`render_point`.
    """
    return "".join(render_point(p) + "\n" for p in points)
