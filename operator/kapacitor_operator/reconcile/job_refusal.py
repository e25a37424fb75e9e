"""Job attempts without a Pod: the API server may be refusing their Pods (issue 12).

Pod Security Admission enforces on Pods, not on Jobs, and so do quotas: the Job exists,
the Job controller cannot create its Pod, and says why only in a `FailedCreate` Event.
These pure functions turn that Event into the attempt's end, and say when to look
again; the executor (runs/job_handle.py) reads the Events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.reconcile.taskrun_job import POD_START_GRACE, JobView
from kapacitor_operator.reconcile.taskrun_model import AttemptResult, Ended, Live

NO_POD_CHECKS = (2, 5, 10, 30, 60, 120, 300)
"""Seconds after its creation at which a Job without a Pod is looked at again."""
POD_SECURITY = "violates PodSecurity"
"""In a refusal by Pod Security Admission."""


def job_refusal(events: list[dict[str, Any]]) -> str | None:
    """The newest `FailedCreate` message the Job controller recorded for a Job, if any
    (`Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest":
    ...`): the API server's own words for why the Job has no Pod."""
    failed = [e for e in events if e.get("reason") == "FailedCreate" and e.get("message")]
    if not failed:
        return None

    def when(event: dict[str, Any]) -> str:
        return str(event.get("lastTimestamp") or event.get("eventTime") or "")

    return str(max(failed, key=when)["message"]).strip()


def next_pod_check(created: datetime, now: datetime) -> datetime | None:
    """When to look again at a Job that has no Pod; None once the checks are over."""
    for seconds in NO_POD_CHECKS:
        moment = created + timedelta(seconds=seconds)
        if moment > now:
            return moment
    return None


def view_without_pods(name: str, refusal: str | None, created: datetime, now: datetime) -> JobView:
    """A Job that has no Pod. A Pod Security refusal cannot pass: the attempt ends at once
    with the API server's message (retrying the same template cannot help). Other
    refusals (quota, a ServiceAccount not created yet) may pass, so they end the attempt
    only after POD_START_GRACE. Meanwhile the Job is looked at again now and then."""
    if refusal is not None:
        message = f"The API server refused the Pod of Job {name}: {refusal}"
        if POD_SECURITY in refusal:
            result = AttemptResult(
                "failed",
                name,
                message,
                retryable=False,
                reason=c.JOB_REJECTED,
                cleanup_job=True,
            )
            return JobView(Ended(result))
        if now - created >= POD_START_GRACE:
            return JobView(Ended(AttemptResult("failed", name, message, cleanup_job=True)))
        return JobView(Live(name, detail=message), recheck_at=next_pod_check(created, now))
    return JobView(Live(name), recheck_at=next_pod_check(created, now))
