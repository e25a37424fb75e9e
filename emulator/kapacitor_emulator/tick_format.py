"""TICKscript formatting and DOT graphs.

Kapacitor answers GET with the script reformatted (``script-format=formatted``), so a
client that compares the returned text with what it sent sees a difference unless it
asks for ``raw``. The emulator reproduces that with a small deterministic formatter:
one statement per block, each ``|node()`` on its own line indented four spaces and each
``.property()`` indented eight, as in Kapacitor's own output. It also draws the task's
DOT graph from the chain of nodes.
"""

from __future__ import annotations

import itertools

from kapacitor_emulator.tick_lang import Statement, TickScript, parse_tickscript
from kapacitor_emulator.tick_lexer import Kind, Token, tokenize

INDENT = "    "
_OPENERS = (Kind.LPAREN, Kind.LBRACKET)
_CLOSERS = (Kind.RPAREN, Kind.RBRACKET)
_UNARY_AFTER = {Kind.OP, Kind.LPAREN, Kind.LBRACKET, Kind.COMMA, Kind.ASSIGN, Kind.COLON}


def _spaced(prev: Token | None, prev2: Token | None, tok: Token) -> bool:
    """Whether a space goes between ``prev`` and ``tok`` on one line."""
    if prev is None:
        return False
    if tok.kind in (Kind.RPAREN, Kind.RBRACKET, Kind.COMMA, Kind.COLON, Kind.DOT):
        return False
    if prev.kind in (Kind.LPAREN, Kind.LBRACKET, Kind.DOT, Kind.PIPE, Kind.AT):
        return False
    if tok.kind is Kind.LPAREN and prev.kind is Kind.IDENT:
        return False
    if prev.kind is Kind.OP and prev.text in ("-", "+", "!"):
        # A unary operator binds to its operand.
        return not (prev.text == "!" or prev2 is None or prev2.kind in _UNARY_AFTER)
    return True


def _inline(tokens: list[Token]) -> str:
    out = ""
    for idx, tok in enumerate(tokens):
        prev = tokens[idx - 1] if idx else None
        prev2 = tokens[idx - 2] if idx > 1 else None
        if prev is not None and prev.kind is Kind.COMMENT:
            out += "\n" + INDENT * 3
        elif _spaced(prev, prev2, tok):
            out += " "
        out += tok.text
    return out


def _match(tokens: list[Token], start: int) -> int:
    depth = 0
    for idx in range(start, len(tokens)):
        if tokens[idx].kind in _OPENERS:
            depth += 1
        elif tokens[idx].kind in _CLOSERS:
            depth -= 1
            if depth == 0:
                return idx
    return len(tokens) - 1


def _render_chain(tokens: list[Token], head: str) -> list[str]:
    """Render an expression: chain links and properties go on their own lines."""
    segments: list[list[object]] = [[0, head]]
    prev: Token | None = None
    prev2: Token | None = None
    idx = 0
    while idx < len(tokens):
        tok = tokens[idx]
        text = tok.text
        new_segment: int | None = None
        if tok.kind is Kind.COMMENT:
            segments.append([1, text])
            segments.append([1, ""])
            idx += 1
            continue
        if tok.kind in (Kind.PIPE, Kind.AT):
            new_segment = 1
        elif tok.kind is Kind.DOT and prev is not None and prev.kind is Kind.RPAREN:
            new_segment = 2
        elif tok.kind in _OPENERS:
            end = _match(tokens, idx)
            text = _inline(tokens[idx : end + 1])
            tok_space = _spaced(prev, prev2, tok)
            segments[-1][1] = str(segments[-1][1]) + (" " if tok_space else "") + text
            prev, prev2 = tokens[end], prev
            idx = end + 1
            continue
        if new_segment is not None:
            segments.append([new_segment, text])
        else:
            current = str(segments[-1][1])
            space = bool(current) and _spaced(prev, prev2, tok)
            segments[-1][1] = current + (" " if space else "") + text
        prev, prev2 = tok, prev
        idx += 1
    return [INDENT * int(str(level)) + str(text) for level, text in segments if text]


def _render(stmt: Statement, tokens: list[Token]) -> list[str]:
    if stmt.kind == "dbrp":
        return [f"dbrp {tokens[1].text}.{tokens[3].text}"]
    if stmt.kind == "var":
        name = tokens[1].text
        if tokens[2].kind is Kind.ASSIGN:
            return _render_chain(tokens[3:], f"var {name} = ")
        return [f"var {name} {tokens[2].text}"]
    return _render_chain(tokens, "")


def format_tickscript(script: str) -> str:
    """Kapacitor-style formatting of a script that :func:`parse_tickscript` accepts.

    Raises:
        TickSyntaxError: the script is malformed.
    """
    info = parse_tickscript(script)
    tokens = [t for t in tokenize(script) if t.kind is not Kind.EOF]
    blocks: list[list[str]] = []
    for stmt in info.statements:
        own = [t for t in tokens if stmt.start <= t.pos < stmt.end]
        blocks.append(list(stmt.comments) + _render(stmt, own))
    last = info.statements[-1].end if info.statements else 0
    trailing = [t.text for t in tokens if t.kind is Kind.COMMENT and t.pos >= last]
    if trailing:
        blocks.append(trailing)
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def build_dot(task_id: str, info: TickScript, *, executing: bool, labels: bool) -> str:
    """A DOT graph of the task's nodes, with zeroed stats when it is executing."""
    names = [f"{node}{idx}" for idx, node in enumerate(info.nodes)]
    edges = list(itertools.pairwise(names))
    lines = [f"digraph {task_id} {{"]
    if not executing:
        lines += [f"{a} -> {b};" for a, b in edges]
        return "\n".join(lines) + "\n}"
    if labels:
        lines.append('graph [label="Throughput: 0.00 points/s"];')
    else:
        lines.append('graph [throughput="0.00 points/s"];')
    for idx, name in enumerate(names):
        lines.append("")
        if labels:
            stats = "\\n".join(["avg_exec_time_ns=0s", "errors=0", "working_cardinality=0"])
            lines.append(f'{name} [label="{name}\\n{stats}\\n"];')
        else:
            lines.append(f'{name} [avg_exec_time_ns="0s" errors="0" working_cardinality="0" ];')
        if idx + 1 < len(names):
            edge_attr = 'label="processed=0"' if labels else 'processed="0"'
            lines.append(f"{name} -> {names[idx + 1]} [{edge_attr}];")
    return "\n".join(lines) + "\n}"
