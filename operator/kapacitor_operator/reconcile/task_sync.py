"""Make Kapacitor hold a KapacitorTask as declared, writing only when something differs.

Restarts and periodic drift checks cost reads only when Kapacitor already matches.
TICKscript scripts are compared as stored (`script-format=raw`). Flux scripts are
rewritten by Kapacitor on PATCH, so Flux drift is a change of the hash of what Kapacitor
returned after the operator's own last write (`status.serverHash`).
"""

from __future__ import annotations

from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorError,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask
from kapacitor_operator.models.kapacitortask import KapacitorTaskStatus
from kapacitor_operator.models.resources import KapacitorTask
from kapacitor_operator.reconcile.desired import (
    DesiredFlux,
    DesiredTick,
    comparable_vars,
    stable_hash,
)
from kapacitor_operator.reconcile.mirror.failures import classify
from kapacitor_operator.reconcile.outcome import EventNote, Outcome
from kapacitor_operator.reconcile.task_status import status_failed, status_in_sync
from kapacitor_operator.urls import redact_url

TaskOutcome = Outcome[KapacitorTaskStatus]


class _Writes:
    """Counts writes and remembers Kapacitor's latest answer."""

    def __init__(self) -> None:
        self.count = 0
        self.notes: list[EventNote] = []


async def sync_task(
    task: KapacitorTask, desired: DesiredTick | DesiredFlux, client: KapacitorClient, *, now: str
) -> TaskOutcome:
    """Reconcile one KapacitorTask against Kapacitor. Never raises for Kapacitor errors."""
    writes = _Writes()
    url = redact_url(client.base_url)
    try:
        if isinstance(desired, DesiredTick):
            server: TickTask | FluxTask = await _sync_tick(task, desired, client, writes)
            server_hash = None
        else:
            server = await _sync_flux(task, desired, client, writes)
            server_hash = flux_server_hash(server)
    except KapacitorError as exc:
        return failure_outcome(
            task, exc, now=now, url=url, desired_hash=desired.definition_hash, writes=writes.count
        )
    status = status_in_sync(task, desired, server, url=url, now=now, server_hash=server_hash)
    events = list(writes.notes)
    ready = c.get_condition(status.conditions, c.READY)
    if ready is not None and ready.status == "False":
        events.append(EventNote("Warning", ready.reason, ready.message))
    return TaskOutcome(status=status, events=events, writes=writes.count)


def failure_outcome(
    task: KapacitorTask,
    exc: KapacitorError,
    *,
    now: str,
    url: str,
    desired_hash: str | None,
    writes: int = 0,
) -> TaskOutcome:
    """Status, Event and retry hint for a Kapacitor error."""
    failure = classify(exc, url=url, what="task")
    status = status_failed(
        task,
        reason=failure.reason,
        message=failure.message,
        now=now,
        stalled=failure.stalled,
        url=url,
        desired_hash=desired_hash,
    )
    return TaskOutcome(
        status=status,
        events=[EventNote("Warning", failure.reason, failure.message)],
        retry=failure.retry,
        delay=failure.delay,
        message=failure.message,
        writes=writes,
    )


# --- TICKscript -------------------------------------------------------------------------


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


async def _sync_tick(
    task: KapacitorTask, desired: DesiredTick, client: KapacitorClient, writes: _Writes
) -> TickTask:
    if task.status.definitionHash is None and not desired.template_id:
        # Never synced: most likely new. POST at once; only an existing task costs the
        # usual read + compare (issue 6: apply-to-Ready latency).
        try:
            return await _create_tick(desired, client, writes)
        except KapacitorRejected as exc:
            if "already exists" not in exc.message:
                raise
            writes.count -= 1
    server = await client.get_task(desired.task_id)
    spec_changed = task.status.definitionHash != desired.definition_hash
    if server is None:
        if task.status.definitionHash is not None and not spec_changed:
            writes.notes.append(
                EventNote(
                    "Warning",
                    c.DRIFT_REPAIRED,
                    f"Task {desired.task_id} was deleted in Kapacitor; recreated.",
                )
            )
        return await _create_tick(desired, client, writes)
    changes = tick_differences(server, desired)
    if changes and _needs_recreate(server, desired):
        writes.count += 1
        await client.delete_task(desired.task_id)
        return await _create_tick(desired, client, writes)
    if changes:
        if not spec_changed and task.status.definitionHash is not None:
            fields = ", ".join(sorted(changes))
            writes.notes.append(
                EventNote(
                    "Warning",
                    c.DRIFT_REPAIRED,
                    f"Kapacitor's copy differed ({fields}); restored the spec.",
                )
            )
        writes.count += 1
        server = await client.patch_task(desired.task_id, changes)
        if server.enabled and desired.enabled:
            # Kapacitor keeps running the old pipeline after a definition change: reload it
            # the way `kapacitor define` does.
            writes.count += 2
            await client.patch_task(desired.task_id, {"status": "disabled"})
            server = await client.patch_task(desired.task_id, {"status": "enabled"})
    if server.enabled != desired.enabled:
        _note_status_drift(task, desired, writes, server.status)
        writes.count += 1
        server = await client.patch_task(
            desired.task_id, {"status": "enabled" if desired.enabled else "disabled"}
        )
    return server


