"""The TaskRun state machine: attempts, retries, terminal phases and the Succeeded condition."""

from __future__ import annotations

from kapacitor_operator import conditions as c
from kapacitor_operator.models.common import RetryPolicy
from kapacitor_operator.models.taskrun import TaskRunStatus
from kapacitor_operator.reconcile.taskrun_state import (
    AttemptResult,
    begin_attempt,
    cancel_pending,
    finish_attempt,
    initial_status,
    is_terminal,
    note_external_id,
    open_attempt,
)

T0 = "2026-01-01T00:00:00Z"
POLICY = RetryPolicy(limit=2, delays=["10s"])


def fresh() -> TaskRunStatus:
    return initial_status(TaskRunStatus(), target="Job", triggered_by="api", now=T0, generation=1)


def succeeded(st: TaskRunStatus) -> tuple[str, str]:
    cond = c.get_condition(st.conditions, c.SUCCEEDED)
    assert cond is not None
    return cond.status, cond.reason


def test_initial_status_is_pending_with_unknown_condition() -> None:
    st = fresh()
    assert st.phase == "Pending"
    assert succeeded(st) == ("Unknown", c.PENDING)


def test_attempt_is_recorded_before_it_runs_and_id_noted_later() -> None:
    st = begin_attempt(fresh(), method="manual", now=T0, generation=1)
    assert st.phase == "Running"
    assert st.attempt == 1
    assert open_attempt(st) is not None
    st = note_external_id(st, "0000000000000abc")
    assert st.runID == "0000000000000abc"
    assert st.attempts is not None
    assert st.attempts[0].externalID == "0000000000000abc"


def test_success_first_time() -> None:
    st = begin_attempt(fresh(), method="manual", now=T0, generation=1)
    st, events = finish_attempt(
        st,
        AttemptResult("success", external_id="r1"),
        policy=POLICY,
        now="2026-01-01T00:00:05Z",
        generation=1,
    )
    assert (st.phase, st.endReason, st.finishedAt) == (
        "Succeeded",
        "success",
        "2026-01-01T00:00:05Z",
    )
    assert succeeded(st) == ("True", c.RUN_SUCCEEDED)
    assert [e.reason for e in events] == [c.RUN_SUCCEEDED]


def test_fail_then_retry_then_exhausted() -> None:
    st = fresh()
    for n in (1, 2, 3):
        st = begin_attempt(st, method="manual", now=T0, generation=1)
        st, _ = finish_attempt(
            st,
            AttemptResult("failed", message=f"boom {n}"),
            policy=POLICY,
            now=T0,
            generation=1,
            uniform=lambda a, b: a,
        )
        if n < 3:
            assert st.phase == "Retrying"
            assert st.nextRetryAt == "2026-01-01T00:00:10.000Z"
            assert succeeded(st)[0] == "Unknown"
    assert st.phase == "Failed"
    assert st.endReason == "failed"
    assert st.nextRetryAt is None
    assert [a.number for a in st.attempts or []] == [1, 2, 3]
    assert succeeded(st) == ("False", c.FAILED)
    assert st.message == "boom 3"


def test_timeout_ends_with_timed_out_reason_when_not_retried() -> None:
    st = begin_attempt(fresh(), method="job", external_id="j-1", now=T0, generation=1)
    st, _ = finish_attempt(st, AttemptResult("timeout"), policy=None, now=T0, generation=1)
    assert (st.phase, st.endReason) == ("Failed", "timeout")
    assert succeeded(st) == ("False", c.TIMED_OUT)


def test_cancel_during_attempt_is_not_retried() -> None:
    st = begin_attempt(fresh(), method="manual", now=T0, generation=1)
    st, _ = finish_attempt(
        st, AttemptResult("stopped"), policy=POLICY, now=T0, generation=1, cancelled=True
    )
    assert (st.phase, st.endReason) == ("Cancelled", "stopped")
    assert is_terminal(st)


def test_cancel_while_waiting_for_retry() -> None:
    st = begin_attempt(fresh(), method="manual", now=T0, generation=1)
    st, _ = finish_attempt(st, AttemptResult("failed"), policy=POLICY, now=T0, generation=1)
    st = cancel_pending(st, now=T0, generation=1)
    assert (st.phase, st.endReason) == ("Cancelled", "stopped")
    assert succeeded(st) == ("False", c.CANCELLED)


def test_log_tail_is_bounded() -> None:
    st = begin_attempt(fresh(), method="manual", now=T0, generation=1)
    st, _ = finish_attempt(
        st,
        AttemptResult("success", log_tail=[str(i) for i in range(100)]),
        policy=None,
        now=T0,
        generation=1,
    )
    assert st.attempts is not None
    assert st.attempts[0].logTail == [str(i) for i in range(80, 100)]
