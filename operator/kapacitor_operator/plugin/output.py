"""Printing as kubectl does: aligned tables with upper-case headers by default,
`-o json` (4-space indent) and `-o yaml` for scripts, notes and warnings on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

COLUMN_GAP = "   "


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, kubectl style; empty cells print `<none>`."""
    cells = [[str(h).upper() for h in headers]] + [
        ["<none>" if c is None or c == "" else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        COLUMN_GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines) + "\n"


def document(doc: Any, fmt: str) -> str:
    """A JSON or YAML rendering of a plain document.

    Raises:
        ValueError: an unknown format.
    """
    if fmt == "json":
        return json.dumps(doc, indent=4, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    raise ValueError(f"unknown output format {fmt!r}")


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """`Key:  value` lines, aligned like `kubectl describe`; multi-line values indented."""
    width = max((len(k) for k, _ in pairs), default=0) + 3  # ":" and two spaces
    out: list[str] = []
    for key, value in pairs:
        text = "<none>" if value is None or value == "" else str(value)
        first, *rest = text.splitlines() or [""]
        out.append(f"{key + ':':<{width}}{first}".rstrip())
        out.extend(f"{'':<{width}}{line}".rstrip() for line in rest)
    return "\n".join(out) + "\n"


def indent(text: str, prefix: str = "  ") -> str:
    return "".join(f"{prefix}{line}" if line.strip() else line for line in text.splitlines(True))


def note(message: str, stream: TextIO | None = None) -> None:
    """An informational line on stderr (kubectl's "No resources found" style)."""
    print(message, file=stream or sys.stderr)


def warn(message: str, stream: TextIO | None = None) -> None:
    """A `Warning: ...` line on stderr, as kubectl prints them."""
    print(f"Warning: {message}", file=stream or sys.stderr)
