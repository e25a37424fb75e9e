"""Conditions of every kind that mirrors a Kapacitor object, written in one place.

Ready says whether the object does its job, Synced whether the last reconcile reached
Kapacitor and found or made it match; Reconciling and Stalled are kstatus's (Flux CD's
wait reads them, not Ready). A kind only says how ready its object is when synced.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from kapacitor_operator import conditions as c
from kapacitor_operator.models.status import Condition


class MirrorStatus(Protocol):
    """The status fields the shared conditions need (pydantic models of each kind)."""

    conditions: list[Condition] | None
    observedGeneration: int | None
    kapacitorURL: str | None
    definitionHash: str | None


S = TypeVar("S", bound=MirrorStatus)


class Conditions:
    """Condition edits for one status at one moment, for one generation."""

    def __init__(self, st: MirrorStatus, now: str, generation: int) -> None:
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


def mark_synced(st: S, *, generation: int, url: str, now: str, ready: tuple[bool, str, str]) -> S:
    """Kapacitor was found or made to match: Synced=True; Ready as the kind judges it
    (ready, reason, message); Stalled when Kapacitor holds it but it cannot work."""
    is_ready, reason, message = ready
    conds = Conditions(st, now, generation)
    conds.set(c.READY, "True" if is_ready else "False", reason, message)
    conds.set(c.SYNCED, "True", c.SYNCED_OK, f"Kapacitor at {url} matches the spec.")
    conds.drop(c.RECONCILING)
    if is_ready:
        conds.drop(c.STALLED)
    else:
        conds.set(c.STALLED, "True", reason, message)
    st.conditions = conds.items
    return st


def mark_failed(
    st: S,
    *,
    generation: int,
    reason: str,
    message: str,
    now: str,
    stalled: bool,
    url: str | None = None,
    desired_hash: str | None = None,
    ready_when_transient: c.Status = "Unknown",
) -> S:
    """A reconcile that could not make Kapacitor match.

    Ready stays True when it described this very generation and definition (Kapacitor
    still holds what was declared; we only failed to re-check); otherwise it becomes
    False for permanent failures and `ready_when_transient` (Unknown: still trying; False
    for a missing reference, which needs the user) for transient ones.
    """
    st.observedGeneration = generation
    if url is not None:
        st.kapacitorURL = url
    ready = c.get_condition(st.conditions, c.READY)
    still_ready = (
        ready is not None
        and ready.status == "True"
        and ready.observedGeneration == generation
        and desired_hash is not None
        and desired_hash == st.definitionHash
        and not stalled
    )
    conds = Conditions(st, now, generation)
    if not still_ready:
        conds.set(c.READY, "False" if stalled else ready_when_transient, reason, message)
    conds.set(c.SYNCED, "False", reason, message)
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


def mark_deleting(
    st: S,
    *,
    generation: int,
    what: str,
    reason: str,
    message: str,
    now: str,
    ready_reason: str = c.DELETING,
) -> S:
    """A deletion that waits for Kapacitor: no condition may still say the object matches
    the spec. Ready says it is being deleted and why it waits; Synced carries the
    failure's own reason (unreachable, hanging, refused...). `ready_reason`: a kind's own
    reason to wait (a template still in use: InUse) instead of Deleting."""
    waiting = (
        f"Deleting: {what} is not yet deleted from Kapacitor ({message.rstrip('.')}). "
        "The resource stays until it is; set spec.deletionPolicy: Orphan to let it go."
    )
    st.observedGeneration = generation
    conds = Conditions(st, now, generation)
    conds.set(c.READY, "False", ready_reason, waiting)
    conds.set(c.SYNCED, "False", reason, message)
    conds.drop(c.STALLED)
    conds.set(c.RECONCILING, "True", ready_reason, waiting)
    st.conditions = conds.items
    return st
