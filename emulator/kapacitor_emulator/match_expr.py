"""Alert handler ``match`` expressions: parsed as a TICKscript lambda body.

Kapacitor parses the expression with ``ast.ParseLambda`` and then replaces identifiers
with the four level constants; anything else is ``unknown identifier "x"``. Function
names are not checked (``nofunc()`` is accepted). The emulator checks the same two
things on the tokens: a well-formed expression (operands and binary operators, unary
``-``/``!``, parentheses, calls) and the identifiers.
"""

from __future__ import annotations

from kapacitor_emulator.tick_lexer import Kind, TickSyntaxError, Token, context, tokenize

LEVELS = ("OK", "INFO", "WARNING", "CRITICAL")
_EXPECTED = '"number","string","duration","identifier","TRUE","FALSE","==","(","-","!"'
_OPERAND_KINDS = (Kind.NUMBER, Kind.DURATION, Kind.STRING, Kind.REF, Kind.REGEX, Kind.STAR)
_WORD_OPS = ("AND", "OR")
_NAMED = (Kind.IDENT, Kind.NUMBER, Kind.DURATION, Kind.STRING, Kind.REF, Kind.REGEX, Kind.EOF)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        # Lexed after a "(" so that a leading "/" starts a regex, as in Kapacitor's lexer.
        tokens = [t for t in tokenize("(" + text) if t.kind is not Kind.COMMENT][1:]
        self.tokens = [
            Token(t.kind, t.text, t.pos - 1, t.line, t.char - (t.line == 1), t.newline_before)
            for t in tokens
        ]
        self.index = 0
        self.identifiers: list[str] = []

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, token: Token, expected: str = _EXPECTED) -> TickSyntaxError:
        what = token.kind.value if token.kind in _NAMED else token.text
        return TickSyntaxError(
            f"parser: unexpected {what} line {token.line} char {token.char} in "
            f'"{context(self.text, token.pos)}". expected: {expected}'
        )

    def is_binary(self, token: Token) -> bool:
        if token.kind is Kind.OP and token.text != "!":
            return True
        return token.kind is Kind.STAR or (token.kind is Kind.IDENT and token.text in _WORD_OPS)

    def expression(self) -> None:
        self.unary()
        while self.is_binary(self.peek()):
            self.take()
            self.unary()

    def unary(self) -> None:
        token = self.peek()
        if token.kind is Kind.OP and token.text in ("-", "!"):
            self.take()
            self.unary()
            return
        self.primary()

    def primary(self) -> None:
        token = self.take()
        if token.kind in _OPERAND_KINDS and token.kind is not Kind.STAR:
            return
        if token.kind is Kind.LPAREN:
            self.expression()
            if self.peek().kind is not Kind.RPAREN:
                raise self.error(self.peek())
            self.take()
            return
        if token.kind is Kind.IDENT and token.text not in _WORD_OPS:
            if self.peek().kind is Kind.LPAREN:
                self.call()
            elif token.text not in ("TRUE", "FALSE"):
                self.identifiers.append(token.text)
            return
        raise self.error(token)

    def call(self) -> None:
        self.take()
        if self.peek().kind is Kind.RPAREN:
            self.take()
            return
        while True:
            self.expression()
            token = self.take()
            if token.kind is Kind.RPAREN:
                return
            if token.kind is not Kind.COMMA:
                raise self.error(token)


def check_match(text: str) -> str | None:
    """Why Kapacitor rejects this match expression, or None."""
    try:
        parser = _Parser(text)
        parser.expression()
        if parser.peek().kind is not Kind.EOF:
            raise parser.error(parser.peek(), '"EOF"')
    except TickSyntaxError as exc:
        return f"invalid match expression: {exc}"
    for name in parser.identifiers:
        if name not in LEVELS:
            return f'unknown identifier "{name}"'
    return None
