"""TICKscript's lexer, token for token as Kapacitor's (``tick/ast/lex.go``, v1.8.3).

Kapacitor reports parser errors with the token the parser stumbled on, its byte offset
(as ``line L char C``) and the text around it, so the emulator must cut the script into
exactly the same tokens. The rules that make that necessary: operators are only
recognized right after an operand (elsewhere ``/`` starts a regex and ``=`` is an
unknown character); ``-`` and ``!`` are always unary at the start of a token; a number
followed by a unit letter is a duration (``10m``, ``5ms``) but ``1.5s`` is the number
``1.5`` followed by the identifier ``s``; identifiers start with a letter, not ``_``;
``lambda`` is a keyword only when ``:`` follows at once; comment lines are merged.

A lexer error becomes an error token (its text is the message) and ends the stream;
the parser reports it as ``unexpected <message>``.
"""

from __future__ import annotations

from collections.abc import Callable

from kapacitor_emulator.tick_tokens import (
    OPERATORS,
    T,
    Token,
    go_quote_rune,
    is_digit,
    is_letter,
    is_space,
)

_State = Callable[[], "_State | None"]


_BY_TEXT = {text: typ for typ, text in OPERATORS.items()}
_KEYWORDS = {
    "AND": T.AND,
    "OR": T.OR,
    "TRUE": T.TRUE,
    "FALSE": T.FALSE,
    "var": T.VAR,
    "dbrp": T.DBRP,
    "lambda": T.LAMBDA,
}
_DURATION_UNITS = "uµsmhdw"
_EOF = ""


