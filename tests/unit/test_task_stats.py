"""The brief task stats a KapacitorTask's status shows, from Kapacitor's node stats."""

from __future__ import annotations

from typing import Any

import pytest

from kapacitor_operator.models.kapacitortask import TaskStats
from kapacitor_operator.reconcile.task_stats import brief, summarize


def node(**counts: Any) -> dict[str, Any]:
    return {"avg_exec_time_ns": 0, "collected": 0, "emitted": 0, "errors": 0, **counts}


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        (None, None),
        ({}, None),
        ({"task-stats": {}, "node-stats": {}}, None),  # not executing
        (
            {
                "task-stats": {"throughput": 0},
                "node-stats": {
                    "stream0": node(collected=120, emitted=120),
                    "from1": node(collected=120, emitted=40),
                    "alert2": node(collected=40, alerts_triggered=3, errors=1),
                },
            },
            (120, 3, 1),
        ),
        (
            {
                "node-stats": {
                    "stream0": node(collected=9),
                    "alert2": node(alerts_triggered=2, errors=2),
                    "alert3": node(alerts_triggered=5, errors=True),  # not a count
                    "http_out4": "garbage",
                }
            },
            (9, 7, 2),
        ),
    ],
)
def test_summarize(stats: dict[str, Any] | None, expected: tuple[int, int, int] | None) -> None:
    assert summarize(stats) == expected


def test_unchanged_counts_keep_the_previous_moment_so_nothing_is_rewritten() -> None:
    stats = {"node-stats": {"stream0": node(collected=5), "alert1": node(alerts_triggered=1)}}
    first = brief(stats, None, "2026-01-01T00:00:00Z")
    assert first == TaskStats(
        pointsProcessed=5, alertsTriggered=1, errors=0, observedAt="2026-01-01T00:00:00Z"
    )
    assert brief(stats, first, "2026-01-01T00:05:00Z") is first
    moved = {"node-stats": {"stream0": node(collected=6), "alert1": node(alerts_triggered=1)}}
    later = brief(moved, first, "2026-01-01T00:05:00Z")
    assert later is not None
    assert (later.pointsProcessed, later.observedAt) == (6, "2026-01-01T00:05:00Z")
    assert brief({}, first, "2026-01-01T00:06:00Z") is None, "no longer executing"
