"""TICKscript token types, as Kapacitor names them in parser errors (``tick/ast/lex.go``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class T(Enum):
    """Token types; the value is how Kapacitor prints the type in error messages."""

    ERROR = "ERR"
    EOF = "EOF"
    VAR = "var"
    DBRP = "dbrp"
    ASGN = "="
    DOT = "."
    PIPE = "|"
    AT = "@"
    IDENT = "identifier"
    REFERENCE = "reference"
    LAMBDA = "lambda"
    NUMBER = "number"
    STRING = "string"
    DURATION = "duration"
    LPAREN = "("
    RPAREN = ")"
    LSBRACKET = "["
    RSBRACKET = "]"
    COMMA = ","
    NOT = "!"
    TRUE = "TRUE"
    FALSE = "FALSE"
    REGEX = "regex"
    COMMENT = "//"
    STAR = "*"
    PLUS = "+"
    MINUS = "-"
    MULT = "*op"
    DIV = "/"
    MOD = "%"
    AND = "AND"
    OR = "OR"
    EQUAL = "=="
    NOT_EQUAL = "!="
    LESS = "<"
    GREATER = ">"
    LESS_EQUAL = "<="
    GREATER_EQUAL = ">="
    REGEX_EQUAL = "=~"
    REGEX_NOT_EQUAL = "!~"

    def __str__(self) -> str:
        return "*" if self is T.MULT else self.value


OPERATORS = {
    T.NOT: "!",
    T.PLUS: "+",
    T.MINUS: "-",
    T.MULT: "*",
    T.DIV: "/",
    T.MOD: "%",
    T.EQUAL: "==",
    T.NOT_EQUAL: "!=",
    T.LESS: "<",
    T.GREATER: ">",
    T.LESS_EQUAL: "<=",
    T.GREATER_EQUAL: ">=",
    T.REGEX_EQUAL: "=~",
    T.REGEX_NOT_EQUAL: "!~",
    T.AND: "AND",
    T.OR: "OR",
}
"""Expression operators (``NOT`` is one only for printing, as in Kapacitor)."""
BINARY = frozenset(OPERATORS) - {T.NOT}


@dataclass(frozen=True)
class Token:
    """A token: type, byte offset in the script, text (the message for ``ERROR``)."""

    typ: T
    pos: int
    val: str


_EOF = ""
_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


def is_space(ch: str) -> bool:
    """Go's ``unicode.IsSpace``."""
    return ch in _SPACES


def is_letter(ch: str) -> bool:
    """Go's ``unicode.IsLetter``."""
    return ch != _EOF and ch.isalpha()


def is_digit(ch: str) -> bool:
    """Go's ``unicode.IsDigit`` (any decimal digit, not only ASCII)."""
    return ch != _EOF and ch.isdecimal()


def go_quote_rune(ch: str) -> str:
    """Go's ``%q`` of a rune."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes |= {"\v": "\\v", "'": "\\'", "\\": "\\\\"}
    if ch in escapes:
        return f"'{escapes[ch]}'"
    code = ord(ch)
    if ch.isprintable() and ch != "\xad":
        return f"'{ch}'"
    if code < 0x80:
        return f"'\\x{code:02x}'"
    return f"'\\u{code:04x}'" if code <= 0xFFFF else f"'\\U{code:08x}'"
