"""InfluxDB line protocol, parsed as ``influxdb/models.ParsePointsWithPrecision`` (v1.9).

``POST /kapacitor/v1/write`` hands the body to that function: blank lines and ``#``
comments are skipped, every bad line adds ``unable to parse '<line>': <why>`` and one bad
line rejects the whole request. The checks and their order follow the Go scanner
(measurement, tags, fields, timestamp); the reasons are its texts (``missing fields``,
``invalid field format``, ``unbalanced quotes``, ``bad timestamp``, ``invalid number``,
``invalid boolean``, ``time outside range ...``). A line without a timestamp gets the
request time truncated to the precision. Precision ``n`` (default), ``u``, ``ms``, ``s``,
``m``, ``h``; anything else counts as ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_NANO = -9223372036854775806
MAX_NANO = 9223372036854775806
PRECISION_NS = {"u": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000}
PRECISION_NS["h"] = 3_600_000_000_000


class LineError(ValueError):
    """Why one line does not parse (the text after ``unable to parse '<line>': ``)."""


@dataclass(frozen=True)
class Point:
    """A parsed point: the series key (measurement plus tags, as written), the field
    text, the measurement name and the time in nanoseconds."""

    measurement: str
    key: str
    fields: str
    time_ns: int

    def line(self) -> str:
        """The point in line protocol with a nanosecond timestamp."""
        return f"{self.key} {self.fields} {self.time_ns}"


def _scan_measurement(buf: str, i: int) -> tuple[str, int]:
    if i >= len(buf) or buf[i] == ",":
        raise LineError("missing measurement")
    while True:
        i += 1
        if i >= len(buf):
            raise LineError("missing fields")
        if buf[i - 1] == "\\":
            continue
        if buf[i] == ",":
            return "tags", i + 1
        if buf[i] == " ":
            return "fields", i


def _scan_tags(buf: str, i: int) -> int:
    while True:
        if i >= len(buf) or buf[i] in " ,=":
            raise LineError("missing tag key")
        while True:  # tag key
            i += 1
            if i >= len(buf) or (buf[i] in " ," and buf[i - 1] != "\\"):
                raise LineError("missing tag value")
            if buf[i] == "=" and buf[i - 1] != "\\":
                i += 1
                break
        if i >= len(buf) or buf[i] in ", ":
            raise LineError("missing tag value")
        while True:  # tag value
            i += 1
            if i >= len(buf):
                raise LineError("missing fields")
            if buf[i] == "=" and buf[i - 1] != "\\":
                raise LineError("invalid tag format")
            if buf[i] == "," and buf[i - 1] != "\\":
                i += 1
                break
            if buf[i] == " " and buf[i - 1] != "\\":
                return i


def _numeric(ch: str) -> bool:
    return ch.isdigit() or ch == "."


def _scan_number(buf: str, i: int) -> int:
    start = i
    is_int = is_uint = decimal = scientific = False
    if i < len(buf) and buf[i] == "-":
        i += 1
        if i == len(buf):
            raise LineError("invalid number")
    while i < len(buf) and buf[i] not in ", ":
        ch = buf[i]
        if ch in "iu" and i > start and not (is_int or is_uint):
            is_int, is_uint = is_int or ch == "i", is_uint or ch == "u"
            i += 1
            continue
        if ch == ".":
            if decimal:
                raise LineError("invalid number")
            decimal = True
        if i > start and ch in "eE":
            scientific = True
            i += 1
            continue
        if ch in "+-" and buf[i - 1] in "eE":
            i += 1
            continue
        if not _numeric(ch):
            raise LineError("invalid number")
        i += 1
    text = buf[start:i]
    digits = sum(c.isdigit() for c in text)
    if ((is_int or is_uint) and (decimal or scientific)) or digits == 0:
        raise LineError("invalid number")
    if (is_int or is_uint) and not text.endswith("iu"[is_uint]):
        raise LineError("invalid number")
    if is_uint:
        raise LineError("invalid number")  # unsigned fields are off in InfluxDB 1.x
    if is_int and not -(2**63) <= int(text[:-1]) < 2**63:
        raise LineError(
            f'unable to parse integer {text[:-1]}: strconv.ParseInt: parsing "{text[:-1]}": '
            "value out of range"
        )
    if not is_int:
        try:
            float(text)
        except ValueError as exc:
            raise LineError("invalid float") from exc
    return i


def _scan_boolean(buf: str, i: int) -> int:
    start = i
    if i < len(buf) and buf[i] not in "tfTF":
        raise LineError("invalid boolean")
    i += 1
    while i < len(buf) and buf[i] not in ", ":
        i += 1
    word = buf[start:i]
    if len(word) > 1 and word not in ("true", "false", "TRUE", "True", "FALSE", "False"):
        raise LineError("invalid boolean")
    return i


def _scan_fields(buf: str, i: int) -> tuple[str, int]:
    while i < len(buf) and buf[i] in " \t\0":
        i += 1
    start, quoted, equals, commas = i, False, 0, 0
    while i < len(buf):
        ch = buf[i]
        if ch == "\\" and i + 1 < len(buf):
            i += 2
            continue
        if ch == '"' and equals > commas:
            quoted = not quoted
            i += 1
            continue
        if ch == "=" and not quoted:
            equals += 1
            if buf[i - 1] in " ," and (i < 2 or buf[i - 2] != "\\"):
                raise LineError("missing field key")
            if i + 1 >= len(buf) or buf[i + 1] in ", ":
                raise LineError("missing field value")
            nxt = buf[i + 1]
            if _numeric(nxt) or nxt in "-Nn":
                i = _scan_number(buf, i + 1)
                continue
            if nxt != '"':
                i = _scan_boolean(buf, i + 1)
                continue
        if ch == "," and not quoted:
            commas += 1
        if ch == " " and not quoted:
            break
        i += 1
    if quoted:
        raise LineError("unbalanced quotes")
    if equals == 0 or commas != equals - 1:
        raise LineError("invalid field format")
    return buf[start:i], i


def _measurement(key: str) -> str:
    """The unescaped measurement name of a series key."""
    end = 0
    while end < len(key) and not (key[end] == "," and (end == 0 or key[end - 1] != "\\")):
        end += 1
    return key[:end].replace("\\,", ",").replace("\\ ", " ")


def _parse_line(line: str, now_ns: int, precision: str) -> Point:
    state, i = _scan_measurement(line, 0)
    if state == "tags":
        i = _scan_tags(line, i)
    key = line[:i]
    measurement = _measurement(key)
    fields, i = _scan_fields(line, i)
    if not fields:
        raise LineError("missing fields")
    while i < len(line) and line[i] in " \t\0":
        i += 1
    start = i
    while i < len(line) and line[i] not in " \n":
        if not (line[i].isdigit() or (i == start and line[i] == "-")):
            raise LineError("bad timestamp")
        i += 1
    stamp = line[start:i]
    mult = PRECISION_NS.get(precision, 1)
    if not stamp:
        return Point(measurement, key, fields, now_ns - now_ns % mult)
    try:
        value = int(stamp)
    except ValueError as exc:
        raise LineError(f'strconv.ParseInt: parsing "{stamp}": invalid syntax') from exc
    if not MIN_NANO // mult <= value <= MAX_NANO // mult:
        raise LineError(f"time outside range {MIN_NANO} - {MAX_NANO}")
    if line[i:].strip(" "):
        raise LineError("point is invalid")
    return Point(measurement, key, fields, value * mult)


def parse_points(body: str, now_ns: int, precision: str) -> list[Point]:
    """Every point of the body.

    Raises:
        ValueError: one ``unable to parse '<line>': <why>`` line per bad line.
    """
    points: list[Point] = []
    failed: list[str] = []
    for raw in body.split("\n"):
        line = raw.lstrip(" \t\0")
        if not line or line.startswith("#"):
            continue
        try:
            points.append(_parse_line(line, now_ns, precision))
        except LineError as exc:
            failed.append(f"unable to parse '{line}': {exc}")
    if failed:
        raise ValueError("\n".join(failed))
    return points
