"""Execution stats of TICKscript tasks fed by ``/write`` (and of replays).

Kapacitor reports, per node, ``avg_exec_time_ns``, ``collected``, ``emitted``, ``errors``
and ``working_cardinality`` (keys sorted, as Go marshals a map). The emulator does not
run TICKscript, so it counts only what needs no evaluation: the points written to
``/write`` that reach an executing stream task (its dbrps and ``from()`` measurements)
are collected and emitted by the source node and collected by the first node after it,
which emits them on when it has a child (a ``where()`` filter is not evaluated). Every
other count stays 0. Counts start again when the task (re)starts.
"""

from __future__ import annotations

from typing import Any

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.lineproto import Point
from kapacitor_emulator.recordings import from_measurements
from kapacitor_emulator.tick_lang import parse_tickscript
from kapacitor_emulator.tick_lexer import TickSyntaxError


def node_stats(nodes: list[str], points: int) -> dict[str, Any]:
    """``{"task-stats", "node-stats"}`` for a chain of nodes that saw ``points`` points."""
    stats: dict[str, Any] = {}
    for index, name in enumerate(nodes):
        emitted = points if index == 0 or (index == 1 and len(nodes) > 2) else 0
        stats[f"{name}{index}"] = {
            "avg_exec_time_ns": 0,
            "collected": points if index < 2 else 0,
            "emitted": emitted,
            "errors": 0,
            "working_cardinality": 0,
        }
    return {"task-stats": {"throughput": 0}, "node-stats": dict(sorted(stats.items()))}


def script_nodes(script: str) -> list[str]:
    """The script's node names in order (none when it does not parse)."""
    try:
        return parse_tickscript(script).nodes
    except TickSyntaxError:
        return []


def count_points(emu: Emulator, db: str, rp: str, points: list[Point]) -> None:
    """Written points reach the executing stream tasks whose fork matches them."""
    for task in emu.state.tasks.values():
        running = task.running
        if not task.executing or running is None or task.type != "stream":
            continue
        if (db, rp) not in running.dbrps:
            continue
        measurements = from_measurements(task, running)
        running.points += sum(
            1 for p in points if "" in measurements or p.measurement in measurements
        )
