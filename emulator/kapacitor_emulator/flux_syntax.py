"""Flux syntax errors as Kapacitor's Flux task API reports them, for the common mistakes.

Kapacitor parses a Flux task with Flux's own parser (``libflux``) and answers with the
first error of the syntax tree, as ``loc <start>-<end>: <message>``, where the location
is the tree node that holds the error. The emulator does not build a Flux syntax tree;
it scans the script and recognizes these mistakes with the node locations Flux uses:

- an unclosed ``(``, ``{`` or ``[`` at the end of the script: ``expected RPAREN, got
  EOF`` on the outermost unclosed node (a call starts at its callee);
- a ``{...)`` or ``(...}`` closed by a bracket an outer node opened: ``expected RBRACE,
  got RPAREN`` from the opener to that bracket;
- a closing bracket, ``import`` after other statements, or a character Flux has no use
  for (``$``, ``#``, ``;``...) where a statement starts: ``invalid statement @L:C-L:C: x``;
- an unterminated string: ``got unexpected token in string expression @L:C-L:C: EOF``;
- ``|>`` followed by anything but a call: ``pipe destination must be a function call``;
- an arithmetic or comparison operator with nothing after it: ``missing right hand side
  of expression``.

Other malformed scripts are rejected with a message of the same shape that may differ
from Flux's, and some scripts Flux rejects are accepted (see ``docs/emulator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

_PUNCT = ("|>", "=>", "==", "!=", "<=", ">=", "=~", "!~", "<-")
_OPEN = {"(": ")", "{": "}", "[": "]"}
_NAMES = {"(": "LPAREN", ")": "RPAREN", "{": "LBRACE", "}": "RBRACE", "[": "LBRACK"}
_NAMES |= {"]": "RBRACK", ",": "COMMA"}
_ILLEGAL = set("$#;&~'`?\\")
_REGEX_AFTER = {"=~", "!~", "(", ",", ":", "[", "=", "{"}
_PRECEDENCE = {"==": 1, "!=": 1, "<": 1, "<=": 1, ">": 1, ">=": 1, "=~": 1, "!~": 1}
_PRECEDENCE |= {"+": 2, "-": 2, "*": 3, "/": 3, "%": 3, "^": 4}
_KEYWORDS = {"and", "or", "not", "if", "then", "else", "return", "exists", "import", "option"}


class FluxSyntaxError(ValueError):
    """A script the Flux parser rejects; the message is Kapacitor's ``loc ...: ...``."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # "word" | "string" | "regex" | "punct" | "illegal" | "eof"
    text: str
    start: int
    end: int


class _Checker:
    def __init__(self, src: str) -> None:
        self.src = src
        self.data = src.encode()
        self.errors: list[tuple[int, str]] = []
        self.truncated = False
        """Scanning stopped at an unterminated string or regex."""

    # --- positions ------------------------------------------------------------------

    def pos(self, offset: int) -> str:
        byte = len(self.src[:offset].encode())
        line = self.data.count(b"\n", 0, byte) + 1
        column = byte - self.data.rfind(b"\n", 0, byte)
        return f"{line}:{column}"

    def error(self, start: int, end: int, message: str) -> None:
        self.errors.append((start, f"loc {self.pos(start)}-{self.pos(end)}: {message}"))

    # --- scanning -------------------------------------------------------------------

    def _string_end(self, i: int) -> int:
        """Offset after the string starting at ``i``, or -1 when it never ends."""
        i += 1
        while i < len(self.src):
            ch = self.src[i]
            if ch == "\\":
                i += 2
            elif ch == '"':
                return i + 1
            elif self.src.startswith("${", i):
                i = self._interpolation_end(i + 2)
                if i < 0:
                    return -1
            else:
                i += 1
        return -1

    def _interpolation_end(self, i: int) -> int:
        depth = 1
        while i < len(self.src):
            ch = self.src[i]
            if ch == '"':
                i = self._string_end(i)
                if i < 0:
                    return -1
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            i += 1
            if depth == 0:
                return i
        return -1

    def tokens(self) -> list[_Tok]:
        src, out, i = self.src, list[_Tok](), 0
        while i < len(src):
            ch = src[i]
            if ch.isspace():
                i += 1
                continue
            if src.startswith("//", i):
                end = src.find("\n", i)
                i = len(src) if end < 0 else end
                continue
            if ch == '"':
                end = self._string_end(i)
                if end < 0:
                    self.error(i, len(src), self._eof_in_string())
                    self.truncated = True
                    return [*out, _Tok("eof", "", len(src), len(src))]
                out.append(_Tok("string", src[i:end], i, end))
            elif ch == "/" and out and out[-1].text in _REGEX_AFTER:
                end = src.find("/", i + 1)
                while end > 0 and src[end - 1] == "\\":
                    end = src.find("/", end + 1)
                if end < 0:
                    self.error(i, len(src), "missing left hand side of expression")
                    self.truncated = True
                    return [*out, _Tok("eof", "", len(src), len(src))]
                out.append(_Tok("regex", src[i : end + 1], i, end + 1))
            elif ch.isalnum() or ch == "_":
                end = i
                while end < len(src) and (src[end].isalnum() or src[end] in "_."):
                    end += 1
                out.append(_Tok("word", src[i:end], i, end))
            else:
                text = next((p for p in _PUNCT if src.startswith(p, i)), ch)
                kind = "illegal" if ch in _ILLEGAL else "punct"
                out.append(_Tok(kind, text, i, i + len(text)))
            i = out[-1].end
        return [*out, _Tok("eof", "", len(src), len(src))]

    def _eof_in_string(self) -> str:
        at = self.pos(len(self.src))
        return f"got unexpected token in string expression @{at}-{at}: EOF"


