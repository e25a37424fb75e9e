"""A TICKscript task's stats from Kapacitor, in the brief form its status shows.

Kapacitor reports per node `collected`, `emitted` and `errors`, and alert nodes also
`alerts_triggered`; all count from the task's last start. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kapacitor_operator.models.kapacitortask import TaskStats


def _count(values: Mapping[str, Any], key: str) -> int:
    value = values.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def summarize(stats: Mapping[str, Any] | None) -> tuple[int, int, int] | None:
    """(points processed, alerts triggered, errors), or None when Kapacitor reports no
    node stats (the task is not executing)."""
    nodes = (stats or {}).get("node-stats")
    if not isinstance(nodes, Mapping) or not nodes:
        return None
    counters = [v for v in nodes.values() if isinstance(v, Mapping)]
    points = max((_count(v, "collected") for v in counters), default=0)
    alerts = sum(_count(v, "alerts_triggered") for v in counters)
    errors = sum(_count(v, "errors") for v in counters)
    return points, alerts, errors


def brief(
    stats: Mapping[str, Any] | None, previous: TaskStats | None, now: str
) -> TaskStats | None:
    """The status's stats: the previous ones (same moment) when the counts did not move,
    so an idle task's status is not rewritten."""
    counts = summarize(stats)
    if counts is None:
        return None
    if (
        previous is not None
        and (
            previous.pointsProcessed,
            previous.alertsTriggered,
            previous.errors,
        )
        == counts
    ):
        return previous
    points, alerts, errors = counts
    return TaskStats(pointsProcessed=points, alertsTriggered=alerts, errors=errors, observedAt=now)
