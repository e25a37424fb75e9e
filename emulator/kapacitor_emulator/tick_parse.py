"""TICKscript's parser, with Kapacitor's grammar and error texts (``tick/ast/parser.go``).

A recursive-descent parser over :mod:`~kapacitor_emulator.tick_scan`'s tokens with the
same two-token lookahead, so that an error names the same token, position and expected
token types as Kapacitor's::

    parser: unexpected ) line 3 char 42 in "idle" < )". expected: "number","string",...

Literal errors (an octal ``09``, an overflowing number or duration, a regex Go rejects)
are ``parser: <reason>``. Regexes are checked by :mod:`~kapacitor_emulator.go_regexp`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

from kapacitor_emulator import tick_ast as ast
from kapacitor_emulator.tick_literals import go_bytes_text, literal_node, string_literal
from kapacitor_emulator.tick_scan import lex
from kapacitor_emulator.tick_tokens import BINARY, T, Token

_PRECEDENCE = {T.OR: 0, T.AND: 1, T.EQUAL: 2, T.NOT_EQUAL: 2, T.REGEX_EQUAL: 2}
_PRECEDENCE |= {T.REGEX_NOT_EQUAL: 2, T.GREATER: 3, T.GREATER_EQUAL: 3, T.LESS: 3}
_PRECEDENCE |= {T.LESS_EQUAL: 3, T.PLUS: 4, T.MINUS: 4, T.MULT: 5, T.DIV: 5, T.MOD: 5}
_PRIMARY: tuple[T, ...] = (
    T.NUMBER,
    T.STRING,
    T.DURATION,
    T.IDENT,
    T.TRUE,
    T.FALSE,
    T.EQUAL,
    T.LPAREN,
    T.MINUS,
)
_PRIMARY += (T.NOT,)
_CHAIN_OPS = {T.DOT: ast.FuncType.PROPERTY, T.PIPE: ast.FuncType.CHAIN, T.AT: ast.FuncType.DYNAMIC}
_ZERO = Token(T.ERROR, 0, "")
"""What Kapacitor's parser reads once the lexer has stopped (a closed channel)."""


