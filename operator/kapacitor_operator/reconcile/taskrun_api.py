"""Run one API-backed attempt (a manual run or a retry of a Flux task run), or find out
from Kapacitor's own record how an attempt nobody is watching ended.

Kapacitor answers a manual run or a retry only when the run has finished, and a failed
run's answer carries no run ID. So while the call is in flight this module looks at the
task's runs (narrowed to the attempt's own scheduledFor, which no other attempt of this
process shares: see run_registry) to learn the run ID, and, when the server keeps no
finished runs (`task-run-influxdb = none`), to capture the logs before they vanish. Looks
back off from a quarter second to half a minute, and stop once the run ID is known on a
server that keeps its runs, so a long run costs a handful of requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorRunFailed,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.schemas import FluxRun, LogEvent
from kapacitor_operator.models.common import EndReason
from kapacitor_operator.reconcile.run_registry import Claims, ServerFacts, TaskKey, second_of
from kapacitor_operator.reconcile.taskrun_model import (
    ApiMethod,
    AttemptResult,
    Ended,
    Live,
)
from kapacitor_operator.timeutil import format_time, parse_time

IN_FLIGHT = frozenset({"scheduled", "started"})
POLL_STEPS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
REQUEST_SKEW = timedelta(seconds=5)
"""Clock difference tolerated between the operator and Kapacitor for requestedAt."""
NO_RECORD = (
    "Kapacitor has no record of this attempt's run: the call never reached it, or it keeps "
    "no finished runs (task-run-influxdb = none), so the result is unknown."
)
CANCELLED_WITH_CONNECTION = (
    "The operator stopped during the run, and Kapacitor cancels a run whose connection closes."
)


class AttemptNotStarted(Exception):
    """The run call had no effect (never sent, refused before it ran): try again later."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ApiAttempt:
    """One attempt's run: what to start and how to recognise it."""

    server: str
    task_id: str
    owner: str
    """Unique per attempt (TaskRun UID and attempt number): the owner of its claims."""
    method: ApiMethod
    retry_of: str | None
    scheduled_for: str
    timeout: float
    started_at: datetime
    not_ours: frozenset[str] = frozenset()
    """Runs that are known not to be this attempt's: the run it retries (same
    scheduledFor) and the runs of the TaskRun's earlier attempts."""

    @property
    def key(self) -> TaskKey:
        return (self.server, self.task_id)


@dataclass
class Stop:
    """Set by the executor to end an attempt early: spec.cancel or the operator leaving."""

    reason: EndReason | None = None
    message: str = ""
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def request(self, reason: EndReason, message: str) -> None:
        if self.reason is None:
            self.reason, self.message = reason, message
            self.event.set()


@dataclass
class RunContext:
    """What an attempt needs besides itself."""

    client: KapacitorClient
    claims: Claims
    facts: ServerFacts
    on_run_id: Callable[[str], Awaitable[None]]


def lines(events: list[LogEvent] | None) -> list[str]:
    return [e.message for e in events or [] if e.message]


def failure_message(error_text: str, logs: list[str]) -> str:
    """Kapacitor's error, plus the log line that explains it when the error is generic."""
    cause = next(
        (line for line in reversed(logs) if not line.startswith(("Completed(", "Started task"))), ""
    )
    if cause and cause not in error_text:
        return f"{error_text} ({cause})"
    return error_text


def matches(run: FluxRun, attempt: ApiAttempt, others: set[str]) -> bool:
    """Could `run` be this attempt's run? (not another attempt's, same scheduledFor)."""
    if run.id in others or run.id in attempt.not_ours or not run.scheduled_for:
        return False
    if second_of(run.scheduled_for) != second_of(attempt.scheduled_for):
        return False
    if attempt.method == "manual" and not run.requested_at:
        return False  # a scheduled run of the task, not a manual one
    if run.requested_at:
        return parse_time(run.requested_at) >= attempt.started_at - REQUEST_SKEW
    return True


async def candidates(client: KapacitorClient, attempt: ApiAttempt) -> list[FluxRun]:
    """The task's runs scheduled in the attempt's second (both bounds are exclusive).

    Raises:
        KapacitorError: Kapacitor could not answer.
    """
    moment = parse_time(attempt.scheduled_for).replace(microsecond=0)
    return await client.list_runs(
        attempt.task_id,
        after_time=format_time(moment - timedelta(seconds=1)),
        before_time=format_time(moment + timedelta(seconds=1)),
        limit=100,
    )


