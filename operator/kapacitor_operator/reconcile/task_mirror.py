"""KapacitorTask as a mirrored kind: its claim, target, observe / decide / act (in
task_sync.py), status and deletion, for the shared driver (reconcile/mirror/driver.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kapacitor_operator import GROUP
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask
from kapacitor_operator.models.kapacitortask import KapacitorTaskStatus
from kapacitor_operator.models.resources import KapacitorTask, parse_kapacitortask
from kapacitor_operator.reconcile import task_sync
from kapacitor_operator.reconcile.connection import REFERENCE_RETRY, ReferenceProblem
from kapacitor_operator.reconcile.desired import (
    DesiredFlux,
    DesiredTick,
    build_desired,
    default_task_id,
)
from kapacitor_operator.reconcile.kapacitor_ref import connection_of, server_url, template_id_for
from kapacitor_operator.reconcile.mirror.driver import Acted, Deletion, Observation, Target
from kapacitor_operator.reconcile.mirror.listing import claim_of
from kapacitor_operator.reconcile.mirror.plan import Plan
from kapacitor_operator.reconcile.mirror.status import MirrorStatus
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.task_delete import delete_from_kapacitor
from kapacitor_operator.reconcile.task_status import status_in_sync
from kapacitor_operator.reconcile.template_users import note_template_user
from kapacitor_operator.reconcile.watchdog import (
    FluxHealth,
    HealPlan,
    degraded_conditions,
    flux_health,
    plan_self_heal,
)
from kapacitor_operator.sync.claims import ClaimKey
from kapacitor_operator.timeutil import parse_time
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
    ref = (spec.get("kapacitorRef") or {}).get("name")
    if ref:
        url = f"ref:{namespace}/{ref}"  # a Kapacitor object's URL is not in this spec
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
    # Per object (UID), between act() and synced() of one reconcile: the template's task
    # list as read, the watchdog's self-heal and the Flux health it found.
    _listed: dict[str, list[str]] = field(default_factory=dict)
    _heal: dict[str, HealPlan] = field(default_factory=dict)
    _health: dict[str, FluxHealth] = field(default_factory=dict)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def parse(self, body: Mapping[str, Any]) -> KapacitorTask:
        return parse_kapacitortask(body)

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        return claim_of(body, claim_key, self.settings.kapacitor_url)

    def status(self, resource: KapacitorTask) -> KapacitorTaskStatus:
        return resource.status.model_copy(deep=True)

    def generation(self, resource: KapacitorTask) -> int:
        return resource.generation

    def identity(self, resource: KapacitorTask) -> str:
        return resource.spec.taskID or default_task_id(resource.namespace, resource.name)

    async def url(self, resource: KapacitorTask) -> str:
        return await server_url(resource, self.settings, self.kube)

    def orphans(self, resource: KapacitorTask) -> bool:
        return resource.spec.deletionPolicy == "Orphan"

    def metric_label(self, resource: KapacitorTask) -> str:
        return resource.spec.type

    async def target(self, resource: KapacitorTask) -> Target:
        # The URL policy first: a resource outside it never makes the operator read a
        # Secret or a ConfigMap, nor send anything (issue 12).
        connection = await connection_of(resource, self.settings, self.kube)
        spec = resource.spec
        if spec.templateRef is not None:
            template_id, listed = await template_id_for(
                spec.templateRef,
                resource.namespace,
                self.kube,
                url=redact_url(connection.normalized_url),
            )
            spec = spec.model_copy(update={"templateID": template_id})
            self._listed[resource.uid] = listed
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
            spec, namespace=resource.namespace, name=resource.name, script=script
        )
        client = self.pool.get(connection)
        return Target(desired, client, redact_url(client.base_url), desired.definition_hash)

    async def observe(self, resource: KapacitorTask, target: Target, *, fresh: bool) -> Observation:
        seen = await task_sync.observe(resource, target.desired, target.client, fresh=fresh)
        return Observation(seen.server, seen.notes)

    def decide(self, resource: KapacitorTask, desired: Any, observed: Any) -> Plan:
        return task_sync.decide(resource, desired, observed)

    async def act(
        self, resource: KapacitorTask, target: Target, plan: Plan, observed: Any, *, now: str
    ) -> Acted:
        done = await task_sync.act(target.desired, plan, observed, target.client)
        server, writes = done.server, done.writes
        notes: list[EventNote] = []
        moment = parse_time(now)
        if isinstance(target.desired, DesiredTick) and isinstance(server, TickTask):
            # The watchdog (issue 16): restart a task that stopped executing, if asked to.
            heal = plan_self_heal(
                resource.spec.selfHeal,
                resource.status.selfHeal,
                server,
                wanted_enabled=target.desired.enabled,
                wrote=writes > 0,
                now=moment,
            )
            self._heal[resource.uid] = heal
            notes.extend(heal.events)
            if heal.restart:
                server = await task_sync.restart(target.client, server)
                writes += 2
        elif isinstance(target.desired, DesiredFlux) and isinstance(server, FluxTask):
            health = flux_health(
                server,
                resource.status.recentRuns,
                moment,
                every=resource.spec.every or "",
                cron=resource.spec.cron or "",
            )
            self._health[resource.uid] = health
            # Events only when Degraded flips: decided on a copy, applied again in synced().
            scratch = resource.status.model_copy(deep=True)
            notes.extend(
                degraded_conditions(scratch, health, now=now, generation=resource.generation)
            )
        return Acted(server, writes, tuple(notes))

    def synced(
        self, resource: KapacitorTask, target: Target, server: Any, now: str
    ) -> KapacitorTaskStatus:
        status = status_in_sync(
            resource,
            target.desired,
            server,
            url=target.url,
            now=now,
            server_hash=task_sync.server_hash(server),
        )
        heal = self._heal.pop(resource.uid, None)
        if heal is not None:
            status.selfHeal = heal.status
        health = self._health.pop(resource.uid, None)
        if health is not None:
            degraded_conditions(status, health, now=now, generation=resource.generation)
        listed = self._listed.pop(resource.uid, None)
        if listed is not None and status.taskID not in listed:
            # The KapacitorTemplate's status lists its tasks: tell it about this one.
            self._spawn(note_template_user(self.kube, resource, listed, status.taskID))
        return status

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def delete(self, resource: KapacitorTask) -> Deletion:
        connection = await connection_of(resource, self.settings, self.kube, require_ready=False)
        result = await delete_from_kapacitor(resource, self.pool.get(connection))
        if resource.spec.templateRef is not None:
            await note_template_user(self.kube, resource, [], None, gone=True)
        return Deletion(result.deleted, result.event)

    def dump(self, status: MirrorStatus) -> dict[str, Any]:
        assert isinstance(status, KapacitorTaskStatus)
        data: dict[str, Any] = status.model_dump(
            by_alias=True, exclude_none=True, exclude={"kopf"}, mode="json"
        )
        return data
