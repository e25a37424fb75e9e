"""kopf handlers for TaskRun (filled in by the TaskRun engine)."""

from __future__ import annotations

import kopf

from kapacitor_operator.config import Settings


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the TaskRun handlers."""
