"""Run one API-backed attempt: a manual run or a retry of a Flux task run.

Kapacitor answers a manual run or a retry only when the run has finished, and a failed
run's answer carries no run ID. So while the call is in flight this module polls the
task's runs (narrowed with afterTime/beforeTime to the run's scheduledFor) to learn the
run ID and to capture its logs while they still exist: with `task-run-influxdb = none`
a finished run and its logs vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorError,
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorRunFailed,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.schemas import FluxRun, LogEvent
from kapacitor_operator.models.common import EndReason
from kapacitor_operator.reconcile.taskrun_state import AttemptResult
from kapacitor_operator.timeutil import format_time, parse_time

IN_FLIGHT = frozenset({"scheduled", "started"})
POLL_FAST = 0.25
POLL_SLOW = 1.0
FAST_PHASE = 3.0


class AttemptNotStarted(Exception):
    """Kapacitor could not be reached at all: the attempt had no effect and may be redone."""


class AttemptImpossible(Exception):
    """Kapacitor refused the attempt for good (task or run not found, bad request)."""


@dataclass(frozen=True)
class ApiAttempt:
    """What to start: a manual run (`retry_of` None) or a retry of `retry_of`."""

    task_id: str
    retry_of: str | None
    scheduled_for: str | None
    timeout: float


OnRunID = Callable[[str], Awaitable[None]]
IsCancelled = Callable[[], bool]


def _second(text: str) -> datetime:
    return parse_time(text).replace(microsecond=0)


def _log_lines(events: list[LogEvent]) -> list[str]:
    return [e.message for e in events if e.message]


def failure_message(error_text: str, logs: list[str]) -> str:
    """Kapacitor's error, plus the log line that explains it when the error is generic."""
    cause = next(
        (line for line in reversed(logs) if not line.startswith(("Completed(", "Started task"))), ""
    )
    if cause and cause not in error_text:
        return f"{error_text} ({cause})"
    return error_text


class _Watcher:
    """Finds the attempt's run among the task's runs and keeps its latest logs."""

    def __init__(
        self,
        client: KapacitorClient,
        attempt: ApiAttempt,
        scheduled_for: str,
        exclude: set[str],
        on_run_id: OnRunID,
    ) -> None:
        self.client = client
        self.attempt = attempt
        self.scheduled_for = scheduled_for
        self.exclude = exclude
        self.on_run_id = on_run_id
        self.run_id: str | None = None
        self.logs: list[str] = []

    def _window(self) -> tuple[str, str]:
        moment = _second(self.scheduled_for)
        return (
            format_time(moment - timedelta(seconds=1)),
            format_time(moment + timedelta(seconds=1)),
        )

    def _matches(self, run: FluxRun) -> bool:
        return (
            run.id not in self.exclude
            and bool(run.scheduled_for)
            and _second(run.scheduled_for) == _second(self.scheduled_for)
        )

    async def candidates(self) -> list[FluxRun]:
        after, before = self._window()
        runs = await self.client.list_runs(
            self.attempt.task_id, after_time=after, before_time=before, limit=100
        )
        return [r for r in runs if self._matches(r)]

    async def poll(self) -> None:
        """One look at Kapacitor; transient failures are ignored (the call decides)."""
        with contextlib.suppress(KapacitorError):
            if self.run_id is None:
                for run in await self.candidates():
                    if run.status in IN_FLIGHT:
                        self.run_id = run.id
                        await self.on_run_id(run.id)
                        break
            if self.run_id is not None:
                events = await self.client.run_logs(self.attempt.task_id, self.run_id)
                if events:
                    self.logs = _log_lines(events)


async def _snapshot(client: KapacitorClient, attempt: ApiAttempt, scheduled_for: str) -> set[str]:
    watcher = _Watcher(client, attempt, scheduled_for, set(), _noop)
    with contextlib.suppress(KapacitorError):
        return {r.id for r in await watcher.candidates()}
    return set()


async def _noop(_: str) -> None:
    return None


async def resolve_scheduled_for(client: KapacitorClient, attempt: ApiAttempt) -> str:
    """The scheduledFor the new run will carry.

    Raises:
        AttemptImpossible: the run to retry is unknown to Kapacitor.
        KapacitorError: Kapacitor could not answer.
    """
    if attempt.retry_of is None:
        return attempt.scheduled_for or format_time(datetime.now(UTC))
    original = await client.get_run(attempt.task_id, attempt.retry_of)
    if original is None:
        raise AttemptImpossible(
            f"Kapacitor no longer has run {attempt.retry_of} (finished runs are dropped when "
            "task-run-influxdb = none, and kept 14 days otherwise)"
        )
    return original.scheduled_for


