"""Go's ``encoding/json`` syntax errors, for endpoints that echo them.

Kapacitor's alert, recording and replay handlers answer a body that is not JSON with the
decoder's own error text (``invalid handler json: unexpected EOF``, ``invalid character
'x' looking for beginning of value``...). This is a small JSON scanner that reports the
first error the way Go's scanner words it. ``stream=True`` is ``json.Decoder`` (an empty
body is ``EOF``, a cut value ``unexpected EOF``, anything after the first value is
ignored); ``stream=False`` is ``json.Unmarshal`` (``unexpected end of JSON input``, and
trailing data is ``invalid character 'x' after top-level value``).
"""

from __future__ import annotations

_WS = " \t\r\n"


class GoSyntaxError(ValueError):
    """A body that Go's JSON decoder rejects; the message is Go's."""


class _Cut(Exception):
    """The input ended inside a value."""


def quote_char(ch: str) -> str:
    """Go's ``quoteChar``: ``'x'``, with ``'\\''`` and ``'"'`` spelled out."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    if ch == "\n":
        return "'\\n'"
    if ch == "\t":
        return "'\\t'"
    if ch == "\r":
        return "'\\r'"
    if ord(ch) < 0x20:
        return f"'\\x{ord(ch):02x}'"
    return f"'{ch}'"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        if self.pos >= len(self.text):
            raise _Cut
        return self.text[self.pos]

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def fail(self, context: str) -> GoSyntaxError:
        return GoSyntaxError(f"invalid character {quote_char(self.peek())} {context}")

    def value(self) -> None:
        self.skip_ws()
        ch = self.peek()
        if ch == "{":
            self.obj()
        elif ch == "[":
            self.array()
        elif ch == '"':
            self.string()
        elif ch == "-" or ch.isdigit():
            self.number()
        elif ch in "tfn":
            self.literal({"t": "true", "f": "false", "n": "null"}[ch])
        else:
            raise self.fail("looking for beginning of value")

    def obj(self) -> None:
        self.pos += 1
        self.skip_ws()
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            self.skip_ws()
            if self.peek() != '"':
                raise self.fail("looking for beginning of object key string")
            self.string()
            self.skip_ws()
            if self.peek() != ":":
                raise self.fail("after object key")
            self.pos += 1
            self.value()
            self.skip_ws()
            ch = self.peek()
            self.pos += 1
            if ch == "}":
                return
            if ch != ",":
                self.pos -= 1
                raise self.fail("after object key:value pair")

    def array(self) -> None:
        self.pos += 1
        self.skip_ws()
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            self.value()
            self.skip_ws()
            ch = self.peek()
            self.pos += 1
            if ch == "]":
                return
            if ch != ",":
                self.pos -= 1
                raise self.fail("after array element")

    def string(self) -> None:
        self.pos += 1
        while True:
            ch = self.peek()
            self.pos += 1
            if ch == '"':
                return
            if ch == "\\":
                esc = self.peek()
                if esc == "u":
                    self.pos += 1
                    for _ in range(4):
                        if self.peek() not in "0123456789abcdefABCDEF":
                            raise self.fail("in \\u hexadecimal character escape")
                        self.pos += 1
                elif esc in '"\\/bfnrt':
                    self.pos += 1
                else:
                    raise self.fail("in string escape code")
            elif ord(ch) < 0x20:
                self.pos -= 1
                raise self.fail("in string literal")

    def digits(self) -> int:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isdigit():
            self.pos += 1
        return self.pos - start

    def number(self) -> None:
        if self.peek() == "-":
            self.pos += 1
            if not self.peek().isdigit():
                raise self.fail("in numeric literal")
        if self.peek() == "0":
            self.pos += 1
        else:
            self.digits()
        if self.pos < len(self.text) and self.text[self.pos] == ".":
            self.pos += 1
            if not self.peek().isdigit():
                raise self.fail("after decimal point in numeric literal")
            self.digits()
        if self.pos < len(self.text) and self.text[self.pos] in "eE":
            self.pos += 1
            if self.peek() in "+-":
                self.pos += 1
            if not self.peek().isdigit():
                raise self.fail("in exponent of numeric literal")
            self.digits()

    def literal(self, word: str) -> None:
        for expected in word:
            ch = self.peek()
            if ch != expected:
                raise self.fail(f"in literal {word} (expecting {quote_char(expected)})")
            self.pos += 1


def check_syntax(raw: bytes, *, stream: bool) -> None:
    """Raise :class:`GoSyntaxError` with Go's text when ``raw`` is not valid JSON.

    Raises:
        GoSyntaxError: the body is empty, cut short or malformed.
    """
    text = raw.decode("utf-8", errors="replace")
    scanner = _Scanner(text)
    scanner.skip_ws()
    if scanner.pos >= len(text):
        raise GoSyntaxError("EOF" if stream else "unexpected end of JSON input")
    try:
        scanner.value()
    except _Cut as exc:
        raise GoSyntaxError("unexpected EOF" if stream else "unexpected end of JSON input") from exc
    if not stream:
        scanner.skip_ws()
        if scanner.pos < len(text):
            raise scanner.fail("after top-level value")
