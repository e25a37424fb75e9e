"""KapacitorAlertHandler: kopf only delivers watch events; the work-queue controller
(sync/controller.py) reconciles them on the shared mirror driver (reconcile/mirror/),
with the kind in reconcile/alert_handler_mirror.py."""

from __future__ import annotations

from typing import Any

import kopf

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.runtime import Runtime

PLURAL = "kapacitoralerthandlers"


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Feed KapacitorAlertHandler watch events to the controller."""

    @kopf.on.event(GROUP, VERSION, PLURAL, id="alerthandler_watch", registry=registry)
    async def alerthandler_watch(
        *, event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any
    ) -> None:
        runtime: Runtime = memo.runtime
        runtime.alert_handlers.on_event(event.get("type"), body)
