"""Glue shared by the kopf handlers: status patches, Events, retry translation."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import BaseModel

from kapacitor_operator.reconcile.outcome import EventNote, Outcome
from kapacitor_operator.timeutil import utcnow

__all__ = ["apply_status", "backoff_delay", "emit", "raise_for_kopf", "status_dict", "utcnow"]

MAX_BACKOFF = 300.0


def status_dict(status: BaseModel) -> dict[str, Any]:
    """Our status fields; status.kopf belongs to kopf and is never written from here."""
    data: dict[str, Any] = status.model_dump(
        by_alias=True, exclude_none=True, exclude={"kopf"}, mode="json"
    )
    return data


def apply_status(
    patch: kopf.Patch,
    body: Mapping[str, Any],
    desired: dict[str, Any],
    *,
    volatile: tuple[str, ...] = (),
) -> bool:
    """Patch only the status keys that changed (lists are written whole); False if none.

    Keys in `volatile` (timestamps such as lastSyncedAt) are written only together with a
    real change, so a reconcile that finds nothing new writes nothing.
    """
    current = dict(body.get("status") or {})
    changed = {k: v for k, v in desired.items() if current.get(k) != v and k not in volatile}
    removed = [k for k in current if k not in desired and k != "kopf"]
    if not changed and not removed:
        return False
    for key, value in changed.items():
        patch.status[key] = value
    for key in volatile:
        if key in desired and current.get(key) != desired[key]:
            patch.status[key] = desired[key]
    for key in removed:
        patch.status[key] = None
    return True


def emit(body: kopf.Body, notes: list[EventNote]) -> None:
    for note in notes:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message[:1024])


def backoff_delay(retry: int, base: float = 5.0) -> float:
    """Exponential backoff with full jitter, capped at MAX_BACKOFF seconds."""
    cap = min(MAX_BACKOFF, base * (2 ** min(retry, 10)))
    return random.uniform(cap / 2, cap)


def raise_for_kopf(outcome: Outcome[Any], retry: int) -> None:
    """Translate an outcome's retry hint into kopf's errors.

    Raises:
        kopf.TemporaryError: transient failure; kopf retries after the delay.
        kopf.PermanentError: only a spec change helps.
    """
    if outcome.retry == "temporary":
        delay = outcome.delay if outcome.delay is not None else backoff_delay(retry)
        raise kopf.TemporaryError(outcome.message or "retrying", delay=delay)
    if outcome.retry == "permanent":
        raise kopf.PermanentError(outcome.message or "permanent failure")
