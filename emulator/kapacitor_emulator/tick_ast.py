"""TICKscript syntax tree, with the node kinds and positions of Kapacitor's ``tick/ast``.

Every node keeps the position Kapacitor gives it (a function call: its name; a chain or
binary expression: its operator; a ``var`` statement: the ``var`` keyword), because the
evaluator's errors start with ``line L char C`` of that position.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kapacitor_emulator.tick_tokens import T


@dataclass(frozen=True)
class Pos:
    """Byte offset, 1-based line and 1-based byte column (Kapacitor's ``char``)."""

    offset: int
    line: int
    char: int


class FuncType(Enum):
    """How a function is called: ``|chain()``, ``.property()``, ``@dynamic()`` or ``global()``."""

    GLOBAL = "global"
    CHAIN = "chain"
    PROPERTY = "property"
    DYNAMIC = "dynamic"


@dataclass
class Node:
    """Base of all syntax nodes."""

    pos: Pos


@dataclass
class Number(Node):
    """A number literal (``0``-prefixed integers are octal)."""

    is_int: bool
    value: float | int


@dataclass
class Duration(Node):
    """A duration literal, in nanoseconds."""

    nanos: int
    literal: str


@dataclass
class String(Node):
    """A string literal (quotes removed, escaped quotes unescaped)."""

    literal: str


@dataclass
class Regex(Node):
    """A regex literal: the pattern between the slashes."""

    pattern: str


@dataclass
class Bool(Node):
    """``TRUE`` or ``FALSE``."""

    value: bool


@dataclass
class Star(Node):
    """The ``*`` literal."""


@dataclass
class Reference(Node):
    """A double-quoted field or tag reference."""

    name: str


@dataclass
class Ident(Node):
    """An identifier: a var or a name in scope."""

    name: str


@dataclass
class ListLit(Node):
    """``[a, 'b', *]``."""

    items: list[Node]


@dataclass
class Lambda(Node):
    """``lambda: <expression>``."""

    expr: Node


@dataclass
class Unary(Node):
    """``-x`` or ``!x``."""

    op: T
    operand: Node


@dataclass
class Binary(Node):
    """``left <op> right``."""

    op: T
    left: Node
    right: Node


@dataclass
class Func(Node):
    """A function call of some :class:`FuncType`."""

    kind: FuncType
    name: str
    args: list[Node]


@dataclass
class Chain(Node):
    """``left | right``, ``left . right`` or ``left @ right``."""

    op: T
    left: Node
    right: Node


@dataclass
class Decl(Node):
    """``var name = value``."""

    name: Ident
    value: Node


@dataclass
class TypeDecl(Node):
    """``var name type``."""

    name: Ident
    type_name: Ident


@dataclass
class DBRP(Node):
    """``dbrp "db"."rp"``."""

    db: Reference
    rp: Reference


@dataclass
class Program(Node):
    """The whole script: its statements in order."""

    statements: list[Node]
