"""The watchdog: tasks that Kapacitor holds as declared but that stopped doing their job.

- TICKscript: an enabled task that is not executing (or has an error) already makes
  Ready False with Kapacitor's reason (task_status.py). With `spec.selfHeal` the watchdog
  restarts it (disable + enable), at most `maxPerHour` times in any hour.
- Flux: an active task whose last successful run is older than two schedule periods
  (plus its offset) gets `Degraded=True` and a Warning Event; `Degraded=False` once a run
  succeeds again. When the period cannot be told (a cron schedule that restricts days of
  the month or months, a `mo`/`y` duration), no Degraded condition is set.

Everything here is pure: the reconcile that refreshes a task's status (create, update,
the periodic drift check) calls it with what it read and acts on the answer.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask
from kapacitor_operator.models.kapacitortask import (
    MAX_HEAL_HISTORY,
    KapacitorTaskStatus,
    RecentRun,
    SelfHeal,
    SelfHealStatus,
)
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.timeutil import format_time, parse_time

HOUR = timedelta(hours=1)
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_PART = re.compile(r"(\d+)(ns|us|µs|ms|mo|s|m|h|d|w|y)")
_DESCRIPTORS = {
    "@hourly": 3600.0,
    "@daily": 86400.0,
    "@midnight": 86400.0,
    "@weekly": 604800.0,
}
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
WEEK_MINUTES = 7 * 24 * 60


def duration_seconds(text: str) -> float | None:
    """Seconds of a Flux duration (`1h30m`); None for none, or for months and years,
    whose length varies."""
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos or match.group(2) in ("mo", "y"):
            return None
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return total if text and pos == len(text) else None


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """The values a cron field allows. Raises ValueError for what it does not know."""
    values: set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(part)
        if body == "*":
            start, end = low, high
        else:
            first, _, last = body.partition("-")
            start = names[first] if names and first in names else int(first)
            end = (names[last] if names and last in names else int(last)) if last else start
            if step_text and not last:
                end = high
        if not low <= start <= end <= high + (1 if names else 0):
            raise ValueError(part)
        values.update(range(start, end + 1, step))
    return values


def cron_seconds(cron: str) -> float | None:
    """The longest gap between two firings of a cron schedule, when it is the same every
    week (minute, hour and day-of-week fields; day of month and month `*`); else None."""
    text = cron.strip()
    if text in _DESCRIPTORS:
        return _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5 or fields[2] != "*" or fields[3] != "*":
        return None
    try:
        minutes = _field(fields[0], 0, 59)
        hours = _field(fields[1], 0, 23)
        days = {d % 7 for d in _field(fields[4], 0, 6, _DAYS)}
    except (ValueError, KeyError):
        return None
    fires = [
        (day * 24 + hour) * 60 + minute
        for day in sorted(days)
        for hour in sorted(hours)
        for minute in sorted(minutes)
    ]
    if not fires:
        return None
    gaps = [b - a for a, b in itertools.pairwise(fires)]
    gaps.append(fires[0] + WEEK_MINUTES - fires[-1])
    return max(gaps) * 60.0


def schedule_seconds(every: str, cron: str) -> float | None:
    """The task's schedule period in seconds (the longest gap for cron), or None."""
    if every:
        return duration_seconds(every)
    if cron:
        return cron_seconds(cron)
    return None


def last_success(server: FluxTask, recent: list[RecentRun] | None) -> datetime | None:
    """When the task last ran successfully, as far as Kapacitor and status tell: the
    latest completed run if it succeeded, else the newest successful run in recentRuns."""
    if server.last_run_status == "success" and server.latest_completed:
        return parse_time(server.latest_completed)
    times = [
        parse_time(stamp)
        for run in recent or []
        if run.status == "success" and (stamp := run.scheduledFor or run.finishedAt)
    ]
    return max(times) if times else None


@dataclass(frozen=True)
class FluxHealth:
    """The Degraded condition to set (status None: remove it)."""

    status: c.Status | None
    reason: str = ""
    message: str = ""


