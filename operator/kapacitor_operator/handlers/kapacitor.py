"""`Kapacitor` connection objects: kopf only delivers watch events; the work-queue
controller (sync/controller.py) reconciles them with the kind in
reconcile/kapacitor_kind.py (check the server, status, nudge dependents, re-check every
OPERATOR_KAPACITOR_CHECK_INTERVAL, hold deletion while the connection is in use)."""

from __future__ import annotations

from typing import Any

import kopf

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.runtime import Runtime

PLURAL = "kapacitors"


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Feed `Kapacitor` watch events to the controller."""

    @kopf.on.event(GROUP, VERSION, PLURAL, id="kapacitor_watch", registry=registry)
    async def kapacitor_watch(
        *, event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any
    ) -> None:
        runtime: Runtime = memo.runtime
        runtime.kapacitors.on_event(event.get("type"), body)
