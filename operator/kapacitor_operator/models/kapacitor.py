"""Kapacitor: one Kapacitor server as a namespaced object that other resources name.

Its spec is the inline `kapacitor` block of a KapacitorTask, so both go through the same
URL allow-list and Secret handling (reconcile/connection.py). Its status tells users what
they need to know about the server: reachable or not, version, and what it holds.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from kapacitor_operator.models.common import AGE_COLUMN, READY_COLUMNS, KapacitorConnection, Model
from kapacitor_operator.models.status import Condition


class KapacitorSpec(KapacitorConnection):
    """How to reach one Kapacitor server: URL, credentials and TLS."""


class ObjectCounts(Model):
    """How many objects of one sort the server holds, and how many no resource manages."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    total: int = Field(description="Objects of this sort on the server.")
    unmanaged: int | None = Field(
        default=None,
        description="Of those, how many no resource of this operator manages (absent when "
        "the operator has no kind for them).",
    )


class KapacitorStatus(Model):
    """What the operator last saw of the server."""

    model_config = ConfigDict(frozen=False, extra="ignore")

    observedGeneration: int | None = Field(
        default=None, description="Generation this status describes."
    )
    kapacitorURL: str | None = Field(
        default=None, description="The server's URL as it may be shown (no credentials)."
    )
    reachable: bool | None = Field(
        default=None, description="Whether the last check reached the server and was let in."
    )
    version: str | None = Field(
        default=None,
        description="Kapacitor's version, from the X-Kapacitor-Version header of /ping (empty "
        "for a kapacitord built without a version).",
    )
    tasks: ObjectCounts | None = Field(default=None, description="TICKscript tasks.")
    fluxTasks: ObjectCounts | None = Field(
        default=None, description="Flux tasks (absent when the server's Flux task API is off)."
    )
    templates: ObjectCounts | None = Field(default=None, description="TICKscript templates.")
    handlers: ObjectCounts | None = Field(default=None, description="Alert topic handlers.")
    lastCheckedAt: str | None = Field(
        default=None,
        description="When the server was last checked. Written with any other change, and at "
        "least every ten check intervals, so an unchanged server costs no writes.",
    )
    kopf: dict[str, Any] | None = Field(
        default=None,
        description="The operator framework's bookkeeping.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    conditions: list[Condition] | None = Field(default=None, description="Ready.")


def kapacitor_printer_columns() -> list[dict[str, Any]]:
    """Printer columns for `kubectl get kapacitors`."""
    return [
        {"name": "URL", "type": "string", "jsonPath": ".status.kapacitorURL"},
        {"name": "Version", "type": "string", "jsonPath": ".status.version"},
        *READY_COLUMNS,
        {"name": "Tasks", "type": "integer", "jsonPath": ".status.tasks.total"},
        {"name": "Unmanaged", "type": "integer", "jsonPath": ".status.tasks.unmanaged"},
        {"name": "Templates", "type": "integer", "jsonPath": ".status.templates.total"},
        AGE_COLUMN,
    ]
