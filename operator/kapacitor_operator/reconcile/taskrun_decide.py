"""The TaskRun state machine as one pure function.

`decide(inputs, status, observation)` returns the next status, the actions that follow
from it and when to decide again. The executor (kapacitor_operator.runs) writes the status
before it performs the actions, so an attempt is on record before the call that starts
it, and feeds what it then sees back in. Every transition (start, success, each end
reason, retries, cancel, TTL, an open attempt after a restart) is decided here, and tested
in tables with a fixed clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kapacitor_operator import conditions as c
from kapacitor_operator.models.taskrun import Phase, ReplayProgress, TaskRunStatus
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.retry_policy import retry_delay, should_retry
from kapacitor_operator.reconcile.taskrun_job import job_name
from kapacitor_operator.reconcile.taskrun_model import (
    Attach,
    Cancel,
    Decision,
    DeleteJob,
    Ended,
    Expire,
    Live,
    NotStarted,
    Observation,
    Prepare,
    RunInputs,
    Start,
    Waiting,
)
from kapacitor_operator.reconcile.taskrun_replay import replay_ids
from kapacitor_operator.reconcile.taskrun_state import (
    begin_attempt,
    close_attempt,
    end_run,
    initial_status,
    is_terminal,
    open_attempt,
    set_succeeded,
    withdraw_attempt,
)
from kapacitor_operator.timeutil import format_time, parse_time

TASK_WAIT_LIMIT = 120.0
"""Seconds after its creation a TaskRun waits for its KapacitorTask to be synced."""
START_BACKOFF = (2.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds before trying again to start an attempt that could not start."""

_FINAL_REASON = {
    "failed": c.FAILED,
    "timeout": c.TIMED_OUT,
    "crashed": c.CRASHED,
    "stopped": c.CANCELLED,
    "skipped": c.FAILED,
}


def stamp(moment: datetime) -> str:
    """Status time format of the engine: RFC3339 UTC with milliseconds."""
    return format_time(moment, millis=True)


def ceil_ms(moment: datetime) -> datetime:
    """Round up to the millisecond, so a delay written with milliseconds is never short."""
    extra = moment.microsecond % 1000
    return moment + timedelta(microseconds=1000 - extra) if extra else moment


def decide(inp: RunInputs, prev: TaskRunStatus, obs: Observation) -> Decision:
    """The next status and actions of a TaskRun, from what the executor observed."""
    now = stamp(obs.now)
    st = (
        initial_status(prev, target=inp.target, triggered_by=inp.triggered_by, now=now)
        if prev.phase is None
        else prev.model_copy(deep=True)
    )
    st.observedGeneration = inp.generation
    if is_terminal(st):
        return _finished(inp, st, obs.now)
    if open_attempt(st) is not None:
        return _open(inp, st, obs)
    return _between(inp, st, obs)


def _finished(inp: RunInputs, st: TaskRunStatus, now: datetime) -> Decision:
    if inp.ttl is None or not st.finishedAt:
        return Decision(st, done=True)
    due = parse_time(st.finishedAt) + timedelta(seconds=inp.ttl)
    if now >= due:
        return Decision(st, actions=(Expire(),), done=True)
    return Decision(st, wake_at=due)


def _terminal(inp: RunInputs, decision: Decision) -> Decision:
    """Add the TTL wake-up to a decision that ended the run."""
    ttl = _finished(inp, decision.status, parse_time(decision.status.finishedAt or ""))
    if ttl.done:
        actions = decision.actions + ttl.actions
        return Decision(decision.status, actions, decision.events, done=True)
    return Decision(decision.status, decision.actions, decision.events, wake_at=ttl.wake_at)


# --- an attempt is open -------------------------------------------------------------------


def _open(inp: RunInputs, st: TaskRunStatus, obs: Observation) -> Decision:
    now = stamp(obs.now)
    current = open_attempt(st)
    assert current is not None
    seen = obs.attempt
    if seen is None:
        return Decision(st, actions=(Attach(current.number),))
    if isinstance(seen, NotStarted):
        return _withdraw(inp, st, seen, obs)
    if isinstance(seen, Live):
        if seen.external_id and current.externalID != seen.external_id:
            current.externalID = seen.external_id
            st.runID = seen.external_id
        if inp.cancel:
            set_succeeded(
                st, "Unknown", c.RUNNING, f"Cancelling attempt {current.number}.", inp, now
            )
            return Decision(st, actions=(Cancel(current.number),))
        if seen.replay is not None:
            st.replay = seen.replay.to_status()
        detail = f" {seen.detail}" if seen.detail else ""
        message = f"Attempt {current.number} is running.{detail}"
        set_succeeded(st, "Unknown", c.RUNNING, message, inp, now)
        return Decision(st)
    assert isinstance(seen, Ended)
    return _close(inp, st, seen, obs)


