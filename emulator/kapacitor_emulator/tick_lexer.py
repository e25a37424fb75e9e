"""A TICKscript tokenizer, just deep enough to reject plainly malformed scripts.

The emulator does not compile TICKscript. It tokenizes a script so that it can reject
what Kapacitor's lexer rejects outright (unterminated strings and references, stray
characters) with an ``invalid TICKscript: parser: ...`` message, and so that the
statement reader (:mod:`tick_lang`) and the formatter work on tokens, not on raw text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """Token kinds."""

    IDENT = "identifier"
    NUMBER = "number"
    DURATION = "duration"
    STRING = "string"
    REF = "reference"
    REGEX = "regex"
    PIPE = "|"
    AT = "@"
    DOT = "."
    LPAREN = "("
    RPAREN = ")"
    LBRACKET = "["
    RBRACKET = "]"
    COMMA = ","
    ASSIGN = "="
    COLON = ":"
    OP = "operator"
    STAR = "*"
    COMMENT = "comment"
    EOF = "EOF"


@dataclass(frozen=True)
class Token:
    """One token with its position (1-based line and character) in the script."""

    kind: Kind
    text: str
    pos: int
    line: int
    char: int
    newline_before: bool


class TickSyntaxError(ValueError):
    """A lexer or parser error; the message is the text after ``invalid TICKscript: ``."""


_DURATION_RE = re.compile(r"\d+(?:\.\d+)?(?:ms|us|u|µs|µ|ns|s|m|h|d|w)(?![A-Za-z_0-9])")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_IDENT_RE = re.compile(r"[^\W\d]\w*", re.UNICODE)
_OPERATORS = ("==", "!=", "<=", ">=", "=~", "!~", "<", ">", "+", "-", "/", "%", "!")
_REGEX_AFTER = {Kind.OP, Kind.LPAREN, Kind.COMMA, Kind.ASSIGN, Kind.COLON, Kind.LBRACKET}
_SINGLE = {
    "|": Kind.PIPE,
    "@": Kind.AT,
    ".": Kind.DOT,
    "(": Kind.LPAREN,
    ")": Kind.RPAREN,
    "[": Kind.LBRACKET,
    "]": Kind.RBRACKET,
    ",": Kind.COMMA,
    ":": Kind.COLON,
    "*": Kind.STAR,
}


def position(script: str, pos: int) -> tuple[int, int]:
    """1-based (line, char) of an offset."""
    line = script.count("\n", 0, pos) + 1
    start = script.rfind("\n", 0, pos) + 1
    return line, pos - start + 1


def context(script: str, pos: int) -> str:
    """The text around an offset, as Kapacitor's parser quotes it in errors."""
    return script[max(0, pos - 10) : pos + 10]


def syntax_error(script: str, pos: int, what: str, expected: str = "") -> TickSyntaxError:
    """Build a parser error in Kapacitor's shape."""
    line, char = position(script, pos)
    msg = f'parser: unexpected {what} line {line} char {char} in "{context(script, pos)}".'
    if expected:
        msg += f" expected: {expected}"
    return TickSyntaxError(msg)


class _Lexer:
    def __init__(self, script: str) -> None:
        self.script = script
        self.pos = 0
        self.tokens: list[Token] = []
        self.newline = True

    def emit(self, kind: Kind, text: str, start: int) -> None:
        line, char = position(self.script, start)
        self.tokens.append(Token(kind, text, start, line, char, self.newline))
        self.newline = False
        self.pos = start + len(text)

    def quoted(self, start: int, quote: str, kind: Kind, label: str) -> None:
        end = start + 1
        while end < len(self.script):
            ch = self.script[end]
            if ch == "\\":
                end += 2
                continue
            if ch == quote:
                self.emit(kind, self.script[start : end + 1], start)
                return
            if ch == "\n" and kind is Kind.REF:
                break
            end += 1
        raise syntax_error(self.script, start, f"unterminated {label}")

    def run(self) -> list[Token]:
        script = self.script
        while self.pos < len(script):
            ch, start = script[self.pos], self.pos
            if ch == "\n":
                self.newline = True
                self.pos += 1
            elif ch.isspace():
                self.pos += 1
            elif script.startswith("//", start):
                end = script.find("\n", start)
                end = len(script) if end < 0 else end
                self.emit(Kind.COMMENT, script[start:end].rstrip(), start)
                self.pos = end
            elif script.startswith("'''", start):
                end = script.find("'''", start + 3)
                if end < 0:
                    raise syntax_error(script, start, "unterminated string")
                self.emit(Kind.STRING, script[start : end + 3], start)
            elif ch == "'":
                self.quoted(start, "'", Kind.STRING, "string")
            elif ch == '"':
                self.quoted(start, '"', Kind.REF, "reference")
            elif ch == "/" and self._regex_allowed():
                self.quoted(start, "/", Kind.REGEX, "regex")
            elif ch.isdigit():
                match = _DURATION_RE.match(script, start)
                if match:
                    self.emit(Kind.DURATION, match.group(0), start)
                else:
                    num = _NUMBER_RE.match(script, start)
                    assert num is not None
                    self.emit(Kind.NUMBER, num.group(0), start)
            elif ch.isalpha() or ch == "_":
                ident = _IDENT_RE.match(script, start)
                assert ident is not None
                self.emit(Kind.IDENT, ident.group(0), start)
            else:
                self._punct(ch, start)
        self.emit(Kind.EOF, "", len(script))
        return self.tokens

    def _regex_allowed(self) -> bool:
        if not self.tokens:
            return False
        last = self.tokens[-1]
        return last.kind in _REGEX_AFTER and last.text not in ("/",)

    def _punct(self, ch: str, start: int) -> None:
        for op in _OPERATORS:
            if self.script.startswith(op, start):
                self.emit(Kind.OP, op, start)
                return
        if ch == "=":
            self.emit(Kind.ASSIGN, "=", start)
        elif ch in _SINGLE:
            self.emit(_SINGLE[ch], ch, start)
        else:
            raise syntax_error(self.script, start, repr(ch).strip("'\""))


def tokenize(script: str) -> list[Token]:
    """Split a TICKscript into tokens; the last token is always ``EOF``.

    Raises:
        TickSyntaxError: unterminated string/reference/regex or an unknown character.
    """
    return _Lexer(script).run()
