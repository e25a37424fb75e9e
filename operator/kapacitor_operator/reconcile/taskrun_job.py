"""Job-backed attempts: build each attempt's Job, and read how it is doing from its Job
and Pods (pure functions; the executor fetches the objects).

A Job alone does not tell everything: a Pod whose image can never be pulled keeps the
Job active until its deadline, possibly forever. So the Pods' container states are read
too, and an attempt that cannot make progress ends with the kubelet's own reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kapacitor_operator import API_VERSION, GROUP
from kapacitor_operator.models.common import EndReason, parse_duration
from kapacitor_operator.models.resources import TaskRun
from kapacitor_operator.reconcile.taskrun_model import AttemptResult, Ended, Live
from kapacitor_operator.timeutil import parse_time

LABEL_TASKRUN = f"{GROUP}/taskrun"
LABEL_TASKRUN_UID = f"{GROUP}/taskrun-uid"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MAX_NAME = 63

NEVER_STARTS = frozenset({"ErrImageNeverPull", "InvalidImageName"})
"""Container waiting reasons that no amount of waiting fixes."""
MAY_PASS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError", "CreateContainerError"}
)
"""Waiting reasons that may clear (a registry hiccup, a Secret created late)..."""
POD_START_GRACE = timedelta(minutes=5)
"""...but end the attempt when they last this long after the Pod was created."""


def job_name(taskrun_name: str, attempt: int) -> str:
    """`<taskrun>-<attempt>`, shortened with a hash when longer than 63 characters."""
    suffix = f"-{attempt}"
    name = taskrun_name + suffix
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(taskrun_name.encode()).hexdigest()[:8]
    return f"{taskrun_name[: MAX_NAME - len(suffix) - 9].rstrip('-.')}-{digest}{suffix}"


def label_value(text: str) -> str:
    """A label value (<= 63 chars) naming the TaskRun; long names are shortened with a hash."""
    if len(text) <= MAX_NAME:
        return text
    return f"{text[:54].rstrip('-.')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def build_job(run: TaskRun, attempt: int) -> dict[str, Any]:
    """The Job for one attempt: owned by the TaskRun, no Job-level retries (backoffLimit 0)."""
    assert run.spec.job is not None
    labels = {
        LABEL_TASKRUN: label_value(run.name),
        LABEL_TASKRUN_UID: run.uid,
        LABEL_ATTEMPT: str(attempt),
        LABEL_MANAGED_BY: "kapacitor-operator",
    }
    user_meta = run.spec.job.metadata or {}
    template = run.spec.job.template.model_dump(by_alias=True, exclude_none=True, mode="json")
    pod_meta = template.setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
    pod_spec = template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    spec: dict[str, Any] = {"backoffLimit": 0, "template": template}
    if run.spec.timeout:
        spec["activeDeadlineSeconds"] = max(1, int(parse_duration(run.spec.timeout)))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(run.name, attempt),
            "namespace": run.namespace,
            "labels": {**(user_meta.get("labels") or {}), **labels},
            "annotations": {
                **(user_meta.get("annotations") or {}),
                f"{GROUP}/taskrun-name": run.name,
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "TaskRun",
                    "name": run.name,
                    "uid": run.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


@dataclass(frozen=True)
class Terminated:
    """The most telling terminated container of an attempt."""

    pod: str
    container: str
    exit_code: int | None
    reason: str
    message: str


def terminated(pods: list[dict[str, Any]]) -> Terminated | None:
    """The failed container if any, else the last one that terminated."""
    found = []
    for pod in pods:
        for cs in _containers(pod):
            term = (cs.get("state") or {}).get("terminated")
            if term:
                found.append(
                    Terminated(
                        pod=str((pod.get("metadata") or {}).get("name", "")),
                        container=str(cs.get("name", "")),
                        exit_code=term.get("exitCode"),
                        reason=str(term.get("reason") or ""),
                        message=str(term.get("message") or "").strip(),
                    )
                )
    failed = [t for t in found if t.exit_code]
    chosen = failed or found
    return chosen[-1] if chosen else None


def _describe(term: Terminated | None) -> str | None:
    if term is None:
        return None
    if term.message:
        return term.message
    if term.reason == "OOMKilled":
        return (
            f"Container {term.container} was OOMKilled (exit code {term.exit_code}): it "
            "exceeded its memory limit."
        )
    if term.reason and term.reason not in {"Completed", "Error"}:
        return f"Container {term.container} terminated: {term.reason}."
    return None


def job_result(
    job: Mapping[str, Any], pods: list[dict[str, Any]], log_tail: tuple[str, ...] | None = None
) -> AttemptResult | None:
    """How the attempt's Job ended, or None while it runs."""
    name = str((job.get("metadata") or {}).get("name", ""))
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    if complete is None and failed is None:
        return None
    term = terminated(pods)
    exit_code = term.exit_code if term else None
    message = _describe(term)
    if complete is not None:
        return AttemptResult(
            end_reason="success",
            external_id=name,
            exit_code=exit_code if exit_code is not None else 0,
            message=message,
            log_tail=log_tail,
        )
    assert failed is not None
    reason = str(failed.get("reason") or "")
    end: EndReason = "timeout" if reason == "DeadlineExceeded" else "failed"
    if end == "timeout":
        seconds = (job.get("spec") or {}).get("activeDeadlineSeconds")
        message = f"Job exceeded its deadline of {seconds}s (spec.timeout) and was stopped." + (
            f" {message}" if message else ""
        )
    text = message or str(failed.get("message") or reason or "Job failed")
    return AttemptResult(
        end_reason=end, external_id=name, exit_code=exit_code, message=text, log_tail=log_tail
    )


