"""The watchdog's pure decisions (reconcile/watchdog.py), as tables with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask
from kapacitor_operator.models.kapacitortask import (
    KapacitorTaskStatus,
    RecentRun,
    SelfHeal,
    SelfHealStatus,
)
from kapacitor_operator.reconcile.watchdog import (
    FluxHealth,
    cron_seconds,
    degraded_conditions,
    duration_seconds,
    flux_health,
    plan_self_heal,
)
from kapacitor_operator.timeutil import format_time

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ago(**kw: float) -> str:
    return format_time(NOW - timedelta(**kw))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600.0), ("1h30m", 5400.0), ("1d", 86400.0), ("2w", 1209600.0), ("500ms", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "1mo", "1y", "soon", "10m x"])
def test_durations_without_a_fixed_length(text: str) -> None:
    assert duration_seconds(text) is None


@pytest.mark.parametrize(
    ("cron", "seconds"),
    [
        ("*/5 * * * *", 300.0),
        ("0 * * * *", 3600.0),
        ("0,30 * * * *", 1800.0),
        ("0 0,6 * * *", 18 * 3600.0),  # the longest gap counts: 06:00 to 00:00
        ("30 2 * * *", 86400.0),
        ("0 9 * * 1-5", 3 * 86400.0),  # Friday 09:00 to Monday 09:00
        ("0 0 * * mon", 604800.0),
        ("0 0 * * 7", 604800.0),  # 7 is Sunday too
        ("@hourly", 3600.0),
        ("@daily", 86400.0),
    ],
)
def test_cron_periods(cron: str, seconds: float) -> None:
    assert cron_seconds(cron) == seconds


@pytest.mark.parametrize(
    "cron", ["0 0 1 * *", "0 0 * 1 *", "@monthly", "@yearly", "* * *", "61 * * * *", "x * * * *"]
)
def test_cron_periods_that_cannot_be_told(cron: str) -> None:
    assert cron_seconds(cron) is None


def flux(**kw: Any) -> FluxTask:
    base: dict[str, Any] = {"id": "0000000000000001", "status": "active", "every": "1h"}
    base.update(kw)
    return FluxTask.model_validate(base)


def run(status: str, scheduled: str) -> RecentRun:
    return RecentRun(id="0000000000000002", status=status, scheduledFor=scheduled)


@pytest.mark.parametrize(
    ("server", "recent", "expected"),
    [
        # Inactive or no schedule that can be told: no Degraded condition.
        (flux(status="inactive", createdAt=ago(days=9)), None, None),
        (flux(every="", cron="0 0 1 * *", createdAt=ago(days=90)), None, None),
        (flux(every="1mo", createdAt=ago(days=90)), None, None),
        (flux(), None, None),  # nothing to measure from
        # The last run succeeded recently / long ago.
        (flux(lastRunStatus="success", latestCompleted=ago(minutes=70)), None, "False"),
        (flux(lastRunStatus="success", latestCompleted=ago(minutes=121)), None, "True"),
        # The offset delays every run, so it extends the allowance.
        (
            flux(lastRunStatus="success", latestCompleted=ago(minutes=125), offset="10m"),
            None,
            "False",
        ),
        # The last run failed: the newest success in recentRuns counts.
        (
            flux(lastRunStatus="failed", latestCompleted=ago(minutes=5), createdAt=ago(days=9)),
            [run("failed", ago(minutes=5)), run("success", ago(minutes=65))],
            "False",
        ),
        (
            flux(lastRunStatus="failed", latestCompleted=ago(minutes=5), createdAt=ago(days=9)),
            [run("failed", ago(minutes=5)), run("failed", ago(minutes=65))],
            "True",
        ),
        # Never succeeded: measured from creation.
        (flux(createdAt=ago(minutes=30)), None, "False"),
        (flux(createdAt=ago(hours=3)), None, "True"),
        # Cron: the longest gap is the period.
        (
            flux(
                every="",
                cron="*/10 * * * *",
                lastRunStatus="success",
                latestCompleted=ago(minutes=25),
            ),
            None,
            "True",
        ),
    ],
)
def test_flux_health(
    server: FluxTask, recent: list[RecentRun] | None, expected: str | None
) -> None:
    health = flux_health(server, recent, NOW, every="", cron="")
    assert health.status == expected
    if expected == "True":
        assert health.reason == c.RUNS_OVERDUE
        assert "more than two periods ago" in health.message


def test_the_spec_schedule_stands_in_for_the_server_one() -> None:
    server = flux(every="", lastRunStatus="success", latestCompleted=ago(minutes=25))
    assert flux_health(server, None, NOW, every="10m", cron="").status == "True"


def test_overdue_message_says_what_kapacitor_said() -> None:
    server = flux(lastRunStatus="failed", lastRunError="Completed(failed)", createdAt=ago(hours=5))
    health = flux_health(server, None, NOW, every="", cron="")
    assert health.message == (
        "The task runs every 1h, but no successful run is known since the task was created "
        f"at {ago(hours=5)}: more than two periods ago. Last run: failed. "
        "Error: Completed(failed)"
    )


def test_degraded_events_only_on_a_flip() -> None:
    st = KapacitorTaskStatus()
    now = format_time(NOW)
    overdue = FluxHealth("True", c.RUNS_OVERDUE, "late")
    first = degraded_conditions(st, overdue, now=now, generation=1)
    assert [(e.type, e.reason) for e in first] == [("Warning", c.RUNS_OVERDUE)]
    assert degraded_conditions(st, overdue, now=now, generation=1) == []
    fine = FluxHealth("False", c.RUNS_ON_TIME, "ok")
    back = degraded_conditions(st, fine, now=now, generation=1)
    assert [(e.type, e.reason) for e in back] == [("Normal", c.RUNS_ON_TIME)]
    assert degraded_conditions(st, fine, now=now, generation=1) == []
    found = c.get_condition(st.conditions, c.DEGRADED)
    assert found is not None
    assert (found.status, found.reason) == ("False", c.RUNS_ON_TIME)
    assert degraded_conditions(st, FluxHealth(None), now=now, generation=1) == []
    assert c.get_condition(st.conditions, c.DEGRADED) is None


def tick(**kw: Any) -> TickTask:
    base: dict[str, Any] = {"id": "cpu", "status": "enabled", "executing": False}
    base.update(kw)
    return TickTask.model_validate(base)


ON = SelfHeal(enabled=True, maxPerHour=2)


@pytest.mark.parametrize(
    ("policy", "prev", "server", "wanted", "wrote", "restart", "events"),
    [
        # Off by default, or nothing to heal.
        (None, None, tick(), True, False, False, []),
        (SelfHeal(), None, tick(), True, False, False, []),
        (ON, None, tick(executing=True), True, False, False, []),
        (ON, None, tick(status="disabled"), False, False, False, []),
        # A pass that just wrote the task never restarts it.
        (ON, None, tick(), True, True, False, []),
        # Stopped: restart, within the hourly budget.
        (ON, None, tick(error="boom"), True, False, True, [c.SELF_HEALED]),
        (
            ON,
            SelfHealStatus(restarts=7, recent=[ago(minutes=61), ago(minutes=62)]),
            tick(),
            True,
            False,
            True,
            [c.SELF_HEALED],
        ),
        # The budget is spent: no restart, a Warning says so.
        (
            ON,
            SelfHealStatus(restarts=2, recent=[ago(minutes=5), ago(minutes=50)]),
            tick(),
            True,
            False,
            False,
            [c.SELF_HEAL_LIMIT],
        ),
    ],
)
def test_self_heal_decisions(
    policy: SelfHeal | None,
    prev: SelfHealStatus | None,
    server: TickTask,
    wanted: bool,
    wrote: bool,
    restart: bool,
    events: list[str],
) -> None:
    plan = plan_self_heal(policy, prev, server, wanted_enabled=wanted, wrote=wrote, now=NOW)
    assert plan.restart == restart
    assert [e.reason for e in plan.events] == events


def test_self_heal_status_counts_and_forgets_after_an_hour() -> None:
    prev = SelfHealStatus(
        restarts=7, lastRestartAt=ago(minutes=30), recent=[ago(minutes=90), ago(minutes=30)]
    )
    plan = plan_self_heal(ON, prev, tick(error="boom"), wanted_enabled=True, wrote=False, now=NOW)
    assert plan.status == SelfHealStatus(
        restarts=8, lastRestartAt=format_time(NOW), recent=[ago(minutes=30), format_time(NOW)]
    )
    assert "boom" in plan.events[0].message
    assert "2 of at most 2 restarts this hour" in plan.events[0].message
    # Without a policy the history is kept (pruned), never grown.
    kept = plan_self_heal(None, prev, tick(), wanted_enabled=True, wrote=False, now=NOW)
    assert kept.status == SelfHealStatus(
        restarts=7, lastRestartAt=ago(minutes=30), recent=[ago(minutes=30)]
    )