def _note_status_drift(
    task: KapacitorTask, desired: DesiredTick | DesiredFlux, writes: _Writes, found: str
) -> None:
    """An Event when the task's status was changed in Kapacitor, not by a spec change."""
    previous = c.get_condition(task.status.conditions, c.READY)
    if (
        task.status.definitionHash == desired.definition_hash
        and previous is not None
        and previous.observedGeneration == task.generation
        and task.status.status
        and task.status.status != found
    ):
        writes.notes.append(
            EventNote(
                "Warning",
                c.DRIFT_REPAIRED,
                f"Task was set {found} in Kapacitor; restored "
                f"{'enabled' if desired.enabled else 'disabled'}.",
            )
        )


async def _create_tick(desired: DesiredTick, client: KapacitorClient, writes: _Writes) -> TickTask:
    writes.count += 1
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


# --- Flux -------------------------------------------------------------------------------


def flux_server_hash(server: FluxTask) -> str:
    """Hash of the definition as Kapacitor holds it (its own formatting included)."""
    return stable_hash([server.flux, server.description])


async def _find_flux(
    task: KapacitorTask, desired: DesiredFlux, client: KapacitorClient, writes: _Writes
) -> FluxTask | None:
    known = task.status.taskID if task.status.taskName else None
    if known:
        server = await client.get_flux_task(known)
        if server is not None:
            return server
    found = await client.find_flux_tasks(desired.name)
    if len(found) > 1:
        found.sort(key=lambda t: (t.created_at, t.id))
        ids = ", ".join(t.id for t in found)
        writes.notes.append(
            EventNote(
                "Warning",
                c.DUPLICATES,
                f"Flux tasks {ids} share the name {desired.name}; managing {found[0].id}.",
            )
        )
    return found[0] if found else None


async def _sync_flux(
    task: KapacitorTask, desired: DesiredFlux, client: KapacitorClient, writes: _Writes
) -> FluxTask:
    server = await _find_flux(task, desired, client, writes)
    spec_changed = task.status.definitionHash != desired.definition_hash
    if server is None:
        if task.status.serverHash is not None and not spec_changed:
            writes.notes.append(
                EventNote(
                    "Warning",
                    c.DRIFT_REPAIRED,
                    f"Flux task {desired.name} was deleted in Kapacitor; recreated.",
                )
            )
        writes.count += 1
        return await client.create_flux_task(
            desired.flux, active=desired.enabled, description=desired.description
        )
    current_hash = flux_server_hash(server)
    known = task.status.serverHash
    if known is None:
        differs = server.flux != desired.flux or server.description != desired.description
    else:
        differs = spec_changed or current_hash != known
    changes: dict[str, Any] = {}
    if differs:
        if not spec_changed and known is not None:
            writes.notes.append(
                EventNote(
                    "Warning",
                    c.DRIFT_REPAIRED,
                    f"Flux task {server.id} was changed in Kapacitor; restored the spec.",
                )
            )
        changes["flux"] = desired.flux
        changes["description"] = desired.description
    if server.active != desired.enabled:
        _note_status_drift(task, desired, writes, server.status)
        changes["status"] = "active" if desired.enabled else "inactive"
    if changes:
        writes.count += 1
        try:
            server = await client.patch_flux_task(server.id, changes)
        except KapacitorUnavailable as exc:
            raise _flux_syntax_error(exc) or exc from exc
    return server


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
