"""The emulator's in-memory state.

Everything a Kapacitor server would keep (TICKscript tasks and templates, Flux tasks,
queued, in-flight and stored runs) plus the test knobs (queued run outcomes, faults, the
request log). The server runs on one asyncio event loop and handlers mutate state only
between awaits, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kapacitor_emulator.alert_state import AlertStore
from kapacitor_emulator.replay_state import ReplayStore

RunStorage = Literal["none", "memory"]


@dataclass
class Var:
    """A typed TICKscript var, as the API shows it (``value`` already JSON-ready)."""

    type: str
    value: Any
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        """The API's ``{type, value, description}`` object."""
        return {"type": self.type, "value": self.value, "description": self.description}


@dataclass
class TickDefinition:
    """What a TICKscript task runs: the raw script and its dbrps."""

    script: str
    dbrps: list[tuple[str, str]]
    vars: dict[str, Var]
    points: int = 0
    """Points written to ``/write`` that reached it while running (see task_stats)."""


@dataclass
class TickTask:
    """A TICKscript task. ``running`` is the definition the pipeline executes, if any."""

    id: str
    template_id: str
    type: str
    definition: TickDefinition
    status: str
    created: datetime
    modified: datetime
    last_enabled: datetime | None = None
    error: str = ""
    running: TickDefinition | None = None

    @property
    def executing(self) -> bool:
        """Enabled and started without error."""
        return self.status == "enabled" and self.running is not None and not self.error


@dataclass
class Template:
    """A TICKscript template."""

    id: str
    type: str
    script: str
    created: datetime
    modified: datetime


@dataclass
class LogEvent:
    """One run log line."""

    run_id: str
    time: datetime
    message: str


@dataclass
class Outcome:
    """How the next run of a Flux task ends (queued through the control API)."""

    status: Literal["success", "failed"] = "success"
    message: str = ""
    duration_ms: int = 0
    queued_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        """The control API's representation."""
        return {
            "status": self.status,
            "message": self.message,
            "durationMs": self.duration_ms,
            "queuedMs": self.queued_ms,
        }


@dataclass
class Run:
    """A Flux task run."""

    id: str
    task_id: str
    scheduled_for: datetime
    status: str = "scheduled"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    requested_at: datetime | None = None
    log: list[LogEvent] = field(default_factory=list)
    manual: bool = False
    outcome: Outcome | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None
    error: str = ""


@dataclass
class FluxTask:
    """A Flux task; ``on_scheduler`` models the scheduler's view (see the PATCH bug)."""

    id: str
    owner_id: str
    name: str
    description: str
    status: str
    flux: str
    every: str
    cron: str
    offset: str
    created_at: datetime
    latest_completed: datetime
    updated_at: datetime | None = None
    last_run_status: str = ""
    last_run_error: str = ""
    on_scheduler: bool = True
    had_manual_run: bool = False
    latest_scheduled: datetime | None = None
    queued: list[Run] = field(default_factory=list)
    inflight: dict[str, Run] = field(default_factory=dict)


@dataclass
class Faults:
    """Injected latency and errors for ``/kapacitor/...`` requests."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    paths: re.Pattern[str] | None = None
    seed: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def to_json(self) -> dict[str, Any]:
        """The control API's representation."""
        return {
            "latencyMs": self.latency_ms,
            "errorRate": self.error_rate,
            "errorStatus": self.error_status,
            "paths": self.paths.pattern if self.paths else None,
            "seed": self.seed,
        }


@dataclass
class RequestRecord:
    """One request to ``/kapacitor/...`` as the control API lists it."""

    method: str
    path: str
    query: str
    status: int | None  # None while in progress, 499 when the client went away
    time: str
    run_id: str | None = None  # the Flux run this request started, if it started one

    def to_json(self) -> dict[str, Any]:
        """The control API's representation."""
        out: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "time": self.time,
        }
        if self.run_id is not None:
            out["runID"] = self.run_id
        return out


@dataclass
class State:
    """All mutable emulator state."""

    tasks: dict[str, TickTask] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    flux_tasks: dict[str, FluxTask] = field(default_factory=dict)
    stored_runs: dict[str, list[Run]] = field(default_factory=dict)
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    requests: list[RequestRecord] = field(default_factory=list)
    template_links: set[tuple[str, str]] = field(default_factory=set)
    """(template ID, task ID) associations, kept apart from the tasks' ``template-id``."""
    alerts: AlertStore = field(default_factory=AlertStore)
    replay: ReplayStore = field(default_factory=ReplayStore)

    def all_run_ids(self) -> set[str]:
        """Every run ID currently known (queued, in flight or stored)."""
        ids: set[str] = set()
        for task in self.flux_tasks.values():
            ids.update(r.id for r in task.queued)
            ids.update(task.inflight)
        for runs in self.stored_runs.values():
            ids.update(r.id for r in runs)
        return ids
