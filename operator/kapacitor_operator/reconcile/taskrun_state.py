"""Edits of a TaskRunStatus that decide() composes: append, close or withdraw an attempt,
end the run, set the Succeeded condition. Each keeps the status within its bounds.
"""

from __future__ import annotations

from kapacitor_operator import conditions as c
from kapacitor_operator.models.common import EndReason
from kapacitor_operator.models.taskrun import (
    MAX_KEPT_ATTEMPTS,
    MAX_LOG_LINE,
    MAX_LOG_LINES,
    MAX_MESSAGE,
    Attempt,
    AttemptMethod,
    Phase,
    TaskRunStatus,
    TriggeredBy,
)
from kapacitor_operator.reconcile.taskrun_model import AttemptResult, RunInputs

TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Cancelled"})
ELLIPSIS = "…"


def cut(text: str | None, limit: int = MAX_MESSAGE) -> str | None:
    """Text shortened to `limit` characters (the end replaced by an ellipsis)."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS


def log_tail(lines: tuple[str, ...] | list[str] | None) -> list[str] | None:
    """The last MAX_LOG_LINES lines, each cut to MAX_LOG_LINE characters."""
    if not lines:
        return None
    return [cut(line, MAX_LOG_LINE) or "" for line in list(lines)[-MAX_LOG_LINES:]]


def is_terminal(status: TaskRunStatus) -> bool:
    return status.phase in TERMINAL_PHASES


def open_attempt(status: TaskRunStatus) -> Attempt | None:
    """The latest attempt if it has not finished."""
    if status.attempts and status.attempts[-1].finishedAt is None:
        return status.attempts[-1]
    return None


def whole_seconds(now: str) -> str:
    """An engine timestamp (milliseconds) as Kubernetes writes condition times."""
    return now.split(".")[0].rstrip("Z") + "Z"


def set_succeeded(
    st: TaskRunStatus, status: c.Status, reason: str, message: str, inp: RunInputs, now: str
) -> None:
    """Set the Succeeded condition (the only condition of a TaskRun)."""
    st.conditions = c.set_condition(
        st.conditions,
        type=c.SUCCEEDED,
        status=status,
        reason=reason,
        message=cut(message) or "",
        now=whole_seconds(now),
        generation=inp.generation,
    )


def initial_status(
    prev: TaskRunStatus, *, target: str, triggered_by: TriggeredBy, now: str
) -> TaskRunStatus:
    """Status of a TaskRun nothing has happened to yet (phase Pending)."""
    st = prev.model_copy(deep=True)
    st.phase = "Pending"
    st.target = target
    st.triggeredBy = triggered_by
    st.attempts = st.attempts or []
    st.conditions = c.set_condition(
        st.conditions,
        type=c.SUCCEEDED,
        status="Unknown",
        reason=c.PENDING,
        message="Waiting to start the first attempt.",
        now=whole_seconds(now),
        generation=None,
    )
    return st


def begin_attempt(
    st: TaskRunStatus,
    *,
    method: AttemptMethod,
    now: str,
    inp: RunInputs,
    external_id: str | None = None,
    retry_of: str | None = None,
    scheduled_for: str | None = None,
    recording_id: str | None = None,
) -> Attempt:
    """Append the next attempt (phase Running). Written before the attempt starts."""
    number = st.attempts[-1].number + 1 if st.attempts else 1
    attempt = Attempt(
        number=number,
        method=method,
        externalID=external_id,
        retryOfRunID=retry_of,
        scheduledFor=scheduled_for,
        recordingID=recording_id,
        startedAt=now,
    )
    attempts = [*(st.attempts or []), attempt]
    if len(attempts) > MAX_KEPT_ATTEMPTS:
        # Keep the first attempt and the latest ones; count what is dropped between.
        dropped = len(attempts) - MAX_KEPT_ATTEMPTS
        attempts = [attempts[0], *attempts[1 + dropped :]]
        st.attemptsOmitted = (st.attemptsOmitted or 0) + dropped
    st.attempts = attempts
    st.attempt = number
    st.phase = "Running"
    st.nextRetryAt = None
    st.startedAt = st.startedAt or now
    st.runID = external_id
    set_succeeded(st, "Unknown", c.RUNNING, f"Attempt {number} is running.", inp, now)
    return attempt


def withdraw_attempt(st: TaskRunStatus) -> int:
    """Remove the open attempt, whose start never took effect; returns its number."""
    attempts = list(st.attempts or [])
    withdrawn = attempts.pop()
    st.attempts = attempts
    st.attempt = attempts[-1].number if attempts else None
    st.runID = attempts[-1].externalID if attempts else None
    st.phase = "Retrying" if attempts else "Pending"
    if not attempts:
        st.startedAt = None
    return withdrawn.number


def close_attempt(st: TaskRunStatus, result: AttemptResult, now: str) -> Attempt:
    """Record how the open attempt ended; returns it."""
    attempt = open_attempt(st)
    assert attempt is not None
    attempt.finishedAt = now
    attempt.endReason = result.end_reason
    attempt.externalID = result.external_id or attempt.externalID
    attempt.exitCode = result.exit_code
    attempt.message = cut(result.message)
    attempt.logTail = log_tail(result.log_tail)
    st.runID = attempt.externalID
    st.message = attempt.message
    if result.run_history:
        st.runHistory = result.run_history
    if result.replay is not None:
        st.replay = result.replay.to_status()
    return attempt


def end_run(
    st: TaskRunStatus, phase: Phase, end_reason: EndReason, now: str, inp: RunInputs
) -> None:
    """Put the run in a terminal phase."""
    st.phase = phase
    st.endReason = end_reason
    st.finishedAt = now
    st.nextRetryAt = None
    st.observedGeneration = inp.generation
