"""kopf timer for active Flux KapacitorTasks: refresh status.recentRuns and create one
retry TaskRun per failed scheduled run (exactly once: see reconcile/flux_runs.py).

A retry that cannot be created (RBAC, quota, an API error) is never swallowed: the mark
stays before that run, so the next poll tries again, and the `AutoRetry` condition and a
Warning Event say why.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.common import emit, utcnow
from kapacitor_operator.handlers.runtime import Runtime
from kapacitor_operator.k8s.errors import KubeError, KubeForbidden
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.kapacitor.pool import InvalidCABundle
from kapacitor_operator.models.resources import KapacitorTask, parse_kapacitortask
from kapacitor_operator.reconcile.connection import ReferenceProblem
from kapacitor_operator.reconcile.flux_runs import (
    LABEL_TASK,
    LABEL_TRIGGER,
    RunPoll,
    build_retry_taskrun,
    initial_mark,
    poll_runs,
    taskruns_to_prune,
)
from kapacitor_operator.reconcile.kapacitor_ref import connection_of
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.taskrun_job import label_value

log = logging.getLogger(__name__)
RETRY_SCHEDULED = "RetryScheduled"


def _is_active_synced_flux(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    return (
        spec.get("type") == "flux"
        and spec.get("enabled", True) is not False
        and bool(status.get("taskID"))
        and bool(status.get("taskName"))
    )


def _reason(exc: KubeError) -> str:
    return c.FORBIDDEN if isinstance(exc, KubeForbidden) else c.KUBERNETES_ERROR


async def _retry_failures(
    runtime: Runtime, task: KapacitorTask, poll: RunPoll
) -> tuple[str | None, list[EventNote], KubeError | None]:
    """Create the retry TaskRuns; the mark they allow, Events, and the error that stopped."""
    notes: list[EventNote] = []
    mark = initial_mark(task)
    for run in poll.retry:
        manifest = build_retry_taskrun(task, run)
        name = manifest["metadata"]["name"]
        try:
            created = await runtime.kube.create_taskrun(task.namespace, manifest)
        except KubeError as exc:
            return mark, notes, exc
        if created:
            message = f"Run {run.id} failed; retrying it as TaskRun {name}."
            notes.append(EventNote("Normal", RETRY_SCHEDULED, message))
        mark = run.scheduled_for
    return poll.checked_through or mark, notes, None


async def _prune(runtime: Runtime, task: KapacitorTask) -> KubeError | None:
    selector = f"{LABEL_TASK}={label_value(task.name)},{LABEL_TRIGGER}=schedule"
    try:
        existing = await runtime.kube.list_taskruns(task.namespace, selector)
        for name in taskruns_to_prune(existing, task.spec.retryHistoryLimit):
            await runtime.kube.delete_taskrun(task.namespace, name)
    except KubeError as exc:
        return exc
    return None


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the Flux run-history timer."""

    @kopf.timer(
        GROUP,
        VERSION,
        "kapacitortasks",
        interval=settings.run_poll_interval,
        initial_delay=min(5.0, settings.run_poll_interval),
        when=_is_active_synced_flux,
        id="kapacitortask_runs",
        registry=registry,
    )
    async def kapacitortask_runs(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any
    ) -> None:
        runtime: Runtime = memo.runtime
        try:
            task = parse_kapacitortask(body)
            conn = await connection_of(task, settings, runtime.kube)
            poll = await poll_runs(runtime.pool.get(conn), task)
        except (
            ValidationError,
            ReferenceProblem,
            InvalidCABundle,
            KapacitorError,
            KubeError,
        ) as exc:
            # Not lost, not silent: the sync handler reports the same connection (an
            # unreachable Kapacitor, a URL not allowed, a missing, forbidden or malformed
            # Secret) in the Ready/Synced conditions with a Warning Event, and the mark has
            # not moved, so every failed run is still retried once this is fixed.
            log.info("run poll of %s/%s skipped: %s", task_ns(body), task_name(body), exc)
            return
        recent = [r.model_dump(mode="json", exclude_none=True) for r in poll.recent]
        if recent != (body.get("status") or {}).get("recentRuns"):
            patch.status["recentRuns"] = recent
        if poll.history != task.status.runHistory:
            patch.status["runHistory"] = poll.history
        if not task.spec.retryFailedRuns:
            # The mark still advances, so enabling retries later retries only new failures.
            mark = poll.checked_through or task.status.runsCheckedThrough
            mark = mark or initial_mark(task) or utcnow()
            if mark != task.status.runsCheckedThrough:
                patch.status["runsCheckedThrough"] = mark
            return
        mark, notes, error = await _retry_failures(runtime, task, poll)
        mark = mark or utcnow()
        if mark != task.status.runsCheckedThrough:
            patch.status["runsCheckedThrough"] = mark
        error = error or await _prune(runtime, task)
        kind, reason, message = _auto_retry_condition(poll, error)
        current = c.get_condition(task.status.conditions, c.AUTO_RETRY)
        if current is None or (current.status, current.reason) != (kind, reason):
            if kind != "True":
                notes.append(EventNote("Warning", reason, message))
            patch.status["conditions"] = [
                cond.model_dump(mode="json")
                for cond in c.set_condition(
                    task.status.conditions,
                    type=c.AUTO_RETRY,
                    status=kind,
                    reason=reason,
                    message=message,
                    now=utcnow(),
                    generation=task.generation,
                )
            ]
        emit(body, notes)


def _auto_retry_condition(poll: RunPoll, error: KubeError | None) -> tuple[c.Status, str, str]:
    if error is not None:
        return (
            "False",
            _reason(error),
            f"Cannot create or prune the retry TaskRuns of failed runs: {error}. The "
            "failed runs are retried once this is fixed.",
        )
    if poll.history == "Unavailable":
        return (
            "False",
            c.HISTORY_UNAVAILABLE,
            "Kapacitor keeps no finished runs (task-run-influxdb = none): failed runs "
            "cannot be retried automatically.",
        )
    return ("True", c.AUTO_RETRY_ACTIVE, "Failed scheduled runs are retried as TaskRuns.")


def task_ns(body: kopf.Body) -> str:
    return str((body.get("metadata") or {}).get("namespace"))


def task_name(body: kopf.Body) -> str:
    return str((body.get("metadata") or {}).get("name"))
