"""KapacitorTask's observe -> decide -> act (reconcile/mirror): make Kapacitor hold a task
as declared, writing only when something differs.

Restarts and drift passes cost no per-task read when Kapacitor already matches (see
sync/drift.py). TICKscript scripts are compared as stored (`script-format=raw`). Flux
scripts are rewritten by Kapacitor on PATCH, so Flux drift is a change of the hash of what
Kapacitor returned after the operator's own last write (`status.serverHash`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask
from kapacitor_operator.models.resources import KapacitorTask
from kapacitor_operator.reconcile.desired import (
    DesiredFlux,
    DesiredTick,
    comparable_vars,
    stable_hash,
)
from kapacitor_operator.reconcile.mirror.plan import (
    UNKNOWN,
    AlreadyExists,
    Create,
    Nothing,
    Plan,
    Recreate,
    Unknown,
    Update,
)
from kapacitor_operator.reconcile.outcome import EventNote

Desired = DesiredTick | DesiredFlux
Server = TickTask | FluxTask


@dataclass(frozen=True)
class Observed:
    """What Kapacitor holds for a task (None: nothing; UNKNOWN: not looked at), and what
    looking found worth telling (several Flux tasks with one name)."""

    server: Server | Unknown | None
    notes: tuple[EventNote, ...] = ()


@dataclass(frozen=True)
class Acted:
    server: Server
    writes: int


# --- observe ------------------------------------------------------------------------------


async def observe(
    task: KapacitorTask, desired: Desired, client: KapacitorClient, *, fresh: bool = False
) -> Observed:
    """Reads only. A TICKscript task never synced is most likely new: it is not looked at
    (UNKNOWN) unless `fresh` (an optimistic create found it there)."""
    if isinstance(desired, DesiredTick):
        never_synced = task.status.definitionHash is None and not desired.template_id
        if never_synced and not fresh:
            return Observed(UNKNOWN)
        return Observed(await client.get_task(desired.task_id))
    known = task.status.taskID if task.status.taskName else None
    if known:
        server = await client.get_flux_task(known)
        if server is not None:
            return Observed(server)
    found = await client.find_flux_tasks(desired.name)
    if len(found) > 1:
        found.sort(key=lambda t: (t.created_at, t.id))
        ids = ", ".join(t.id for t in found)
        note = EventNote(
            "Warning",
            c.DUPLICATES,
            f"Flux tasks {ids} share the name {desired.name}; managing {found[0].id}.",
        )
        return Observed(found[0], (note,))
    return Observed(found[0] if found else None)


# --- decide (pure) ------------------------------------------------------------------------


def decide(task: KapacitorTask, desired: Desired, observed: Server | Unknown | None) -> Plan:
    """What to write so Kapacitor holds the task as declared; `drift` says what changed
    behind the operator's back (the spec did not change since the last sync)."""
    if isinstance(desired, DesiredTick):
        assert not isinstance(observed, FluxTask)
        return decide_tick(task, desired, observed)
    assert not isinstance(observed, TickTask | Unknown)
    return decide_flux(task, desired, observed)


def tick_differences(server: TickTask, desired: DesiredTick) -> dict[str, Any]:
    """PATCH body fields whose server value differs from the desired one (status aside)."""
    changes: dict[str, Any] = {}
    if desired.template_id:
        if server.template_id != desired.template_id:
            changes["template-id"] = desired.template_id
    elif server.script != desired.script:
        changes["script"] = desired.script
    server_dbrps = sorted((d.db, d.rp) for d in server.dbrps)
    if desired.dbrps and server_dbrps != sorted(desired.dbrps):
        changes["dbrps"] = [{"db": db, "rp": rp} for db, rp in desired.dbrps]
    if comparable_vars(server.vars) != comparable_vars(desired.vars):
        changes["vars"] = desired.vars
    return changes


def _needs_recreate(server: TickTask, desired: DesiredTick) -> bool:
    """PATCH cannot clear vars or unlink a template: those need delete + create."""
    return bool(
        (server.vars and not desired.vars) or (server.template_id and not desired.template_id)
    )


def _status_drift(task: KapacitorTask, desired: Desired, found: str) -> str:
    """The task's status was changed in Kapacitor, not by a spec change."""
    previous = c.get_condition(task.status.conditions, c.READY)
    if (
        task.status.definitionHash == desired.definition_hash
        and previous is not None
        and previous.observedGeneration == task.generation
        and task.status.status
        and task.status.status != found
    ):
        wanted = "enabled" if desired.enabled else "disabled"
        return f"Task was set {found} in Kapacitor; restored {wanted}."
    return ""


def decide_tick(
    task: KapacitorTask, desired: DesiredTick, server: TickTask | Unknown | None
) -> Plan:
    if isinstance(server, Unknown):
        return Create()
    synced = task.status.definitionHash is not None
    spec_changed = task.status.definitionHash != desired.definition_hash
    if server is None:
        drift = f"Task {desired.task_id} was deleted in Kapacitor; recreated."
        return Create(drift=drift if synced and not spec_changed else "")
    changes = tick_differences(server, desired)
    if changes and _needs_recreate(server, desired):
        return Recreate()
    drift = ""
    if changes and synced and not spec_changed:
        drift = f"Kapacitor's copy differed ({', '.join(sorted(changes))}); restored the spec."
    if server.enabled != desired.enabled:
        status_drift = _status_drift(task, desired, server.status)
        drift = f"{drift} {status_drift}".strip()
        changes["status"] = "enabled" if desired.enabled else "disabled"
    return Update(changes, drift=drift) if changes else Nothing()


