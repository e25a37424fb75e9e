"""In-process bookkeeping that makes a Kapacitor run belong to exactly one attempt.

Kapacitor answers a manual run or a retry only when the run has finished, and a failed
run's answer carries no run ID, so an attempt learns its run ID by looking at the task's
runs while the call is in flight. What identifies the run there is its `scheduledFor`
(whole seconds). Two attempts of one task must therefore never share a scheduledFor:
`Reservations` hands each in-flight attempt its own second, never hands a manual run a
second an earlier attempt may have started a run in (that run can still be retried, or be
the unrecorded run of a crashed attempt), and `Claims` makes sure a run ID, once
attributed, is never attributed to another attempt.

Plain data structures, no I/O: one instance of each lives in the operator process.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kapacitor_operator.timeutil import format_time, parse_time

LOOKBACK = 300
"""How many seconds before now a manual run's scheduledFor may be moved to be unique."""

TaskKey = tuple[str, str]
"""(Kapacitor server URL, Flux task ID)."""


def second_of(text: str) -> int:
    """The Unix second of an RFC3339 time (Kapacitor keeps whole seconds)."""
    return int(parse_time(text).timestamp())


def at_second(second: int) -> str:
    return format_time(datetime.fromtimestamp(second, UTC))


@dataclass
class Reservations:
    """scheduledFor seconds held by in-flight attempts, per task, each by one owner (a
    TaskRun), so a release never frees what someone else holds; and the seconds whose
    attempts did start a run (`spent`), which no later manual run takes."""

    held: dict[TaskKey, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))
    spent: dict[TaskKey, set[int]] = field(default_factory=lambda: defaultdict(set))

    def reserve(self, key: TaskKey, scheduled_for: str, owner: str) -> bool:
        """Hold exactly this scheduledFor; False when another owner holds it."""
        second = second_of(scheduled_for)
        holder = self.held[key].setdefault(second, owner)
        return holder == owner

    def reserve_near(
        self, key: TaskKey, now: datetime, owner: str, avoid: set[int] | None = None
    ) -> str | None:
        """Hold the latest free second at or before `now` (a manual run's `now()`) that is
        neither spent nor one of `avoid`."""
        latest = int(now.timestamp())
        taken = self.held[key]
        spent = self.spent.get(key, set())
        for second in [s for s in spent if s <= latest - LOOKBACK]:
            spent.discard(second)
        for second in range(latest, latest - LOOKBACK, -1):
            if second in spent or (avoid and second in avoid):
                continue
            if taken.setdefault(second, owner) == owner:
                return at_second(second)
        return None

    def release(
        self, key: TaskKey, scheduled_for: str | None, owner: str, *, spent: bool = False
    ) -> None:
        """Give back `owner`'s hold on scheduledFor (another owner's stays); `spent` when
        the attempt may have started a run there, so no manual run takes it again."""
        if not scheduled_for:
            return
        second = second_of(scheduled_for)
        if spent:
            self.spent[key].add(second)
        if self.held[key].get(second) == owner:
            del self.held[key][second]
        if not self.held[key]:
            del self.held[key]


@dataclass
class Claims:
    """Run IDs attributed to attempts of this process, per task."""

    owners: dict[TaskKey, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))

    def claim(self, key: TaskKey, run_id: str, owner: str) -> bool:
        """Attribute `run_id` to `owner`; False when another owner has it."""
        current = self.owners[key].setdefault(run_id, owner)
        return current == owner

    def assign(self, key: TaskKey, run_id: str, owner: str) -> None:
        """Attribute `run_id` to `owner` for certain (Kapacitor's own answer said so)."""
        runs = self.owners[key]
        for run in [r for r, who in runs.items() if who == owner]:
            del runs[run]
        runs[run_id] = owner

    def taken_by_others(self, key: TaskKey, owner: str) -> set[str]:
        return {run for run, who in self.owners.get(key, {}).items() if who != owner}

    def release(self, key: TaskKey, owner: str) -> None:
        runs = self.owners.get(key)
        if runs is None:
            return
        for run in [r for r, who in runs.items() if who == owner]:
            del runs[run]
        if not runs:
            del self.owners[key]


@dataclass
class ServerFacts:
    """What the operator learned about each Kapacitor server's run storage."""

    history_kept: dict[str, bool] = field(default_factory=dict)

    def keeps_history(self, server: str) -> bool | None:
        """True/False once a finished run was (not) found again; None when unknown."""
        return self.history_kept.get(server)

    def learn(self, server: str, kept: bool) -> None:
        self.history_kept[server] = kept
