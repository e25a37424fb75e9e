"""KapacitorTask status: Kapacitor's view copied in, plus Ready, Synced and the kstatus
conditions (Reconciling, Stalled)."""

from __future__ import annotations

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask
from kapacitor_operator.models.kapacitortask import KapacitorTaskStatus
from kapacitor_operator.models.resources import KapacitorTask
from kapacitor_operator.reconcile.desired import DesiredFlux, DesiredTick, default_task_id


def _copy(prev: KapacitorTaskStatus) -> KapacitorTaskStatus:
    return prev.model_copy(deep=True)


class _Conditions:
    """Condition edits for one status at one moment, for one generation."""

    def __init__(self, st: KapacitorTaskStatus, now: str, generation: int) -> None:
        self.items = list(st.conditions or [])
        self.now = now
        self.generation = generation

    def set(self, type: str, status: c.Status, reason: str, message: str) -> None:
        self.items = c.set_condition(
            self.items,
            type=type,
            status=status,
            reason=reason,
            message=message,
            now=self.now,
            generation=self.generation,
        )

    def drop(self, *types: str) -> None:
        for type in types:
            self.items = c.remove_condition(self.items, type)


def status_in_sync(
    task: KapacitorTask,
    desired: DesiredTick | DesiredFlux,
    server: TickTask | FluxTask,
    *,
    url: str,
    now: str,
    server_hash: str | None,
) -> KapacitorTaskStatus:
    """Status after Kapacitor was found or made to match the spec."""
    st = _copy(task.status)
    gen = task.generation
    st.observedGeneration = gen
    st.kapacitorURL = url
    st.lastSyncedAt = now
    st.definitionHash = desired.definition_hash
    st.serverHash = server_hash
    st.status = server.status
    if isinstance(server, TickTask):
        st.taskID = server.id
        st.executing = server.executing
        st.error = server.error or None
        st.created = server.created or None
        st.modified = server.modified or None
        st.lastEnabled = server.last_enabled or None
        ready, reason, message = _tick_readiness(server, desired)
    else:
        st.taskID = server.id
        st.taskName = server.name
        st.lastRunStatus = server.last_run_status or None
        st.lastRunError = server.last_run_error or None
        st.latestCompleted = server.latest_completed or None
        st.created = server.created_at or None
        st.modified = server.updated_at or None
        if server.active:
            ready, reason, message = True, c.ACTIVE, "Flux task is active and scheduled."
        else:
            ready, reason, message = True, c.DISABLED, "Flux task is inactive, as declared."
    conds = _Conditions(st, now, gen)
    conds.set(c.READY, "True" if ready else "False", reason, message)
    conds.set(c.SYNCED, "True", c.SYNCED_OK, f"Kapacitor at {url} matches the spec.")
    conds.drop(c.RECONCILING)
    if ready:
        conds.drop(c.STALLED)
    else:
        # Kapacitor holds the task but could not start it: only a person can fix that.
        conds.set(c.STALLED, "True", reason, message)
    st.conditions = conds.items
    return st


def _tick_readiness(server: TickTask, desired: DesiredTick | DesiredFlux) -> tuple[bool, str, str]:
    if not desired.enabled:
        return True, c.DISABLED, "Task is defined and disabled, as declared."
    if server.executing:
        return True, c.EXECUTING, "Task is defined and executing."
    detail = server.error or "Kapacitor reports the task as enabled but not executing."
    return False, c.NOT_EXECUTING, detail


def status_failed(
    task: KapacitorTask,
    *,
    reason: str,
    message: str,
    now: str,
    stalled: bool,
    url: str | None = None,
    desired_hash: str | None = None,
    ready_when_transient: c.Status = "Unknown",
) -> KapacitorTaskStatus:
    """Status after a reconcile that could not make Kapacitor match.

    Ready stays True when it described this very generation and definition (Kapacitor
    still holds what was declared; we only failed to re-check); otherwise it becomes
    False for permanent failures and `ready_when_transient` (Unknown: still trying; False
    for a missing reference, which needs the user) for transient ones.
    """
    st = _copy(task.status)
    gen = task.generation
    st.observedGeneration = gen
    if url is not None:
        st.kapacitorURL = url
    ready = c.get_condition(st.conditions, c.READY)
    still_ready = (
        ready is not None
        and ready.status == "True"
        and ready.observedGeneration == gen
        and desired_hash is not None
        and desired_hash == st.definitionHash
        and not stalled
    )
    conds = _Conditions(st, now, gen)
    if not still_ready:
        conds.set(c.READY, "False" if stalled else ready_when_transient, reason, message)
    conds.set(c.SYNCED, "False", reason, message)
    # kstatus (Flux CD's wait) reads Stalled and Reconciling, not Ready.
    if stalled:
        conds.drop(c.RECONCILING)
        conds.set(c.STALLED, "True", reason, message)
    elif not still_ready:
        conds.drop(c.STALLED)
        conds.set(c.RECONCILING, "True", reason, message)
    else:
        conds.drop(c.STALLED, c.RECONCILING)
    st.conditions = conds.items
    return st


def status_deleting(
    task: KapacitorTask, *, reason: str, message: str, now: str
) -> KapacitorTaskStatus:
    """Status while a deletion waits for Kapacitor: no condition may still say the task
    matches the spec. Ready says the resource is being deleted and why it waits; Synced
    carries the failure's own reason (unreachable, hanging, refused...)."""
    st = _copy(task.status)
    ident = task.spec.taskID or default_task_id(task.namespace, task.name)
    waiting = (
        f"Deleting: task {ident} is not yet deleted from Kapacitor ({message.rstrip('.')}). "
        "The resource stays until it is; set spec.deletionPolicy: Orphan to let it go."
    )
    st.observedGeneration = task.generation
    conds = _Conditions(st, now, task.generation)
    conds.set(c.READY, "False", c.DELETING, waiting)
    conds.set(c.SYNCED, "False", reason, message)
    conds.drop(c.STALLED)
    conds.set(c.RECONCILING, "True", c.DELETING, waiting)
    st.conditions = conds.items
    return st