def _withdraw(inp: RunInputs, st: TaskRunStatus, seen: NotStarted, obs: Observation) -> Decision:
    now = stamp(obs.now)
    number = withdraw_attempt(st)
    if inp.cancel:
        return _cancel(inp, st, now)
    delay = START_BACKOFF[min(obs.start_failures, len(START_BACKOFF) - 1)]
    again = ceil_ms(obs.now + timedelta(seconds=delay))
    st.nextRetryAt = stamp(again)
    message = f"Attempt {number} could not start: {seen.message} Trying again at {st.nextRetryAt}."
    set_succeeded(st, "Unknown", seen.reason, message, inp, now)
    events = () if obs.start_failures else (EventNote("Warning", seen.reason, message),)
    return Decision(st, events=events, wake_at=again)


def _close(inp: RunInputs, st: TaskRunStatus, seen: Ended, obs: Observation) -> Decision:
    result = seen.result
    now = stamp(obs.now)
    attempt = close_attempt(st, result, now)
    actions = (DeleteJob(attempt.externalID),) if result.cleanup_job and attempt.externalID else ()
    what = f"Attempt {attempt.number} ({attempt.externalID or 'no run ID'})"
    if result.end_reason == "success":
        end_run(st, "Succeeded", "success", now, inp)
        set_succeeded(st, "True", c.RUN_SUCCEEDED, f"{what} succeeded.", inp, now)
        event = EventNote("Normal", c.RUN_SUCCEEDED, f"{what} succeeded.")
        return _terminal(inp, Decision(st, actions, (event,)))
    detail = f"{what} ended {result.end_reason}" + (
        f": {attempt.message}" if attempt.message else "."
    )
    events = [EventNote("Warning", c.ATTEMPT_FAILED, detail)]
    policy = inp.retry
    if (
        not inp.cancel
        and result.retryable
        and should_retry(policy, result.end_reason, attempt.number)
    ):
        assert policy is not None
        delay = retry_delay(
            policy, attempt.number, lambda low, high: low + (high - low) * obs.jitter
        )
        again = ceil_ms(obs.now + timedelta(seconds=delay))
        st.phase = "Retrying"
        st.nextRetryAt = stamp(again)
        message = f"{detail} Attempt {attempt.number + 1} starts at {st.nextRetryAt}."
        set_succeeded(st, "Unknown", c.RETRYING, message, inp, now)
        events.append(EventNote("Normal", c.RETRYING, message))
        return Decision(st, actions, tuple(events), wake_at=again)
    phase: Phase = "Cancelled" if result.end_reason == "stopped" else "Failed"
    end_run(st, phase, result.end_reason, now, inp)
    reason = result.reason or _FINAL_REASON.get(result.end_reason, c.FAILED)
    set_succeeded(st, "False", reason, detail, inp, now)
    events.append(EventNote("Warning", reason, f"TaskRun ended {phase}: {detail}"))
    return _terminal(inp, Decision(st, actions, tuple(events)))


# --- no attempt is open -------------------------------------------------------------------


def _cancel(inp: RunInputs, st: TaskRunStatus, now: str) -> Decision:
    end_run(st, "Cancelled", "stopped", now, inp)
    st.message = "Cancelled by spec.cancel."
    message = "Cancelled by spec.cancel before completion."
    set_succeeded(st, "False", c.CANCELLED, message, inp, now)
    return _terminal(inp, Decision(st, events=(EventNote("Normal", c.CANCELLED, message),)))


