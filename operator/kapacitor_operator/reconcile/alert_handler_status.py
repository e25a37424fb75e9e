"""KapacitorAlertHandler status: Ready, Synced and the kstatus conditions (Reconciling,
Stalled). Pure; holds option paths and fingerprints, never option values."""

from __future__ import annotations

from kapacitor_operator import conditions as c
from kapacitor_operator.models.alerthandler import KapacitorAlertHandlerStatus
from kapacitor_operator.models.resources import KapacitorAlertHandler
from kapacitor_operator.reconcile.alert_handler_desired import DesiredHandler

Status = KapacitorAlertHandlerStatus


def _set(
    st: Status, now: str, gen: int, type: str, status: c.Status, reason: str, message: str
) -> None:
    st.conditions = c.set_condition(
        st.conditions,
        type=type,
        status=status,
        reason=reason,
        message=message,
        now=now,
        generation=gen,
    )


def _drop(st: Status, *types: str) -> None:
    for type in types:
        st.conditions = c.remove_condition(st.conditions, type)


def status_in_sync(
    res: KapacitorAlertHandler,
    desired: DesiredHandler,
    *,
    url: str,
    now: str,
    server_hash: str,
    topic_collected: int | None,
) -> Status:
    """Status after Kapacitor was found or made to hold the handler as declared."""
    st = res.status.model_copy(deep=True)
    gen = res.generation
    st.observedGeneration = gen
    st.topic = desired.topic
    st.handlerID = desired.handler_id
    st.kapacitorURL = url
    st.lastSyncedAt = now
    st.definitionHash = desired.definition_hash
    st.serverHash = server_hash
    st.topicCollected = topic_collected
    st.optionsFromPaths = list(desired.secret_paths) or None
    message = f"Handler {desired.handler_id} ({desired.kind}) is defined on topic {desired.topic}."
    _set(st, now, gen, c.READY, "True", c.HANDLER_DEFINED, message)
    _set(st, now, gen, c.SYNCED, "True", c.SYNCED_OK, f"Kapacitor at {url} matches the spec.")
    _drop(st, c.RECONCILING, c.STALLED)
    return st


def status_failed(
    res: KapacitorAlertHandler,
    *,
    reason: str,
    message: str,
    now: str,
    stalled: bool,
    url: str | None = None,
    desired_hash: str | None = None,
    ready_when_transient: c.Status = "Unknown",
) -> Status:
    """Status after a reconcile that could not make Kapacitor match.

    Ready stays True only when it described this very generation and definition (the
    handler is still there as declared; only the re-check failed).
    """
    st = res.status.model_copy(deep=True)
    gen = res.generation
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
    if not still_ready:
        _set(st, now, gen, c.READY, "False" if stalled else ready_when_transient, reason, message)
    _set(st, now, gen, c.SYNCED, "False", reason, message)
    if stalled:
        _drop(st, c.RECONCILING)
        _set(st, now, gen, c.STALLED, "True", reason, message)
    elif not still_ready:
        _drop(st, c.STALLED)
        _set(st, now, gen, c.RECONCILING, "True", reason, message)
    else:
        _drop(st, c.STALLED, c.RECONCILING)
    return st


def status_deleting(res: KapacitorAlertHandler, *, reason: str, message: str, now: str) -> Status:
    """Status while the deletion waits for Kapacitor: no longer Ready, and why it waits."""
    st = res.status.model_copy(deep=True)
    gen = res.generation
    st.observedGeneration = gen
    waiting = f"Deletion waits: {message}"
    _set(st, now, gen, c.READY, "False", c.DELETING, waiting)
    _set(st, now, gen, c.SYNCED, "False", reason, message)
    _set(st, now, gen, c.RECONCILING, "True", c.DELETING, waiting)
    _drop(st, c.STALLED)
    return st
