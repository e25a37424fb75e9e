"""Flux task run lifecycle: queue, execute, finish; and the optional scheduler.

A run is queued (``scheduled``), then in flight (``started``), then finished
(``success``/``failed``/``canceled``). Finishing updates the task the way InfluxDB's
``FinishRun`` does (``lastRunStatus``, ``latestCompleted`` forward only, ``lastRunError``
= the second-to-last log line, so ``Completed(failed)`` for an ordinary failure), then
removes the run from the in-flight set and, with run storage ``memory``, keeps it for
listing; with ``none`` it vanishes. Each run executes in its own asyncio task, so an HTTP
handler can wait for it and cancel it when its client goes away.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.flux_eval import die_error
from kapacitor_emulator.flux_lang import duration_ns
from kapacitor_emulator.gojson import format_rfc3339nano, go_quote
from kapacitor_emulator.ids import new_flux_id
from kapacitor_emulator.state import FluxTask, LogEvent, Outcome, Run, State

FLUX_BASE = "/kapacitor/v1/api/v2/tasks"
_NS = 1_000_000_000


class RunAlreadyQueued(Exception):
    """A queued run has the same ``scheduledFor``."""


def log_json(event: LogEvent) -> dict[str, Any]:
    """``{runID, time, message}``."""
    return {"runID": event.run_id, "time": format_rfc3339nano(event.time), "message": event.message}


def run_json(run: Run) -> dict[str, Any]:
    """The API's run object (zero times and an empty log omitted)."""
    base = f"{FLUX_BASE}/{run.task_id}/runs/{run.id}"
    out: dict[str, Any] = {
        "links": {
            "self": base,
            "task": f"{FLUX_BASE}/{run.task_id}",
            "logs": f"{base}/logs",
            "retry": f"{base}/retry",
        },
        "id": run.id,
        "taskID": run.task_id,
        "status": run.status,
        "scheduledFor": format_rfc3339nano(run.scheduled_for),
    }
    for key, moment in (
        ("startedAt", run.started_at),
        ("finishedAt", run.finished_at),
        ("requestedAt", run.requested_at),
    ):
        if moment is not None:
            out[key] = format_rfc3339nano(moment)
    if run.log:
        out["log"] = [log_json(e) for e in run.log]
    return out


def _next_outcome(emu: Emulator, task: FluxTask) -> Outcome:
    """The next queued outcome; else failure for a top-level ``die()``, else success."""
    queue = emu.state.outcomes.get(task.id)
    if queue:
        return queue.pop(0)
    if (error := die_error(task.flux)) is not None:
        return Outcome("failed", error, emu.config.default_run_ms, 0)
    return Outcome("success", "", emu.config.default_run_ms, 0)


def queue_manual_run(
    emu: Emulator,
    task: FluxTask,
    scheduled_for: datetime,
    *,
    requested: bool = True,
    log: list[LogEvent] | None = None,
) -> Run:
    """Queue a manual (or retry) run and start executing it.

    Raises:
        RunAlreadyQueued: a queued run has the same ``scheduledFor``.
    """
    if any(r.scheduled_for == scheduled_for for r in task.queued):
        raise RunAlreadyQueued()
    run = Run(
        id=new_flux_id(emu.state.all_run_ids()),
        task_id=task.id,
        scheduled_for=scheduled_for,
        requested_at=emu.clock.now() if requested else None,
        manual=True,
        outcome=_next_outcome(emu, task),
    )
    run.log = [LogEvent(run.id, e.time, e.message) for e in (log or [])]
    task.queued.append(run)
    task.had_manual_run = True
    run.worker = emu.spawn(_execute(emu, emu.state, run))
    return run


def start_scheduled_run(emu: Emulator, task: FluxTask, scheduled_for: datetime) -> Run:
    """Start a run the way the scheduler does (not a manual run: no ``requestedAt``)."""
    run = Run(
        id=new_flux_id(emu.state.all_run_ids()),
        task_id=task.id,
        scheduled_for=scheduled_for,
        outcome=_next_outcome(emu, task),
    )
    task.inflight[run.id] = run
    task.latest_scheduled = max(scheduled_for, task.latest_scheduled or scheduled_for)
    run.worker = emu.spawn(_execute(emu, emu.state, run))
    return run


