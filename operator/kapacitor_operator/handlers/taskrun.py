"""kopf handlers for TaskRun: one daemon per TaskRun hosts its worker; Job and cancel
changes wake that worker."""

from __future__ import annotations

from typing import Any

import kopf

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.common import emit
from kapacitor_operator.handlers.runtime import Runtime
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.taskrun_job import LABEL_TASKRUN
from kapacitor_operator.reconcile.taskrun_worker import TaskRunWorker, WorkerContext

PLURAL = "taskruns"


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the TaskRun handlers."""

    @kopf.daemon(
        GROUP, VERSION, PLURAL, id="taskrun_daemon", registry=registry, cancellation_timeout=30.0
    )
    async def taskrun_daemon(*, body: kopf.Body, memo: Any, stopped: Any, **_: Any) -> None:
        runtime: Runtime = memo.runtime

        def send(notes: list[EventNote]) -> None:
            emit(body, notes)

        ctx = WorkerContext(
            settings=runtime.settings,
            kube=runtime.kube,
            pool=runtime.pool,
            signals=runtime.signals,
            emit=send,
            live_body=lambda: body,
            stopped=lambda: bool(stopped),
        )
        worker = TaskRunWorker(ctx)
        try:
            await worker.run_forever()
        finally:
            runtime.signals.forget(worker.key)

    @kopf.on.field(
        GROUP, VERSION, PLURAL, field="spec.cancel", id="taskrun_cancel_changed", registry=registry
    )
    async def taskrun_cancel_changed(
        *, namespace: str | None, name: str | None, memo: Any, **_: Any
    ) -> None:
        memo.runtime.signals.notify((namespace or "", name or ""))

    @kopf.on.event(
        "batch",
        "v1",
        "jobs",
        labels={LABEL_TASKRUN: kopf.PRESENT},
        id="taskrun_job_changed",
        registry=registry,
    )
    async def taskrun_job_changed(*, body: kopf.Body, memo: Any, **_: Any) -> None:
        meta = body.get("metadata") or {}
        for owner in meta.get("ownerReferences") or []:
            if owner.get("kind") == "TaskRun":
                memo.runtime.signals.notify((meta.get("namespace", ""), owner.get("name", "")))
