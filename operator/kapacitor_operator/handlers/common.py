"""Glue shared by the kopf handlers: Events through kopf."""

from __future__ import annotations

import kopf

from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.timeutil import utcnow

__all__ = ["emit", "utcnow"]


def emit(body: kopf.Body, notes: list[EventNote]) -> None:
    for note in notes:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message[:1024])
