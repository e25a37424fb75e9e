"""kopf handlers for TaskRun: watch events feed the TaskRun engine (runs/), nothing more.

TaskRuns, the Jobs and Pods of their attempts, and the KapacitorTasks they refer to are
watched; each event wakes the worker it concerns. kopf keeps no state on TaskRuns (no
finalizer, no progress annotations): the engine owns their status.
"""

from __future__ import annotations

from typing import Any

import kopf

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.config import Settings
from kapacitor_operator.reconcile.taskrun_job import LABEL_TASKRUN_UID


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the TaskRun handlers."""

    @kopf.on.event(GROUP, VERSION, "taskruns", id="taskrun_event", registry=registry)
    async def taskrun_event(*, event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
        memo.runtime.runs.on_taskrun(event.get("type"), body)

    @kopf.on.event(
        "batch",
        "v1",
        "jobs",
        labels={LABEL_TASKRUN_UID: kopf.PRESENT},
        id="taskrun_job_event",
        registry=registry,
    )
    async def taskrun_job_event(*, body: kopf.Body, memo: Any, **_: Any) -> None:
        memo.runtime.runs.on_owned(body)

    @kopf.on.event(
        "",
        "v1",
        "pods",
        labels={LABEL_TASKRUN_UID: kopf.PRESENT},
        id="taskrun_pod_event",
        registry=registry,
    )
    async def taskrun_pod_event(*, body: kopf.Body, memo: Any, **_: Any) -> None:
        memo.runtime.runs.on_owned(body)

    # KapacitorTask events reach the TaskRuns waiting for them through the one
    # KapacitorTask event handler (handlers/kapacitortask.py): a second kopf handler on
    # that kind cost kopf's per-handler work and a log line on every event.