@dataclass(frozen=True)
class JobView:
    """What the Job and its Pods say about a running attempt."""

    seen: Live | Ended
    recheck_at: datetime | None = None
    """Look again at this time even if nothing changes (a waiting reason's grace ends)."""
    log_pod: tuple[str, str] | None = None
    """(pod, container) whose log tail belongs in the result, once the attempt ended."""


def _waiting(pods: list[dict[str, Any]]) -> tuple[str, str, str, str, str] | None:
    """(pod, container, reason, message, pod creation time) of a stuck container."""
    for pod in pods:
        meta = pod.get("metadata") or {}
        for cs in _containers(pod):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = str(waiting.get("reason") or "")
            if reason in NEVER_STARTS or reason in MAY_PASS:
                return (
                    str(meta.get("name", "")),
                    str(cs.get("name", "")),
                    reason,
                    str(waiting.get("message") or "").strip(),
                    str(meta.get("creationTimestamp") or ""),
                )
    return None


def _unschedulable(pods: list[dict[str, Any]]) -> str | None:
    for pod in pods:
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                name = (pod.get("metadata") or {}).get("name", "")
                return f"Pod {name} cannot be scheduled: {cond.get('message', '')}".strip()
    return None


def view_job(
    job: Mapping[str, Any],
    pods: list[dict[str, Any]],
    now: datetime,
    log_tail: tuple[str, ...] | None = None,
) -> JobView:
    """The attempt as its Job and Pods show it (the Job exists)."""
    name = str((job.get("metadata") or {}).get("name", ""))
    result = job_result(job, pods, log_tail)
    term = terminated(pods)
    log_pod = (term.pod, term.container) if term else None
    if result is not None:
        return JobView(Ended(result), log_pod=log_pod)
    stuck = _waiting(pods)
    if stuck is not None:
        pod, container, reason, text, created = stuck
        detail = f"Container {container} of Pod {pod} is waiting: {reason}" + (
            f": {text}" if text else "."
        )
        since = parse_time(created) if created else now
        if reason in NEVER_STARTS or now - since >= POD_START_GRACE:
            result = AttemptResult(
                end_reason="failed", external_id=name, message=detail, cleanup_job=True
            )
            return JobView(Ended(result))
        return JobView(Live(name, detail=detail), recheck_at=since + POD_START_GRACE)
    return JobView(Live(name, detail=_unschedulable(pods)))
