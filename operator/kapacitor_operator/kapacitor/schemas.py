"""Kapacitor's wire objects (TICKscript tasks, Flux tasks, runs, log events)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Wire(BaseModel):
    """Lenient base: Kapacitor adds fields between versions; unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class DBRP(Wire):
    db: str
    rp: str


class TickTask(Wire):
    """A TICKscript task as GET/POST/PATCH /kapacitor/v1/tasks return it."""

    id: str
    template_id: str = Field(default="", alias="template-id")
    type: str = ""
    dbrps: list[DBRP] = Field(default_factory=list)
    script: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    status: str = "disabled"
    executing: bool = False
    error: str = ""
    created: str = ""
    modified: str = ""
    last_enabled: str = Field(default="", alias="last-enabled")
    # What Kapacitor made of the script (`kubectl kapacitor show`): null when uncompilable
    # or not executing.
    dot: str | None = None
    stats: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"


class TickTemplate(Wire):
    """A TICKscript template as /kapacitor/v1/templates returns it."""

    id: str
    type: str = ""
    script: str = ""
    vars: dict[str, Any] = Field(default_factory=dict)
    error: str = ""
    created: str = ""
    modified: str = ""


class FluxTask(Wire):
    """A Flux task as /kapacitor/v1/api/v2/tasks returns it."""

    id: str
    name: str = ""
    status: str = "active"
    flux: str = ""
    every: str = ""
    cron: str = ""
    offset: str = ""
    description: str = ""
    owner_id: str = Field(default="", alias="ownerID")
    latest_completed: str = Field(default="", alias="latestCompleted")
    last_run_status: str = Field(default="", alias="lastRunStatus")
    last_run_error: str = Field(default="", alias="lastRunError")
    created_at: str = Field(default="", alias="createdAt")
    updated_at: str = Field(default="", alias="updatedAt")

    @property
    def active(self) -> bool:
        return self.status == "active"


class LogEvent(Wire):
    run_id: str = Field(default="", alias="runID")
    time: str = ""
    message: str = ""


class FluxRun(Wire):
    """A Flux task run."""

    id: str
    task_id: str = Field(default="", alias="taskID")
    status: str = ""
    scheduled_for: str = Field(default="", alias="scheduledFor")
    started_at: str = Field(default="", alias="startedAt")
    finished_at: str = Field(default="", alias="finishedAt")
    requested_at: str = Field(default="", alias="requestedAt")
    log: list[LogEvent] = Field(default_factory=list)


class FluxTaskPage(Wire):
    tasks: list[FluxTask] = Field(default_factory=list)
    next_after: str | None = None


class Recording(Wire):
    """A recording as /kapacitor/v1/recordings returns it."""

    id: str
    type: str = ""
    size: int = 0
    date: str = ""
    error: str = ""
    status: str = ""
    progress: float = 0.0


class Replay(Wire):
    """A replay as /kapacitor/v1/replays returns it (`stats` once finished)."""

    id: str
    task: str = ""
    recording: str = ""
    clock: str = ""
    recording_time: bool = Field(default=False, alias="recording-time")
    date: str = ""
    error: str = ""
    status: str = ""
    progress: float = 0.0
    stats: dict[str, Any] = Field(default_factory=dict)