def check(src: str) -> None:
    """Raise Kapacitor's error for the first syntax mistake this module recognizes.

    Raises:
        FluxSyntaxError: ``loc <start>-<end>: <message>``.
    """
    checker = _Checker(src)
    toks = checker.tokens()
    _Structure(checker, toks).run()
    if checker.errors:
        raise FluxSyntaxError(min(checker.errors, key=lambda e: e[0])[1])


@dataclass
class _Open:
    char: str
    node_start: int


class _Structure:
    """Brackets, statements and operators over the token list."""

    def __init__(self, checker: _Checker, toks: list[_Tok]) -> None:
        self.c = checker
        self.toks = toks
        self.stack: list[_Open] = []
        self.node_start: dict[int, int] = {}  # index of a closer -> start of its node
        self.statements = False

    def run(self) -> None:
        i = 0
        while i < len(self.toks):
            i = self.step(i)
        eof = self.toks[-1].end
        if self.stack:
            outer = self.stack[0]
            self.c.error(outer.node_start, eof, f"expected {_NAMES[_OPEN[outer.char]]}, got EOF")

    def _bad_statement(self, tok: _Tok) -> None:
        at = f"@{self.c.pos(tok.start)}-{self.c.pos(tok.end)}"
        self.c.error(tok.start, tok.end, f"invalid statement {at}: {tok.text}")

    def step(self, i: int) -> int:
        tok = self.toks[i]
        if tok.kind == "eof":
            return i + 1
        top = not self.stack
        if tok.kind == "illegal":
            if top:
                self._bad_statement(tok)
            else:
                self.c.error(self.stack[-1].node_start, tok.end, f"invalid expression: {tok.text}")
        elif tok.text == "import" and top:
            if self.statements:
                self._bad_statement(tok)
            elif self.toks[i + 1].kind == "word" and self.toks[i + 2].kind == "string":
                return i + 3
            elif self.toks[i + 1].kind == "string":
                return i + 2
        elif tok.text in _OPEN:
            self.stack.append(_Open(tok.text, self._callee_start(i)))
        elif tok.text in _NAMES and tok.text not in _OPEN and tok.text != ",":
            self._close(i)
        elif tok.text == "|>":
            self._pipe(i)
        elif tok.text in _PRECEDENCE and self._is_binary(i):
            self._operator(i)
        if top and tok.text != "import":
            self.statements = True
        return i + 1

    def _close(self, i: int) -> None:
        tok = self.toks[i]
        if not self.stack:
            self._bad_statement(tok)
            return
        while self.stack and _OPEN[self.stack[-1].char] != tok.text:
            opened = self.stack.pop()
            if not any(_OPEN[o.char] == tok.text for o in self.stack):
                self.stack.append(opened)
                self.c.error(opened.node_start, tok.end, f"unexpected {_NAMES[tok.text]}")
                return
            want, got = _NAMES[_OPEN[opened.char]], _NAMES[tok.text]
            self.c.error(opened.node_start, tok.end, f"expected {want}, got {got}")
        if self.stack:
            self.node_start[i] = self.stack.pop().node_start

    def _callee_start(self, i: int) -> int:
        tok = self.toks[i]
        prev = self.toks[i - 1] if i else None
        if tok.text == "{" or prev is None:
            return tok.start
        if prev.kind == "word" and prev.text not in _KEYWORDS:
            return prev.start
        if prev.text in (")", "]") and i - 1 in self.node_start:
            return self.node_start[i - 1]
        return tok.start

    def _operand_start(self, i: int) -> int:
        """Start of the operand that ends at token ``i``."""
        tok = self.toks[i]
        return self.node_start.get(i, tok.start)

    def _is_binary(self, i: int) -> bool:
        prev = self.toks[i - 1] if i else None
        if prev is None:
            return False
        operand = prev.kind in ("word", "string", "regex") and prev.text not in _KEYWORDS
        return operand or prev.text in (")", "]", "}")

    def _operator(self, i: int) -> None:
        following = self.toks[i + 1]
        if following.kind == "eof" and self.c.truncated:
            return
        if following.kind != "eof" and following.text not in (")", "]", "}", ","):
            return
        rank = _PRECEDENCE[self.toks[i].text]
        j = i - 1
        start = self._operand_start(j)
        while True:
            k = self._index_of(start) - 1
            before = self.toks[k].text if k >= 0 else ""
            if _PRECEDENCE.get(before, 0) < rank or not self._is_binary(k):
                break
            start = self._operand_start(k - 1)
        end = following.end if following.kind != "eof" else following.start
        self.c.error(start, end, "missing right hand side of expression")

    def _index_of(self, start: int) -> int:
        return next(k for k, tok in enumerate(self.toks) if tok.start == start)

    def _pipe(self, i: int) -> None:
        nxt, after = self.toks[i + 1], self.toks[min(i + 2, len(self.toks) - 1)]
        if nxt.kind == "word" and after.text == "(":
            return
        self.c.error(nxt.start, nxt.end, "pipe destination must be a function call")