class _Lexer:
    """The state machine; each ``_state`` method returns the next state or ``None``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offsets = [0]
        for ch in text:
            self.offsets.append(self.offsets[-1] + len(ch.encode()))
        self.start = 0
        self.pos = 0
        self.width = 0
        self.tokens: list[Token] = []

    def next(self) -> str:
        if self.pos >= len(self.text):
            self.width = 0
            return _EOF
        self.width = 1
        self.pos += 1
        return self.text[self.pos - 1]

    def backup(self) -> None:
        self.pos -= self.width

    def peek(self) -> str:
        ch = self.next()
        self.backup()
        return ch

    def emit(self, typ: T) -> None:
        self.tokens.append(Token(typ, self.offsets[self.start], self.text[self.start : self.pos]))
        self.start = self.pos

    def error(self, message: str) -> None:
        self.tokens.append(Token(T.ERROR, self.offsets[self.start], message))

    def ignore_space(self) -> None:
        while is_space(self.next()):
            self.start = self.pos
        self.backup()

    def run(self) -> list[Token]:
        state = self.lex_token
        while True:
            following = state()
            if following is None:
                return self.tokens
            state = following

    def lex_token(self) -> _State | None:
        singles = {"(": T.LPAREN, "[": T.LSBRACKET, "]": T.RSBRACKET, "|": T.PIPE}
        singles |= {"@": T.AT, ",": T.COMMA, "*": T.STAR}
        while True:
            ch = self.next()
            if ch in ("-", "!"):
                self.emit(T.MINUS if ch == "-" else T.NOT)
                return self.lex_token
            if is_digit(ch) or ch == ".":
                self.backup()
                return self.lex_number
            if is_letter(ch):
                return self.lex_ident
            if ch == '"':
                return self.lex_reference
            if ch == "'":
                self.backup()
                return self.lex_string
            if is_space(ch):
                self.start = self.pos
                continue
            if ch in singles:
                self.emit(singles[ch])
                return self.lex_token
            if ch == ")":
                self.emit(T.RPAREN)
                return self.try_operator
            if ch == "/":
                self.backup()
                if self.text.startswith("//", self.pos):
                    return self.lex_comment
                return self.lex_regex
            if ch == _EOF:
                self.emit(T.EOF)
                return None
            self.error(f"unknown state, last char: {go_quote_rune(ch)}")
            return None

    def try_operator(self) -> _State | None:
        """After an operand: a binary operator, ``=``, or back to :meth:`lex_token`."""
        self.ignore_space()
        ch = self.next()
        if ch and ch in "+-*%":
            self.emit(_BY_TEXT[ch])
            return self.lex_token
        if ch == "/":
            if self.peek() == "/":
                self.backup()
                return self.lex_comment
            self.emit(T.DIV)
            return self.lex_token
        if ch == "!":
            if self.peek() in ("=", "~"):
                self.next()
            typ = _BY_TEXT[self.text[self.start : self.pos]]
            self.emit(typ)
            return self._regex_after(typ is T.REGEX_NOT_EQUAL)
        if ch in ("<", ">"):
            if self.peek() == "=":
                self.next()
            self.emit(_BY_TEXT[self.text[self.start : self.pos]])
            return self.lex_token
        if ch == "=":
            if self.peek() in ("~", "="):
                self.next()
                typ = _BY_TEXT[self.text[self.start : self.pos]]
                self.emit(typ)
                return self._regex_after(typ is T.REGEX_EQUAL)
            self.emit(T.ASGN)
            return self._regex_after(True)
        self.backup()
        return self.lex_token

    def _regex_after(self, allowed: bool) -> _State:
        if allowed:
            self.ignore_space()
            if self.peek() == "/":
                return self.lex_regex
        return self.lex_token

    def lex_ident(self) -> _State:
        while True:
            ch = self.next()
            if is_digit(ch) or is_letter(ch) or ch == "_":
                continue
            self.backup()
            typ = _KEYWORDS.get(self.text[self.start : self.pos], T.IDENT)
            if typ is T.LAMBDA and self.next() != ":":
                self.backup()
                typ = T.IDENT
            self.emit(typ)
            return self.try_operator

    def lex_number(self) -> _State | None:
        decimal = False
        first = True
        while True:
            ch = self.next()
            if ch == ".":
                if first and not is_digit(self.peek()):
                    self.emit(T.DOT)
                    return self.lex_token
                if decimal:
                    self.error("multiple decimals in number")
                    return None
                decimal = True
            elif is_digit(ch):
                pass
            elif not decimal and ch != _EOF and ch in _DURATION_UNITS:
                if ch == "m" and self.peek() == "s":
                    self.next()
                self.emit(T.DURATION)
                return self.try_operator
            else:
                self.backup()
                self.emit(T.NUMBER)
                return self.try_operator
            first = False

    def lex_reference(self) -> _State | None:
        while True:
            ch = self.next()
            if ch == "\\" and self.peek() == '"':
                self.next()
            elif ch == '"':
                self.emit(T.REFERENCE)
                return self.try_operator
            elif ch == _EOF:
                self.error("unterminated field reference")
                return None

    def lex_string(self) -> _State | None:
        self.next()  # the opening quote
        count = 1
        if self.peek() == "'":
            self.next()
            if self.peek() != "'":
                self.emit(T.STRING)  # ''
                return self.try_operator
            self.next()
            count = 3
        total = count
        while True:
            ch = self.next()
            if ch == "\\" and count == 1:
                if self.peek() == "'":
                    self.next()
            elif ch == "'":
                count -= 1
                if count == 0:
                    self.emit(T.STRING)
                    return self.try_operator
            elif ch == _EOF:
                self.error("unterminated string")
                return None
            else:
                count = total

    def lex_regex(self) -> _State | None:
        self.next()  # the opening slash
        while True:
            ch = self.next()
            if ch == "\\" and self.peek() == "/":
                self.next()
            elif ch == "/":
                self.emit(T.REGEX)
                return self.lex_token
            elif ch == _EOF:
                self.error("unterminated regex")
                return None

    def lex_comment(self) -> _State:
        self.next()  # the first slash; the second is part of the comment text
        while True:
            ch = self.next()
            if ch == "\n":
                following = self.next()
                while following != "\n" and is_space(following):
                    following = self.next()
                if following == "/":
                    continue
                self.backup()
                self.emit(T.COMMENT)
                return self.lex_token
            if ch == _EOF:
                self.emit(T.COMMENT)
                return self.lex_token


def lex(text: str) -> list[Token]:
    """All tokens of a script: it ends with ``EOF`` or with an ``ERROR`` token."""
    return _Lexer(text).run()
