"""Job-backed attempts: build each attempt's Job, and read how it ended from Job and Pod."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from kapacitor_operator import API_VERSION, GROUP
from kapacitor_operator.models.common import EndReason, parse_duration
from kapacitor_operator.models.resources import TaskRun
from kapacitor_operator.reconcile.taskrun_state import AttemptResult

LABEL_TASKRUN = f"{GROUP}/taskrun"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MAX_NAME = 63


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


def _terminated(pods: list[dict[str, Any]]) -> Mapping[str, Any] | None:
    """The most telling terminated container state: a failed one first."""
    states = []
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated")
            if term:
                states.append(term)
    failed = [t for t in states if t.get("exitCode")]
    chosen: Mapping[str, Any] | None = (failed or states or [None])[0]
    return chosen


def job_finished(job: Mapping[str, Any]) -> bool:
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


def job_result(job: Mapping[str, Any], pods: list[dict[str, Any]]) -> AttemptResult | None:
    """How the attempt's Job ended, or None while it runs."""
    name = str((job.get("metadata") or {}).get("name", ""))
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    if complete is None and failed is None:
        return None
    term = _terminated(pods)
    exit_code = term.get("exitCode") if term else None
    message = (term.get("message") or term.get("reason")) if term else None
    if complete is not None:
        return AttemptResult(
            end_reason="success",
            external_id=name,
            exit_code=exit_code if exit_code is not None else 0,
            message=str(message).strip() if message else None,
        )
    assert failed is not None
    reason = str(failed.get("reason") or "")
    end: EndReason = "timeout" if reason == "DeadlineExceeded" else "failed"
    text = str(message).strip() if message else str(failed.get("message") or reason or "Job failed")
    return AttemptResult(
        end_reason=end,
        external_id=name,
        exit_code=exit_code,
        message=text,
    )
