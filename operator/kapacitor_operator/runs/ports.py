"""What the engine needs from the outside world, as narrow interfaces.

The real implementations are the operator's KubeAPI and ClientPool; unit tests pass
fakes. Keeping them small is what lets the executor be tested without a cluster.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.pool import Connection
from kapacitor_operator.models.resources import KapacitorTask
from kapacitor_operator.reconcile.outcome import EventNote


class Kube(Protocol):
    """The Kubernetes calls of the engine (see k8s/api.py)."""

    async def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None: ...

    async def list_custom(
        self, plural: str, namespace: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def patch_status(
        self,
        namespace: str,
        plural: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any] | None: ...

    async def delete_custom(
        self, namespace: str, plural: str, name: str, *, uid: str | None = None
    ) -> bool: ...

    async def remove_finalizer(
        self, namespace: str, plural: str, name: str, finalizer: str
    ) -> None: ...

    async def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None: ...

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def delete_job(self, namespace: str, name: str) -> None: ...

    async def job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]: ...

    async def pod_log(
        self, namespace: str, pod: str, *, container: str | None, tail_lines: int, limit_bytes: int
    ) -> str | None: ...

    async def list_events(self, namespace: str, field_selector: str) -> list[dict[str, Any]]: ...

    async def create_event(
        self,
        namespace: str,
        involved: dict[str, Any],
        type: str,
        reason: str,
        message: str,
        *,
        component: str,
    ) -> dict[str, Any]: ...


class Clients(Protocol):
    """One Kapacitor client per connection (kapacitor/pool.py)."""

    def get(self, connection: Connection) -> KapacitorClient: ...


ResolveConnection = Callable[[KapacitorTask], Awaitable[Connection]]
"""The connection a KapacitorTask names; raises reconcile.connection.ReferenceProblem."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class EngineDeps:
    """Everything the engine talks to."""

    kube: Kube
    clients: Clients
    settings: Settings
    resolve_connection: ResolveConnection
    clock: Callable[[], datetime] = field(default=_now)
    jitter: Callable[[], float] = field(default=random.random)


EventSink = Callable[[Mapping[str, Any], EventNote], None]
"""Record an Event on an object (apiVersion, kind, name, namespace, uid)."""
