"""KapacitorTask: a TICKscript (stream/batch) or Flux task that should exist in Kapacitor."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from kapacitor_operator.models.common import (
    AGE_COLUMN,
    DNS_SUBDOMAIN_PATTERN,
    DURATION_PATTERN,
    KAPACITOR_ID_PATTERN,
    READY_COLUMNS,
    KapacitorConnection,
    LocalObjectRef,
    Model,
    RetryPolicy,
)
from kapacitor_operator.models.status import Condition

TaskType = Literal["stream", "batch", "flux"]
VarType = Literal["bool", "int", "float", "string", "regex", "duration", "lambda", "list", "star"]

MAX_SCRIPT = 262144


class DBRP(Model):
    """A database / retention policy pair the task may read."""

    db: str = Field(description="Database name.", min_length=1, max_length=256)
    rp: str = Field(description="Retention policy name.", min_length=1, max_length=256)


class Var(Model):
    """A value for a TICKscript `var` declared in the script or template."""

    type: VarType = Field(description="Kapacitor var type.")
    value: Any = Field(
        default=None,
        description="The value: a string, number, bool or (for `list`) a list of vars. "
        "Durations may be given as strings such as `10s`.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    description: str | None = Field(default=None, max_length=1024, description="Free text.")


class ConfigMapKeyRef(Model):
    """A key in a ConfigMap in the resource's own namespace."""

    name: str = Field(
        description="Name of the ConfigMap.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )
    key: str = Field(description="Key holding the TICKscript.", min_length=1, max_length=253)


class ScriptFrom(Model):
    """Where to read the TICKscript from, instead of `script`."""

    configMapKeyRef: ConfigMapKeyRef = Field(description="ConfigMap key holding the TICKscript.")


_RULES: Any = [
    {
        "rule": "self.type == 'flux' ? has(self.flux) : true",
        "message": "flux tasks need spec.flux",
    },
    {
        "rule": "self.type == 'flux' ? (has(self.every) != has(self.cron)) : true",
        "message": "flux tasks need exactly one of spec.every or spec.cron",
    },
    {
        "rule": "self.type == 'flux' ? !(has(self.script) || has(self.scriptFrom) || "
        "has(self.templateID) || has(self.templateRef) || has(self.vars) || "
        "has(self.dbrps)) : true",
        "message": "script, scriptFrom, templateID, templateRef, vars and dbrps are for "
        "stream/batch tasks only",
    },
    {
        "rule": "self.type != 'flux' ? [has(self.script), has(self.scriptFrom), "
        "has(self.templateID), has(self.templateRef)].filter(x, x).size() == 1 : true",
        "message": "stream/batch tasks need exactly one of spec.script, spec.scriptFrom, "
        "spec.templateID or spec.templateRef",
    },
    {
        "rule": "!(has(self.kapacitor) && has(self.kapacitorRef))",
        "message": "set spec.kapacitor or spec.kapacitorRef, not both",
    },
    {
        "rule": "self.type != 'flux' ? !(has(self.flux) || has(self.every) || has(self.cron) || "
        "has(self.offset) || has(self.retryFailedRuns) || has(self.retry) || "
        "has(self.runHistoryLimit) || has(self.retryHistoryLimit) || has(self.description)) : true",
        "message": "flux, every, cron, offset, description, retry and run history fields are for "
        "flux tasks only",
    },
    {
        "rule": "self.type == 'flux' ? !has(self.selfHeal) : true",
        "message": "selfHeal is for stream/batch tasks only",
    },
    {
        "rule": "has(self.flux) ? !self.flux.matches('(?m)^\\\\s*option\\\\s+task\\\\s*=') : true",
        "message": "spec.flux must not declare `option task`: the operator writes it from "
        "spec.taskID, spec.every/cron and spec.offset",
    },
    {
        "rule": "has(self.taskID) == has(oldSelf.taskID) && "
        "(!has(self.taskID) || self.taskID == oldSelf.taskID)",
        "message": "spec.taskID is immutable",
    },
    {"rule": "self.type == oldSelf.type", "message": "spec.type is immutable"},
]


class SelfHeal(Model):
    """Bounded self-heal of a TICKscript task that stopped executing (off by default)."""

    enabled: bool = Field(
        default=False,
        description="Disable and re-enable an enabled TICKscript task that Kapacitor reports "
        "as not executing (what `kapacitor disable` + `kapacitor enable` would do).",
    )
    maxPerHour: int = Field(
        default=3,
        ge=1,
        le=60,
        description="At most this many restarts in any hour; past it, the task stays as it "
        "is (Ready False) and a Warning Event says the limit was reached.",
    )


class KapacitorTaskSpec(Model):
    """Desired state of a Kapacitor task."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _RULES})

    type: TaskType = Field(
        description="`stream` or `batch` for a TICKscript task (/kapacitor/v1/tasks), "
        "`flux` for a Flux task (/kapacitor/v1/api/v2/tasks). Immutable."
    )
    taskID: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=KAPACITOR_ID_PATTERN,
        description="TICKscript tasks: the task ID in Kapacitor. Flux tasks: the task name "
        "(Kapacitor assigns Flux task IDs; the assigned ID is in status.taskID). "
        "Default: `<namespace>.<name>`. Immutable.",
    )
    kapacitor: KapacitorConnection | None = Field(
        default=None,
        description="Kapacitor server for this task. Default: the operator's connection.",
    )
    kapacitorRef: LocalObjectRef | None = Field(
        default=None,
        description="A `Kapacitor` object in this namespace to use instead of spec.kapacitor.",
    )
    enabled: bool = Field(
        default=True,
        description="Whether the task runs: enabled/disabled (TICKscript) or active/inactive "
        "(Flux).",
    )
    deletionPolicy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="`Delete` removes the task from Kapacitor when this resource is deleted; "
        "`Orphan` leaves it there.",
    )
    dbrps: list[DBRP] | None = Field(
        default=None,
        max_length=64,
        description="TICKscript only: database/retention policy pairs the task reads. "
        "May be omitted when the script declares `dbrp` statements.",
    )
    script: str | None = Field(
        default=None, max_length=MAX_SCRIPT, description="TICKscript only: the script text."
    )
    scriptFrom: ScriptFrom | None = Field(
        default=None, description="TICKscript only: read the script from a ConfigMap key."
    )
    templateID: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=KAPACITOR_ID_PATTERN,
        description="TICKscript only: ID of an existing Kapacitor template to instantiate.",
    )
    templateRef: LocalObjectRef | None = Field(
        default=None,
        description="TICKscript only: a KapacitorTemplate in this namespace to instantiate "
        "(instead of a raw templateID); it must live on the same Kapacitor server.",
    )
    vars: dict[str, Var] | None = Field(
        default=None,
        description="TICKscript only: values for the script's or template's vars, by name.",
        json_schema_extra={"maxProperties": 256},
    )
    flux: str | None = Field(
        default=None,
        max_length=MAX_SCRIPT,
        description="Flux only: the Flux script, without an `option task` record.",
    )
    every: str | None = Field(
        default=None,
        pattern=DURATION_PATTERN,
        max_length=64,
        description="Flux only: run interval, a Flux duration such as `1h` or `10m`.",
    )
    cron: str | None = Field(
        default=None,
        pattern=r"^(@(yearly|annually|monthly|weekly|daily|hourly)|(\S+\s+){4,5}\S+)$",
        max_length=128,
        description="Flux only: cron schedule, e.g. `0 * * * *`.",
    )
    offset: str | None = Field(
        default=None,
        pattern=DURATION_PATTERN,
        max_length=64,
        description="Flux only: delay each scheduled run by this duration.",
    )
    description: str | None = Field(
        default=None, max_length=4096, description="Flux only: free-text task description."
    )
    selfHeal: SelfHeal | None = Field(
        default=None,
        description="TICKscript only: restart the task when it stops executing (off by default).",
    )
    retryFailedRuns: bool | None = Field(
        default=None,
        description="Flux only: retry failed scheduled runs automatically under spec.retry; each "
        "retry shows as a TaskRun owned by this resource (triggeredBy: schedule).",
    )
    retry: RetryPolicy | None = Field(
        default=None, description="Flux only: retry policy for retryFailedRuns."
    )
    runHistoryLimit: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Flux only: how many recent runs status.recentRuns shows (default 10).",
    )
    retryHistoryLimit: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Flux only: how many automatic-retry TaskRuns to keep (default 10).",
    )


class TaskStats(Model):
    """TICKscript: what Kapacitor reports of the running task, in brief."""

    model_config = ConfigDict(frozen=False)

    pointsProcessed: int | None = Field(
        default=None,
        description="Points the task took in since it last started (the largest `collected` "
        "of its nodes).",
    )
    alertsTriggered: int | None = Field(
        default=None, description="Alerts its alert nodes triggered since it last started."
    )
    errors: int | None = Field(
        default=None, description="Errors its nodes counted since it last started."
    )
    observedAt: str | None = Field(
        default=None, description="When the operator read these counts (they change only then)."
    )


class RecentRun(Model):
    """A Flux task run as Kapacitor reported it."""

    model_config = ConfigDict(frozen=False)

    id: str = Field(description="Kapacitor run ID.")
    status: str = Field(description="Run status: scheduled, started, success, failed or canceled.")
    scheduledFor: str | None = Field(default=None, description="When the run was scheduled for.")
    startedAt: str | None = Field(default=None, description="When the run started.")
    finishedAt: str | None = Field(default=None, description="When the run finished.")


MAX_HEAL_HISTORY = 60


class SelfHealStatus(Model):
    """Restarts the watchdog made (spec.selfHeal)."""

    model_config = ConfigDict(frozen=False, extra="ignore")

    restarts: int = Field(default=0, description="Restarts made so far.")
    lastRestartAt: str | None = Field(default=None, description="When the latest one was made.")
    recent: list[str] | None = Field(
        default=None,
        description="Times of the restarts within the last hour (what spec.selfHeal.maxPerHour "
        "counts).",
        json_schema_extra={"maxItems": MAX_HEAL_HISTORY},
    )


class KapacitorTaskStatus(Model):
    """Observed state of a Kapacitor task."""

    model_config = ConfigDict(frozen=False, extra="ignore")

    observedGeneration: int | None = Field(
        default=None, description="Generation this status describes."
    )
    taskID: str | None = Field(
        default=None, description="Task ID in Kapacitor (for Flux tasks, the server-assigned ID)."
    )
    taskName: str | None = Field(default=None, description="Flux only: the task's name.")
    kapacitorURL: str | None = Field(
        default=None, description="Kapacitor server the task lives on."
    )
    lastSyncedAt: str | None = Field(
        default=None, description="Last time Kapacitor matched the spec."
    )
    definitionHash: str | None = Field(
        default=None, description="Hash of the desired definition last written to Kapacitor."
    )
    serverHash: str | None = Field(
        default=None,
        description="Hash of the definition Kapacitor returned after the operator's last write; "
        "drift is a change of this.",
    )
    status: str | None = Field(
        default=None, description="Kapacitor's own status: enabled/disabled or active/inactive."
    )
    executing: bool | None = Field(
        default=None, description="TICKscript: whether the task is executing."
    )
    error: str | None = Field(
        default=None, description="TICKscript: Kapacitor's task error, if any."
    )
    created: str | None = Field(default=None, description="When Kapacitor created the task.")
    modified: str | None = Field(default=None, description="When Kapacitor last modified the task.")
    lastEnabled: str | None = Field(
        default=None, description="TICKscript: when the task was last enabled."
    )
    stats: TaskStats | None = Field(
        default=None,
        description="TICKscript: the task's counts from Kapacitor's stats (points processed, "
        "alerts triggered, errors), refreshed at each sync and drift check.",
    )
    lastRunStatus: str | None = Field(
        default=None, description="Flux: status of the last finished run."
    )
    lastRunError: str | None = Field(
        default=None, description="Flux: error of the last run, if any."
    )
    latestCompleted: str | None = Field(
        default=None, description="Flux: latest completed schedule time."
    )
    selfHeal: SelfHealStatus | None = Field(
        default=None, description="TICKscript: restarts made by the watchdog (spec.selfHeal)."
    )
    recentRuns: list[RecentRun] | None = Field(
        default=None, description="Flux: the most recent runs, newest first."
    )
    runHistory: str | None = Field(
        default=None,
        description="Flux: `Available`, or `Unavailable` when Kapacitor keeps no finished runs "
        "(task-run-influxdb = none).",
    )
    runsCheckedThrough: str | None = Field(
        default=None,
        description="Flux: every finished scheduled run scheduled up to this time has been "
        "examined (and, with retryFailedRuns, retried when it failed). Never moves back, so a "
        "failed run is retried once, whatever restarts or history limits do.",
    )
    kopf: dict[str, Any] | None = Field(
        default=None,
        description="The operator framework's bookkeeping (handler progress, last handled spec).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    conditions: list[Condition] | None = Field(
        default=None, description="Ready, Synced and Stalled."
    )


def kapacitortask_printer_columns() -> list[dict[str, Any]]:
    """Printer columns for `kubectl get kapacitortasks`."""
    return [
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "Task ID", "type": "string", "jsonPath": ".status.taskID"},
        {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
        *READY_COLUMNS,
        {
            "name": "Points",
            "type": "integer",
            "jsonPath": ".status.stats.pointsProcessed",
            "description": "TICKscript: points processed since the task last started.",
        },
        {
            "name": "Alerts",
            "type": "integer",
            "jsonPath": ".status.stats.alertsTriggered",
            "description": "TICKscript: alerts triggered since the task last started.",
        },
        {
            "name": "Errors",
            "type": "integer",
            "priority": 1,
            "jsonPath": ".status.stats.errors",
            "description": "TICKscript: errors counted by the task's nodes.",
        },
        AGE_COLUMN,
    ]
