"""TaskRun: one execution (a Kapacitor Flux task run or a Kubernetes Job), with retries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from kapacitor_operator.models.common import (
    DNS_SUBDOMAIN_PATTERN,
    DURATION_PATTERN,
    EndReason,
    Model,
    RetryPolicy,
)
from kapacitor_operator.models.status import Condition

Phase = Literal["Pending", "Running", "Retrying", "Succeeded", "Failed", "Cancelled"]
TriggeredBy = Literal["api", "retry", "schedule"]
AttemptMethod = Literal["manual", "retry", "job"]

FLUX_ID_PATTERN = r"^[0-9a-f]{16}$"
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


class TaskRef(Model):
    """A Flux KapacitorTask in the TaskRun's namespace."""

    name: str = Field(
        description="Name of the KapacitorTask (type flux).",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )


class PodSpecTemplate(Model):
    """A Pod spec (core/v1 PodSpec); validated in full when each attempt's Job is created."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )

    containers: list[dict[str, Any]] = Field(
        min_length=1,
        description="The Pod's containers (at least one).",
        json_schema_extra={
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
    )


class PodTemplate(Model):
    """A Pod template (metadata + spec), as a Job's spec.template."""

    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Labels and annotations for the attempt's Pods.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    spec: PodSpecTemplate = Field(description="Pod spec; restartPolicy defaults to Never.")


class JobTemplate(Model):
    """What each attempt's Job runs."""

    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Labels and annotations for each attempt's Job (`labels`, `annotations`).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    template: PodTemplate = Field(
        description="Pod template for each attempt, as a Job's spec.template."
    )


_RULES: Any = [
    {
        "rule": "has(self.taskRef) != has(self.job)",
        "message": "set exactly one of spec.taskRef or spec.job",
    },
    {
        "rule": "!has(self.job) || !(has(self.retryOf) || has(self.scheduledFor))",
        "message": "retryOf and scheduledFor need spec.taskRef",
    },
    {
        "rule": "has(self.taskRef) == has(oldSelf.taskRef) && has(self.job) == has(oldSelf.job) && "
        "has(self.retryOf) == has(oldSelf.retryOf)",
        "message": "a TaskRun's target is immutable; only spec.cancel may change",
    },
]


