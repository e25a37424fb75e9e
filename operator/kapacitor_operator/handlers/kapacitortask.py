"""KapacitorTask: kopf only delivers watch events; the work-queue controller
(sync/controller.py) reconciles them on the shared mirror driver (reconcile/mirror/), and
the TaskRun engine wakes the TaskRuns waiting for the task (one kopf handler for both:
kopf's work and log line per handler and event are a good part of its cost per object)."""

from __future__ import annotations

from typing import Any

import kopf

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.runtime import Runtime

PLURAL = "kapacitortasks"


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Feed KapacitorTask watch events to the controller and the TaskRun engine."""

    @kopf.on.event(GROUP, VERSION, PLURAL, id="kapacitortask_watch", registry=registry)
    async def kapacitortask_watch(
        *, event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any
    ) -> None:
        runtime: Runtime = memo.runtime
        runtime.tasks.on_event(event.get("type"), body)
        meta = body.get("metadata") or {}
        runtime.runs.on_kapacitortask(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