class _Watch:
    """Learns the attempt's run ID while the call is in flight, and captures its logs
    when the server may not keep them."""

    def __init__(self, ctx: RunContext, attempt: ApiAttempt, exclude: set[str]) -> None:
        self.ctx, self.attempt, self.exclude = ctx, attempt, exclude
        self.run_id: str | None = None
        self.logs: list[str] = []

    @property
    def capture_logs(self) -> bool:
        return self.ctx.facts.keeps_history(self.attempt.server) is not True

    @property
    def idle(self) -> bool:
        """Nothing left to learn before the call returns."""
        return self.run_id is not None and not self.capture_logs

    async def claim(self, run_id: str) -> bool:
        if not self.ctx.claims.claim(self.attempt.key, run_id, self.attempt.owner):
            return False
        if self.run_id != run_id:
            self.run_id = run_id
            await self.ctx.on_run_id(run_id)
        return True

    async def find(self) -> None:
        """Claim the run when exactly one unclaimed run can be this attempt's."""
        others = self.ctx.claims.taken_by_others(self.attempt.key, self.attempt.owner)
        found = [
            r
            for r in await candidates(self.ctx.client, self.attempt)
            if r.id not in self.exclude and matches(r, self.attempt, others)
        ]
        if len(found) == 1:
            await self.claim(found[0].id)

    async def poll(self) -> None:
        """One look; Kapacitor's failures are ignored here (the call decides)."""
        with contextlib.suppress(KapacitorError):
            if self.run_id is None:
                await self.find()
            if self.run_id is not None and self.capture_logs:
                events = await self.ctx.client.run_logs(self.attempt.task_id, self.run_id)
                if events:
                    self.logs = lines(events)


def _steps() -> Iterator[float]:
    yield from POLL_STEPS
    while True:
        yield POLL_STEPS[-1]


async def run_attempt(ctx: RunContext, attempt: ApiAttempt, stop: Stop) -> AttemptResult:
    """Start the run, watch it, and report how it ended. The call is always finished or
    cancelled before this returns, so no run outlives its attempt.

    Raises:
        AttemptNotStarted: the call had no effect; the attempt may be started again.
    """
    exclude: set[str] = set()
    with contextlib.suppress(KapacitorError):
        exclude = {r.id for r in await candidates(ctx.client, attempt)}
    watch = _Watch(ctx, attempt, exclude)
    run_timeout = attempt.timeout + 30
    if attempt.retry_of is None:
        call = asyncio.ensure_future(
            ctx.client.start_run(
                attempt.task_id, scheduled_for=attempt.scheduled_for, run_timeout=run_timeout
            )
        )
    else:
        call = asyncio.ensure_future(
            ctx.client.retry_run(attempt.task_id, attempt.retry_of, run_timeout=run_timeout)
        )
    try:
        reason = await _wait(call, watch, attempt.timeout, stop)
        if reason is not None:
            return await _stopped(ctx, attempt, watch, call, reason, stop.message)
        return await _finished(ctx, attempt, watch, call)
    finally:
        if not call.done():
            call.cancel()
        with contextlib.suppress(asyncio.CancelledError, KapacitorError):
            await call


async def _wait(
    call: asyncio.Future[FluxRun], watch: _Watch, limit: float, stop: Stop
) -> EndReason | None:
    """Until the call ends: None; or the reason to end it ourselves (timeout, stop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    steps = _steps()
    stopper = asyncio.ensure_future(stop.event.wait())
    try:
        while not call.done():
            left = deadline - loop.time()
            if left <= 0:
                return "timeout"
            pause = left if watch.idle else min(next(steps), left)
            waits: set[asyncio.Future[object]] = {call, stopper}  # type: ignore[arg-type]
            await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
            if call.done():
                return None
            if stop.reason is not None:
                return stop.reason
            await watch.poll()
        return None
    finally:
        stopper.cancel()


async def _stopped(
    ctx: RunContext,
    attempt: ApiAttempt,
    watch: _Watch,
    call: asyncio.Future[FluxRun],
    reason: EndReason,
    message: str,
) -> AttemptResult:
    await watch.poll()
    call.cancel()  # closing the connection makes Kapacitor cancel the run
    with contextlib.suppress(asyncio.CancelledError, KapacitorError):
        await call
    if watch.run_id is not None:
        with contextlib.suppress(KapacitorError):
            await ctx.client.cancel_run(attempt.task_id, watch.run_id)
    if reason == "timeout":
        message = f"Run exceeded the timeout of {attempt.timeout:g}s and was cancelled."
    return AttemptResult(
        end_reason=reason,
        external_id=watch.run_id,
        message=message or "Run cancelled by spec.cancel.",
        log_tail=tuple(watch.logs) or None,
    )


async def _finished(
    ctx: RunContext, attempt: ApiAttempt, watch: _Watch, call: asyncio.Future[FluxRun]
) -> AttemptResult:
    try:
        run = call.result()
    except KapacitorRunFailed as exc:
        return await _failed(ctx, attempt, watch, exc.message)
    except KapacitorUnavailable as exc:
        if exc.never_sent:
            raise AttemptNotStarted(c.UNAVAILABLE, f"Kapacitor is unreachable: {exc}") from exc
        return await _lost(ctx, attempt, watch, str(exc))
    except KapacitorAuthError as exc:
        raise AttemptNotStarted(c.UNAUTHORIZED, f"Kapacitor refused: {exc.message}") from exc
    except KapacitorNotFound as exc:
        return AttemptResult(
            end_reason="failed", message=exc.message, retryable=False, reason=c.TASK_NOT_FOUND
        )
    except KapacitorRejected as exc:
        if "already queued" in exc.message:
            raise AttemptNotStarted(c.WAITING, exc.message) from exc
        return AttemptResult(
            end_reason="failed", message=exc.message, retryable=False, reason=c.REJECTED
        )
    # The answer is authoritative: this run is the attempt's, whatever a poll guessed.
    ctx.claims.assign(attempt.key, run.id, attempt.owner)
    if watch.run_id != run.id:
        watch.run_id = run.id
        await ctx.on_run_id(run.id)
    logs, history = await _final_logs(ctx, attempt, run.id, watch.logs)
    return AttemptResult(
        end_reason="success", external_id=run.id, log_tail=tuple(logs) or None, run_history=history
    )


async def _failed(
    ctx: RunContext, attempt: ApiAttempt, watch: _Watch, error_text: str
) -> AttemptResult:
    if watch.run_id is None:
        with contextlib.suppress(KapacitorError):
            await watch.find()
    logs, history = watch.logs, None
    if watch.run_id is not None:
        logs, history = await _final_logs(ctx, attempt, watch.run_id, watch.logs)
    return AttemptResult(
        end_reason="failed",
        external_id=watch.run_id,
        message=failure_message(error_text, logs),
        log_tail=tuple(logs) or None,
        run_history=history,
    )


async def _lost(ctx: RunContext, attempt: ApiAttempt, watch: _Watch, error: str) -> AttemptResult:
    """The connection broke mid-run: Kapacitor's record says how the run ended."""
    ref = AttemptRef(attempt=attempt, run_id=watch.run_id)
    try:
        seen = await resolve_attempt(ctx, ref)
    except KapacitorError:
        seen = Ended(AttemptResult(end_reason="crashed", external_id=watch.run_id))
    if isinstance(seen, Live):
        with contextlib.suppress(KapacitorError):
            await ctx.client.cancel_run(attempt.task_id, seen.external_id or "")
        seen = Ended(AttemptResult(end_reason="crashed", external_id=seen.external_id))
    result = seen.result
    if result.end_reason == "crashed":
        message = f"Lost the connection to Kapacitor during the run ({error})."
        return AttemptResult(
            end_reason="crashed",
            external_id=result.external_id,
            message=message,
            log_tail=tuple(watch.logs) or None,
        )
    return result


