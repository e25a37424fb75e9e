"""KapacitorTask's side of drift detection by server (sync/drift.py): list every
TICKscript and Flux task of a server in pages, and compare each listed task with what its
resource's status says Kapacitor held after the operator's last write."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask
from kapacitor_operator.models.kapacitortask import TaskStats
from kapacitor_operator.models.resources import KapacitorTask, parse_kapacitortask
from kapacitor_operator.reconcile.desired import build_desired
from kapacitor_operator.reconcile.kapacitor_ref import connection_of
from kapacitor_operator.reconcile.mirror.listing import first_client, server_of
from kapacitor_operator.reconcile.task_mirror import claim_key
from kapacitor_operator.reconcile.task_stats import summarize
from kapacitor_operator.reconcile.task_sync import flux_server_hash, tick_server_hash
from kapacitor_operator.reconcile.watchdog import flux_health
from kapacitor_operator.timeutil import parse_time

PAGE = 500
"""Tasks per list request (Kapacitor's Flux API allows at most 500)."""
TICK_FIELDS = [
    "template-id",
    "type",
    "dbrps",
    "script",
    "vars",
    "status",
    "executing",
    "error",
    "stats",
]
"""What drift needs of a TICKscript task (no DOT graph); its stats, for status.stats."""


@dataclass
class Listing:
    """Every task of one server."""

    tick: dict[str, TickSeen | None] = field(default_factory=dict)
    """By task ID; None for a task no resource of the pass names (only counted)."""
    flux: dict[str, list[FluxTask]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TickSeen:
    """What drift compares of a TICKscript task: a pass over a server holds one per task
    of the server, the operator's or not (tens of thousands), so not the whole task."""

    server_hash: str
    enabled: bool
    executing: bool
    error: str
    counts: tuple[int, int, int] | None
    """summarize(stats)."""

    @classmethod
    def of(cls, tick: TickTask) -> TickSeen:
        return cls(
            tick_server_hash(tick), tick.enabled, tick.executing, tick.error, summarize(tick.stats)
        )


async def list_all(client: KapacitorClient, wanted: Collection[str] | None = None) -> Listing:
    """Paged lists of TICKscript and Flux tasks; with `wanted`, only those TICKscript task
    IDs are summed up (hashed), the others only listed (a server may hold many more tasks
    than the resources of the pass name).

    Raises:
        KapacitorError: any failure.
    """
    listing = Listing()
    offset = 0
    while True:
        # Only the named tasks become models: the others cost their ID (validating a page
        # of 500 was most of an idle pass's CPU where the server holds other tasks).
        page = await client.list_task_dicts(fields=TICK_FIELDS, offset=offset, limit=PAGE)
        for raw in page:
            ident = str(raw.get("id", ""))
            wanted_here = wanted is None or ident in wanted
            listing.tick[ident] = TickSeen.of(TickTask.model_validate(raw)) if wanted_here else None
        if len(page) < PAGE:
            break
        offset += PAGE
    after: str | None = None
    while True:
        flux = await client.list_flux_tasks(after=after, limit=PAGE)
        for task in flux.tasks:
            listing.flux.setdefault(task.name, []).append(task)
        if flux.next_after is None:
            break
        after = flux.next_after
    return listing


def stats_moved(tick: TickSeen, shown: TaskStats | None) -> bool:
    """Kapacitor's counts differ from those status.stats shows (read again, then)."""
    counts = tick.counts
    if shown is None:
        return counts is not None
    return counts != (shown.pointsProcessed, shown.alertsTriggered, shown.errors)


def degraded_flips(task: KapacitorTask, flux: FluxTask) -> bool:
    """The watchdog's Degraded condition would change (time passes with no success)."""
    now = datetime.now(UTC)
    health = flux_health(
        flux, task.status.recentRuns, now, every=task.spec.every or "", cron=task.spec.cron or ""
    )
    shown = c.get_condition(task.status.conditions, c.DEGRADED)
    return (health.status, health.reason) != (
        (shown.status, shown.reason) if shown is not None else (None, "")
    )


def heal_due(task: KapacitorTask, tick: TickSeen) -> bool:
    """spec.selfHeal would restart the task now: enabled, not executing, hourly budget left."""
    policy = task.spec.selfHeal
    if policy is None or not policy.enabled or not tick.enabled or tick.executing:
        return False
    now = datetime.now(UTC)
    heal = task.status.selfHeal
    recent = (heal.recent or []) if heal is not None else []
    within = [t for t in recent if now - parse_time(t) < timedelta(hours=1)]
    return len(within) < policy.maxPerHour


@dataclass
class TaskDrift:
    """KapacitorTask's `DriftKind`."""

    settings: Settings
    kube: KubeAPI
    pool: ClientPool
    kind: str = "KapacitorTask"

    def server(self, body: Mapping[str, Any]) -> str | None:
        return server_of(body, claim_key, self.settings.kapacitor_url)

    async def list_server(self, server: str, bodies: list[Mapping[str, Any]]) -> Listing:
        """Lists with the connection of the first object whose connection resolves."""
        wanted = {str((b.get("status") or {}).get("taskID") or "") for b in bodies}
        return await list_all(await first_client(server, bodies, self._client), wanted)

    async def _client(self, body: Mapping[str, Any]) -> KapacitorClient:
        task = parse_kapacitortask(body)
        connection = await connection_of(task, self.settings, self.kube)
        return self.pool.get(connection)

    async def drifted(self, body: Mapping[str, Any], listing: Listing) -> bool:
        task = parse_kapacitortask(body)
        st = task.status
        if task.spec.scriptFrom is not None:
            # The script lives in a ConfigMap: a change there is a change of the spec.
            cm = task.spec.scriptFrom.configMapKeyRef
            script = await self.kube.configmap_key(task.namespace, cm.name, cm.key)
            if script is None:
                return True
            desired = build_desired(
                task.spec, namespace=task.namespace, name=task.name, script=script
            )
            if desired.definition_hash != st.definitionHash:
                return True
        if task.spec.type == "flux":
            found = {t.id: t for t in listing.flux.get(st.taskName or "", [])}
            flux = found.get(st.taskID or "")
            return (
                flux is None
                or flux_server_hash(flux) != st.serverHash
                or flux.status != st.status
                or (flux.last_run_status or None) != st.lastRunStatus
                or degraded_flips(task, flux)
            )
        tick = listing.tick.get(st.taskID or "")
        return (
            tick is None
            or tick.server_hash != st.serverHash
            or tick.executing != st.executing
            or (tick.error or None) != st.error
            or stats_moved(tick, st.stats)
            or heal_due(task, tick)
        )

    def unmanaged(self, listing: Listing, claimed: set[tuple[str, str]]) -> dict[str, int]:
        tick = sum(1 for ident in listing.tick if ("tick", ident) not in claimed)
        flux = sum(len(ts) for name, ts in listing.flux.items() if ("flux", name) not in claimed)
        return {"tick": tick, "flux": flux}
