"""decide(): every TaskRun transition, as tables with a fixed clock.

Each test drives decide() the way the executor does: it writes the returned status, then
feeds back what it observed. No cluster, no server, no sleep.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.models.common import Backoff, RetryPolicy
from kapacitor_operator.models.taskrun import (
    MAX_KEPT_ATTEMPTS,
    MAX_LOG_LINE,
    MAX_LOG_LINES,
    MAX_MESSAGE,
    TaskRunStatus,
)
from kapacitor_operator.reconcile.taskrun_decide import TASK_WAIT_LIMIT, decide
from kapacitor_operator.reconcile.taskrun_model import (
    Attach,
    AttemptResult,
    Cancel,
    Decision,
    DeleteJob,
    Ended,
    Expire,
    Live,
    NotStarted,
    Observation,
    Prepare,
    Prepared,
    RunInputs,
    Start,
    TargetState,
    Waiting,
)
from kapacitor_operator.timeutil import parse_time

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
TASK = "0000000000000abc"
RUN1, RUN2 = "00000000000000r1", "00000000000000r2"
SCHEDULED = "2026-01-01T12:00:00Z"
READY = TargetState(ready=True, task_id=TASK)
MANUAL = Prepared(task_id=TASK, method="manual", retry_of=None, scheduled_for=SCHEDULED)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def api(**kw: Any) -> RunInputs:
    base = RunInputs(name="run", generation=1, created_at=T0, job=False, target="KapacitorTask/t")
    return replace(base, **kw)


def job(**kw: Any) -> RunInputs:
    return replace(api(target="Job", job=True), **kw)


def obs(seconds: float = 0.0, **kw: Any) -> Observation:
    return Observation(now=at(seconds), **kw)


def cond(st: TaskRunStatus) -> tuple[str, str]:
    found = c.get_condition(st.conditions, c.SUCCEEDED)
    assert found is not None
    return found.status, found.reason


def message(st: TaskRunStatus) -> str:
    found = c.get_condition(st.conditions, c.SUCCEEDED)
    assert found is not None
    return found.message


def reasons(d: Decision) -> list[str]:
    return [e.reason for e in d.events]


def running(inp: RunInputs, seconds: float = 0.0) -> TaskRunStatus:
    """A status with attempt 1 open, as the executor writes it before starting it."""
    if inp.job:
        return decide(inp, TaskRunStatus(), obs(seconds)).status
    return decide(inp, TaskRunStatus(), obs(seconds, target=READY, ready=MANUAL)).status


def ended(end_reason: str, **kw: Any) -> Ended:
    return Ended(AttemptResult(end_reason, **kw))  # type: ignore[arg-type]


# --- start ---------------------------------------------------------------------------------


def test_a_new_api_run_prepares_first() -> None:
    d = decide(api(), TaskRunStatus(), obs())
    assert d.status.phase == "Pending"
    assert cond(d.status) == ("Unknown", c.PENDING)
    assert d.actions == (Prepare(),)
    assert d.status.target == "KapacitorTask/t"
    assert d.status.triggeredBy == "api"
    assert d.status.observedGeneration == 1


def test_a_prepared_api_attempt_is_recorded_before_it_starts() -> None:
    d = decide(api(), TaskRunStatus(), obs(0.5, target=READY, ready=MANUAL))
    st = d.status
    assert (st.phase, st.attempt, st.taskID) == ("Running", 1, TASK)
    assert st.attempts is not None
    (attempt,) = st.attempts
    assert (attempt.number, attempt.method, attempt.scheduledFor) == (1, "manual", SCHEDULED)
    assert attempt.startedAt == "2026-01-01T12:00:00.500Z"
    assert attempt.finishedAt is None
    assert d.actions == (Start(1, "manual", retry_of=None, scheduled_for=SCHEDULED, task_id=TASK),)
    assert reasons(d) == [c.ATTEMPT_STARTED]
    assert cond(st) == ("Unknown", c.RUNNING)


def test_retry_of_a_given_run_starts_with_the_retry_endpoint() -> None:
    plan = Prepared(task_id=TASK, method="retry", retry_of=RUN1, scheduled_for=SCHEDULED)
    d = decide(
        api(retry_of=RUN1, triggered_by="retry"), TaskRunStatus(), obs(target=READY, ready=plan)
    )
    assert d.status.attempts is not None
    assert d.status.attempts[0].retryOfRunID == RUN1
    assert d.status.triggeredBy == "retry"
    assert d.actions[0] == Start(1, "retry", retry_of=RUN1, scheduled_for=SCHEDULED, task_id=TASK)


def test_a_job_run_starts_its_first_job_at_once() -> None:
    d = decide(job(), TaskRunStatus(), obs())
    assert d.actions == (Start(1, "job", external_id="run-1"),)
    assert d.status.attempts is not None
    assert d.status.attempts[0].externalID == "run-1"
    assert d.status.runID == "run-1"
    assert d.status.target == "Job"


@pytest.mark.parametrize(
    ("target", "seconds", "phase", "status", "reason", "wake"),
    [
        (
            TargetState(False, reason=c.TASK_NOT_FOUND, message="KapacitorTask t not found."),
            10,
            "Pending",
            "Unknown",
            c.TASK_NOT_FOUND,
            at(TASK_WAIT_LIMIT),
        ),
        (
            TargetState(False, reason=c.TASK_NOT_READY, message="Rejected: invalid options."),
            10,
            "Pending",
            "Unknown",
            c.TASK_NOT_READY,
            at(TASK_WAIT_LIMIT),
        ),
        (
            TargetState(False, reason=c.TASK_NOT_FOUND, message="KapacitorTask t not found."),
            TASK_WAIT_LIMIT,
            "Failed",
            "False",
            c.TASK_NOT_FOUND,
            None,
        ),
        (
            TargetState(False, reason=c.NOT_FLUX, message="t is a stream task.", permanent=True),
            0,
            "Failed",
            "False",
            c.NOT_FLUX,
            None,
        ),
    ],
)
def test_a_target_that_is_not_ready_is_said_at_once_and_fails_after_the_wait(
    target: TargetState, seconds: float, phase: str, status: str, reason: str, wake: Any
) -> None:
    d = decide(api(), TaskRunStatus(), obs(seconds, target=target))
    assert d.status.phase == phase
    assert cond(d.status) == (status, reason)
    assert target.message in message(d.status)
    assert d.wake_at == wake
    assert not d.actions
    if phase == "Failed":
        assert d.status.endReason == "failed"
        assert reasons(d) == [reason]


def test_a_server_that_cannot_answer_is_waited_for_as_long_as_it_takes() -> None:
    target = TargetState(False, reason=c.UNAVAILABLE, message="Kapacitor down.", transient=True)
    d = decide(api(), TaskRunStatus(), obs(TASK_WAIT_LIMIT * 10, target=target))
    assert d.status.phase == "Pending"
    assert cond(d.status) == ("Unknown", c.UNAVAILABLE)
    assert (d.actions, d.wake_at) == ((), None)


def test_waiting_for_a_run_slot_has_its_own_reason_and_no_timer() -> None:
    d = decide(api(), TaskRunStatus(), obs(target=READY, ready=Waiting("100 runs in flight.")))
    assert d.status.phase == "Pending"
    assert cond(d.status) == ("Unknown", c.WAITING)
    assert message(d.status) == "100 runs in flight."
    assert (d.actions, d.wake_at) == ((), None)


def test_nothing_new_starts_while_the_operator_drains() -> None:
    d = decide(job(), TaskRunStatus(), obs(draining=True))
    assert (d.status.phase, d.actions, d.done) == ("Pending", (), False)


# --- an open attempt -----------------------------------------------------------------------


def test_an_open_attempt_nobody_here_runs_is_attached_first() -> None:
    st = running(api())
    d = decide(api(), st, obs(60))
    assert d.actions == (Attach(1),)
    assert d.status == st


def test_a_run_id_is_recorded_as_soon_as_it_is_known() -> None:
    st = running(api())
    d = decide(api(), st, obs(1, attempt=Live(external_id=RUN1)))
    assert d.status.runID == RUN1
    assert d.status.attempts is not None
    assert d.status.attempts[0].externalID == RUN1
    assert d.actions == ()


def test_live_attempt_details_reach_the_condition() -> None:
    st = running(job())
    d = decide(job(), st, obs(1, attempt=Live("run-1", detail="Pod run-1-x is Pending.")))
    assert message(d.status) == "Attempt 1 is running. Pod run-1-x is Pending."


@pytest.mark.parametrize("inp", [api(cancel=True), job(cancel=True)])
def test_cancel_of_a_running_attempt_asks_to_stop_it(inp: RunInputs) -> None:
    st = running(replace(inp, cancel=False))
    d = decide(replace(inp, generation=2), st, obs(1, attempt=Live("x")))
    assert d.actions == (Cancel(1),)
    assert d.status.observedGeneration == 2
    assert message(d.status) == "Cancelling attempt 1."


def test_the_stopped_attempt_ends_the_run_cancelled() -> None:
    inp = api(cancel=True, generation=2, retry=RetryPolicy(limit=3))
    st = running(api())
    d = decide(inp, st, obs(2, attempt=ended("stopped", external_id=RUN1, message="Run cancelled")))
    assert (d.status.phase, d.status.endReason) == ("Cancelled", "stopped")
    assert cond(d.status) == ("False", c.CANCELLED)
    assert d.status.observedGeneration == 2


# --- an attempt ends -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "phase", "reason"),
    [
        ("success", "Succeeded", c.RUN_SUCCEEDED),
        ("failed", "Failed", c.FAILED),
        ("timeout", "Failed", c.TIMED_OUT),
        ("crashed", "Failed", c.CRASHED),
        ("stopped", "Cancelled", c.CANCELLED),
    ],
)
def test_each_end_reason_without_retries(end: str, phase: str, reason: str) -> None:
    st = running(api())
    d = decide(api(), st, obs(3, attempt=ended(end, external_id=RUN1, message="why")))
    assert (d.status.phase, d.status.endReason) == (phase, end)
    assert cond(d.status) == ("True" if end == "success" else "False", reason)
    assert d.status.finishedAt == "2026-01-01T12:00:03.000Z"
    assert d.status.attempts is not None
    attempt = d.status.attempts[0]
    assert (attempt.endReason, attempt.finishedAt, attempt.externalID) == (
        end,
        "2026-01-01T12:00:03.000Z",
        RUN1,
    )
    assert d.done


def test_a_failure_with_retries_left_waits_exactly_the_delay() -> None:
    inp = api(retry=RetryPolicy(limit=2, delays=["10s"]))
    st = running(inp)
    moment = at(3) + timedelta(microseconds=123_456)  # not on a millisecond
    d = decide(inp, st, Observation(now=moment, attempt=ended("failed", external_id=RUN1)))
    assert d.status.phase == "Retrying"
    assert cond(d.status) == ("Unknown", c.RETRYING)
    assert d.wake_at is not None
    assert d.wake_at >= moment + timedelta(seconds=10)
    assert d.wake_at - (moment + timedelta(seconds=10)) < timedelta(milliseconds=1)
    assert d.status.nextRetryAt is not None
    assert parse_time(d.status.nextRetryAt) == d.wake_at
    assert reasons(d) == [c.ATTEMPT_FAILED, c.RETRYING]
    # Before the delay: wait. At it: start the next attempt.
    early = decide(inp, d.status, Observation(now=d.wake_at - timedelta(milliseconds=1)))
    assert (early.actions, early.wake_at) == ((), d.wake_at)
    due = decide(inp, d.status, Observation(now=d.wake_at))
    assert due.actions == (Prepare(),)


def test_retries_are_bounded_by_the_limit() -> None:
    inp = job(retry=RetryPolicy(limit=1, delays=["1s"]))
    st = running(inp)
    d = decide(inp, st, obs(1, attempt=ended("failed")))
    assert d.status.phase == "Retrying"
    d = decide(inp, d.status, obs(2))
    assert d.actions == (Start(2, "job", external_id="run-2"),)
    d = decide(inp, d.status, obs(3, attempt=ended("failed")))
    assert (d.status.phase, d.status.attempt) == ("Failed", 2)
    assert cond(d.status) == ("False", c.FAILED)


@pytest.mark.parametrize(
    ("retry_on", "end", "retried"),
    [
        (None, "failed", True),
        (None, "crashed", True),
        (None, "timeout", True),
        (None, "stopped", False),
        (["timeout"], "failed", False),
        (["timeout"], "timeout", True),
        (["stopped"], "stopped", True),
    ],
)
def test_retry_on_filters_end_reasons(retry_on: Any, end: str, retried: bool) -> None:
    inp = job(retry=RetryPolicy(limit=3, retryOn=retry_on))
    d = decide(inp, running(inp), obs(1, attempt=ended(end)))
    assert (d.status.phase == "Retrying") is retried


def test_a_refused_request_is_not_retried_and_names_its_reason() -> None:
    inp = job(retry=RetryPolicy(limit=5))
    result = ended(
        "failed",
        external_id="run-1",
        message='Job.batch "run-1" is invalid: image: Required value',
        retryable=False,
        reason=c.JOB_REJECTED,
    )
    d = decide(inp, running(inp), obs(1, attempt=result))
    assert d.status.phase == "Failed"
    assert cond(d.status) == ("False", c.JOB_REJECTED)
    assert "Required value" in message(d.status)


def test_an_ended_job_that_must_not_linger_is_deleted() -> None:
    inp = job()
    result = ended("failed", external_id="run-1", message="ErrImageNeverPull", cleanup_job=True)
    d = decide(inp, running(inp), obs(1, attempt=result))
    assert d.actions == (DeleteJob("run-1"),)


def test_a_failure_while_cancelling_is_not_retried() -> None:
    inp = api(retry=RetryPolicy(limit=3), cancel=True)
    d = decide(inp, running(api()), obs(1, attempt=ended("failed")))
    assert (d.status.phase, d.status.endReason) == ("Failed", "failed")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (RetryPolicy(limit=5, delays=["1s", "5s"]), [1, 5, 5]),
        (RetryPolicy(limit=5, backoff=Backoff(base="1s", factor=2, max="3s")), [1, 2, 3]),
        (RetryPolicy(limit=5), [10, 20, 40]),
    ],
)
def test_delays_and_backoff(policy: RetryPolicy, expected: list[float]) -> None:
    inp = job(retry=policy)
    st, seen = running(inp), []
    clock = 0.0
    for _ in expected:
        d = decide(inp, st, obs(clock, attempt=ended("failed")))
        assert d.wake_at is not None
        seen.append((d.wake_at - at(clock)).total_seconds())
        clock = (d.wake_at - T0).total_seconds()
        st = decide(inp, d.status, obs(clock)).status
    assert seen == expected


@pytest.mark.parametrize(("sample", "delay"), [(0.0, 10.0), (0.5, 12.5), (0.999, 14.995)])
def test_jitter_stretches_a_delay_within_its_range(sample: float, delay: float) -> None:
    inp = job(retry=RetryPolicy(limit=1, delays=["10s"], jitter=0.5))
    d = decide(inp, running(inp), obs(0, attempt=ended("failed"), jitter=sample))
    assert d.wake_at is not None
    assert (d.wake_at - T0).total_seconds() == pytest.approx(delay, abs=0.001)


def test_cancel_while_retrying_or_pending_ends_at_once() -> None:
    inp = job(retry=RetryPolicy(limit=2, delays=["1h"]))
    retrying = decide(inp, running(inp), obs(1, attempt=ended("failed"))).status
    for st in (retrying, TaskRunStatus()):
        d = decide(replace(inp, cancel=True, generation=3), st, obs(2))
        assert (d.status.phase, d.status.endReason) == ("Cancelled", "stopped")
        assert cond(d.status) == ("False", c.CANCELLED)
        assert d.status.observedGeneration == 3
        assert d.actions == ()


# --- starts that did not take effect -------------------------------------------------------


def test_a_start_that_never_reached_kapacitor_is_withdrawn_and_retried_later() -> None:
    st = running(api())
    seen = NotStarted(c.UNAVAILABLE, "connection refused.")
    d = decide(api(), st, obs(1, attempt=seen))
    assert (d.status.phase, d.status.attempts, d.status.attempt) == ("Pending", [], None)
    assert d.status.startedAt is None
    assert cond(d.status) == ("Unknown", c.UNAVAILABLE)
    assert d.wake_at == at(3)
    assert reasons(d) == [c.UNAVAILABLE]
    again = decide(api(), st, obs(1, attempt=seen, start_failures=3))
    assert again.wake_at == at(31)
    assert reasons(again) == []  # one Warning per streak, not one per try
    assert decide(api(), d.status, obs(2)).actions == ()
    assert decide(api(), d.status, obs(3)).actions == (Prepare(),)


def test_a_withdrawn_retry_keeps_the_earlier_attempts() -> None:
    inp = job(retry=RetryPolicy(limit=3, delays=["1s"]))
    st = decide(inp, running(inp), obs(1, attempt=ended("failed"))).status
    st = decide(inp, st, obs(2)).status
    assert st.attempt == 2
    d = decide(inp, st, obs(2, attempt=NotStarted(c.FORBIDDEN, "exceeded quota.")))
    assert (d.status.phase, d.status.attempt, d.status.runID) == ("Retrying", 1, "run-1")
    assert cond(d.status) == ("Unknown", c.FORBIDDEN)


def test_cancel_of_a_withdrawn_attempt_ends_the_run() -> None:
    d = decide(api(cancel=True), running(api()), obs(1, attempt=NotStarted(c.UNAVAILABLE, "x")))
    assert (d.status.phase, d.status.attempts) == ("Cancelled", [])


# --- after the end -------------------------------------------------------------------------


def test_ttl_deletes_the_finished_run_when_due() -> None:
    inp = job(ttl=30)
    d = decide(inp, running(inp), obs(5, attempt=ended("success")))
    assert (d.wake_at, d.done) == (at(35), False)
    assert decide(inp, d.status, obs(34.9)).actions == ()
    late = decide(inp, d.status, obs(35))
    assert (late.actions, late.done) == ((Expire(),), True)


def test_a_zero_ttl_expires_with_the_end() -> None:
    inp = job(ttl=0)
    d = decide(inp, running(inp), obs(5, attempt=ended("failed")))
    assert (d.status.phase, d.actions, d.done) == ("Failed", (Expire(),), True)


def test_a_ttl_set_after_the_end_is_honoured() -> None:
    d = decide(job(), running(job()), obs(5, attempt=ended("success")))
    assert d.done
    assert decide(job(ttl=10), d.status, obs(20)).actions == (Expire(),)


def test_observed_generation_follows_every_decision() -> None:
    st = running(job())
    for generation in (2, 3):
        d = decide(job(generation=generation), st, obs(1, attempt=Live("run-1")))
        assert d.status.observedGeneration == generation
        assert d.status.conditions is not None
        assert d.status.conditions[0].observedGeneration == generation


# --- bounds --------------------------------------------------------------------------------


def test_attempts_kept_in_status_are_bounded_and_counted() -> None:
    inp = job(retry=RetryPolicy(limit=100, delays=["1s"]))
    st = running(inp)
    clock = 0.0
    for _ in range(40):
        clock += 1
        st = decide(inp, st, obs(clock, attempt=ended("failed"))).status
        clock += 1
        st = decide(inp, st, obs(clock)).status
    assert st.attempts is not None
    numbers = [a.number for a in st.attempts]
    assert len(numbers) == MAX_KEPT_ATTEMPTS
    assert numbers[0] == 1
    assert numbers[1:] == list(range(41 - MAX_KEPT_ATTEMPTS + 2, 42))
    assert st.attemptsOmitted == 41 - MAX_KEPT_ATTEMPTS
    assert st.attempt == 41


def test_messages_and_log_tails_are_cut_before_writing() -> None:
    long_log = tuple(f"line {i} " + "x" * 2000 for i in range(100))
    result = ended("failed", message="m" * 5000, log_tail=long_log)
    d = decide(job(), running(job()), obs(1, attempt=result))
    assert d.status.attempts is not None
    attempt = d.status.attempts[0]
    assert attempt.message is not None
    assert len(attempt.message) == MAX_MESSAGE
    assert attempt.message.endswith("…")
    assert attempt.logTail is not None
    assert len(attempt.logTail) == MAX_LOG_LINES
    assert attempt.logTail[0].startswith("line 80 ")
    assert all(len(line) <= MAX_LOG_LINE for line in attempt.logTail)
    assert len(message(d.status)) <= MAX_MESSAGE
    assert d.status.message is not None
    assert len(d.status.message) <= MAX_MESSAGE


# --- a restart with an open attempt --------------------------------------------------------


def test_restart_attaches_then_takes_kapacitors_record_of_the_run() -> None:
    inp = api(retry=RetryPolicy(limit=1, delays=["1s"]))
    st = running(inp)
    assert decide(inp, st, obs(30)).actions == (Attach(1),)
    d = decide(inp, st, obs(31, attempt=ended("success", external_id=RUN2, log_tail=("ok",))))
    assert (d.status.phase, d.status.runID) == ("Succeeded", RUN2)


def test_restart_with_no_record_of_the_run_ends_it_crashed_and_the_policy_decides() -> None:
    inp = api(retry=RetryPolicy(limit=1, delays=["1s"]))
    d = decide(inp, running(inp), obs(31, attempt=ended("crashed", message="no record")))
    assert d.status.phase == "Retrying"
    assert d.status.attempts is not None
    assert d.status.attempts[0].endReason == "crashed"