async def _final_logs(
    ctx: RunContext, attempt: ApiAttempt, run_id: str, captured: list[str]
) -> tuple[list[str], str]:
    """Logs from storage when Kapacitor kept the run, else what was captured in flight."""
    try:
        events = await ctx.client.run_logs(attempt.task_id, run_id)
    except KapacitorError:
        return captured, "Unavailable"
    kept = events is not None
    ctx.facts.learn(attempt.server, kept)
    return (lines(events) or captured) if kept else captured, "Available" if kept else "Unavailable"


# --- an attempt nobody watches ------------------------------------------------------------


@dataclass(frozen=True)
class AttemptRef:
    """An open attempt found in status, to be matched with Kapacitor's record."""

    attempt: ApiAttempt
    run_id: str | None
    cancelled_as: EndReason | None = None
    """The operator asked Kapacitor to cancel this run, for this reason (stopped, timeout):
    a cancelled record then ends the attempt with it."""
    cancel_message: str = ""


async def resolve_attempt(ctx: RunContext, ref: AttemptRef) -> Live | Ended:
    """How Kapacitor's record says the attempt's run is doing.

    Raises:
        KapacitorError: Kapacitor could not answer (look again later).
    """
    attempt = ref.attempt
    run: FluxRun | None = None
    if ref.run_id:
        run = await ctx.client.get_run(attempt.task_id, ref.run_id)
    else:
        others = ctx.claims.taken_by_others(attempt.key, attempt.owner)
        found = [r for r in await candidates(ctx.client, attempt) if matches(r, attempt, others)]
        if len(found) > 1:
            ids = ", ".join(r.id for r in found)
            message = f"Several runs ({ids}) could be this attempt's; its result is unknown."
            return Ended(AttemptResult(end_reason="crashed", message=message))
        run = found[0] if found else None
        if run is not None:
            ctx.claims.claim(attempt.key, run.id, attempt.owner)
    if run is None:
        return Ended(AttemptResult(end_reason="crashed", external_id=ref.run_id, message=NO_RECORD))
    if run.status in IN_FLIGHT:
        return Live(external_id=run.id)
    logs = lines(await ctx.client.run_logs(attempt.task_id, run.id))
    ctx.facts.learn(attempt.server, True)
    tail = tuple(logs) or None
    if run.status == "success":
        return Ended(
            AttemptResult(
                end_reason="success", external_id=run.id, log_tail=tail, run_history="Available"
            )
        )
    if run.status == "canceled":
        reason: EndReason = ref.cancelled_as or "crashed"
        text = ref.cancel_message if ref.cancelled_as else CANCELLED_WITH_CONNECTION
        return Ended(
            AttemptResult(end_reason=reason, external_id=run.id, message=text, log_tail=tail)
        )
    return Ended(
        AttemptResult(
            end_reason="failed",
            external_id=run.id,
            message=failure_message("Run failed.", logs),
            log_tail=tail,
            run_history="Available",
        )
    )