class TaskRunSpec(Model):
    """Desired execution."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _RULES})

    taskRef: TaskRef | None = Field(
        default=None,
        description="Run a Flux KapacitorTask through Kapacitor's API. Exclusive with job.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "taskRef is immutable"}
            ]
        },
    )
    retryOf: str | None = Field(
        default=None,
        pattern=FLUX_ID_PATTERN,
        description="With taskRef: retry this existing Kapacitor run ID instead of starting a "
        "manual run (POST .../runs/{runID}/retry).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "retryOf is immutable"}
            ]
        },
    )
    scheduledFor: str | None = Field(
        default=None,
        pattern=RFC3339_PATTERN,
        description="With taskRef: the run's scheduledFor time (Flux now()), RFC3339.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "scheduledFor is immutable"}
            ]
        },
    )
    job: JobTemplate | None = Field(
        default=None,
        description="Run a pod as a Kubernetes Job, one Job per attempt. Exclusive with taskRef.",
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "job is immutable"}]
        },
    )
    retry: RetryPolicy | None = Field(default=None, description="Retries of failed attempts.")
    timeout: str | None = Field(
        default=None,
        pattern=DURATION_PATTERN,
        max_length=64,
        description="Deadline for one attempt, e.g. `10m`. An attempt that runs longer ends "
        "with endReason timeout. Default: 1h for Kapacitor runs, none for Jobs.",
    )
    cancel: bool = Field(
        default=False,
        description="Set true to stop the run: cancels the Kapacitor run or deletes the running "
        "Job, and no further attempt starts.",
    )
    ttlSecondsAfterFinished: int | None = Field(
        default=None, ge=0, description="Delete the TaskRun this many seconds after it finished."
    )


# Status stays small whatever a run does: the CRD schema carries these bounds, and the
# engine cuts values to them before it writes (issue 11). Parsing does not enforce them,
# so a status written by an older version still reads.
MAX_MESSAGE = 1024
MAX_LOG_LINES = 20
MAX_LOG_LINE = 512
MAX_KEPT_ATTEMPTS = 20


class Attempt(Model):
    """One attempt of a TaskRun."""

    model_config = ConfigDict(frozen=False, extra="ignore")

    number: int = Field(description="1-based attempt number.")
    method: AttemptMethod = Field(
        description="manual (POST .../runs), retry (POST .../retry) or job."
    )
    externalID: str | None = Field(default=None, description="Kapacitor run ID or Job name.")
    retryOfRunID: str | None = Field(
        default=None, description="The Kapacitor run this attempt retried."
    )
    scheduledFor: str | None = Field(
        default=None,
        description="Kapacitor runs: the run's scheduledFor (Flux now()), chosen so that no "
        "other run of the task started by the operator shares it; it identifies the run.",
    )
    startedAt: str | None = Field(default=None, description="When the attempt started.")
    finishedAt: str | None = Field(default=None, description="When the attempt finished.")
    endReason: EndReason | None = Field(default=None, description="How the attempt ended.")
    exitCode: int | None = Field(default=None, description="Jobs: the container's exit code.")
    message: str | None = Field(
        default=None,
        description="Kapacitor's error or the container's termination message (cut to "
        f"{MAX_MESSAGE} characters).",
        json_schema_extra={"maxLength": MAX_MESSAGE},
    )
    logTail: list[str] | None = Field(
        default=None,
        description=f"The last lines of the run's log (at most {MAX_LOG_LINES}, each cut to "
        f"{MAX_LOG_LINE} characters).",
        json_schema_extra={
            "maxItems": MAX_LOG_LINES,
            "items": {"type": "string", "maxLength": MAX_LOG_LINE},
        },
    )


class TaskRunStatus(Model):
    """Observed state of a TaskRun."""

    model_config = ConfigDict(frozen=False, extra="ignore")

    observedGeneration: int | None = Field(
        default=None, description="Generation this status describes."
    )
    phase: Phase | None = Field(default=None, description="Lifecycle phase.")
    endReason: EndReason | None = Field(default=None, description="How the run ended.")
    attempt: int | None = Field(default=None, description="Current attempt number (1-based).")
    attempts: list[Attempt] | None = Field(
        default=None,
        description=f"Attempts, oldest first: the first one and the latest ones, at most "
        f"{MAX_KEPT_ATTEMPTS} (see attemptsOmitted).",
        json_schema_extra={"maxItems": MAX_KEPT_ATTEMPTS},
    )
    attemptsOmitted: int | None = Field(
        default=None,
        ge=0,
        description="How many attempts between the first and the kept latest ones were "
        "dropped from `attempts` to bound the status size.",
    )
    runID: str | None = Field(
        default=None, description="Kapacitor run ID or Job name of the latest attempt."
    )
    target: str | None = Field(
        default=None, description="What runs: `KapacitorTask/<name>` or `Job`."
    )
    taskID: str | None = Field(
        default=None, description="Kapacitor Flux task ID the run belongs to."
    )
    triggeredBy: TriggeredBy | None = Field(
        default=None, description="api (manual), retry (retryOf) or schedule (automatic retry)."
    )
    startedAt: str | None = Field(default=None, description="When the first attempt started.")
    finishedAt: str | None = Field(default=None, description="When the run ended.")
    nextRetryAt: str | None = Field(default=None, description="When the next attempt starts.")
    runHistory: str | None = Field(
        default=None,
        description="`Available`, or `Unavailable` when Kapacitor keeps no finished runs, so "
        "logs were captured only while the run was in flight.",
    )
    message: str | None = Field(
        default=None,
        description="Summary of the latest outcome.",
        json_schema_extra={"maxLength": MAX_MESSAGE},
    )
    kopf: dict[str, Any] | None = Field(
        default=None,
        description="The operator framework's bookkeeping (handler progress, last handled spec).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    conditions: list[Condition] | None = Field(default=None, description="The Succeeded condition.")


def taskrun_printer_columns() -> list[dict[str, Any]]:
    """Printer columns for `kubectl get taskruns`."""
    return [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Attempt", "type": "integer", "jsonPath": ".status.attempt"},
        {"name": "Target", "type": "string", "jsonPath": ".status.target"},
        {"name": "EndReason", "type": "string", "jsonPath": ".status.endReason"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
