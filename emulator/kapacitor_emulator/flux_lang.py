"""The Flux the task API needs: tokens, the ``option task`` record, PATCH rewriting.

Kapacitor reads a Flux task's ``name``, ``every``, ``cron`` and ``offset`` from the
script's ``option task = {...}`` record, and a PATCH that sets options edits that record
and reformats the whole script. The emulator does not evaluate Flux: it tokenizes the
script (strings, comments and regexes kept intact), rejects unbalanced brackets and
unterminated strings, reads the record's literal values and rewrites scripts with a
small deterministic formatter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kapacitor_emulator.flux_syntax import FluxSyntaxError as FluxSyntaxError
from kapacitor_emulator.flux_syntax import check

_DURATION_UNIT = r"(?:mo|ms|us|µs|ns|y|w|d|h|m|s)"
DURATION_RE = re.compile(rf"^-?(?:\d+{_DURATION_UNIT})+$")
_DURATION_PART = re.compile(rf"(\d+)({_DURATION_UNIT})")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
    "w": 7 * 86_400 * 1_000_000_000,
    "mo": 30 * 86_400 * 1_000_000_000,
    "y": 365 * 86_400 * 1_000_000_000,
}
_PUNCT = ("|>", "=>", "==", "!=", "<=", ">=", "=~", "!~", "<-")
_OPEN = {"(": ")", "{": "}", "[": "]"}
_CLOSE_NAMES = {")": "RPAREN", "}": "RBRACE", "]": "RBRACK"}
_REGEX_AFTER = {"=~", "!~", "(", ",", ":", "[", "="}


class FluxOptionsError(ValueError):
    """Task options missing or invalid; the message follows ``invalid options: ``."""


@dataclass(frozen=True)
class Tok:
    """A Flux token and its span."""

    kind: str  # "string" | "comment" | "regex" | "word" | "punct"
    text: str
    start: int
    end: int


def duration_ns(literal: str) -> int:
    """Nanoseconds in a Flux duration literal (months as 30 days, years as 365)."""
    sign = -1 if literal.startswith("-") else 1
    return sign * sum(int(n) * _UNIT_NS[u] for n, u in _DURATION_PART.findall(literal))


def _loc(src: str, pos: int) -> str:
    line = src.count("\n", 0, pos) + 1
    col = pos - (src.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col}"


def _scan_quoted(src: str, start: int, quote: str) -> int:
    i = start + 1
    while i < len(src):
        if src[i] == "\\":
            i += 2
            continue
        if src[i] == quote:
            return i + 1
        if quote == "/" and src[i] == "\n":
            break
        i += 1
    at = f"@{_loc(src, start)}-{_loc(src, len(src))}"
    raise FluxSyntaxError(f"error {at}: got unexpected token in string expression {at}: EOF")


def tokenize(src: str) -> list[Tok]:
    """Tokens of a Flux script, whitespace dropped.

    Raises:
        FluxSyntaxError: an unterminated string or regex.
    """
    toks: list[Tok] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch.isspace():
            i += 1
            continue
        if src.startswith("//", i):
            end = src.find("\n", i)
            end = len(src) if end < 0 else end
            toks.append(Tok("comment", src[i:end].rstrip(), i, end))
        elif ch == '"':
            end = _scan_quoted(src, i, '"')
            toks.append(Tok("string", src[i:end], i, end))
        elif ch == "/" and toks and toks[-1].text in _REGEX_AFTER:
            end = _scan_quoted(src, i, "/")
            toks.append(Tok("regex", src[i:end], i, end))
        elif ch.isalnum() or ch == "_":
            end = i
            while end < len(src) and (src[end].isalnum() or src[end] in "_."):
                end += 1
            toks.append(Tok("word", src[i:end], i, end))
        else:
            op = next((p for p in _PUNCT if src.startswith(p, i)), ch)
            end = i + len(op)
            toks.append(Tok("punct", op, i, end))
        i = toks[-1].end
    return toks


def check_syntax(src: str) -> list[Tok]:
    """Check the script as Flux's parser would (:mod:`~kapacitor_emulator.flux_syntax`),
    then tokenize it.

    Raises:
        FluxSyntaxError: Kapacitor's ``loc L:C-L:C: <message>``.
    """
    check(src)
    return tokenize(src)


@dataclass
class OptionRecord:
    """The ``option task = {...}`` record: its span and its properties, in order."""

    start: int
    end: int
    props: list[tuple[str, str]]


def count_task_options(toks: list[Tok]) -> int:
    """How many top-level ``option task = ...`` statements there are."""
    code = [t for t in toks if t.kind != "comment"]
    depth, count = 0, 0
    for idx, tok in enumerate(code):
        if depth == 0 and tok.text == "option" and idx + 2 < len(code):
            count += (code[idx + 1].text, code[idx + 2].text) == ("task", "=")
        if tok.kind == "punct" and tok.text in _OPEN:
            depth += 1
        elif tok.kind == "punct" and tok.text in _CLOSE_NAMES:
            depth -= 1
    return count


def find_task_option(src: str, toks: list[Tok]) -> OptionRecord | None:
    """Locate ``option task = {...}`` at top level and split its properties."""
    code = [t for t in toks if t.kind != "comment"]
    depth = 0
    for idx, tok in enumerate(code):
        if depth == 0 and tok.text == "option" and idx + 3 < len(code):
            name, eq, brace = code[idx + 1], code[idx + 2], code[idx + 3]
            if (name.text, eq.text, brace.text) == ("task", "=", "{"):
                return _read_record(src, code, idx, idx + 3)
        if tok.kind == "punct" and tok.text in _OPEN:
            depth += 1
        elif tok.kind == "punct" and tok.text in _CLOSE_NAMES:
            depth -= 1
    return None


def _read_record(src: str, code: list[Tok], first: int, brace: int) -> OptionRecord:
    props: list[tuple[str, str]] = []
    depth = 0
    key: str | None = None
    start = -1  # where the current key or value text starts

    def text_until(pos: int) -> str:
        return _squash(src[start:pos]) if start >= 0 else ""

    for tok in code[brace:]:
        punct = tok.text if tok.kind == "punct" else ""
        if depth == 1 and punct in _CLOSE_NAMES:
            if key is not None:
                props.append((key, text_until(tok.start)))
            return OptionRecord(code[first].start, tok.end, props)
        if depth == 1 and punct == ",":
            if key is not None:
                props.append((key, text_until(tok.start)))
            key, start = None, -1
        elif depth == 1 and punct == ":" and key is None:
            key, start = text_until(tok.start), -1
        elif depth >= 1 and start < 0:
            start = tok.start
        if punct in _OPEN:
            depth += 1
        elif punct in _CLOSE_NAMES:
            depth -= 1
    raise FluxSyntaxError("unterminated option record")


def _squash(text: str) -> str:
    """Collapse whitespace outside strings (values are short: literals, mostly)."""
    parts = re.split(r'("(?:[^"\\]|\\.)*")', text.strip())
    return "".join(p if p.startswith('"') else re.sub(r"\s+", " ", p) for p in parts)


def flux_string(value: str) -> str:
    """A Flux string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(literal: str) -> str | None:
    if len(literal) < 2 or not literal.startswith('"') or not literal.endswith('"'):
        return None
    return re.sub(r"\\(.)", r"\1", literal[1:-1])
