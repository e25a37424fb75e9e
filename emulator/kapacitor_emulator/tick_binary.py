"""Expressions outside lambdas, and the identifiers inside lambdas.

Kapacitor replaces every identifier of a lambda (and of a binary expression such as
``var x = 2 * period``) by the literal value of the var it names when the script is
evaluated, so an undefined name or a var holding a node fails then
(``unsupported literal type *pipeline.FromNode``). A binary expression outside a lambda
is computed at once; the emulator computes the plain cases (numbers, durations,
strings, booleans of one type) and treats any other as a value it cannot see.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from kapacitor_emulator import tick_ast as ast
from kapacitor_emulator.tick_tokens import T
from kapacitor_emulator.tick_values import (
    BOOL,
    DURATION,
    FLOAT,
    INT,
    LAMBDA,
    LIST,
    REGEX,
    STAR,
    STRING,
    UNKNOWN,
    EvalError,
    Value,
)

_LITERAL_TYPES = (BOOL, INT, FLOAT, DURATION, STRING, REGEX, LAMBDA, STAR, UNKNOWN)
_ARITHMETIC: dict[T, Callable[[Any, Any], Any]] = {
    T.PLUS: operator.add,
    T.MINUS: operator.sub,
    T.MULT: operator.mul,
}
_COMPARE: dict[T, Callable[[Any, Any], bool]] = {
    T.EQUAL: operator.eq,
    T.NOT_EQUAL: operator.ne,
    T.LESS: operator.lt,
    T.GREATER: operator.gt,
    T.LESS_EQUAL: operator.le,
    T.GREATER_EQUAL: operator.ge,
}


@dataclass
class Literal(ast.Node):
    """An identifier replaced by its var's value."""

    value: Value


Lookup = Callable[[str], Any]


def _check_literal(value: Any) -> None:
    go_type = getattr(value, "go_type", "tick.unboundFunc")
    if go_type == "func":
        go_type = "func(time.Duration, ...time.Duration) (kapacitor.TimeDimension, error)"
    if go_type == LIST:
        for item in value.value:
            _check_literal(item)
    elif go_type not in _LITERAL_TYPES:
        raise EvalError(f"unsupported literal type {go_type}")


def resolve_idents(node: ast.Node, lookup: Lookup) -> ast.Node:
    """Replace identifiers by their values, as Kapacitor's ``resolveIdents``.

    Raises:
        EvalError: a var that has no literal form.
        EvalError: (from ``lookup``) an undefined name.
    """
    if isinstance(node, ast.Ident):
        value = lookup(node.name)
        _check_literal(value)
        return Literal(node.pos, value)
    if isinstance(node, ast.Unary):
        return replace(node, operand=resolve_idents(node.operand, lookup))
    if isinstance(node, ast.Binary):
        left = resolve_idents(node.left, lookup)
        return replace(node, left=left, right=resolve_idents(node.right, lookup))
    if isinstance(node, ast.Func):
        return replace(node, args=[resolve_idents(arg, lookup) for arg in node.args])
    return node


def _operand(node: ast.Node) -> Value:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, ast.Number):
        return Value(INT if node.is_int else FLOAT, node.value)
    if isinstance(node, ast.Duration):
        return Value(DURATION, node.nanos)
    if isinstance(node, ast.String):
        return Value(STRING, node.literal)
    if isinstance(node, ast.Bool):
        return Value(BOOL, node.value)
    if isinstance(node, ast.Binary):
        return evaluate_binary(node)
    if isinstance(node, ast.Reference):  # evaluated against an empty scope
        raise EvalError(f'name "{node.name}" is undefined. Names in scope: ')
    if isinstance(node, ast.Unary):
        inner = _operand(node.operand)
        if node.op is T.MINUS and inner.go_type in (INT, FLOAT, DURATION):
            return Value(inner.go_type, -inner.value)
        if node.op is T.NOT and inner.go_type == BOOL:
            return Value(BOOL, not inner.value)
    return Value(UNKNOWN)


def evaluate_binary(node: ast.Node) -> Value:
    """The value of a binary expression of literals, or an unknown value."""
    if not isinstance(node, ast.Binary):
        return _operand(node)
    left, right = _operand(node.left), _operand(node.right)
    kind = left.go_type
    if kind != right.go_type or kind == UNKNOWN:
        return Value(UNKNOWN)
    if node.op in (T.AND, T.OR) and kind == BOOL:
        both = left.value and right.value if node.op is T.AND else left.value or right.value
        return Value(BOOL, bool(both))
    if node.op in _COMPARE and kind in (INT, FLOAT, DURATION, STRING):
        return Value(BOOL, _COMPARE[node.op](left.value, right.value))
    if node.op in _ARITHMETIC and (
        kind in (INT, FLOAT) or (kind == DURATION and node.op is not T.MULT)
    ):
        return Value(kind, _ARITHMETIC[node.op](left.value, right.value))
    if node.op is T.PLUS and kind == STRING:
        return Value(STRING, left.value + right.value)
    return Value(UNKNOWN)
