"""Listing rules shared by ``GET /tasks`` and ``GET /templates``.

Kapacitor filters IDs with Go's ``path.Match`` (a malformed glob matches nothing), pages
with ``offset``/``limit`` (``limit<0`` returns everything and ignores the pattern and the
offset), and projects each item onto the requested ``fields`` as a Go map, so keys come
out sorted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from multidict import MultiMapping

from kapacitor_emulator.responses import NativeError

_INT_RE = re.compile(r"^[+-]?\d+$")
_INT64 = 2**63


def _class_char(pattern: str, i: int) -> tuple[str, int] | None:
    if i >= len(pattern) or pattern[i] in "-]":
        return None
    if pattern[i] == "\\":
        if i + 1 >= len(pattern):
            return None
        return pattern[i + 1], i + 2
    return pattern[i], i + 1


def _char_class(pattern: str, i: int) -> tuple[str, int] | None:
    """Translate ``[...]`` starting after the ``[``; None when malformed."""
    negate = i < len(pattern) and pattern[i] == "^"
    i += int(negate)
    parts: list[str] = []
    while True:
        if i < len(pattern) and pattern[i] == "]" and parts:
            i += 1
            break
        lo = _class_char(pattern, i)
        if lo is None:
            return None
        char, i = lo
        if i < len(pattern) and pattern[i] == "-":
            hi = _class_char(pattern, i + 1)
            if hi is None:
                return None
            parts.append(re.escape(char) + "-" + re.escape(hi[0]) if char <= hi[0] else "")
            i = hi[1]
        else:
            parts.append(re.escape(char))
    body = "".join(parts) or r"\x00-\x00"
    return "[" + ("^" if negate else "") + body + "]", i


def glob_regex(pattern: str) -> re.Pattern[str] | None:
    """Compile a Go ``path.Match`` pattern; None when it is malformed (ErrBadPattern)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "\\":
            if i + 1 >= len(pattern):
                return None
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif ch == "[":
            translated = _char_class(pattern, i + 1)
            if translated is None:
                return None
            out.append(translated[0])
            i = translated[1]
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _go_int(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not _INT_RE.match(raw):
        cause = f'strconv.ParseInt: parsing "{raw}": invalid syntax'
    elif not -_INT64 <= int(raw) < _INT64:
        cause = f'strconv.ParseInt: parsing "{raw}": value out of range'
    else:
        return int(raw)
    raise NativeError(400, f'invalid {name} parameter "{raw}" must be an integer: {cause}')


@dataclass(frozen=True)
class ListParams:
    """Parsed ``pattern``, ``fields``, ``offset`` and ``limit``."""

    pattern: str
    fields: list[str]
    offset: int
    limit: int

    @classmethod
    def parse(cls, query: MultiMapping[str]) -> ListParams:
        """Read the query string.

        Raises:
            NativeError: a non-integer offset or limit.
        """
        return cls(
            pattern=query.get("pattern", ""),
            fields=list(query.getall("fields", [])),
            offset=_go_int("offset", query.get("offset"), 0),
            limit=_go_int("limit", query.get("limit"), 100),
        )

    def select(self, ids: Sequence[str]) -> list[str]:
        """Apply pattern, offset and limit to IDs sorted bytewise."""
        ordered = sorted(ids, key=lambda i: i.encode("utf-8"))
        if self.limit < 0:
            return ordered
        if self.pattern:
            regex = glob_regex(self.pattern)
            ordered = [i for i in ordered if regex is not None and regex.fullmatch(i)]
        start = max(self.offset, 0)
        return ordered[start : start + self.limit]


def project(
    fields: list[str],
    all_fields: Sequence[str],
    value_of: Callable[[str], Any],
    omit_empty: Sequence[str] = (),
) -> dict[str, Any]:
    """One list item: the requested fields plus ``id`` and ``link``, keys sorted.

    Raises:
        NativeError: an unsupported field name.
    """
    wanted = list(all_fields) if not fields else [*fields, "id", "link"]
    item: dict[str, Any] = {}
    for name in wanted:
        if name not in all_fields:
            raise NativeError(400, f'unsupported field "{name}"')
        value = value_of(name)
        if name in omit_empty and not value:
            continue
        item[name] = value
    return dict(sorted(item.items()))
