"""Go's spelling of values that went through ``interface{}``: JSON floats and ``%v``.

Kapacitor decodes alert handler options into ``map[string]interface{}``, so every
number becomes a ``float64``: it is echoed the way ``encoding/json`` writes a float
(``1e9`` as ``1000000000``, ``1e21`` as ``1e+21``, ``1e-7`` as ``1e-7``) and named in
option errors the way ``fmt`` prints it with ``%v`` (``1e+06``, ``[a b]``,
``map[k:v]``).
"""

from __future__ import annotations

from typing import Any

from kapacitor_emulator.gojson import go_dumps


def _digits(value: float) -> tuple[str, int]:
    """Shortest decimal digits ``d`` and exponent ``p`` with ``|value| = 0.d * 10**p``."""
    text = repr(abs(float(value)))
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits, point = whole + frac, len(whole) + int(exp or "0")
    while len(digits) > 1 and digits[0] == "0":
        digits, point = digits[1:], point - 1
    return digits.rstrip("0") or "0", point


def _fixed(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _exponent(digits: str, point: int, *, min_exp_digits: int) -> str:
    exp = point - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return f"{mantissa}e{sign}{abs(exp):0{min_exp_digits}d}"


def json_float(value: float) -> str:
    """``encoding/json``'s text for a float64."""
    if value == 0:
        return "0" if str(value)[0] != "-" else "-0"
    digits, point = _digits(value)
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        return sign + _exponent(digits, point, min_exp_digits=1)
    return sign + _fixed(digits, point)


def v_float(value: float) -> str:
    """``fmt``'s ``%v`` for a float64 (``%g`` with the shortest digits)."""
    if value == 0:
        return "0"
    digits, point = _digits(value)
    sign = "-" if value < 0 else ""
    exp = point - 1
    if exp < -4 or exp >= 6:  # %g with the shortest digits decides with precision 6
        return sign + _exponent(digits, point, min_exp_digits=2)
    return sign + _fixed(digits, point)


def v_text(value: Any) -> str:
    """``fmt``'s ``%v`` for a decoded JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return v_float(float(value))
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[" + " ".join(v_text(v) for v in value) + "]"
    return "map[" + " ".join(f"{k}:{v_text(value[k])}" for k in sorted(value)) + "]"


def go_type_name(value: Any) -> str:
    """The Go type ``encoding/json`` decodes a JSON value into (inside ``interface{}``)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


def go_kind_name(value: Any) -> str:
    """The reflect kind of that Go type (``float64``, ``slice``, ``map``...)."""
    name = go_type_name(value)
    return {"[]interface {}": "slice", "map[string]interface {}": "map"}.get(name, name)


_MARK = "@@gofloat:{}@@"


def _mark_floats(value: Any, floats: list[str]) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        floats.append(json_float(float(value)))
        return _MARK.format(len(floats) - 1)
    if isinstance(value, list):
        return [_mark_floats(v, floats) for v in value]
    return {k: _mark_floats(v, floats) for k, v in value.items()}


def sorted_maps(value: Any) -> Any:
    """A copy with every object's keys sorted, as Go marshals maps."""
    if isinstance(value, dict):
        return {k: sorted_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_maps(v) for v in value]
    return value


def interface_dumps(value: Any, *, pretty: bool = True) -> str:
    """``go_dumps`` where every number is written as a Go float64."""
    floats: list[str] = []
    text = go_dumps(_mark_floats(value, floats), pretty=pretty)
    for index, literal in enumerate(floats):
        text = text.replace(f'"{_MARK.format(index)}"', literal, 1)
    return text


def _fraction(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10**digits)
    text = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``0s``, ``1.5s``, ``1m30s``, ``500ms``, ``2h0m0s``."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_fraction(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_fraction(u, 6)}ms"
    hours, rest = divmod(u, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return f"{sign}{out}{_fraction(rest, 9)}s"
