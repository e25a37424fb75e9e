"""KapacitorTemplate: kopf only delivers watch events; the work-queue controller
(sync/controller.py) reconciles them on the shared mirror driver (reconcile/mirror/,
the kind in reconcile/template_mirror.py). The `Kapacitor` kind's counts read the
controller's bodies (reconcile/kapacitor_kind.py)."""

from __future__ import annotations

from typing import Any

import kopf

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.runtime import Runtime

PLURAL = "kapacitortemplates"


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Feed KapacitorTemplate watch events to the controller."""

    @kopf.on.event(GROUP, VERSION, PLURAL, id="kapacitortemplate_watch", registry=registry)
    async def kapacitortemplate_watch(
        *, event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any
    ) -> None:
        runtime: Runtime = memo.runtime
        runtime.templates.on_event(event.get("type"), body)
