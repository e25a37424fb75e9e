"""An approximation of Flux's formatter (``astutil.Format``), which a PATCH with options runs.

It follows the rules of libflux's formatter that show up in task scripts, checked
against kapacitord 1.8.3:

- top-level statements are separated by a newline, and by a blank line when the source
  had one, when the kind of statement changes (import, option, variable, expression...)
  or when the statement starts with a comment; imports are followed by a blank line;
- tokens are re-spaced: ``a: 1, b: 2``, ``x = 1``, ``from(bucket: "b")``, ``(r) => r._value``;
- a top-level pipe chain stays on one line, unless it spanned several lines in the source
  or is longer than 100 columns: then every ``|>`` starts a line indented 4 spaces;
- a record with more than 4 properties (the ``option task`` record, in practice) is
  written one property per line with a trailing comma;
- the result ends with a newline.

It does not rebuild Flux's syntax tree: nested pipes, long calls and function bodies are
kept on their line, re-spaced only.
"""

from __future__ import annotations

from dataclasses import dataclass

from kapacitor_emulator.flux_lang import Tok, tokenize

INDENT = "    "
LINE_WIDTH = 100
MULTILINE_ITEMS = 4

_BINARY = {"=", "=>", "|>", "==", "!=", "<", ">", "<=", ">=", "=~", "!~", "+", "*", "/", "%"}
_BINARY |= {"^", "<-", "and", "or"}
_CONTINUES = _BINARY | {",", ".", ":", "-", "(", "[", "{", "not", "exists", "then", "else"}
_VALUE_END = {")", "]", "}"}


@dataclass
class _Statement:
    toks: list[Tok]  # comments first, then code

    @property
    def code(self) -> list[Tok]:
        return [t for t in self.toks if t.kind != "comment"]

    def kind(self) -> str:
        code = self.code
        first = code[0].text if code else ""
        if first in ("import", "option", "builtin", "return", "package", "testcase"):
            return first
        if len(code) > 1 and code[1].text == "=":
            return "variable"
        return "expression"


def _line(src: str, pos: int) -> int:
    return src.count("\n", 0, pos)


def _statements(src: str, toks: list[Tok]) -> list[_Statement]:
    out: list[_Statement] = []
    depth, prev = 0, None
    for tok in toks:
        new_line = prev is None or "\n" in src[prev.end : tok.start]
        starts = depth == 0 and new_line and tok.text not in _CONTINUES
        if prev is not None and prev.kind != "comment" and prev.text in _CONTINUES:
            starts = False
        if prev is not None and prev.kind == "comment" and out and not out[-1].code:
            starts = False  # the code under a comment belongs with it
        if starts or not out:
            out.append(_Statement([]))
        out[-1].toks.append(tok)
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]}":
            depth -= 1
        prev = tok
    return out


def _space(prev: Tok, tok: Tok) -> str:
    p, t = prev.text, tok.text
    if t in (")", "]", "}", ",", ":", ".") or p in ("(", "[", "{", "."):
        return ""
    if t in ("(", "[") and (prev.kind in ("word", "string") or p in _VALUE_END):
        return ""
    return " "


def _unary(prev: Tok | None, tok: Tok) -> bool:
    value = prev is not None and (prev.kind != "punct" or prev.text in _VALUE_END)
    return tok.text == "-" and not value


def _join(toks: list[Tok], break_pipes: bool, indent: str = "") -> str:
    out: list[str] = []
    depth, prev, unary = 0, None, False
    for tok in toks:
        if tok.kind == "comment":
            out.append(("\n" + indent if out else "") + tok.text + "\n" + indent)
            prev = None
            continue
        if break_pipes and depth == 0 and tok.text == "|>":
            out.append("\n" + indent + INDENT)
        elif prev is not None and not unary:
            out.append(_space(prev, tok))
        unary = _unary(prev, tok)
        out.append(tok.text)
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]}":
            depth -= 1
        prev = tok
    return "".join(out)


def _option_record(stmt: _Statement) -> str | None:
    """``option task = {...}`` with more than 4 properties, one per line."""
    code = stmt.code
    if [t.text for t in code[:4]] != ["option", "task", "=", "{"] or code[-1].text != "}":
        return None
    props: list[list[Tok]] = [[]]
    depth = 0
    for tok in code[4:-1]:
        if depth == 0 and tok.text == ",":
            props.append([])
            continue
        props[-1].append(tok)
        depth += tok.text in "([{" if tok.kind == "punct" else 0
        depth -= tok.text in ")]}" if tok.kind == "punct" else 0
    props = [p for p in props if p]
    if len(props) <= MULTILINE_ITEMS:
        return None
    body = "".join(f"{INDENT}{_join(p, False)},\n" for p in props)
    comments = "".join(t.text + "\n" for t in stmt.toks if t.kind == "comment")
    return f"{comments}option task = {{\n{body}}}"


def _format_statement(src: str, stmt: _Statement) -> str:
    if (record := _option_record(stmt)) is not None:
        return record
    code = stmt.code
    multiline = _line(src, code[0].start) != _line(src, code[-1].end) if code else False
    flat = _join(stmt.toks, False)
    pipes = any(t.text == "|>" for t in code)
    if pipes and (multiline or max(len(line) for line in flat.split("\n")) > LINE_WIDTH):
        return _join(stmt.toks, True)
    return flat


def format_flux(src: str) -> str:
    """Reformat a script the way a PATCH with options leaves it.

    Raises:
        FluxSyntaxError: an unterminated string.
    """
    toks = tokenize(src)
    parts: list[str] = []
    prev: _Statement | None = None
    for stmt in _statements(src, toks):
        if prev is not None:
            gap = _line(src, stmt.toks[0].start) - _line(src, prev.toks[-1].end)
            blank = gap > 1 or stmt.kind() != prev.kind() or stmt.toks[0].kind == "comment"
            parts.append("\n\n" if blank and prev.code else "\n")
        parts.append(_format_statement(src, stmt))
        prev = stmt
    return "".join(parts).rstrip() + "\n"
