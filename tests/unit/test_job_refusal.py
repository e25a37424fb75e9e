"""A Job whose Pods the API server refuses (Pod Security Admission enforces on Pods, not
on Jobs; quota): the attempt ends with the API server's own message, not a hang."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.reconcile.job_refusal import (
    job_refusal,
    next_pod_check,
    view_without_pods,
)
from kapacitor_operator.reconcile.taskrun_model import Ended, Live
from kapacitor_operator.timeutil import format_time
from tests.unit.fake_kube import FakeKube
from tests.unit.test_runs_engine import NS, engine_for, status, stop, taskrun, until

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PSA = (
    'Error creating: pods "backup-1-x7k2p" is forbidden: violates PodSecurity '
    '"restricted:latest": allowPrivilegeEscalation != false (container "main" must set '
    "securityContext.allowPrivilegeEscalation=false)"
)
QUOTA = (
    'Error creating: pods "backup-1-x7k2p" is forbidden: exceeded quota: pods, used: 1, limited: 1'
)


def failed_create(message: str, at: str, uid: str = "job-uid") -> dict[str, Any]:
    return {
        "reason": "FailedCreate",
        "message": message,
        "lastTimestamp": at,
        "involvedObject": {"kind": "Job", "name": "backup-1", "uid": uid},
    }


def test_the_newest_failed_create_is_the_refusal() -> None:
    events = [
        failed_create("old", "2026-01-01T00:00:01Z"),
        failed_create(PSA, "2026-01-01T00:00:05Z"),
        {"reason": "SuccessfulCreate", "message": "Created pod", "lastTimestamp": "2026-01-02"},
    ]
    assert job_refusal(events) == PSA
    assert job_refusal([]) is None


def test_a_pod_security_refusal_ends_the_attempt_at_once() -> None:
    view = view_without_pods("backup-1", PSA, T0, T0 + timedelta(seconds=2))
    assert isinstance(view.seen, Ended)
    result = view.seen.result
    assert (result.end_reason, result.reason, result.retryable) == ("failed", c.JOB_REJECTED, False)
    assert result.cleanup_job
    assert result.message is not None
    assert result.message.endswith(PSA)


def test_other_refusals_may_pass_until_the_grace_ends() -> None:
    early = view_without_pods("backup-1", QUOTA, T0, T0 + timedelta(seconds=30))
    assert isinstance(early.seen, Live)
    assert early.seen.detail is not None
    assert "exceeded quota" in early.seen.detail
    assert early.recheck_at == T0 + timedelta(seconds=60)
    late = view_without_pods("backup-1", QUOTA, T0, T0 + timedelta(minutes=5))
    assert isinstance(late.seen, Ended)
    assert (late.seen.result.retryable, late.seen.result.cleanup_job) == (True, True)


def test_a_job_without_pods_is_looked_at_a_bounded_number_of_times() -> None:
    moments = []
    now = T0
    while (moment := next_pod_check(T0, now)) is not None:
        moments.append(int((moment - T0).total_seconds()))
        now = moment
    assert moments == [2, 5, 10, 30, 60, 120, 300]
    quiet = view_without_pods("backup-1", None, T0, T0 + timedelta(minutes=6))
    assert (quiet.seen, quiet.recheck_at) == (Live("backup-1"), None)


async def test_the_engine_ends_a_run_whose_pods_pod_security_refuses() -> None:
    kube = FakeKube()
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun(retry={"limit": 3})))
    await until(lambda: (NS, "backup-1") in kube.jobs)
    job = kube.jobs[(NS, "backup-1")]
    created = datetime.now(UTC) - timedelta(seconds=3)
    job["metadata"].update(uid="job-uid", creationTimestamp=format_time(created))
    kube.job_events.append(failed_create(PSA, format_time(created)))
    engine.on_owned(job)
    st = await until(lambda: status(kube) if status(kube).get("phase") == "Failed" else None)
    (cond,) = st["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", c.JOB_REJECTED)
    assert "violates PodSecurity" in cond["message"]
    assert len(st["attempts"]) == 1, "a Pod Security refusal is not retried"
    assert ("list_events", "involvedObject.uid=job-uid,reason=FailedCreate") in kube.calls
    await until(lambda: (NS, "backup-1") not in kube.jobs)
    await stop(engine)