def flux_health(
    server: FluxTask, recent: list[RecentRun] | None, now: datetime, *, every: str, cron: str
) -> FluxHealth:
    """Whether an active Flux task has run successfully within two schedule periods."""
    if not server.active:
        return FluxHealth(None)
    period = schedule_seconds(server.every or every, server.cron or cron)
    if period is None or period <= 0:
        return FluxHealth(None)
    offset = (duration_seconds(server.offset) or 0.0) if server.offset else 0.0
    allowed = timedelta(seconds=2 * period + offset)
    success = last_success(server, recent)
    since = success or (parse_time(server.created_at) if server.created_at else None)
    if since is None:
        return FluxHealth(None)
    what = (
        f"the last successful run was at {format_time(since)}"
        if success
        else (f"no successful run is known since the task was created at {format_time(since)}")
    )
    schedule = (
        f"every {server.every or every}"
        if (server.every or every)
        else (f"on cron `{server.cron or cron}`")
    )
    if now - since > allowed:
        message = (
            f"The task runs {schedule}, but {what}: more than two periods ago."
            + (f" Last run: {server.last_run_status}." if server.last_run_status else "")
            + (f" Error: {server.last_run_error}" if server.last_run_error else "")
        )
        return FluxHealth("True", c.RUNS_OVERDUE, message)
    return FluxHealth("False", c.RUNS_ON_TIME, f"The task runs {schedule}; {what}.")


def degraded_conditions(
    st: KapacitorTaskStatus, health: FluxHealth, *, now: str, generation: int
) -> list[EventNote]:
    """Set (or remove) Degraded on `st`; Events for a flip."""
    before = c.get_condition(st.conditions, c.DEGRADED)
    if health.status is None:
        st.conditions = c.remove_condition(st.conditions, c.DEGRADED)
        return []
    st.conditions = c.set_condition(
        st.conditions,
        type=c.DEGRADED,
        status=health.status,
        reason=health.reason,
        message=health.message,
        now=now,
        generation=generation,
    )
    was = before.status if before else None
    if health.status == "True" and was != "True":
        return [EventNote("Warning", c.RUNS_OVERDUE, health.message)]
    if health.status == "False" and was == "True":
        return [EventNote("Normal", c.RUNS_ON_TIME, health.message)]
    return []


@dataclass(frozen=True)
class HealPlan:
    """Whether to restart a TICKscript task now, and the self-heal status after."""

    restart: bool
    status: SelfHealStatus | None
    events: tuple[EventNote, ...] = field(default_factory=tuple)


def plan_self_heal(
    policy: SelfHeal | None,
    prev: SelfHealStatus | None,
    server: TickTask,
    *,
    wanted_enabled: bool,
    wrote: bool,
    now: datetime,
) -> HealPlan:
    """Restart an enabled task Kapacitor reports as not executing, within the hourly
    budget. Never in a pass that just wrote the task (a start that failed right after a
    define needs a spec change, not a restart)."""
    recent = [t for t in (prev.recent or []) if now - parse_time(t) < HOUR] if prev else []
    kept = (
        SelfHealStatus(
            restarts=prev.restarts, lastRestartAt=prev.lastRestartAt, recent=recent or None
        )
        if prev
        else None
    )
    if policy is None or not policy.enabled:
        return HealPlan(False, kept)
    stopped = wanted_enabled and server.enabled and not server.executing
    if not stopped or wrote:
        return HealPlan(False, kept)
    why = server.error or "Kapacitor reports the task as enabled but not executing"
    if len(recent) >= policy.maxPerHour:
        message = (
            f"Task {server.id} is not executing ({why}), and {len(recent)} restarts were made "
            f"in the last hour (spec.selfHeal.maxPerHour: {policy.maxPerHour}); not restarting."
        )
        return HealPlan(False, kept, (EventNote("Warning", c.SELF_HEAL_LIMIT, message),))
    stamp = format_time(now)
    after = SelfHealStatus(
        restarts=(prev.restarts if prev else 0) + 1,
        lastRestartAt=stamp,
        recent=[*recent, stamp][-MAX_HEAL_HISTORY:],
    )
    count = len(recent) + 1
    message = (
        f"Task {server.id} was not executing ({why}); disabled and re-enabled it "
        f"({count} of at most {policy.maxPerHour} restarts this hour)."
    )
    return HealPlan(True, after, (EventNote("Warning", c.SELF_HEALED, message),))
