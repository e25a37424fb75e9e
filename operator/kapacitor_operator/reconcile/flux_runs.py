"""Flux KapacitorTask run history (status.recentRuns) and automatic retries of failed runs.

Each poll asks only for runs scheduled after what is already known (`afterTime`), so a
quiet task costs one small list call per interval. Failed scheduled runs become TaskRuns
(triggeredBy: schedule) with deterministic names, so a failed run is retried once however
often it is seen: the automatic form of `kapacitor flux task retry-failed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kapacitor_operator import API_VERSION, GROUP
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.schemas import FluxRun
from kapacitor_operator.models.kapacitortask import RecentRun
from kapacitor_operator.models.resources import KapacitorTask
from kapacitor_operator.reconcile.desired import DEFAULT_RUN_HISTORY
from kapacitor_operator.reconcile.taskrun_job import label_value
from kapacitor_operator.timeutil import format_time, parse_time

TERMINAL = frozenset({"success", "failed", "canceled"})
LABEL_TASK = f"{GROUP}/kapacitortask"
LABEL_TRIGGER = f"{GROUP}/triggered-by"
DEFAULT_RETRY_HISTORY = 10
MIN_POLL = 20


@dataclass
class RunPoll:
    """What one poll learned."""

    recent: list[RecentRun]
    new_failures: list[FluxRun] = field(default_factory=list)
    history: str | None = None


def _recent(run: FluxRun) -> RecentRun:
    return RecentRun(
        id=run.id,
        status=run.status,
        scheduledFor=run.scheduled_for or None,
        startedAt=run.started_at or None,
        finishedAt=run.finished_at or None,
    )


def _sort_key(run: RecentRun) -> tuple[str, str, str]:
    return (run.scheduledFor or "", run.startedAt or "", run.id)


def after_time(known: list[RecentRun]) -> str | None:
    """Exclusive lower bound for the next poll: just before the oldest run that may still
    change, or the newest finished one."""
    if not known:
        return None
    pending = [r.scheduledFor for r in known if r.status not in TERMINAL and r.scheduledFor]
    finished = [r.scheduledFor for r in known if r.status in TERMINAL and r.scheduledFor]
    anchor = min(pending) if pending else (max(finished) if finished else None)
    if anchor is None:
        return None
    return format_time(parse_time(anchor) - timedelta(seconds=1))


def merge_runs(known: list[RecentRun], fetched: list[FluxRun], limit: int) -> list[RecentRun]:
    """Known runs updated with fetched ones, newest first, at most `limit`."""
    by_id = {r.id: r for r in known}
    for run in fetched:
        by_id[run.id] = _recent(run)
    return sorted(by_id.values(), key=_sort_key, reverse=True)[:limit]


async def poll_runs(client: KapacitorClient, task: KapacitorTask) -> RunPoll:
    """Fetch runs newer than the known ones and merge them.

    Raises:
        KapacitorError: Kapacitor could not answer.
    """
    assert task.status.taskID is not None
    limit = DEFAULT_RUN_HISTORY if task.spec.runHistoryLimit is None else task.spec.runHistoryLimit
    known = list(task.status.recentRuns or [])
    fetched = await client.list_runs(
        task.status.taskID, after_time=after_time(known), limit=max(limit, MIN_POLL)
    )
    fetched_ids = {r.id for r in fetched}
    known_failed = {r.id for r in known if r.status == "failed"}
    failures = [
        r
        for r in fetched
        if r.status == "failed" and r.id not in known_failed and not r.requested_at
    ]
    merged = merge_runs(known, fetched, limit)
    history = task.status.runHistory
    if fetched and any(r.status in TERMINAL for r in fetched):
        history = "Available"
    vanished = [r for r in merged if r.status not in TERMINAL and r.id not in fetched_ids]
    if vanished or (not fetched and not known and task.status.lastRunStatus):
        # Finished runs are not kept (task-run-influxdb = none): say so instead of guessing.
        history = "Unavailable"
        merged = [
            r.model_copy(update={"status": "unknown"}) if r in vanished else r for r in merged
        ]
    return RunPoll(recent=merged, new_failures=failures, history=history)


def retry_taskrun_name(task_name: str, run_id: str) -> str:
    """Deterministic name: one TaskRun per failed run, whatever the number of polls."""
    return f"{task_name[: 253 - 23]}-retry-{run_id}"


def build_retry_taskrun(task: KapacitorTask, run: FluxRun) -> dict[str, Any]:
    """A TaskRun retrying a failed scheduled run, owned by its KapacitorTask."""
    spec: dict[str, Any] = {"taskRef": {"name": task.name}, "retryOf": run.id}
    if task.spec.retry is not None:
        spec["retry"] = task.spec.retry.dump()
    return {
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "metadata": {
            "name": retry_taskrun_name(task.name, run.id),
            "namespace": task.namespace,
            "labels": {
                LABEL_TASK: label_value(task.name),
                LABEL_TRIGGER: "schedule",
                "app.kubernetes.io/managed-by": "kapacitor-operator",
            },
            "annotations": {LABEL_TRIGGER: "schedule"},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "KapacitorTask",
                    "name": task.name,
                    "uid": task.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def taskruns_to_prune(taskruns: list[dict[str, Any]], keep: int | None) -> list[str]:
    """Names of the oldest finished automatic-retry TaskRuns beyond the history limit."""
    limit = DEFAULT_RETRY_HISTORY if keep is None else keep
    finished = [
        t
        for t in taskruns
        if (t.get("status") or {}).get("phase") in {"Succeeded", "Failed", "Cancelled"}
    ]
    finished.sort(key=lambda t: t["metadata"].get("creationTimestamp", ""), reverse=True)
    return [t["metadata"]["name"] for t in finished[limit:]]
