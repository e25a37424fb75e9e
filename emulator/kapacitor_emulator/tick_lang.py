"""Read TICKscript statements: structure checks, task type, vars and dbrp statements.

This is the emulator's stand-in for Kapacitor's TICKscript parser. It splits a token
stream into ``var``, ``dbrp`` and expression statements and checks the shapes Kapacitor's
parser would reject (unbalanced brackets, a chain operator without a node, a ``var`` or
``dbrp`` statement of the wrong form). It then reports what the task store needs: the
task type (``stream``/``batch`` sources), declared vars, implicit dbrps and batch query
sources. It never evaluates node properties.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kapacitor_emulator.tick_lexer import Kind, Token, syntax_error, tokenize

VAR_TYPES = ("bool", "int", "float", "string", "regex", "duration", "lambda", "list", "star")
_COMPLETE = {
    Kind.IDENT,
    Kind.NUMBER,
    Kind.DURATION,
    Kind.STRING,
    Kind.REF,
    Kind.REGEX,
    Kind.RPAREN,
    Kind.RBRACKET,
    Kind.STAR,
}
_FROM_RE = re.compile(r'FROM\s+"([^"]+)"\."([^"]+)"\.', re.IGNORECASE)
_CLOSERS = {Kind.LPAREN: Kind.RPAREN, Kind.LBRACKET: Kind.RBRACKET}


@dataclass
class Statement:
    """One top-level statement: kind, tokens (comments excluded), leading comments, span."""

    kind: str  # "var" | "dbrp" | "expr"
    tokens: list[Token]
    comments: list[str] = field(default_factory=list)
    start: int = 0
    end: int = 0


@dataclass
class VarDecl:
    """A ``var`` statement: a declaration (``var x string``) or a definition (``var x = 1``)."""

    name: str
    type: str  # declared type, or the literal's type, or "" for node expressions
    value_tokens: list[Token]
    description: str


@dataclass
class TickScript:
    """What the task store needs to know about a script."""

    statements: list[Statement]
    sources: set[str]
    vars: list[VarDecl]
    dbrps: list[tuple[str, str]]
    nodes: list[str]
    batch_sources: list[tuple[str, str]]
    query_properties: list[set[str]] = field(default_factory=list)
    """For each batch ``query()`` node, the names of its ``.property()`` calls."""
    script: str = ""
    """The script's text."""

    @property
    def task_type(self) -> str:
        """``stream``, ``batch`` or ``invalid`` (none or both kinds of source)."""
        if len(self.sources) == 1:
            return next(iter(self.sources))
        return "invalid"


def _check_brackets(script: str, tokens: list[Token]) -> None:
    stack: list[Token] = []
    for tok in tokens:
        if tok.kind in _CLOSERS:
            stack.append(tok)
        elif tok.kind in (Kind.RPAREN, Kind.RBRACKET):
            if not stack or _CLOSERS[stack[-1].kind] is not tok.kind:
                raise syntax_error(script, tok.pos, tok.text)
            stack.pop()
        elif tok.kind is Kind.EOF and stack:
            raise syntax_error(script, tok.pos, "EOF", f'"{_CLOSERS[stack[-1].kind].value}"')


class _Reader:
    def __init__(self, script: str, tokens: list[Token]) -> None:
        self.script = script
        self.tokens = [t for t in tokens if t.kind is not Kind.COMMENT]
        self.comments = {t.pos: t.text for t in tokens if t.kind is Kind.COMMENT}
        self.i = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self, kind: Kind, expected: str) -> Token:
        tok = self.peek()
        if tok.kind is not kind:
            raise syntax_error(self.script, tok.pos, tok.text or "EOF", expected)
        self.i += 1
        return tok

    def leading_comments(self, start: int, end: int) -> list[str]:
        return [text for pos, text in sorted(self.comments.items()) if start <= pos < end]

    def statements(self) -> list[Statement]:
        out: list[Statement] = []
        prev_end = 0
        while self.peek().kind is not Kind.EOF:
            first = self.peek()
            comments = self.leading_comments(prev_end, first.pos)
            begin = self.i
            if first.kind is Kind.IDENT and first.text == "var":
                kind = self._var()
            elif first.kind is Kind.IDENT and first.text == "dbrp":
                kind = self._dbrp()
            else:
                kind = "expr"
                self._expression()
            toks = self.tokens[begin : self.i]
            prev_end = toks[-1].pos + len(toks[-1].text)
            out.append(Statement(kind, toks, comments, first.pos, prev_end))
        return out

    def _var(self) -> str:
        self.i += 1
        self.take(Kind.IDENT, '"identifier"')
        nxt = self.peek()
        if nxt.kind is Kind.ASSIGN:
            self.i += 1
            self._expression()
        elif nxt.kind is Kind.IDENT and nxt.text in VAR_TYPES:
            self.i += 1
        else:
            raise syntax_error(self.script, nxt.pos, nxt.text or "EOF", '"=", "type"')
        return "var"

    def _dbrp(self) -> str:
        self.i += 1
        self.take(Kind.REF, '"reference"')
        self.take(Kind.DOT, '"."')
        self.take(Kind.REF, '"reference"')
        return "dbrp"

    def _expression(self) -> None:
        depth = 0
        start = self.i
        while True:
            tok = self.peek()
            if tok.kind is Kind.EOF:
                break
            if depth == 0 and self.i > start and self._starts_statement(tok):
                break
            if self.i == start and tok.kind in (Kind.PIPE, Kind.AT, Kind.DOT, Kind.RPAREN):
                raise syntax_error(self.script, tok.pos, tok.text)
            if tok.kind in (Kind.PIPE, Kind.AT) and depth == 0:
                self.i += 1
                self.take(Kind.IDENT, '"identifier"')
                self.take(Kind.LPAREN, '"("')
                depth += 1
                continue
            if tok.kind is Kind.DOT and depth == 0:
                self.i += 1
                self.take(Kind.IDENT, '"identifier"')
                continue
            if tok.kind in _CLOSERS:
                depth += 1
            elif tok.kind in (Kind.RPAREN, Kind.RBRACKET):
                depth -= 1
            self.i += 1
        if self.i == start:
            tok = self.peek()
            raise syntax_error(self.script, tok.pos, tok.text or "EOF", '"expression"')

    def _starts_statement(self, tok: Token) -> bool:
        if tok.kind is Kind.IDENT and tok.text in ("var", "dbrp"):
            return True
        prev = self.tokens[self.i - 1]
        return prev.kind in _COMPLETE and tok.kind in _COMPLETE - {Kind.RPAREN, Kind.RBRACKET}


