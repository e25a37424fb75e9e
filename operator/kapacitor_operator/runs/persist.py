"""Write a TaskRun's status, only over the version the writer has seen.

Every write carries the resourceVersion the worker last saw: if anyone changed the
object since (a spec edit, another worker during a handover), the API server refuses
with 409 and the worker re-reads and decides again instead of overwriting. Nothing that
follows a status write happens before the write has landed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kapacitor_operator.k8s.errors import KubeConflict, KubeError, KubeForbidden, KubeInvalid
from kapacitor_operator.models.taskrun import TaskRunStatus
from kapacitor_operator.runs.ports import Kube

log = logging.getLogger(__name__)
PLURAL = "taskruns"
BACKOFF_MAX = 30.0

Written = Literal["written", "conflict", "gone", "refused"]


def status_body(status: TaskRunStatus) -> dict[str, Any]:
    """The status as a merge patch: unset top-level fields are removed (null); nested
    objects carry no nulls; status.kopf is left alone."""
    body: dict[str, Any] = status.model_dump(
        by_alias=True, mode="json", exclude={"kopf"}, exclude_none=True
    )
    for name, info in TaskRunStatus.model_fields.items():
        key = info.alias or name
        if key != "kopf":
            body.setdefault(key, None)
    return body


def without_logs(status: TaskRunStatus) -> TaskRunStatus:
    """The same status without log tails (the bulkiest part), for a refused write."""
    smaller = status.model_copy(deep=True)
    for attempt in smaller.attempts or []:
        attempt.logTail = None
    return smaller


@dataclass
class StatusWriter:
    """Writes one TaskRun's status; remembers the resourceVersion it last saw."""

    kube: Kube
    namespace: str
    name: str
    resource_version: str | None
    stopping: Callable[[], bool]

    async def write(self, status: TaskRunStatus) -> Written:
        """Write `status`; retry transient failures until it lands or the worker stops.

        Returns `conflict` when the object changed (re-read it), `gone` when it was
        deleted, `refused` when the API server refuses the status even without logs.
        """
        pause = 1.0
        candidate = status
        while True:
            try:
                obj = await self.kube.patch_status(
                    self.namespace,
                    PLURAL,
                    self.name,
                    status_body(candidate),
                    resource_version=self.resource_version,
                )
            except KubeConflict:
                return "conflict"
            except KubeInvalid as exc:
                if candidate is status:
                    log.warning(
                        "status of %s/%s refused (%s); writing it without log tails",
                        self.namespace,
                        self.name,
                        exc.message,
                    )
                    candidate = without_logs(status)
                    continue
                log.error("status of %s/%s refused: %s", self.namespace, self.name, exc.message)
                return "refused"
            except KubeError as exc:
                if self.stopping():
                    raise
                # Missing RBAC never heals by itself: say so where an administrator looks.
                log.log(
                    logging.WARNING if isinstance(exc, KubeForbidden) else logging.INFO,
                    "status write of %s/%s failed, retrying in %.0fs: %s",
                    self.namespace,
                    self.name,
                    pause,
                    exc,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, BACKOFF_MAX)
                continue
            if obj is None:
                return "gone"
            self.resource_version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            return "written"

    async def read(self) -> dict[str, Any] | None:
        """The TaskRun as the API server has it now (None when gone); retried like writes.

        Raises:
            KubeError: only while the worker is stopping.
        """
        pause = 1.0
        while True:
            try:
                obj = await self.kube.get_custom(self.namespace, PLURAL, self.name)
            except KubeError as exc:
                if self.stopping():
                    raise
                log.info("reading %s/%s failed, retrying: %s", self.namespace, self.name, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, BACKOFF_MAX)
                continue
            if obj is not None:
                self.resource_version = str((obj.get("metadata") or {}).get("resourceVersion"))
            return obj
