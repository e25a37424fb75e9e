"""Kapacitor's TICKscript pipeline objects: what each can do, and Go's reflection rules.

The table (``tick_nodes.json``) is generated from kapacitord v1.8.3 itself by
``hack/gen-tick-nodes.sh``: for every Go type a script can hold (``*pipeline.AlertNode``,
``*pipeline.SlackHandler``, ...) its chaining methods (``|name()``), property methods
and settable fields (``.name()``), with Go signatures, and for each chaining method the
edge (stream/batch) its new node provides, or the panic it raises, per parent edge.

Kapacitor calls these through ``reflect``; the checks of ``reflect.Value.Call`` and
``reflect.Value.Set`` (argument count and assignability) and their panic texts are
reproduced here, since they are what a wrong argument type produces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from kapacitor_emulator.tick_values import UNKNOWN, Value

NODE_INTERFACE = "pipeline.Node"
ANY = "interface {}"


class GoPanic(Exception):
    """A Go panic inside a pipeline call; Kapacitor's evaluator recovers and reports it."""


@dataclass(frozen=True)
class Signature:
    """A Go function signature: parameter types (the last one ``[]T`` if variadic)."""

    params: tuple[str, ...]
    variadic: bool
    results: tuple[str, ...]
    provides: tuple[tuple[str, str], ...] = ()

    def provided(self, parent_edge: str) -> str:
        """The edge the new node provides under a parent of ``parent_edge``, or
        ``panic: <text>``; the parent's edge when the table does not say."""
        return dict(self.provides).get(parent_edge, parent_edge)


@dataclass(frozen=True)
class GoType:
    """One pipeline Go type: its chaining methods, property methods and fields."""

    name: str
    node: bool
    chain: frozenset[str]
    properties: dict[str, Signature]
    fields: dict[str, str]


def _signature(raw: dict[str, Any]) -> Signature:
    provides = tuple(sorted(raw.get("provides", {}).items()))
    return Signature(tuple(raw["in"]), bool(raw.get("variadic")), tuple(raw["out"]), provides)


@cache
def _table() -> tuple[dict[str, Signature], dict[str, GoType]]:
    text = resources.files("kapacitor_emulator").joinpath("tick_nodes.json").read_text("utf-8")
    raw = json.loads(text)
    chains = {name: _signature(sig) for name, sig in raw["chain"].items()}
    types = {
        name: GoType(
            name,
            bool(info["node"]),
            frozenset(info["chain"]),
            {prop: _signature(sig) for prop, sig in info["properties"].items()},
            dict(info["fields"]),
        )
        for name, info in raw["types"].items()
    }
    return chains, types


def go_type(name: str) -> GoType | None:
    """The pipeline type named ``name`` (as ``%T`` prints it), if the table has it."""
    return _table()[1].get(name)


def chain_signature(name: str) -> Signature:
    """The signature of the chaining method ``name`` (capitalized, as Go names it)."""
    return _table()[0][name]


def capitalize(name: str) -> str:
    """Kapacitor's ``capitalizeFirst``: method lookups ignore the case of the first rune."""
    if not name:
        return name
    upper = name[0].upper()
    return (upper if len(upper) == 1 else name[0]) + name[1:]


def assignable(value_type: str, target: str) -> bool:
    """Go's ``AssignableTo`` for the types a script produces."""
    if value_type in (UNKNOWN, target) or target == ANY:
        return True
    if target == NODE_INTERFACE:
        info = go_type(value_type)
        return info is not None and info.node
    return False


def check_call(sig: Signature, args: list[Value]) -> None:
    """``reflect.Value.Call``'s checks on the arguments.

    Raises:
        GoPanic: too few or too many arguments, or an argument of the wrong type.
    """
    fixed = len(sig.params) - 1 if sig.variadic else len(sig.params)
    if len(args) < fixed:
        raise GoPanic("reflect: Call with too few input arguments")
    if not sig.variadic and len(args) > fixed:
        raise GoPanic("reflect: Call with too many input arguments")
    for arg, param in zip(args[:fixed], sig.params, strict=False):
        if not assignable(arg.go_type, param):
            raise GoPanic(f"reflect: Call using {arg.go_type} as type {param}")
    if sig.variadic:
        elem = sig.params[-1][2:]
        for arg in args[fixed:]:
            if not assignable(arg.go_type, elem):
                raise GoPanic(f"reflect: cannot use {arg.go_type} as type {elem} in Call")


def check_set(value: Value, field_type: str) -> None:
    """``reflect.Value.Set``'s check when a script sets a field (``.period(10s)``).

    Raises:
        GoPanic: the value's type is not assignable to the field's.
    """
    if not assignable(value.go_type, field_type):
        raise GoPanic(
            f"reflect.Set: value of type {value.go_type} is not assignable to type {field_type}"
        )