def _unquote(ref: str) -> str:
    return ref[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def _literal_type(tokens: list[Token]) -> str:
    if not tokens:
        return ""
    first = tokens[0]
    if len(tokens) == 1:
        simple = {
            Kind.STRING: "string",
            Kind.DURATION: "duration",
            Kind.REGEX: "regex",
            Kind.STAR: "star",
        }
        if first.kind in simple:
            return simple[first.kind]
        if first.kind is Kind.NUMBER:
            return "float" if "." in first.text else "int"
        if first.kind is Kind.IDENT and first.text in ("TRUE", "FALSE"):
            return "bool"
    if first.kind is Kind.IDENT and first.text == "lambda":
        return "lambda"
    if first.kind is Kind.LBRACKET:
        return "list"
    return ""


def _description(comments: list[str]) -> str:
    return "\n".join(c[2:].strip() for c in comments)


def _summarize(statements: list[Statement]) -> TickScript:
    info = TickScript(statements, set(), [], [], [], [])
    props = set[str]()  # properties of the current node
    for stmt in statements:
        toks = stmt.tokens
        if stmt.kind == "dbrp":
            info.dbrps.append((_unquote(toks[1].text), _unquote(toks[3].text)))
            continue
        if stmt.kind == "var":
            value = toks[3:] if toks[2].kind is Kind.ASSIGN else []
            vtype = toks[2].text if toks[2].kind is Kind.IDENT else _literal_type(value)
            info.vars.append(VarDecl(toks[1].text, vtype, value, _description(stmt.comments)))
        depth = 0
        for idx, tok in enumerate(toks):
            prev = toks[idx - 1] if idx else None
            if tok.kind in _CLOSERS:
                depth += 1
            elif tok.kind in (Kind.RPAREN, Kind.RBRACKET):
                depth -= 1
            elif depth == 0 and tok.kind is Kind.IDENT and tok.text in ("stream", "batch"):
                if prev is None or prev.kind not in (Kind.PIPE, Kind.AT, Kind.DOT):
                    info.sources.add(tok.text)
                    info.nodes.append(tok.text)
            elif depth == 0 and prev is not None and prev.kind in (Kind.PIPE, Kind.AT):
                info.nodes.append(tok.text)
                props = set[str]()
                if tok.text == "query" and "batch" in info.sources:
                    info.query_properties.append(props)
            elif depth == 0 and prev is not None and prev.kind is Kind.DOT:
                props.add(tok.text)
            elif tok.kind is Kind.STRING and prev is not None and prev.kind is Kind.LPAREN:
                info.batch_sources.extend(_query_sources(tok.text))
    return info


def _query_sources(literal: str) -> list[tuple[str, str]]:
    """``FROM "db"."rp".m`` pairs inside a string literal (batch ``query(...)``)."""
    return [(m.group(1), m.group(2)) for m in _FROM_RE.finditer(literal)]


def parse_tickscript(script: str) -> TickScript:
    """Tokenize and read a script.

    Raises:
        TickSyntaxError: the script is plainly malformed.
    """
    tokens = tokenize(script)
    _check_brackets(script, tokens)
    reader = _Reader(script, tokens)
    info = _summarize(reader.statements())
    info.script = script
    return info
