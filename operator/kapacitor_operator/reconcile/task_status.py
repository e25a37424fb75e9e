"""KapacitorTask status: Kapacitor's view copied in, plus Ready, Synced and the kstatus
conditions (Reconciling, Stalled)."""

from __future__ import annotations

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask
from kapacitor_operator.models.kapacitortask import KapacitorTaskStatus
from kapacitor_operator.models.resources import KapacitorTask
from kapacitor_operator.reconcile.desired import DesiredFlux, DesiredTick
from kapacitor_operator.reconcile.mirror.status import mark_synced
from kapacitor_operator.reconcile.task_stats import brief


def _copy(prev: KapacitorTaskStatus) -> KapacitorTaskStatus:
    return prev.model_copy(deep=True)


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
        st.stats = brief(server.stats, st.stats, now)
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
    return mark_synced(st, generation=gen, url=url, now=now, ready=(ready, reason, message))


def _tick_readiness(server: TickTask, desired: DesiredTick | DesiredFlux) -> tuple[bool, str, str]:
    if not desired.enabled:
        return True, c.DISABLED, "Task is defined and disabled, as declared."
    if server.executing:
        return True, c.EXECUTING, "Task is defined and executing."
    detail = server.error or "Kapacitor reports the task as enabled but not executing."
    return False, c.NOT_EXECUTING, detail
