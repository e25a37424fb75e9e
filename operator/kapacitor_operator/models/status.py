"""Condition type shared by both resources' status (Kubernetes API conventions)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from kapacitor_operator.models.common import Model


class Condition(Model):
    """One status condition, as metav1.Condition."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str = Field(description="Condition type, e.g. Ready, Synced, Stalled, Succeeded.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable details.")
    lastTransitionTime: str | None = Field(default=None, description="When status last changed.")
    observedGeneration: int | None = Field(
        default=None, description="Generation the condition describes."
    )
