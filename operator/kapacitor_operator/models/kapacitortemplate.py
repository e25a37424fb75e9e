"""KapacitorTemplate: a TICKscript template (/kapacitor/v1/templates) that should exist.

KapacitorTasks instantiate it with `templateRef`. Its status shows the vars the template
declares as Kapacitor reports them, and the Kapacitor tasks made from it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from kapacitor_operator.models.common import (
    AGE_COLUMN,
    KAPACITOR_ID_PATTERN,
    READY_COLUMNS,
    KapacitorConnection,
    LocalObjectRef,
    Model,
)
from kapacitor_operator.models.kapacitortask import MAX_SCRIPT, ScriptFrom
from kapacitor_operator.models.status import Condition

_RULES: Any = [
    {
        "rule": "has(self.script) != has(self.scriptFrom)",
        "message": "set exactly one of spec.script or spec.scriptFrom",
    },
    {
        "rule": "!(has(self.kapacitor) && has(self.kapacitorRef))",
        "message": "set spec.kapacitor or spec.kapacitorRef, not both",
    },
    {
        "rule": "has(self.templateID) == has(oldSelf.templateID) && "
        "(!has(self.templateID) || self.templateID == oldSelf.templateID)",
        "message": "spec.templateID is immutable",
    },
]


class KapacitorTemplateSpec(Model):
    """Desired state of a Kapacitor template."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _RULES})

    type: Literal["stream", "batch"] = Field(
        description="`stream` or `batch`: the source the template's script reads."
    )
    templateID: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=KAPACITOR_ID_PATTERN,
        description="The template ID in Kapacitor. Default: `<namespace>.<name>`. Immutable.",
    )
    script: str | None = Field(
        default=None,
        max_length=MAX_SCRIPT,
        description="The TICKscript, with `var` declarations for what tasks fill in.",
    )
    scriptFrom: ScriptFrom | None = Field(
        default=None, description="Read the TICKscript from a ConfigMap key instead."
    )
    kapacitor: KapacitorConnection | None = Field(
        default=None,
        description="Kapacitor server for this template. Default: the operator's connection.",
    )
    kapacitorRef: LocalObjectRef | None = Field(
        default=None,
        description="A `Kapacitor` object in this namespace to use instead of spec.kapacitor.",
    )
    deletionPolicy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="`Delete` removes the template from Kapacitor when this resource is "
        "deleted (once no task uses it); `Orphan` leaves it there.",
    )


class TemplateVar(Model):
    """A var the template declares, as Kapacitor reports it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str = Field(description="Kapacitor var type.")
    value: Any = Field(
        default=None,
        description="Default value (durations in nanoseconds); absent when tasks must set it.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    description: str | None = Field(default=None, description="The var's comment.")


class KapacitorTemplateStatus(Model):
    """Observed state of a Kapacitor template."""

    model_config = ConfigDict(frozen=False, extra="ignore")

    observedGeneration: int | None = Field(
        default=None, description="Generation this status describes."
    )
    templateID: str | None = Field(default=None, description="Template ID in Kapacitor.")
    kapacitorURL: str | None = Field(
        default=None, description="Kapacitor server the template lives on."
    )
    definitionHash: str | None = Field(
        default=None, description="Hash of the definition last found or written in Kapacitor."
    )
    vars: dict[str, TemplateVar] | None = Field(
        default=None, description="The vars the template declares, as Kapacitor reports them."
    )
    tasks: list[str] | None = Field(
        default=None, description="IDs of the Kapacitor tasks made from this template."
    )
    created: str | None = Field(default=None, description="When Kapacitor created it.")
    modified: str | None = Field(default=None, description="When Kapacitor last modified it.")
    lastSyncedAt: str | None = Field(
        default=None, description="Last time Kapacitor matched the spec."
    )
    kopf: dict[str, Any] | None = Field(
        default=None,
        description="The operator framework's bookkeeping.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    conditions: list[Condition] | None = Field(default=None, description="Ready and Synced.")


def kapacitortemplate_printer_columns() -> list[dict[str, Any]]:
    """Printer columns for `kubectl get kapacitortemplates`."""
    return [
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "Template ID", "type": "string", "jsonPath": ".status.templateID"},
        *READY_COLUMNS,
        {"name": "Tasks", "type": "string", "jsonPath": ".status.tasks"},
        AGE_COLUMN,
    ]
