"""What a reconcile decided: the status to write, Events to emit, and how to retry."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

StatusT = TypeVar("StatusT")

RetryKind = Literal["none", "temporary", "permanent"]


@dataclass(frozen=True)
class EventNote:
    """A Kubernetes Event to record on the resource."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Outcome(Generic[StatusT]):
    """Result of one reconcile: desired status plus retry hint.

    `retry` is `temporary` for transient failures (with `delay` seconds, or the caller's
    backoff when None), `permanent` when only a spec change can help.
    """

    status: StatusT
    events: list[EventNote] = field(default_factory=list)
    retry: RetryKind = "none"
    delay: float | None = None
    message: str = ""
    writes: int = 0
    then: Callable[[], Coroutine[Any, Any, None]] | None = None
    """Work to start once this status is written (e.g. nudge the objects that read it)."""
