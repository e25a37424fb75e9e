"""Replay attempts of a TaskRun, as pure decisions.

An attempt of a `replay` TaskRun makes a stream recording (unless it replays an existing
one), waits for it to finish, creates a replay of it against the TICKscript task and
waits for the replay to end. Recording and replay IDs are derived from the TaskRun's UID
and the attempt number and written to status before anything is created, so the
executor always looks before it creates: after a restart it finds what the previous
process made, and never starts a second replay under the same ID (Kapacitor would run
both). `next_step` chooses the executor's next call from what Kapacitor shows now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.schemas import Recording, Replay
from kapacitor_operator.models.common import EndReason
from kapacitor_operator.models.taskrun import MAX_REPLAY_NODES
from kapacitor_operator.reconcile.taskrun_model import AttemptResult, ReplayReport, Stage
from kapacitor_operator.timeutil import format_time

SKIPPED_STATS = frozenset({"avg_exec_time_ns"})
"""Node stats that are not counts (a timing average varies from run to run)."""


def replay_ids(uid: str, number: int, recording_id: str | None) -> tuple[str, str]:
    """(recording ID, replay ID) of attempt `number`; Kapacitor's ID rules allow both."""
    own = f"taskrun-{uid}-{number}"
    return recording_id or own, own


def node_counts(stats: dict[str, Any]) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """The integer counts of a finished replay's `node-stats`, by node (bounded)."""
    nodes = stats.get("node-stats") or {}
    out = []
    for name in sorted(nodes)[:MAX_REPLAY_NODES]:
        values = nodes[name] if isinstance(nodes[name], dict) else {}
        counts = tuple(
            (key, int(value))
            for key, value in sorted(values.items())
            if key not in SKIPPED_STATS
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and float(value).is_integer()
        )
        out.append((str(name), counts))
    return tuple(out)


@dataclass(frozen=True)
class ReplayPlan:
    """One replay attempt, as the executor runs it."""

    task_id: str
    recording_id: str
    replay_id: str
    record_seconds: float | None
    """Seconds to record; None when replaying an existing recording."""
    clock: str
    recording_time: bool
    started_at: datetime
    timeout: float

    @property
    def deadline(self) -> datetime:
        return self.started_at + timedelta(seconds=self.timeout)


@dataclass(frozen=True)
class Seen:
    """Kapacitor's record now (recording looked at only when there is no replay yet)."""

    now: datetime
    replay: Replay | None = None
    recording: Recording | None = None
    stop: tuple[EndReason, str] | None = None
    """Cancel (stopped) or the operator leaving: end the attempt this way."""
    made_recording: bool = False
    made_replay: bool = False


@dataclass(frozen=True)
class MakeRecording:
    stop: str
    """RFC3339 end of the window: points stamped later end the recording."""


@dataclass(frozen=True)
class MakeReplay:
    pass


@dataclass(frozen=True)
class Wait:
    report: ReplayReport


@dataclass(frozen=True)
class StopReplay:
    """Delete the replay (and a recording still running that this attempt made), then end."""

    result: AttemptResult
    delete_replay: bool = False
    delete_recording: bool = False


@dataclass(frozen=True)
class Done:
    result: AttemptResult


Step = MakeRecording | MakeReplay | Wait | StopReplay | Done


def next_step(plan: ReplayPlan, seen: Seen) -> Step:
    """The next call of a replay attempt, from what Kapacitor shows now."""
    replay = seen.replay
    if replay is not None and replay.status != "running":
        return _ended(plan, replay)
    timed_out = seen.now >= plan.deadline
    if seen.stop is not None or timed_out:
        reason, message = seen.stop or (
            "timeout",
            f"The replay did not end within the timeout of {plan.timeout:g}s; it was deleted.",
        )
        owned = plan.record_seconds is not None
        recording = seen.recording
        return StopReplay(
            _result(plan, reason, message, stage="Failed"),
            delete_replay=replay is not None,
            delete_recording=owned and recording is not None and recording.status == "running",
        )
    if replay is not None:
        return Wait(ReplayReport(plan.recording_id, plan.replay_id, "Replaying", replay.progress))
    if seen.made_replay:
        message = f"Replay {plan.replay_id} disappeared from Kapacitor before it ended."
        return Done(_result(plan, "crashed", message, stage="Failed"))
    recording = seen.recording
    if recording is None:
        if plan.record_seconds is None:
            message = f"Kapacitor has no recording {plan.recording_id}."
            return Done(_result(plan, "failed", message, stage="Failed", retryable=False))
        if seen.made_recording:
            message = f"Recording {plan.recording_id} disappeared from Kapacitor."
            return Done(_result(plan, "crashed", message, stage="Failed"))
        # The window starts with the attempt; one made late (after a restart) gets it whole.
        start = max(plan.started_at, seen.now)
        stop = start + timedelta(seconds=plan.record_seconds)
        return MakeRecording(format_time(stop, millis=True))
    if recording.status == "running":
        report = ReplayReport(plan.recording_id, plan.replay_id, "Recording", recording.progress)
        return Wait(report)
    if recording.status == "failed":
        message = f"Recording {plan.recording_id} failed: {recording.error or 'no reason given'}"
        return Done(_result(plan, "failed", message, stage="Failed"))
    return MakeReplay()


def unreachable(
    plan: ReplayPlan, now: datetime, stop: tuple[EndReason, str] | None, error: str
) -> AttemptResult | None:
    """Kapacitor cannot be asked: the attempt ends only if it must (cancelled, or past its
    timeout), without deleting anything; otherwise the executor looks again."""
    where = f" Kapacitor could not be reached to delete replay {plan.replay_id}: {error}"
    if stop is not None:
        return _result(plan, stop[0], stop[1] + where, stage="Failed")
    if now >= plan.deadline:
        message = f"The replay did not end within the timeout of {plan.timeout:g}s." + where
        return _result(plan, "timeout", message, stage="Failed")
    return None


def _ended(plan: ReplayPlan, replay: Replay) -> Done:
    nodes = node_counts(replay.stats)
    if replay.status == "finished":
        report = ReplayReport(plan.recording_id, plan.replay_id, "Finished", 1.0, nodes=nodes)
        return Done(AttemptResult("success", plan.replay_id, replay=report))
    message = f"Replay {plan.replay_id} failed: {replay.error or 'no reason given'}"
    return Done(_result(plan, "failed", message, stage="Failed", progress=replay.progress))


def _result(
    plan: ReplayPlan,
    reason: EndReason,
    message: str,
    *,
    stage: Stage,
    retryable: bool = True,
    progress: float = 0.0,
) -> AttemptResult:
    report = ReplayReport(plan.recording_id, plan.replay_id, stage, progress)
    return AttemptResult(
        reason,
        plan.replay_id,
        message,
        retryable=retryable,
        reason=None if retryable else c.REJECTED,
        replay=report,
    )


def rejected(plan: ReplayPlan, what: str, message: str) -> AttemptResult:
    """Kapacitor refused to create the recording or the replay (4xx): retrying cannot help."""
    return _result(
        plan, "failed", f"Kapacitor refused the {what}: {message}", stage="Failed", retryable=False
    )
