"""Replay attempts: next_step() of one attempt, and decide() for replay TaskRuns, as tables
with a fixed clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.schemas import Recording, Replay
from kapacitor_operator.models.common import RetryPolicy
from kapacitor_operator.models.taskrun import TaskRunStatus
from kapacitor_operator.reconcile.taskrun_decide import decide
from kapacitor_operator.reconcile.taskrun_model import (
    Attach,
    AttemptResult,
    Cancel,
    Ended,
    Live,
    Observation,
    Prepare,
    ReplayReport,
    RunInputs,
    Start,
    TargetState,
)
from kapacitor_operator.reconcile.taskrun_replay import (
    Done,
    MakeRecording,
    MakeReplay,
    ReplayPlan,
    Seen,
    StopReplay,
    Wait,
    next_step,
    node_counts,
    replay_ids,
    unreachable,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
UID = "0b6c3a52-0000-4000-8000-000000000001"
REC, RPL = replay_ids(UID, 1, None)
RECORD = ReplayPlan(
    task_id="cpu",
    recording_id=REC,
    replay_id=RPL,
    record_seconds=60.0,
    clock="fast",
    recording_time=False,
    started_at=T0,
    timeout=600.0,
)
EXISTING = replace(RECORD, recording_id="yesterday", record_seconds=None)
STATS = {
    "task-stats": {"throughput": 0},
    "node-stats": {
        "stream0": {"avg_exec_time_ns": 1234, "collected": 5, "emitted": 5, "errors": 0},
        "alert2": {"collected": 5, "crits_triggered": 2, "errors": 0, "flag": True},
    },
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rec(status: str, **kw: Any) -> Recording:
    return Recording(id=REC, type="stream", status=status, **kw)


def rpl(status: str, **kw: Any) -> Replay:
    return Replay(id=RPL, task="cpu", recording=REC, status=status, **kw)


def test_ids_are_deterministic_and_valid_kapacitor_ids() -> None:
    assert replay_ids(UID, 2, None) == (f"taskrun-{UID}-2", f"taskrun-{UID}-2")
    assert replay_ids(UID, 2, "yesterday") == ("yesterday", f"taskrun-{UID}-2")


def test_node_counts_keep_integer_counts_only() -> None:
    assert node_counts(STATS) == (
        ("alert2", (("collected", 5), ("crits_triggered", 2), ("errors", 0))),
        ("stream0", (("collected", 5), ("emitted", 5), ("errors", 0))),
    )
    assert node_counts({}) == ()


@pytest.mark.parametrize(
    ("plan", "seen", "expected"),
    [
        # Nothing exists yet: record from the attempt's start for the duration.
        (RECORD, Seen(now=at(1)), MakeRecording("2026-01-01T12:01:01.000Z")),
        (RECORD, Seen(now=at(0)), MakeRecording("2026-01-01T12:01:00.000Z")),
        # Recording runs: wait and report its progress.
        (
            RECORD,
            Seen(now=at(5), recording=rec("running", progress=0.25)),
            Wait(ReplayReport(REC, RPL, "Recording", 0.25)),
        ),
        (RECORD, Seen(now=at(70), recording=rec("finished")), MakeReplay()),
        (EXISTING, Seen(now=at(0), recording=rec("finished")), MakeReplay()),
        (
            RECORD,
            Seen(now=at(70), replay=rpl("running", progress=0.5)),
            Wait(ReplayReport(REC, RPL, "Replaying", 0.5)),
        ),
        (
            RECORD,
            Seen(now=at(80), replay=rpl("finished", progress=1.0, stats=STATS)),
            Done(
                AttemptResult(
                    "success",
                    RPL,
                    replay=ReplayReport(REC, RPL, "Finished", 1.0, nodes=node_counts(STATS)),
                )
            ),
        ),
    ],
)
def test_steps_of_a_replay_attempt(plan: ReplayPlan, seen: Seen, expected: object) -> None:
    assert next_step(plan, seen) == expected


def _done(plan: ReplayPlan, seen: Seen) -> AttemptResult:
    step = next_step(plan, seen)
    assert isinstance(step, Done | StopReplay)
    return step.result


def test_a_failed_replay_or_recording_fails_the_attempt_retryably() -> None:
    result = _done(RECORD, Seen(now=at(80), replay=rpl("failed", error="zip: not a valid zip")))
    assert (result.end_reason, result.retryable) == ("failed", True)
    assert result.message == f"Replay {RPL} failed: zip: not a valid zip"
    assert result.replay is not None
    assert result.replay.stage == "Failed"
    result = _done(RECORD, Seen(now=at(80), recording=rec("failed", error="disk full")))
    assert (result.end_reason, result.message) == ("failed", f"Recording {REC} failed: disk full")


def test_a_missing_existing_recording_is_not_retried() -> None:
    result = _done(EXISTING, Seen(now=at(0)))
    assert (result.end_reason, result.retryable, result.reason) == ("failed", False, c.REJECTED)
    assert result.message == "Kapacitor has no recording yesterday."


def test_things_this_attempt_made_that_vanish_crash_it() -> None:
    assert _done(RECORD, Seen(now=at(5), made_recording=True)).end_reason == "crashed"
    seen = Seen(now=at(75), recording=rec("finished"), made_replay=True)
    assert _done(RECORD, seen).end_reason == "crashed"


@pytest.mark.parametrize(
    ("seen", "reason", "delete_replay", "delete_recording"),
    [
        # Timeout while recording: the recording this attempt made is deleted too.
        (Seen(now=at(600), recording=rec("running")), "timeout", False, True),
        (Seen(now=at(600), replay=rpl("running")), "timeout", True, False),
        (Seen(now=at(5), replay=rpl("running"), stop=("stopped", "bye")), "stopped", True, False),
        (Seen(now=at(5), stop=("stopped", "bye")), "stopped", False, False),
    ],
)
def test_timeout_and_cancel_delete_what_runs(
    seen: Seen, reason: str, delete_replay: bool, delete_recording: bool
) -> None:
    step = next_step(RECORD, seen)
    assert isinstance(step, StopReplay)
    assert (step.result.end_reason, step.delete_replay, step.delete_recording) == (
        reason,
        delete_replay,
        delete_recording,
    )


def test_an_existing_recording_is_never_deleted() -> None:
    step = next_step(EXISTING, Seen(now=at(600), recording=rec("running")))
    assert isinstance(step, StopReplay)
    assert not step.delete_recording


def test_a_replay_that_ended_wins_over_a_late_stop() -> None:
    seen = Seen(now=at(900), replay=rpl("finished"), stop=("stopped", "bye"))
    assert _done(RECORD, seen).end_reason == "success"


# --- decide() for replay TaskRuns ----------------------------------------------------------


def inputs(**kw: Any) -> RunInputs:
    base = RunInputs(
        name="rp",
        generation=1,
        created_at=T0,
        job=False,
        target="Replay/cpu",
        replay=True,
        uid=UID,
    )
    return replace(base, **kw)


READY = TargetState(ready=True, task_id="cpu")


def test_a_replay_prepares_then_starts_with_its_ids_on_record() -> None:
    st = TaskRunStatus()
    first = decide(inputs(), st, Observation(now=T0))
    assert first.actions == (Prepare(),)
    started = decide(inputs(), first.status, Observation(now=T0, target=READY))
    assert started.actions == (Start(1, "replay", external_id=RPL, task_id="cpu"),)
    attempt = started.status.attempts[-1]  # type: ignore[index]
    assert (attempt.method, attempt.externalID, attempt.recordingID) == ("replay", RPL, REC)
    assert started.status.replay is not None
    assert (started.status.replay.recordingID, started.status.replay.replayID) == (REC, RPL)
    assert started.status.taskID == "cpu"
    assert started.status.target == "Replay/cpu"


def _running(inp: RunInputs) -> TaskRunStatus:
    st = decide(inp, TaskRunStatus(), Observation(now=T0)).status
    return decide(inp, st, Observation(now=T0, target=READY)).status


def test_progress_lands_in_status_and_counts_at_the_end() -> None:
    inp = inputs()
    st = _running(inp)
    report = ReplayReport(REC, RPL, "Recording", 0.5)
    live = decide(inp, st, Observation(now=at(5), attempt=Live(RPL, replay=report)))
    assert live.status.replay is not None
    assert (live.status.replay.stage, live.status.replay.progress) == ("Recording", 0.5)
    final = ReplayReport(REC, RPL, "Finished", 1.0, recording_size=99, nodes=node_counts(STATS))
    result = AttemptResult("success", RPL, replay=final)
    end = decide(inp, live.status, Observation(now=at(9), attempt=Ended(result)))
    assert (end.status.phase, end.status.endReason) == ("Succeeded", "success")
    assert end.status.replay is not None
    assert end.status.replay.nodes == {
        "alert2": {"collected": 5, "crits_triggered": 2, "errors": 0},
        "stream0": {"collected": 5, "emitted": 5, "errors": 0},
    }
    assert end.status.replay.recordingSize == 99


def test_a_failed_replay_is_retried_with_new_ids() -> None:
    inp = inputs(retry=RetryPolicy(limit=1, delays=["1s"]))
    st = _running(inp)
    failed = AttemptResult("failed", RPL, "Replay failed: zip")
    retrying = decide(inp, st, Observation(now=at(2), attempt=Ended(failed)))
    assert retrying.status.phase == "Retrying"
    again = decide(inp, retrying.status, Observation(now=at(4)))
    assert again.actions == (Prepare(),)
    second = decide(inp, again.status, Observation(now=at(4), target=READY))
    rec2, rpl2 = replay_ids(UID, 2, None)
    assert second.actions == (Start(2, "replay", external_id=rpl2, task_id="cpu"),)
    assert second.status.attempts is not None
    assert second.status.attempts[-1].recordingID == rec2
    last = decide(inp, second.status, Observation(now=at(5), attempt=Ended(failed)))
    assert (last.status.phase, last.status.attempt) == ("Failed", 2)


def test_an_existing_recording_is_named_in_every_attempt() -> None:
    inp = inputs(recording_id="yesterday")
    st = _running(inp)
    assert st.attempts is not None
    assert st.attempts[-1].recordingID == "yesterday"


def test_cancel_and_restart_of_a_replay() -> None:
    inp = inputs()
    st = _running(inp)
    # After a restart nothing is attached: attach (follow Kapacitor's record).
    assert decide(inp, st, Observation(now=at(3))).actions == (Attach(1),)
    cancel = decide(replace(inp, cancel=True), st, Observation(now=at(3), attempt=Live(RPL)))
    assert cancel.actions == (Cancel(1),)


def test_a_flux_task_cannot_be_replayed() -> None:
    target = TargetState(False, reason=c.NOT_TICKSCRIPT, message="Flux.", permanent=True)
    st = decide(inputs(), TaskRunStatus(), Observation(now=T0)).status
    done = decide(inputs(), st, Observation(now=T0, target=target))
    assert (done.status.phase, done.status.endReason) == ("Failed", "failed")


def test_an_unreachable_kapacitor_ends_the_attempt_only_when_it_must() -> None:
    assert unreachable(RECORD, at(5), None, "connection refused") is None
    late = unreachable(RECORD, at(600), None, "connection refused")
    assert late is not None
    assert late.end_reason == "timeout"
    assert late.message is not None
    assert late.message.endswith(f"delete replay {RPL}: connection refused")
    stopped = unreachable(RECORD, at(5), ("stopped", "Replay cancelled."), "refused")
    assert stopped is not None
    assert stopped.end_reason == "stopped"