def decide_flux(task: KapacitorTask, desired: DesiredFlux, server: FluxTask | None) -> Plan:
    spec_changed = task.status.definitionHash != desired.definition_hash
    if server is None:
        drift = f"Flux task {desired.name} was deleted in Kapacitor; recreated."
        synced = task.status.serverHash is not None
        return Create(drift=drift if synced and not spec_changed else "")
    known = task.status.serverHash
    if known is None:
        differs = server.flux != desired.flux or server.description != desired.description
    else:
        differs = spec_changed or flux_server_hash(server) != known
    changes: dict[str, Any] = {}
    drift = ""
    if differs:
        if not spec_changed and known is not None:
            drift = f"Flux task {server.id} was changed in Kapacitor; restored the spec."
        changes["flux"] = desired.flux
        changes["description"] = desired.description
    if server.active != desired.enabled:
        drift = f"{drift} {_status_drift(task, desired, server.status)}".strip()
        changes["status"] = "active" if desired.enabled else "inactive"
    return Update(changes, drift=drift) if changes else Nothing()


# --- act ----------------------------------------------------------------------------------


async def act(
    desired: Desired, plan: Plan, observed: Server | Unknown | None, client: KapacitorClient
) -> Acted:
    """Write what the plan says (and nothing else).

    Raises:
        AlreadyExists: an optimistic create found the task there (observe it and decide).
        KapacitorError: Kapacitor failed or refused.
    """
    if isinstance(desired, DesiredTick):
        return await _act_tick(desired, plan, observed, client)
    return await _act_flux(desired, plan, observed, client)


async def _act_tick(
    desired: DesiredTick, plan: Plan, observed: Server | Unknown | None, client: KapacitorClient
) -> Acted:
    if isinstance(plan, Create):
        try:
            return Acted(await _create_tick(desired, client), 1)
        except KapacitorRejected as exc:
            if isinstance(observed, Unknown) and "already exists" in exc.message:
                raise AlreadyExists(desired.task_id) from exc
            raise
    if isinstance(plan, Recreate):
        await client.delete_task(desired.task_id)
        return Acted(await _create_tick(desired, client), 2)
    assert isinstance(observed, TickTask)
    if isinstance(plan, Nothing):
        return Acted(observed, 0)
    assert isinstance(plan, Update)
    changes = {k: v for k, v in plan.changes.items() if k != "status"}
    server, writes = observed, 0
    if changes:
        writes += 1
        server = await client.patch_task(desired.task_id, changes)
        if server.enabled and desired.enabled:
            # Kapacitor keeps running the old pipeline after a definition change: reload it
            # the way `kapacitor define` does.
            writes += 2
            await client.patch_task(desired.task_id, {"status": "disabled"})
            server = await client.patch_task(desired.task_id, {"status": "enabled"})
    if server.enabled != desired.enabled:
        writes += 1
        server = await client.patch_task(
            desired.task_id, {"status": "enabled" if desired.enabled else "disabled"}
        )
    return Acted(server, writes)


async def _create_tick(desired: DesiredTick, client: KapacitorClient) -> TickTask:
    try:
        return await client.create_task(desired.create_body())
    except KapacitorUnavailable as exc:
        if exc.timed_out:
            raise  # Kapacitor hangs: a read-back would only double the wait
        # An enabled task that fails to start answers 500 yet is stored: report its error.
        stored = await client.get_task(desired.task_id)
        if stored is None:
            raise
        return stored


async def _act_flux(
    desired: DesiredFlux, plan: Plan, observed: Server | Unknown | None, client: KapacitorClient
) -> Acted:
    if isinstance(plan, Create | Recreate):
        created = await client.create_flux_task(
            desired.flux, active=desired.enabled, description=desired.description
        )
        return Acted(created, 1)
    assert isinstance(observed, FluxTask)
    if isinstance(plan, Nothing):
        return Acted(observed, 0)
    assert isinstance(plan, Update)
    try:
        return Acted(await client.patch_flux_task(observed.id, dict(plan.changes)), 1)
    except KapacitorUnavailable as exc:
        raise _flux_syntax_error(exc) or exc from exc


def _flux_syntax_error(exc: KapacitorUnavailable) -> KapacitorRejected | None:
    """Kapacitor answers a syntax error in PATCHed Flux with a 500 (`internal error`):
    that is the user's script, not an outage, so it must not be retried forever."""
    if (
        exc.status == 500
        and exc.code == "internal error"
        and exc.message.startswith("failed to update task:")
    ):
        return KapacitorRejected(
            exc.message, status=exc.status, code=exc.code, endpoint=exc.endpoint
        )
    return None


# --- what the server holds, as a hash (drift by list) ------------------------------------


def flux_server_hash(server: FluxTask) -> str:
    """Hash of the definition as Kapacitor holds it (its own formatting included)."""
    return stable_hash([server.flux, server.description])


def tick_server_hash(server: TickTask) -> str:
    """Hash of what the operator manages of a TICKscript task as Kapacitor holds it
    (computed alike from a GET and from a page of GET /tasks)."""
    return stable_hash(
        [
            server.template_id,
            server.script if not server.template_id else "",
            sorted((d.db, d.rp) for d in server.dbrps),
            comparable_vars(server.vars),
            server.status,
        ]
    )


async def restart(client: KapacitorClient, server: TickTask) -> TickTask:
    """Disable and re-enable a task (the watchdog's self-heal). A task that fails to start
    again makes Kapacitor answer 500 but stay enabled: read what it holds then.

    Raises:
        KapacitorError: Kapacitor could not answer at all.
    """
    await client.patch_task(server.id, {"status": "disabled"})
    try:
        return await client.patch_task(server.id, {"status": "enabled"})
    except KapacitorUnavailable:
        return await client.get_task(server.id) or server


def server_hash(server: Server) -> str:
    return tick_server_hash(server) if isinstance(server, TickTask) else flux_server_hash(server)
