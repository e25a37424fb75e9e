"""kopf timer for Flux KapacitorTasks: refresh status.recentRuns, retry failed runs."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import kopf
from pydantic import ValidationError

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.common import emit
from kapacitor_operator.handlers.runtime import Runtime
from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.models.resources import parse_kapacitortask
from kapacitor_operator.reconcile.connection import MissingReference, resolve_connection
from kapacitor_operator.reconcile.flux_runs import (
    LABEL_TASK,
    LABEL_TRIGGER,
    build_retry_taskrun,
    poll_runs,
    taskruns_to_prune,
)
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.taskrun_job import label_value

log = logging.getLogger(__name__)
RETRY_SCHEDULED = "RetryScheduled"


def _is_synced_flux(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    return (
        spec.get("type") == "flux" and bool(status.get("taskID")) and bool(status.get("taskName"))
    )


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the Flux run-history timer."""

    @kopf.timer(
        GROUP,
        VERSION,
        "kapacitortasks",
        interval=settings.run_poll_interval,
        initial_delay=min(5.0, settings.run_poll_interval),
        when=_is_synced_flux,
        id="kapacitortask_runs",
        registry=registry,
    )
    async def kapacitortask_runs(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any
    ) -> None:
        runtime: Runtime = memo.runtime
        try:
            task = parse_kapacitortask(body)
            conn = await resolve_connection(
                task.spec.kapacitor, task.namespace, settings, runtime.kube
            )
            poll = await poll_runs(runtime.pool.get(conn), task)
        except (ValidationError, MissingReference, KapacitorError) as exc:
            log.debug(
                "run poll skipped for %s/%s: %s",
                body.get("metadata", {}).get("namespace"),
                body.get("metadata", {}).get("name"),
                exc,
            )
            return  # the sync handler reports these; history is best effort
        recent = [r.model_dump(mode="json", exclude_none=True) for r in poll.recent]
        if recent != (body.get("status") or {}).get("recentRuns"):
            patch.status["recentRuns"] = recent
        if poll.history != task.status.runHistory:
            patch.status["runHistory"] = poll.history
            if poll.history == "Unavailable" and task.spec.retryFailedRuns:
                emit(
                    body,
                    [
                        EventNote(
                            "Warning",
                            c.FAILED,
                            "Kapacitor keeps no finished runs (task-run-influxdb = "
                            "none): failed runs cannot be retried automatically.",
                        )
                    ],
                )
        if not task.spec.retryFailedRuns:
            return
        for run in poll.new_failures:
            manifest = build_retry_taskrun(task, run)
            with contextlib.suppress(KubeError):
                if await runtime.kube.create_taskrun(task.namespace, manifest):
                    emit(
                        body,
                        [
                            EventNote(
                                "Normal",
                                RETRY_SCHEDULED,
                                f"Run {run.id} failed; retrying it as TaskRun "
                                f"{manifest['metadata']['name']}.",
                            )
                        ],
                    )
        selector = f"{LABEL_TASK}={label_value(task.name)},{LABEL_TRIGGER}=schedule"
        with contextlib.suppress(KubeError):
            existing = await runtime.kube.list_taskruns(task.namespace, selector)
            for name in taskruns_to_prune(existing, task.spec.retryHistoryLimit):
                await runtime.kube.delete_taskrun(task.namespace, name)
