"""Go's regexp syntax errors (``regexp.Compile`` with Perl flags), for the common mistakes.

TICKscript regex literals (``/.../``) and ``regex`` vars are compiled by Go when a task
is written; the error reads ``error parsing regexp: <code>: `<text>```. Python's ``re``
accepts and rejects different patterns (lookarounds, backreferences), so this module
walks a pattern the way Go's ``regexp/syntax`` parser does and reports its first error:
unbalanced parentheses, an unclosed class, a repetition without an argument or stacked
on another, a bad repeat count, an unknown escape, an unsupported ``(?`` group or a
reversed class range. Checks it does not make (Unicode class names, nesting and size
limits, UTF-8) never produce an error here.
"""

from __future__ import annotations

import re

_PREFIX = "error parsing regexp: "
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_ATOM, _LPAREN, _BAR = "atom", "(", "|"
_NAMED_CLASSES = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower"}
_NAMED_CLASSES |= {"print", "punct", "space", "upper", "word", "xdigit"}
_FLAGS = set("imsU")


class _Error(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{_PREFIX}{code}: `{text}`")


def _escape(t: str) -> tuple[str, str]:
    """One escape at the start of ``t`` (``\\...``): (its character, the rest)."""
    if len(t) < 2:
        raise _Error("trailing backslash at end of expression", "")
    c, rest = t[1], t[2:]
    if (c in "1234567" and rest[:1] and rest[0] in "01234567") or c == "0":
        digits = re.match(r"[0-7]{0,2}", rest)
        assert digits is not None
        return chr(int(c + digits.group(0), 8)), rest[digits.end() :]
    if c == "x":
        hexa = re.match(r"\{([0-9A-Fa-f]+)\}|[0-9A-Fa-f]{2}", rest)
        if hexa and (hexa.group(1) is None or int(hexa.group(1), 16) <= 0x10FFFF):
            return chr(int(hexa.group(1) or hexa.group(0), 16)), rest[hexa.end() :]
        raise _Error(
            "invalid escape sequence", t[: len(t) - len(rest) + (hexa.end() if hexa else 0)]
        )
    if c in "afnrtv":
        return {"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}[c], rest
    if c.isascii() and not c.isalnum():
        return c, rest
    raise _Error("invalid escape sequence", t[:2])


def _class_escape(t: str) -> tuple[str | None, str]:
    """``\\d``-style and ``\\p`` classes: (None, rest); else an ordinary escape."""
    if t[1:2] and t[1] in "dDsSwW":
        return None, t[2:]
    if t[1:2] and t[1] in "pP":
        named = re.match(r"\\[pP](\{[^}]*\}|.)", t)
        if named:
            return None, t[named.end() :]
    return _escape(t)


def _parse_class(t: str) -> str:
    whole = t
    t = t[1:]
    if t.startswith("^"):
        t = t[1:]
    first = True
    while t and (t[0] != "]" or first):
        first = False
        end = t.find(":]", 2) if len(t) > 2 and t.startswith("[:") else -1
        if end >= 0:
            name = t[: end + 2]
            if name[2:-2].removeprefix("^") not in _NAMED_CLASSES:
                raise _Error("invalid character class range", name)
            t = t[end + 2 :]
            continue
        start = t
        low, t = _class_char(t)
        if low is not None and t.startswith("-") and t[1:2] not in ("", "]"):
            high, t = _class_char(t[1:])
            if high is not None and high < low:
                raise _Error("invalid character class range", start[: len(start) - len(t)])
    if not t:
        raise _Error("missing closing ]", whole)
    return t[1:]


def _class_char(t: str) -> tuple[str | None, str]:
    if t.startswith("\\"):
        return _class_escape(t)
    return t[0], t[1:]


def _perl_group(t: str, stack: list[str]) -> str:
    named = re.match(r"\(\?P?<", t)
    if named and len(t) > (4 if t[2] == "P" else 3):
        end = t.find(">")
        if end < 0:
            raise _Error("invalid named capture", t)
        if not re.fullmatch(r"[A-Za-z0-9_]+", t[named.end() : end]):
            raise _Error("invalid named capture", t[: end + 1])
        stack.append(_LPAREN)
        return t[end + 1 :]
    rest, sign, saw = t[2:], 1, False
    while rest:
        c, rest = rest[0], rest[1:]
        if c in _FLAGS:
            saw = True
        elif c == "-" and sign > 0:
            sign, saw = -1, False
        elif c in ":)" and (sign > 0 or saw):
            if c == ":":
                stack.append(_LPAREN)
            return rest
        else:
            break
    raise _Error("invalid or unsupported Perl syntax", t[: len(t) - len(rest)])


def _repeat(stack: list[str], before: str, after: str, last: str) -> str:
    if after.startswith("?"):
        after = after[1:]
    if last:
        raise _Error("invalid nested repetition operator", last[: len(last) - len(after)])
    if not stack or stack[-1] != _ATOM:
        raise _Error("missing argument to repetition operator", before[: len(before) - len(after)])
    return after


def _check(pattern: str) -> None:
    stack: list[str] = []
    t, last = pattern, ""
    while t:
        repeat = ""
        c = t[0]
        if c == "(" and t.startswith("(?"):
            t = _perl_group(t, stack)
        elif c == "(":
            stack.append(_LPAREN)
            t = t[1:]
        elif c == "|":
            stack.append(_BAR)
            t = t[1:]
        elif c == ")":
            while stack and stack[-1] != _LPAREN:
                stack.pop()
            if not stack:
                raise _Error("unexpected )", pattern)
            stack[-1] = _ATOM
            t = t[1:]
        elif c in "*+?":
            repeat, t = t, _repeat(stack, t, t[1:], last)
        elif c == "{" and (count := _REPEAT.match(t)):
            low, high = int(count.group(1)), count.group(3)
            top = low if count.group(2) is None else (int(high) if high else -1)
            if low > 1000 or top > 1000 or 0 <= top < low:
                raise _Error("invalid repeat count", count.group(0))
            repeat, t = t, _repeat(stack, t, t[count.end() :], last)
        else:
            t = _parse_class(t) if c == "[" else _atom(t)
            stack.append(_ATOM)
        last = repeat
    if _LPAREN in stack:
        raise _Error("missing closing )", pattern)


def _atom(t: str) -> str:
    if t.startswith("\\"):
        if t[1:2] and t[1] in "AbBz":
            return t[2:]
        if t[1:2] == "C":
            raise _Error("invalid escape sequence", t[:2])
        if t[1:2] == "Q":
            end = t.find("\\E", 2)
            return "" if end < 0 else t[end + 2 :]
        return _class_escape(t)[1]
    return t[1:]


def regexp_error(pattern: str) -> str:
    """Go's ``regexp.Compile`` error text for ``pattern``, or ``""`` when it compiles
    (or fails only in ways this module does not check)."""
    try:
        _check(pattern)
    except _Error as exc:
        return str(exc)
    return ""