def _between(inp: RunInputs, st: TaskRunStatus, obs: Observation) -> Decision:
    if inp.cancel:
        return _cancel(inp, st, stamp(obs.now))
    if st.nextRetryAt and obs.now < parse_time(st.nextRetryAt):
        return Decision(st, wake_at=parse_time(st.nextRetryAt))
    if obs.draining:
        return Decision(st)
    number = st.attempts[-1].number + 1 if st.attempts else 1
    if inp.job:
        name = job_name(inp.name, number)
        begin_attempt(st, method="job", now=stamp(obs.now), inp=inp, external_id=name)
        note = EventNote("Normal", c.ATTEMPT_STARTED, f"Attempt {number} started as Job {name}.")
        return Decision(st, actions=(Start(number, "job", external_id=name),), events=(note,))
    if inp.replay:
        return _replay_start(inp, st, obs, number)
    return _api_start(inp, st, obs, number)


def _replay_start(inp: RunInputs, st: TaskRunStatus, obs: Observation, number: int) -> Decision:
    target = obs.target
    if target is None:
        return Decision(st, actions=(Prepare(),))
    if not target.ready:
        return _not_ready(inp, st, obs)
    recording_id, replay_id = replay_ids(inp.uid, number, inp.recording_id)
    begin_attempt(
        st,
        method="replay",
        now=stamp(obs.now),
        inp=inp,
        external_id=replay_id,
        recording_id=recording_id,
    )
    st.taskID = target.task_id
    st.replay = ReplayProgress(recordingID=recording_id, replayID=replay_id)
    made = "records" if inp.recording_id is None else "replays"
    note = EventNote(
        "Normal",
        c.ATTEMPT_STARTED,
        f"Attempt {number} started: {made} recording {recording_id}, replay {replay_id}.",
    )
    start = Start(number, "replay", external_id=replay_id, task_id=target.task_id)
    return Decision(st, actions=(start,), events=(note,))


def _api_start(inp: RunInputs, st: TaskRunStatus, obs: Observation, number: int) -> Decision:
    target, ready = obs.target, obs.ready
    if target is None or (target.ready and ready is None):
        return Decision(st, actions=(Prepare(),))
    if not target.ready:
        return _not_ready(inp, st, obs)
    if isinstance(ready, Waiting):
        set_succeeded(st, "Unknown", c.WAITING, ready.message, inp, stamp(obs.now))
        return Decision(st)
    assert ready is not None
    begin_attempt(
        st,
        method=ready.method,
        now=stamp(obs.now),
        inp=inp,
        retry_of=ready.retry_of,
        scheduled_for=ready.scheduled_for,
    )
    st.taskID = ready.task_id
    how = f"{ready.method} run" + (f" of {ready.retry_of}" if ready.retry_of else "")
    note = EventNote(
        "Normal",
        c.ATTEMPT_STARTED,
        f"Attempt {number} started ({how}, scheduledFor {ready.scheduled_for}).",
    )
    start = Start(
        number,
        ready.method,
        retry_of=ready.retry_of,
        scheduled_for=ready.scheduled_for,
        task_id=ready.task_id,
    )
    return Decision(st, actions=(start,), events=(note,))


def _not_ready(inp: RunInputs, st: TaskRunStatus, obs: Observation) -> Decision:
    """The target cannot run yet: wait (transient: as long as it takes; otherwise up to
    TASK_WAIT_LIMIT after creation) or fail (permanent)."""
    target = obs.target
    assert target is not None
    if target.transient:
        set_succeeded(st, "Unknown", target.reason, target.message, inp, stamp(obs.now))
        return Decision(st)
    deadline = inp.created_at + timedelta(seconds=TASK_WAIT_LIMIT)
    now = stamp(obs.now)
    if target.permanent or obs.now >= deadline:
        end_run(st, "Failed", "failed", now, inp)
        st.message = target.message
        set_succeeded(st, "False", target.reason, target.message, inp, now)
        event = EventNote("Warning", target.reason, target.message)
        return _terminal(inp, Decision(st, events=(event,)))
    message = f"{target.message} Waiting until {stamp(deadline)}."
    set_succeeded(st, "Unknown", target.reason, message, inp, now)
    return Decision(st, wake_at=deadline)


def invalid_spec(
    prev: TaskRunStatus, message: str, now: datetime, generation: int
) -> TaskRunStatus:
    """A TaskRun whose spec does not parse (admission should have refused it) fails."""
    st = prev.model_copy(deep=True)
    inp = RunInputs(name="", generation=generation, created_at=now, job=False, target="")
    text = f"Invalid spec: {message}"
    end_run(st, "Failed", "failed", stamp(now), inp)
    st.message = text
    set_succeeded(st, "False", c.INVALID_SPEC, text, inp, stamp(now))
    return st
