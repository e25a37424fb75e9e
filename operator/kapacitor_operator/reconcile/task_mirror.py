"""KapacitorTask as a mirrored kind: its claim, target, observe / decide / act (in
task_sync.py), status and deletion, for the shared driver (reconcile/mirror/driver.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kapacitor_operator import GROUP
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.models.kapacitortask import KapacitorTaskStatus
from kapacitor_operator.models.resources import KapacitorTask, parse_kapacitortask
from kapacitor_operator.reconcile import task_sync
from kapacitor_operator.reconcile.connection import (
    REFERENCE_RETRY,
    ReferenceProblem,
    resolve_connection,
)
from kapacitor_operator.reconcile.desired import build_desired, default_task_id
from kapacitor_operator.reconcile.mirror.driver import Acted, Deletion, Observation, Target
from kapacitor_operator.reconcile.mirror.plan import Plan
from kapacitor_operator.reconcile.mirror.status import MirrorStatus
from kapacitor_operator.reconcile.task_delete import delete_from_kapacitor
from kapacitor_operator.reconcile.task_status import status_in_sync
from kapacitor_operator.sync.claims import ClaimKey
from kapacitor_operator.urls import redact_url

FINALIZER = f"{GROUP}/finalizer"
"""The finalizer KapacitorTasks always carried (kopf's before this controller)."""


class ScriptNotFound(ReferenceProblem):
    """The ConfigMap key scriptFrom names does not exist (yet)."""

    reason = c.SCRIPT_NOT_FOUND
    retry_after = REFERENCE_RETRY


def claim_key(spec: Mapping[str, Any], namespace: str, name: str, default_url: str) -> ClaimKey:
    """(server URL, API, task identity): two resources with one key claim one task."""
    url = ((spec.get("kapacitor") or {}).get("url") or default_url).rstrip("/")
    api = "flux" if spec.get("type") == "flux" else "tick"
    return url, api, str(spec.get("taskID") or default_task_id(namespace, name))


@dataclass
class TaskMirror:
    """KapacitorTask's `MirrorKind`."""

    settings: Settings
    kube: KubeAPI
    pool: ClientPool
    kind: str = "KapacitorTask"
    plural: str = "kapacitortasks"
    finalizer: str = FINALIZER
    noun: str = "task"

    def parse(self, body: Mapping[str, Any]) -> KapacitorTask:
        return parse_kapacitortask(body)

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        meta = body.get("metadata") or {}
        return claim_key(
            body.get("spec") or {},
            str(meta.get("namespace", "")),
            str(meta.get("name", "")),
            self.settings.kapacitor_url,
        )

    def status(self, resource: KapacitorTask) -> KapacitorTaskStatus:
        return resource.status.model_copy(deep=True)

    def generation(self, resource: KapacitorTask) -> int:
        return resource.generation

    def identity(self, resource: KapacitorTask) -> str:
        return resource.spec.taskID or default_task_id(resource.namespace, resource.name)

    def url(self, resource: KapacitorTask) -> str:
        spec = resource.spec.kapacitor
        return (spec.url if spec is not None else self.settings.kapacitor_url).rstrip("/")

    def orphans(self, resource: KapacitorTask) -> bool:
        return resource.spec.deletionPolicy == "Orphan"

    def metric_label(self, resource: KapacitorTask) -> str:
        return resource.spec.type

    async def target(self, resource: KapacitorTask) -> Target:
        # The URL policy first: a resource outside it never makes the operator read a
        # Secret or a ConfigMap, nor send anything (issue 12).
        connection = await resolve_connection(
            resource.spec.kapacitor, resource.namespace, self.settings, self.kube
        )
        script = None
        ref = resource.spec.scriptFrom
        if ref is not None:
            cm = ref.configMapKeyRef
            script = await self.kube.configmap_key(resource.namespace, cm.name, cm.key)
            if script is None:
                raise ScriptNotFound(
                    f"ConfigMap key {resource.namespace}/{cm.name}[{cm.key}] not found"
                )
        desired = build_desired(
            resource.spec, namespace=resource.namespace, name=resource.name, script=script
        )
        client = self.pool.get(connection)
        return Target(desired, client, redact_url(client.base_url), desired.definition_hash)

    async def observe(self, resource: KapacitorTask, target: Target, *, fresh: bool) -> Observation:
        seen = await task_sync.observe(resource, target.desired, target.client, fresh=fresh)
        return Observation(seen.server, seen.notes)

    def decide(self, resource: KapacitorTask, desired: Any, observed: Any) -> Plan:
        return task_sync.decide(resource, desired, observed)

    async def act(
        self, resource: KapacitorTask, target: Target, plan: Plan, observed: Any
    ) -> Acted:
        done = await task_sync.act(target.desired, plan, observed, target.client)
        return Acted(done.server, done.writes)

    def synced(
        self, resource: KapacitorTask, target: Target, server: Any, now: str
    ) -> KapacitorTaskStatus:
        return status_in_sync(
            resource,
            target.desired,
            server,
            url=target.url,
            now=now,
            server_hash=task_sync.server_hash(server),
        )

    async def delete(self, resource: KapacitorTask) -> Deletion:
        connection = await resolve_connection(
            resource.spec.kapacitor, resource.namespace, self.settings, self.kube
        )
        result = await delete_from_kapacitor(resource, self.pool.get(connection))
        return Deletion(result.deleted, result.event)

    def dump(self, status: MirrorStatus) -> dict[str, Any]:
        assert isinstance(status, KapacitorTaskStatus)
        data: dict[str, Any] = status.model_dump(
            by_alias=True, exclude_none=True, exclude={"kopf"}, mode="json"
        )
        return data