def _begin(emu: Emulator, state: State, run: Run) -> None:
    task = state.flux_tasks.get(run.task_id)
    now = emu.clock.now()
    if task is not None:
        if run in task.queued:
            task.queued.remove(run)
        task.inflight[run.id] = run
    run.status = "started"
    run.started_at = now
    flux = task.flux if task is not None else ""
    run.log.append(LogEvent(run.id, now, f"Started task from script: {go_quote(flux)}"))


async def _execute(emu: Emulator, state: State, run: Run) -> None:
    """Execute a run against the state it was created in (a reset replaces the state)."""
    outcome = run.outcome or Outcome()
    try:
        if outcome.queued_ms:
            await asyncio.sleep(outcome.queued_ms / 1000)
        _begin(emu, state, run)
        await asyncio.sleep(outcome.duration_ms / 1000)
        status: str = outcome.status
        message = outcome.message or "emulated failure"
    except asyncio.CancelledError:
        # The run's context was cancelled (DELETE /runs/{id} or the client went away).
        status, message = "canceled", "context canceled"
        if run.started_at is None:
            _begin(emu, state, run)
    finish_run(emu, state, run, status, message)


def finish_run(emu: Emulator, state: State, run: Run, status: str, message: str) -> None:
    """Record the end of a run on the run, its task and the run storage."""
    now = emu.clock.now()
    run.status = status
    run.finished_at = now
    run.log.append(LogEvent(run.id, now, f"Completed({status})"))
    if status != "success":
        run.error = f"unexpected error from queryd: {message}"
        run.log.append(LogEvent(run.id, now, run.error))
    task = state.flux_tasks.get(run.task_id)
    if task is not None:
        task.inflight.pop(run.id, None)
        task.last_run_status = status
        task.last_run_error = run.log[-2].message if status == "failed" else ""
        if run.scheduled_for > task.latest_completed:
            task.latest_completed = run.scheduled_for
    if emu.config.run_storage == "memory":
        state.stored_runs.setdefault(run.task_id, []).append(run)
    run.done.set()


async def wait_for_run(run: Run) -> None:
    """Wait for a run to finish; if the waiting request is cancelled, cancel the run."""
    try:
        await asyncio.shield(run.done.wait())
    except asyncio.CancelledError:
        if run.worker is not None and not run.worker.done():
            run.worker.cancel()
        raise


def cancel_run(run: Run) -> None:
    """Cancel an in-flight run; it finishes as ``canceled``."""
    if run.worker is not None and not run.worker.done():
        run.worker.cancel()


def _next_slot(task: FluxTask) -> datetime | None:
    every = duration_ns(task.every) // _NS if task.every else 0
    if every <= 0:
        return None
    last = max(task.latest_completed, task.latest_scheduled or task.latest_completed)
    slot = (int(last.timestamp()) // every + 1) * every
    return datetime.fromtimestamp(slot, UTC)


def scheduler_tick(emu: Emulator) -> list[Run]:
    """Start due runs of scheduled ``every`` tasks, one in flight per task at a time."""
    started: list[Run] = []
    now = emu.clock.now()
    for task in list(emu.state.flux_tasks.values()):
        if not task.on_scheduler or any(not r.manual for r in task.inflight.values()):
            continue
        slot = _next_slot(task)
        offset = duration_ns(task.offset) // _NS if task.offset else 0
        if slot is not None and slot.timestamp() + offset <= now.timestamp():
            started.append(start_scheduled_run(emu, task, slot))
    return started


async def scheduler_loop(emu: Emulator, interval: float = 0.2) -> None:
    """Run :func:`scheduler_tick` forever."""
    while True:
        scheduler_tick(emu)
        await asyncio.sleep(interval)