class TickParseError(ValueError):
    """The script does not parse; the message starts with ``parser: ``."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode()
        self.stream: Iterator[Token] = iter(lex(text))
        self.token = [_ZERO, _ZERO]
        self.peek_count = 0

    # --- tokens and errors --------------------------------------------------------

    def _next_token(self) -> Token:
        for tok in self.stream:
            if tok.typ is not T.COMMENT:
                return tok
        return _ZERO

    def next(self) -> Token:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self._next_token()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def peek(self) -> Token:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[1] = self.token[0]
        self.token[0] = self._next_token()
        return self.token[0]

    def position(self, offset: int) -> ast.Pos:
        line = self.data.count(b"\n", 0, offset) + 1
        return ast.Pos(offset, line, offset - self.data.rfind(b"\n", 0, offset))

    def fail(self, message: str) -> NoReturn:
        raise TickParseError(f"parser: {message}")

    def unexpected(self, tok: Token, *expected: T) -> NoReturn:
        start = max(tok.pos - 10, 0)
        newline = self.data.rfind(b"\n", start, tok.pos)
        start = newline + 1 if newline != -1 else start
        stop = min(tok.pos + 10, len(self.data))
        newline = self.data.find(b"\n", tok.pos, stop)
        stop = newline if newline != -1 else stop
        pos = self.position(tok.pos)
        what = tok.val if tok.typ is T.ERROR else str(tok.typ)
        wanted = ",".join(f'"{typ}"' for typ in expected)
        context = go_bytes_text(self.data[start:stop])
        self.fail(
            f'unexpected {what} line {pos.line} char {pos.char} in "{context}". expected: {wanted}'
        )

    def expect(self, typ: T) -> Token:
        tok = self.next()
        if tok.typ is not typ:
            self.unexpected(tok, typ)
        return tok

    # --- statements -----------------------------------------------------------------

    def program(self) -> ast.Program:
        statements: list[ast.Node] = []
        while self.peek().typ is not T.EOF:
            statements.append(self.statement())
        return ast.Program(self.position(0), statements)

    def statement(self) -> ast.Node:
        typ = self.peek().typ
        if typ is T.VAR:
            tok = self.expect(T.VAR)
            name = self.identifier()
            if self.peek().typ is T.ASGN:
                self.expect(T.ASGN)
                return ast.Decl(self.position(tok.pos), name, self.expression())
            return ast.TypeDecl(self.position(tok.pos), name, self.identifier())
        if typ is T.DBRP:
            tok = self.expect(T.DBRP)
            db = self.reference()
            self.expect(T.DOT)
            return ast.DBRP(self.position(tok.pos), db, self.reference())
        return self.expression()

    def expression(self) -> ast.Node:
        typ = self.peek().typ
        if typ is T.IDENT:
            self.next()
            following = self.peek().typ
            self.backup()
            if following is T.LPAREN:
                term = self.function(ast.FuncType.GLOBAL)
                if self.peek().typ in (T.DOT, T.PIPE, T.AT, T.VAR, T.IDENT):
                    return self.chain(term)
                return self.precedence(term, 0)
            if following in (T.DOT, T.AT, T.PIPE, T.VAR, T.IDENT):
                return self.chain(self.identifier())
            return self.primary_expr()
        if typ is T.LAMBDA:
            tok = self.next()
            return ast.Lambda(self.position(tok.pos), self.primary_expr())
        if typ is T.LSBRACKET:
            return self.string_list()
        return self.primary_expr()

    def chain(self, lhs: ast.Node) -> ast.Node:
        while self.peek().typ in _CHAIN_OPS:
            op = self.next()
            kind = _CHAIN_OPS[op.typ]
            self.next()
            call = kind is ast.FuncType.CHAIN or self.peek().typ is T.LPAREN
            self.backup()
            rhs = self.function(kind) if call else self.identifier()
            lhs = ast.Chain(self.position(op.pos), op.typ, lhs, rhs)
        return lhs

    def identifier(self) -> ast.Ident:
        tok = self.expect(T.IDENT)
        return ast.Ident(self.position(tok.pos), tok.val)

    def function(self, kind: ast.FuncType) -> ast.Func:
        tok = self.expect(T.IDENT)
        self.expect(T.LPAREN)
        args = self._arguments(self.expression)
        self.expect(T.RPAREN)
        return ast.Func(self.position(tok.pos), kind, tok.val, args)

    def _arguments(self, parse_one: object) -> list[ast.Node]:
        args: list[ast.Node] = []
        while self.peek().typ is not T.RPAREN:
            assert callable(parse_one)
            args.append(parse_one())
            if self.next().typ is not T.COMMA:
                self.backup()
                break
        return args

    def string_list(self) -> ast.ListLit:
        tok = self.expect(T.LSBRACKET)
        items: list[ast.Node] = []
        while self.peek().typ is not T.RSBRACKET:
            item = self.peek()
            if item.typ is T.IDENT:
                items.append(self.identifier())
            elif item.typ is T.STRING:
                items.append(self.string())
            elif item.typ is T.STAR:
                self.next()
                items.append(ast.Star(self.position(item.pos)))
            else:
                self.unexpected(item, T.IDENT, T.STRING, T.STAR)
            if self.next().typ is not T.COMMA:
                self.backup()
                break
        self.expect(T.RSBRACKET)
        return ast.ListLit(self.position(tok.pos), items)

    # --- expressions ----------------------------------------------------------------

    def primary_expr(self) -> ast.Node:
        return self.precedence(self.primary(), 0)

    def precedence(self, lhs: ast.Node, minimum: int) -> ast.Node:
        look = self.peek()
        while look.typ in BINARY and _PRECEDENCE[look.typ] >= minimum:
            op = self.next()
            rhs = self.primary()
            look = self.peek()
            while look.typ in BINARY and _PRECEDENCE[look.typ] > _PRECEDENCE[op.typ]:
                rhs = self.precedence(rhs, _PRECEDENCE[look.typ])
                look = self.peek()
            lhs = ast.Binary(self.position(op.pos), op.typ, lhs, rhs)
        return lhs

    def lambda_function(self) -> ast.Func:
        tok = self.expect(T.IDENT)
        self.expect(T.LPAREN)
        args = self._arguments(self.lambda_argument)
        self.expect(T.RPAREN)
        return ast.Func(self.position(tok.pos), ast.FuncType.GLOBAL, tok.val, args)

    def lambda_argument(self) -> ast.Node:
        node = self.primary()
        if self.peek().typ in BINARY:
            node = self.precedence(node, 0)
        return node

    def primary(self) -> ast.Node:
        tok = self.peek()
        typ = tok.typ
        if typ is T.LPAREN:
            self.next()
            node = self.primary_expr()
            self.expect(T.RPAREN)
            return node
        if typ in (T.NUMBER, T.DURATION, T.REGEX):
            return self.literal(self.next())
        if typ is T.STRING:
            return self.string()
        if typ in (T.TRUE, T.FALSE):
            self.next()
            return ast.Bool(self.position(tok.pos), typ is T.TRUE)
        if typ is T.STAR:
            self.next()
            return ast.Star(self.position(tok.pos))
        if typ is T.REFERENCE:
            return self.reference()
        if typ is T.IDENT:
            self.next()
            call = self.peek().typ is T.LPAREN
            self.backup()
            return self.lambda_function() if call else self.identifier()
        if typ in (T.MINUS, T.NOT):
            self.next()
            return ast.Unary(self.position(tok.pos), typ, self.primary())
        self.unexpected(tok, *_PRIMARY)

    def literal(self, tok: Token) -> ast.Node:
        pos = self.position(tok.pos)
        try:
            return literal_node(tok, pos)
        except ValueError as exc:
            self.fail(str(exc))

    def string(self) -> ast.String:
        tok = self.expect(T.STRING)
        return ast.String(self.position(tok.pos), string_literal(tok.val))

    def reference(self) -> ast.Reference:
        tok = self.expect(T.REFERENCE)
        return ast.Reference(self.position(tok.pos), tok.val[1:-1].replace('\\"', '"'))


def parse(text: str) -> ast.Program:
    """Parse a whole script.

    Raises:
        TickParseError: Kapacitor's ``parser: ...`` message.
    """
    parser = _Parser(text)
    program = parser.program()
    parser.expect(T.EOF)
    return program


def parse_lambda(text: str) -> ast.Lambda:
    """Parse a lambda var's value (the text after ``lambda:``), as ``ast.ParseLambda``.

    Raises:
        TickParseError: Kapacitor's ``parser: ...`` message.
    """
    parser = _Parser(text)
    expr = parser.primary_expr()
    parser.expect(T.EOF)
    return ast.Lambda(parser.position(0), expr)
