"""Go-compatible JSON, quoting and time formatting.

Kapacitor is written in Go, and clients (including ours) may compare bodies byte for
byte, so the emulator reproduces Go's encoding/json output (HTML-safe escaping,
``MarshalIndent`` with four spaces) and Go's time layouts (RFC3339 / RFC3339Nano).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time`` rendered as RFC3339."""

_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_HTML_RE = re.compile("[<>&\u2028\u2029]")


def go_dumps(value: Any, *, pretty: bool) -> str:
    """Encode like Go: ``json.MarshalIndent(v, "", "    ")`` or compact ``json.Marshal``."""
    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent=4, separators=(",", ": "))
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _HTML_RE.sub(lambda m: _HTML_ESCAPES[m.group(0)], text)


def go_quote(text: str) -> str:
    """Quote a string as Go's ``%q`` / ``strconv.Quote`` does."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def format_rfc3339nano(moment: datetime) -> str:
    """Go's ``time.RFC3339Nano``: fractional seconds with trailing zeros trimmed."""
    utc = moment.astimezone(UTC)
    base = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        base += "." + f"{utc.microsecond:06d}".rstrip("0")
    return base + "Z"


def format_rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339`` in UTC: whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)
_LAYOUT = "2006-01-02T15:04:05Z07:00"


def parse_rfc3339(text: str) -> datetime:
    """Parse like Go's ``time.Parse(time.RFC3339, s)``.

    Raises:
        ValueError: with a Go-shaped message (``parsing time "x" as "...": ...``).
    """
    match = _RFC3339_RE.match(text)
    if match is None:
        raise ValueError(f'parsing time {go_quote(text)} as "{_LAYOUT}": cannot parse')
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac, zone = match.group(7), match.group(8)
    micros = int((frac[1:] + "000000")[:6]) if frac else 0
    if zone == "Z":
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        moment = datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"parsing time {go_quote(text)}: {exc}") from exc
    return moment.astimezone(UTC)


def truncate_seconds(moment: datetime) -> datetime:
    """Drop sub-second precision (Go's ``Truncate(time.Second)``)."""
    return moment.replace(microsecond=0)
