"""TICKscript literals, and Go's text conversions they and error messages go through.

Kapacitor parses numbers with ``strconv.ParseInt`` (a leading ``0`` means octal),
durations with ``influxql.ParseDuration``, quotes names with ``%q``, and its JSON
encoder turns invalid UTF-8 (a context window cut inside a character) into U+FFFD.
"""

from __future__ import annotations

import re

from kapacitor_emulator import tick_ast as ast
from kapacitor_emulator.go_regexp import regexp_error
from kapacitor_emulator.tick_tokens import T, Token

_INT64 = 1 << 63
_UNIT_NANOS = {"u": 1_000, "µ": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_UNIT_NANOS |= {"m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_UNIT_NANOS |= {"w": 604_800_000_000_000}


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (enough for literals and names)."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def go_bytes_text(data: bytes) -> str:
    """Bytes as Go's JSON encoder shows them: each invalid UTF-8 byte becomes U+FFFD."""
    out, i = [], 0
    while i < len(data):
        for size in (1, 2, 3, 4):
            try:
                out.append(data[i : i + size].decode())
                i += size
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def parse_int64(text: str, base: int) -> int | None:
    """Go's ``strconv.ParseInt(text, base, 64)`` for ASCII digits; ``None`` on error."""
    digits = "01234567" if base == 8 else "0123456789"
    if not text or any(ch not in digits for ch in text):
        return None
    value = int(text, base)
    return value if value < _INT64 else None


def parse_duration(text: str) -> int | None:
    """``influxql.ParseDuration`` of a lexer duration token, in nanoseconds (wrapping
    like Go's ``int64`` arithmetic); ``None`` when InfluxQL says ``invalid duration``."""
    match = re.fullmatch(r"([0-9]+)(ms|[uµsmhdw])", text)
    if match is None:
        return None
    count = parse_int64(match.group(1), 10)
    if count is None:
        return None
    nanos = (count * _UNIT_NANOS[match.group(2)]) % (1 << 64)
    return nanos - (1 << 64) if nanos >= _INT64 else nanos


def literal_node(tok: Token, pos: ast.Pos) -> ast.Node:
    """The node of a duration, regex or number token.

    Raises:
        ValueError: Kapacitor's reason (after ``parser: ``).
    """
    if tok.typ is T.DURATION:
        nanos = parse_duration(tok.val)
        if nanos is None:
            raise ValueError("invalid duration")
        return ast.Duration(pos, nanos, tok.val)
    if tok.typ is T.REGEX:
        pattern = tok.val[1:-1].replace("\\/", "/")
        if error := regexp_error(pattern):
            raise ValueError(error)
        return ast.Regex(pos, pattern)
    text = tok.val
    if "." in text:
        if re.fullmatch(r"[0-9]*\.[0-9]*", text) and (value := float(text)) != float("inf"):
            return ast.Number(pos, False, value)
    else:
        integer = parse_int64(text, 8 if text.startswith("0") and len(text) > 1 else 10)
        if integer is not None:
            return ast.Number(pos, True, integer)
    raise ValueError(f"illegal number syntax: {go_quote(text)}")


def string_literal(text: str) -> str:
    """A string token's value: ``'''...'''`` as written, ``'...'`` with ``\\'`` unescaped."""
    if len(text) >= 6 and text.startswith("'''"):
        return text[3:-3]
    return text[1:-1].replace("\\'", "'")
