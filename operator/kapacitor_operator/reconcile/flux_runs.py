"""Flux KapacitorTask run history (status.recentRuns) and automatic retries of failed
scheduled runs, exactly once.

What has been examined is a durable high-water mark in status (`runsCheckedThrough`, a
scheduledFor): each poll asks Kapacitor only for runs scheduled after it, or after the
oldest run still in flight, so a quiet task costs one small list per interval. Failed
scheduled runs at or below the mark are never looked at again, whatever
`runHistoryLimit`, `retryHistoryLimit` (pruned retry TaskRuns) or a restart do; and the
mark only moves past a failed run once its retry TaskRun exists. The automatic form of
`kapacitor flux task retry-failed`.
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
PAGE = 100
MAX_PAGES = 20
"""A poll reads at most this many pages; what is older waits for the next poll."""


@dataclass
class RunPoll:
    """What one poll learned."""

    recent: list[RecentRun]
    retry: list[FluxRun] = field(default_factory=list)
    """Failed scheduled runs to retry, oldest first."""
    checked_through: str | None = None
    """The new mark, once the retries of `retry` exist."""
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


def _before(text: str) -> str:
    return format_time(parse_time(text) - timedelta(seconds=1))


def after_time(known: list[RecentRun], mark: str | None) -> str | None:
    """Exclusive lower bound for the next poll: just before the oldest run that may still
    change, or the mark (everything up to it is examined), or the newest finished run."""
    pending = [r.scheduledFor for r in known if r.status not in TERMINAL and r.scheduledFor]
    if pending:
        oldest = _before(min(pending))
        return min(oldest, mark) if mark else oldest
    if mark:
        return mark
    finished = [r.scheduledFor for r in known if r.scheduledFor]
    return _before(max(finished)) if finished else None


def merge_runs(known: list[RecentRun], fetched: list[FluxRun], limit: int) -> list[RecentRun]:
    """Known runs updated with fetched ones, newest first, at most `limit`."""
    by_id = {r.id: r for r in known}
    for run in fetched:
        by_id[run.id] = _recent(run)
    return sorted(by_id.values(), key=_sort_key, reverse=True)[:limit]


def examine(fetched: list[FluxRun], mark: str) -> tuple[list[FluxRun], str]:
    """Finished scheduled runs after `mark`, in schedule order, up to the first one still in
    flight: the failed ones to retry, and the new mark."""
    in_flight = [r.scheduled_for for r in fetched if r.status not in TERMINAL and r.scheduled_for]
    barrier = min(in_flight) if in_flight else None
    done = sorted(
        (
            r
            for r in fetched
            if r.status in TERMINAL
            and r.scheduled_for
            and parse_time(r.scheduled_for) > parse_time(mark)
            and (barrier is None or parse_time(r.scheduled_for) < parse_time(barrier))
        ),
        key=lambda r: parse_time(r.scheduled_for),
    )
    retry = [r for r in done if r.status == "failed" and not r.requested_at]
    new_mark = format_time(parse_time(done[-1].scheduled_for)) if done else mark
    return retry, new_mark


async def fetch_since(client: KapacitorClient, task_id: str, after: str | None) -> list[FluxRun]:
    """Runs scheduled after `after` (all pages, newest first, bounded by MAX_PAGES).

    Raises:
        KapacitorError: Kapacitor could not answer.
    """
    runs: list[FluxRun] = []
    before: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_runs(task_id, after_time=after, before_time=before, limit=PAGE)
        runs.extend(page)
        dated = [r.scheduled_for for r in page if r.scheduled_for]
        if len(page) < PAGE or not dated or after is None:
            break
        before = min(dated, key=parse_time)
    return runs


def initial_mark(task: KapacitorTask) -> str | None:
    """Where examining runs starts. Before the first poll, only runs scheduled after the
    task's latest completed run are the operator's to retry (older failures were someone
    else's to handle); a task that never completed a run starts at its creation, so a run
    that fails before the first poll is retried too."""
    st = task.status
    return st.runsCheckedThrough or st.latestCompleted or st.created or None


async def poll_runs(client: KapacitorClient, task: KapacitorTask) -> RunPoll:
    """Fetch the runs the task's status does not know yet; decide what to retry.

    Raises:
        KapacitorError: Kapacitor could not answer.
    """
    assert task.status.taskID is not None
    limit = DEFAULT_RUN_HISTORY if task.spec.runHistoryLimit is None else task.spec.runHistoryLimit
    known = list(task.status.recentRuns or [])
    mark = initial_mark(task)
    fetched = await fetch_since(client, task.status.taskID, after_time(known, mark))
    merged = merge_runs(known, fetched, limit)
    history = task.status.runHistory
    if any(r.status in TERMINAL for r in fetched):
        history = "Available"
    fetched_ids = {r.id for r in fetched}
    vanished = [r for r in merged if r.status not in TERMINAL and r.id not in fetched_ids]
    if vanished or (not fetched and not known and task.status.lastRunStatus):
        # Finished runs are not kept (task-run-influxdb = none): say so instead of guessing.
        history = "Unavailable"
        merged = [
            r.model_copy(update={"status": "unknown"}) if r in vanished else r for r in merged
        ]
    if mark is None:
        return RunPoll(recent=merged, history=history)
    retry, checked = examine(fetched, mark)
    return RunPoll(recent=merged, retry=retry, checked_through=checked, history=history)


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
