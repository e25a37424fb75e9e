"""The TaskRun state machine, as pure functions over TaskRunStatus.

Bookkeeping rule: an attempt is appended to status (and written) BEFORE the call that
starts it, so a restart finds every started attempt. An attempt found open (no
`finishedAt`) that nothing in this process is running ended as `crashed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kapacitor_operator import conditions as c
from kapacitor_operator.models.common import EndReason, RetryPolicy
from kapacitor_operator.models.taskrun import Attempt, AttemptMethod, TaskRunStatus, TriggeredBy
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.retry_policy import Uniform, retry_delay, should_retry
from kapacitor_operator.timeutil import plus_seconds

TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Cancelled"})
LOG_TAIL_LINES = 20
_FINAL_REASON = {
    "failed": c.FAILED,
    "timeout": c.TIMED_OUT,
    "crashed": c.CRASHED,
    "stopped": c.CANCELLED,
    "skipped": c.FAILED,
}


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt ended."""

    end_reason: EndReason
    external_id: str | None = None
    message: str | None = None
    exit_code: int | None = None
    log_tail: list[str] | None = None
    run_history: str | None = None


def is_terminal(status: TaskRunStatus) -> bool:
    return status.phase in TERMINAL_PHASES


def open_attempt(status: TaskRunStatus) -> Attempt | None:
    """The latest attempt if it has not finished."""
    if status.attempts and status.attempts[-1].finishedAt is None:
        return status.attempts[-1]
    return None


def _condition(
    st: TaskRunStatus, status: c.Status, reason: str, message: str, now: str, generation: int
) -> None:
    st.conditions = c.set_condition(
        st.conditions,
        type=c.SUCCEEDED,
        status=status,
        reason=reason,
        message=message,
        now=now,
        generation=generation,
    )


def initial_status(
    prev: TaskRunStatus, *, target: str, triggered_by: TriggeredBy, now: str, generation: int
) -> TaskRunStatus:
    """Status of a TaskRun nothing has happened to yet (phase Pending)."""
    st = prev.model_copy(deep=True)
    st.observedGeneration = generation
    st.phase = "Pending"
    st.target = target
    st.triggeredBy = triggered_by
    st.attempts = st.attempts or []
    _condition(st, "Unknown", c.PENDING, "Waiting to start the first attempt.", now, generation)
    return st


def begin_attempt(
    prev: TaskRunStatus,
    *,
    method: AttemptMethod,
    now: str,
    generation: int,
    external_id: str | None = None,
    retry_of: str | None = None,
) -> TaskRunStatus:
    """Append the next attempt (phase Running). Write this before starting the attempt."""
    st = prev.model_copy(deep=True)
    number = len(st.attempts or []) + 1
    st.attempts = [
        *(st.attempts or []),
        Attempt(
            number=number,
            method=method,
            externalID=external_id,
            retryOfRunID=retry_of,
            startedAt=now,
        ),
    ]
    st.attempt = number
    st.phase = "Running"
    st.nextRetryAt = None
    st.startedAt = st.startedAt or now
    st.runID = external_id
    st.observedGeneration = generation
    _condition(st, "Unknown", c.RUNNING, f"Attempt {number} is running.", now, generation)
    return st


def note_external_id(prev: TaskRunStatus, external_id: str) -> TaskRunStatus:
    """Record the running attempt's Kapacitor run ID as soon as it is known."""
    st = prev.model_copy(deep=True)
    attempt = open_attempt(st)
    if attempt is not None:
        attempt.externalID = external_id
        st.runID = external_id
    return st


def finish_attempt(
    prev: TaskRunStatus,
    result: AttemptResult,
    *,
    policy: RetryPolicy | None,
    now: str,
    generation: int,
    uniform: Uniform | None = None,
    cancelled: bool = False,
) -> tuple[TaskRunStatus, list[EventNote]]:
    """Close the open attempt and decide: Succeeded, Retrying (with nextRetryAt) or ended."""
    st = prev.model_copy(deep=True)
    attempt = open_attempt(st)
    if attempt is None:
        return st, []
    attempt.finishedAt = now
    attempt.endReason = result.end_reason
    attempt.externalID = result.external_id or attempt.externalID
    attempt.exitCode = result.exit_code
    attempt.message = result.message
    attempt.logTail = result.log_tail[-LOG_TAIL_LINES:] if result.log_tail else None
    st.runID = attempt.externalID
    st.message = result.message
    if result.run_history:
        st.runHistory = result.run_history
    number = attempt.number
    what = f"Attempt {number} ({attempt.externalID or 'no run ID'})"
    if result.end_reason == "success":
        _end(st, "Succeeded", "success", now, generation)
        _condition(st, "True", c.RUN_SUCCEEDED, f"{what} succeeded.", now, generation)
        return st, [EventNote("Normal", c.RUN_SUCCEEDED, f"{what} succeeded.")]
    detail = f"{what} ended {result.end_reason}" + (
        f": {result.message}" if result.message else "."
    )
    events = [EventNote("Warning", c.ATTEMPT_FAILED, detail)]
    if not cancelled and should_retry(policy, result.end_reason, number):
        assert policy is not None
        delay = retry_delay(policy, number, uniform) if uniform else retry_delay(policy, number)
        st.phase = "Retrying"
        st.nextRetryAt = plus_seconds(now, delay)
        message = f"{detail} Attempt {number + 1} starts at {st.nextRetryAt}."
        _condition(st, "Unknown", c.RETRYING, message, now, generation)
        events.append(EventNote("Normal", c.RETRYING, message))
        return st, events
    phase = "Cancelled" if result.end_reason == "stopped" else "Failed"
    _end(st, phase, result.end_reason, now, generation)
    reason = _FINAL_REASON.get(result.end_reason, c.FAILED)
    _condition(st, "False", reason, detail, now, generation)
    events.append(EventNote("Warning", reason, f"TaskRun ended {phase}: {detail}"))
    return st, events


def cancel_pending(prev: TaskRunStatus, *, now: str, generation: int) -> TaskRunStatus:
    """End a TaskRun that has no attempt running (spec.cancel set while waiting)."""
    st = prev.model_copy(deep=True)
    _end(st, "Cancelled", "stopped", now, generation)
    st.message = "Cancelled by spec.cancel."
    _condition(
        st, "False", c.CANCELLED, "Cancelled by spec.cancel before completion.", now, generation
    )
    return st


def fail_without_attempt(
    prev: TaskRunStatus, *, reason: str, message: str, now: str, generation: int
) -> TaskRunStatus:
    """End a TaskRun that cannot start at all (e.g. its KapacitorTask is not a Flux task)."""
    st = prev.model_copy(deep=True)
    _end(st, "Failed", "failed", now, generation)
    st.message = message
    _condition(st, "False", reason, message, now, generation)
    return st


def _end(st: TaskRunStatus, phase: str, end_reason: EndReason, now: str, generation: int) -> None:
    st.phase = phase  # type: ignore[assignment]
    st.endReason = end_reason
    st.finishedAt = now
    st.nextRetryAt = None
    st.observedGeneration = generation
