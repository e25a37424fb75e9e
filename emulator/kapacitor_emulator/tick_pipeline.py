"""The pipeline a TICKscript builds, and the checks Kapacitor runs on it.

Calling ``|window()`` creates a node and links it below its parent; property methods and
fields record settings on a node (or on an alert handler such as ``.slack()``). Once the
script is evaluated Kapacitor walks the nodes in topological order and calls each one's
``validate()``; the first error is the answer (without position). The rules of the
nodes that have one are in :mod:`~kapacitor_emulator.tick_checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kapacitor_emulator.tick_checks import node_error
from kapacitor_emulator.tick_nodes import GoPanic, Signature
from kapacitor_emulator.tick_values import (
    DURATION,
    INT,
    UNKNOWN,
    Value,
)


@dataclass(eq=False)
class NodeState:
    """A pipeline node, or an alert handler attached to one."""

    go_type: str
    provides: str
    settings: dict[str, Any] = field(default_factory=dict)
    """Fields set with ``.field(value)``, and what property methods recorded."""
    children: list[NodeState] = field(default_factory=list)
    handlers: list[NodeState] = field(default_factory=list)
    args: list[Value] = field(default_factory=list)
    parents: int = 0


@dataclass(eq=False)
class View:
    """A script's handle on a node: the node, seen as one Go type (``*pipeline.AlertNode``,
    ``*pipeline.AlertNodeData``, a handler type...), and the handler's own state."""

    go_type: str
    node: NodeState
    handler: NodeState | None = None

    @property
    def state(self) -> NodeState:
        """Where ``.field(value)`` writes."""
        return self.handler or self.node


class Pipeline:
    """All nodes of a task, and its sources (the stream or batch node, then stats nodes)."""

    def __init__(self, source: NodeState) -> None:
        self.sources = [source]

    def link(self, parent: NodeState, child: NodeState) -> None:
        parent.children.append(child)
        child.parents += 1

    def chain(self, parent: View, name: str, sig: Signature, args: list[Value]) -> View | Value:
        """Run a chaining method: a new node below ``parent`` (or a plain Go value).

        Raises:
            GoPanic: the method panics (``cannot Window batch edge``, bad ``sample`` rate).
        """
        result = sig.results[0] if sig.results else ""
        if not result.startswith("*pipeline."):
            return Value(result or "<nil>")
        edge = sig.provided(parent.node.provides)
        if edge.startswith("panic: "):
            raise GoPanic(edge.removeprefix("panic: "))
        if name == "Sample" and args[0].go_type not in (INT, DURATION, UNKNOWN):
            raise GoPanic("must pass int64 or duration to new sample node")
        if name in ("Stats", "Deadman"):
            return View(result, self._stats(parent.node, name == "Deadman"))
        child = NodeState(result, edge, args=list(args))
        others = [arg.value.node for arg in args if isinstance(arg.value, View)]
        if name == "Join":  # the receiver is the first joined parent
            others.insert(0, parent.node)
        elif name != "Union":
            others = []
        for other in others:
            self.link(other, child)
        if name != "Join":
            self.link(parent.node, child)
        return View(result, child)

    def _stats(self, node: NodeState, deadman: bool) -> NodeState:
        stats = NodeState("*pipeline.StatsNode", "stream")
        self.sources.append(stats)
        if not node.children:
            self.link(node, NodeState("*pipeline.NoOpNode", node.provides))
        if not deadman:
            return stats
        derivative = NodeState("*pipeline.DerivativeNode", "stream")
        self.link(stats, derivative)
        alert = NodeState("*pipeline.AlertNode", "stream")
        self.link(derivative, alert)
        return alert

    def sorted_nodes(self) -> list[NodeState]:
        """Kapacitor's order: depth-first from the sources in reverse, reversed."""
        done: set[int] = set()
        order: list[NodeState] = []

        def visit(node: NodeState) -> None:
            if id(node) in done:
                return
            for child in node.children:
                visit(child)
            done.add(id(node))
            order.append(node)

        for source in reversed(self.sources):
            visit(source)
        return order[::-1]

    def validate(self) -> str:
        """The first node's ``validate()`` error, or ``""``."""
        for node in self.sorted_nodes():
            if error := node_error(node):
                return error
        return ""


def set_field(view: View, name: str, value: Value) -> None:
    """``.field(value)``: remember it (a value the emulator could not compute disables
    the node's checks)."""
    view.state.settings[name] = value.value
    if value.unknown:
        view.state.settings[UNKNOWN] = True


def call_property(view: View, name: str, sig: Signature, args: list[Value]) -> View:
    """Run a property method: record what the validators read; return the result's view.

    A method returning a handler type (``.slack()``, ``.post(url)``) attaches a new
    handler to the node; any other returns the same node, possibly seen as another type
    (``.all()`` on an alert node returns ``*pipeline.AlertNodeData``).
    """
    state = view.state
    values = [arg.value for arg in args]
    if any(arg.unknown for arg in args):
        state.settings[UNKNOWN] = True
    if name in ("As", "Tags"):
        state.settings[name] = values
    elif name == "Exclude":
        state.settings.setdefault("ExcludedDimensions", []).extend(values)
    elif name == "GroupBy":
        state.settings["Dimensions"] = list(args)
    elif name == "Align":
        state.settings[name] = True
    elif name in ("Endpoint", "Header", "Data", "Field"):
        state.settings.setdefault(name, []).append(args if name == "Field" else values)
    result = sig.results[0] if sig.results else view.go_type
    if result.endswith("Handler"):
        handler = NodeState(result, view.node.provides, args=list(args))
        view.node.handlers.append(handler)
        return View(result, view.node, handler)
    return View(result, view.node, view.handler if result == view.go_type else None)