async def run_attempt(
    client: KapacitorClient, attempt: ApiAttempt, *, on_run_id: OnRunID, is_cancelled: IsCancelled
) -> AttemptResult:
    """Start the run, watch it, and report how it ended.

    Raises:
        AttemptNotStarted: Kapacitor unreachable before anything started.
        AttemptImpossible: Kapacitor refused for good (404 task/run, 4xx).
    """
    try:
        scheduled_for = await resolve_scheduled_for(client, attempt)
    except KapacitorUnavailable as exc:
        raise AttemptNotStarted(str(exc)) from exc
    except KapacitorRejected as exc:
        raise AttemptImpossible(exc.message) from exc
    exclude = await _snapshot(client, attempt, scheduled_for)
    watcher = _Watcher(client, attempt, scheduled_for, exclude, on_run_id)
    if attempt.retry_of is None:
        call = asyncio.create_task(
            client.start_run(
                attempt.task_id, scheduled_for=scheduled_for, run_timeout=attempt.timeout + 30
            )
        )
    else:
        call = asyncio.create_task(
            client.retry_run(attempt.task_id, attempt.retry_of, run_timeout=attempt.timeout + 30)
        )
    started = time.monotonic()
    stop_reason = await _wait(call, watcher, started, attempt.timeout, is_cancelled)
    if stop_reason is not None:
        return await _stopped(client, attempt, watcher, stop_reason)
    return await _finished(client, attempt, watcher, call)


async def _wait(
    call: asyncio.Task[FluxRun],
    watcher: _Watcher,
    started: float,
    limit: float,
    is_cancelled: IsCancelled,
) -> EndReason | None:
    """Poll until the call ends; returns 'timeout' or 'stopped' when we end it ourselves."""
    while not call.done():
        elapsed = time.monotonic() - started
        interval = POLL_FAST if elapsed < FAST_PHASE else POLL_SLOW
        await asyncio.wait({call}, timeout=interval)
        if call.done():
            break
        reason: EndReason | None = "timeout" if time.monotonic() - started >= limit else None
        if is_cancelled():
            reason = "stopped"
        if reason is not None:
            await watcher.poll()
            call.cancel()  # closing the connection makes Kapacitor cancel the run
            with contextlib.suppress(asyncio.CancelledError, KapacitorError):
                await call
            return reason
        await watcher.poll()
    return None


async def _stopped(
    client: KapacitorClient, attempt: ApiAttempt, watcher: _Watcher, reason: EndReason
) -> AttemptResult:
    if watcher.run_id is not None:
        with contextlib.suppress(KapacitorError):
            await client.cancel_run(attempt.task_id, watcher.run_id)
    what = (
        f"Run exceeded the timeout of {attempt.timeout:g}s and was cancelled."
        if reason == "timeout"
        else "Run cancelled by spec.cancel."
    )
    return AttemptResult(
        end_reason=reason,
        external_id=watcher.run_id,
        message=what,
        log_tail=watcher.logs or None,
    )


async def _finished(
    client: KapacitorClient, attempt: ApiAttempt, watcher: _Watcher, call: asyncio.Task[FluxRun]
) -> AttemptResult:
    try:
        run = call.result()
    except KapacitorRunFailed as exc:
        return await _failed(client, attempt, watcher, exc.message)
    except KapacitorUnavailable as exc:
        if exc.never_sent:
            raise AttemptNotStarted(str(exc)) from exc
        return AttemptResult(
            end_reason="crashed",
            external_id=watcher.run_id,
            message=f"Lost the connection to Kapacitor during the run: {exc}",
            log_tail=watcher.logs or None,
        )
    except KapacitorNotFound as exc:
        raise AttemptImpossible(exc.message) from exc
    except KapacitorRejected as exc:
        raise AttemptImpossible(exc.message) from exc
    logs, history = await _final_logs(client, attempt.task_id, run.id, watcher.logs)
    return AttemptResult(
        end_reason="success", external_id=run.id, log_tail=logs or None, run_history=history
    )


async def _failed(
    client: KapacitorClient, attempt: ApiAttempt, watcher: _Watcher, error_text: str
) -> AttemptResult:
    run_id = watcher.run_id
    if run_id is None:
        with contextlib.suppress(KapacitorError):
            found = await watcher.candidates()
            run_id = found[0].id if found else None
    logs, history = (watcher.logs, "Unavailable")
    if run_id is not None:
        logs, history = await _final_logs(client, attempt.task_id, run_id, watcher.logs)
    return AttemptResult(
        end_reason="failed",
        external_id=run_id,
        message=failure_message(error_text, logs),
        log_tail=logs or None,
        run_history=history,
    )


async def _final_logs(
    client: KapacitorClient, task_id: str, run_id: str, captured: list[str]
) -> tuple[list[str], str]:
    """Logs from storage when Kapacitor kept the run, else what was captured in flight."""
    try:
        events = await client.run_logs(task_id, run_id)
    except KapacitorError:
        return captured, "Unavailable"
    if events is None:
        return captured, "Unavailable"
    return (_log_lines(events) or captured), "Available"
