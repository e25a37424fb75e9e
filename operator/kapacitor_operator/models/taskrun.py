"""TaskRun: one execution (a Kapacitor Flux task run or a Kubernetes Job), with retries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from kapacitor_operator.models.common import (
    DNS_SUBDOMAIN_PATTERN,
    DURATION_PATTERN,
    KAPACITOR_ID_PATTERN,
    EndReason,
    Model,
    RetryPolicy,
)
from kapacitor_operator.models.status import Condition

Phase = Literal["Pending", "Running", "Retrying", "Succeeded", "Failed", "Cancelled"]
TriggeredBy = Literal["api", "retry", "schedule"]
AttemptMethod = Literal["manual", "retry", "job", "replay"]
ReplayClock = Literal["fast", "real"]

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


ONE_SOURCE = "set exactly one of replay.recordingID or replay.record"


class StreamRecording(Model):
    """A stream recording made for the replay: the points written to Kapacitor for the
    task's dbrps and measurements while it records."""

    type: Literal["stream"] = Field(
        default="stream",
        description="Kind of recording; only `stream` (points written to Kapacitor while it "
        "records).",
    )
    duration: str = Field(
        pattern=r"^([0-9]+(ms|s|m|h|d))+$",
        max_length=64,
        description="How long to record, e.g. `10m`: points stamped up to the attempt's start "
        "plus this duration. Kapacitor ends the recording at the first matching point stamped "
        "after that, so the recording needs data that keeps flowing.",
    )


class ReplayTarget(Model):
    """Replay recorded data against a TICKscript task, without touching the live task."""

    taskRef: TaskRef = Field(
        description="The TICKscript KapacitorTask (type stream or batch) to replay against."
    )
    recordingID: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=KAPACITOR_ID_PATTERN,
        description="An existing Kapacitor recording to replay. Exclusive with record.",
    )
    record: StreamRecording | None = Field(
        default=None,
        description="Make a new recording for each attempt, then replay it. Exclusive with "
        "recordingID.",
    )
    clock: ReplayClock = Field(
        default="fast",
        description="`fast` replays as fast as possible; `real` keeps the recorded spacing of "
        "the points.",
    )
    recordingTime: bool = Field(
        default=False,
        description="Use the recorded points' times instead of shifting them to now.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ReplayTarget:
        if (self.recordingID is None) == (self.record is None):
            raise ValueError(ONE_SOURCE)
        return self


_RULES: Any = [
    {
        "rule": "(has(self.taskRef) ? 1 : 0) + (has(self.job) ? 1 : 0) + "
        "(has(self.replay) ? 1 : 0) == 1",
        "message": "set exactly one of spec.taskRef, spec.job or spec.replay",
    },
    {
        "rule": "has(self.taskRef) || !(has(self.retryOf) || has(self.scheduledFor))",
        "message": "retryOf and scheduledFor need spec.taskRef",
    },
    {
        "rule": "has(self.taskRef) == has(oldSelf.taskRef) && has(self.job) == has(oldSelf.job) && "
        "has(self.replay) == has(oldSelf.replay) && has(self.retryOf) == has(oldSelf.retryOf)",
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
    replay: ReplayTarget | None = Field(
        default=None,
        description="Replay a recording against a TICKscript task (/kapacitor/v1/replays), "
        "one replay per attempt. Exclusive with taskRef and job.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "replay is immutable"},
                {"rule": "has(self.recordingID) != has(self.record)", "message": ONE_SOURCE},
            ]
        },
    )
    retry: RetryPolicy | None = Field(default=None, description="Retries of failed attempts.")
    timeout: str | None = Field(
        default=None,
        pattern=DURATION_PATTERN,
        max_length=64,
        description="Deadline for one attempt, e.g. `10m`. An attempt that runs longer ends "
        "with endReason timeout. Default: 1h for Kapacitor runs and replays, none for Jobs.",
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
        description="manual (POST .../runs), retry (POST .../retry), job or replay."
    )
    externalID: str | None = Field(
        default=None, description="Kapacitor run ID, Job name or Kapacitor replay ID."
    )
    recordingID: str | None = Field(
        default=None, description="Replays: the Kapacitor recording the attempt replays."
    )
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


MAX_REPLAY_NODES = 64


class ReplayProgress(Model):
    """What Kapacitor reports about the latest attempt's recording and replay."""

    model_config = ConfigDict(frozen=False, extra="ignore")

    recordingID: str | None = Field(default=None, description="The recording replayed.")
    replayID: str | None = Field(default=None, description="The Kapacitor replay.")
    stage: str | None = Field(
        default=None,
        description="`Recording`, `Replaying`, `Finished` or `Failed`.",
    )
    progress: float | None = Field(
        default=None, description="Kapacitor's progress of the current stage, 0 to 1."
    )
    recordingSize: int | None = Field(
        default=None, description="Size in bytes of the recording, once finished."
    )
    nodes: dict[str, dict[str, int]] | None = Field(
        default=None,
        description="The replay's node counts by node (collected, emitted, errors, and the "
        "alert counts of alert nodes), as Kapacitor reported them when the replay finished "
        f"(at most {MAX_REPLAY_NODES} nodes).",
        json_schema_extra={
            "maxProperties": MAX_REPLAY_NODES,
            "additionalProperties": {
                "type": "object",
                "description": "One node's counts, by stat name.",
                "additionalProperties": {"type": "integer", "description": "A count."},
            },
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
        default=None,
        description="What runs: `KapacitorTask/<name>`, `Job` or `Replay/<KapacitorTask name>`.",
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
    replay: ReplayProgress | None = Field(
        default=None, description="Replays: progress and result counts of the latest attempt."
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
