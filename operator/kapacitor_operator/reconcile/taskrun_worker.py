"""Drive one TaskRun from Pending to a terminal phase: attempts, retries, cancel, TTL.

One worker runs per TaskRun (a kopf daemon hosts it). The worker owns the TaskRun's
status and writes it through the status subresource itself, because an attempt must be
recorded BEFORE the call that starts it: a restart then finds every started attempt and
neither loses nor doubles one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator import metrics
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.models.common import parse_duration
from kapacitor_operator.models.resources import TaskRun, parse_kapacitortask, parse_taskrun
from kapacitor_operator.models.taskrun import TaskRunStatus, TriggeredBy
from kapacitor_operator.reconcile.connection import MissingReference, resolve_connection
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.taskrun_api import (
    ApiAttempt,
    AttemptImpossible,
    AttemptNotStarted,
    run_attempt,
)
from kapacitor_operator.reconcile.taskrun_job import build_job, job_name, job_result
from kapacitor_operator.reconcile.taskrun_state import (
    AttemptResult,
    begin_attempt,
    cancel_pending,
    fail_without_attempt,
    finish_attempt,
    initial_status,
    is_terminal,
    note_external_id,
    open_attempt,
)
from kapacitor_operator.timeutil import seconds_until, utcnow

ANNOTATION_TRIGGERED_BY = "kapacitor.operator.dev/triggered-by"
TASK_WAIT_LIMIT = 120.0
JOB_POLL = 30.0
RETRY_WRITE = 2.0


@dataclass
class JobSignals:
    """Wakes the worker of a TaskRun when one of its Jobs changes (fed by a Job watch)."""

    events: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    def event(self, key: tuple[str, str]) -> asyncio.Event:
        return self.events.setdefault(key, asyncio.Event())

    def notify(self, key: tuple[str, str]) -> None:
        self.event(key).set()

    def forget(self, key: tuple[str, str]) -> None:
        self.events.pop(key, None)


@dataclass
class WorkerContext:
    """What a worker needs from the operator: clients, and hooks into kopf."""

    settings: Settings
    kube: KubeAPI
    pool: ClientPool
    signals: JobSignals
    emit: Callable[[list[EventNote]], None]
    live_body: Callable[[], Mapping[str, Any]]
    stopped: Callable[[], bool]


class StatusGone(Exception):
    """The TaskRun was deleted while the worker ran."""


def triggered_by(body: Mapping[str, Any], run: TaskRun) -> TriggeredBy:
    note = ((body.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_TRIGGERED_BY)
    if note == "schedule":
        return "schedule"
    return "retry" if run.spec.retryOf else "api"


class TaskRunWorker:
    """The loop for one TaskRun."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.run = parse_taskrun(ctx.live_body())
        self.status: TaskRunStatus = self.run.status
        self.key = (self.run.namespace, self.run.name)

    # --- plumbing -----------------------------------------------------------------------

    def cancel_requested(self) -> bool:
        spec = self.ctx.live_body().get("spec") or {}
        return bool(spec.get("cancel"))

    def interrupted(self) -> bool:
        return self.ctx.stopped() or self.cancel_requested()

    async def write(self, status: TaskRunStatus) -> None:
        """Persist status; retried until it lands (nothing starts before it does).

        Raises:
            StatusGone: the TaskRun no longer exists.
        """
        # Nulls delete fields that became unset; status.kopf is kopf's and left alone.
        body = status.model_dump(by_alias=True, mode="json", exclude={"kopf"})
        while True:
            try:
                if not await self.ctx.kube.patch_status(
                    self.run.namespace, "taskruns", self.run.name, body
                ):
                    raise StatusGone(self.run.name)
                self.status = status
                return
            except KubeError:
                if self.ctx.stopped():
                    raise
                await asyncio.sleep(RETRY_WRITE)

    async def sleep(self, seconds: float) -> None:
        """Sleep in small steps so cancel and shutdown are noticed quickly."""
        deadline = asyncio.get_running_loop().time() + max(0.0, seconds)
        while not self.interrupted():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.5))

    # --- main loop ----------------------------------------------------------------------

    async def run_forever(self) -> None:
        """Run until the TaskRun ends (then honour its TTL) or the operator stops."""
        with contextlib.suppress(StatusGone):
            if not is_terminal(self.status):
                await self._drive()
            await self._expire()

    async def _drive(self) -> None:
        gen = self.run.generation
        if self.status.phase is None:
            target = (
                f"KapacitorTask/{self.run.spec.taskRef.name}" if self.run.spec.taskRef else "Job"
            )
            await self.write(
                initial_status(
                    self.status,
                    target=target,
                    now=utcnow(),
                    triggered_by=triggered_by(self.ctx.live_body(), self.run),
                    generation=gen,
                )
            )
        while not is_terminal(self.status) and not self.ctx.stopped():
            if self.cancel_requested() and open_attempt(self.status) is None:
                await self.write(cancel_pending(self.status, now=utcnow(), generation=gen))
                self.ctx.emit([EventNote("Normal", c.CANCELLED, "TaskRun cancelled.")])
                break
            if self.status.phase == "Retrying" and self.status.nextRetryAt:
                await self.sleep(seconds_until(self.status.nextRetryAt))
                if self.interrupted():
                    continue
            if self.run.spec.job is not None:
                await self._job_step()
            else:
                await self._api_step()

    async def _finish(self, result: AttemptResult, backend: str, *, retryable: bool = True) -> None:
        policy = self.run.spec.retry if retryable else None
        status, events = finish_attempt(
            self.status,
            result,
            policy=policy,
            now=utcnow(),
            generation=self.run.generation,
            cancelled=self.cancel_requested(),
        )
        await self.write(status)
        metrics.RUN_ATTEMPTS.labels(backend, result.end_reason).inc()
        if status.phase == "Retrying":
            metrics.RETRIES.labels(result.end_reason).inc()
        if is_terminal(status) and status.endReason:
            metrics.RUNS.labels(status.endReason).inc()
        self.ctx.emit(events)

    async def _expire(self) -> None:
        ttl = self.run.spec.ttlSecondsAfterFinished
        if ttl is None or not is_terminal(self.status) or not self.status.finishedAt:
            return
        while not self.ctx.stopped():
            left = seconds_until(self.status.finishedAt) + ttl
            if left <= 0:
                with contextlib.suppress(KubeError):
                    await self.ctx.kube.delete_taskrun(self.run.namespace, self.run.name)
                return
            await asyncio.sleep(min(left, 1.0))

    # --- Kapacitor API attempts ---------------------------------------------------------

    async def _flux_target(self) -> tuple[KapacitorClient, str] | None:
        """The Kapacitor client and Flux task ID, waiting a while for the task to be synced."""
        assert self.run.spec.taskRef is not None
        ref = self.run.spec.taskRef.name
        waited = 0.0
        message = ""
        while waited < TASK_WAIT_LIMIT and not self.interrupted():
            body = await self.ctx.kube.get_custom(self.run.namespace, "kapacitortasks", ref)
            if body is None:
                message = f"KapacitorTask {ref} not found."
            else:
                task = parse_kapacitortask(body)
                if task.spec.type != "flux":
                    message = f"KapacitorTask {ref} is a {task.spec.type} task; TaskRuns need flux."
                    break
                if task.status.taskID and task.status.taskName:
                    try:
                        conn = await resolve_connection(
                            task.spec.kapacitor, task.namespace, self.ctx.settings, self.ctx.kube
                        )
                    except MissingReference as exc:
                        message = str(exc)
                    else:
                        return self.ctx.pool.get(conn), task.status.taskID
                else:
                    message = f"KapacitorTask {ref} has no Kapacitor task yet."
            await self.sleep(2.0)
            waited += 2.0
        if self.interrupted():
            return None
        await self.write(
            fail_without_attempt(
                self.status,
                reason=c.TASK_NOT_FOUND,
                message=message,
                now=utcnow(),
                generation=self.run.generation,
            )
        )
        self.ctx.emit([EventNote("Warning", c.TASK_NOT_FOUND, message)])
        return None

    async def _plan(self, client: KapacitorClient, task_id: str) -> tuple[str, str | None]:
        """(method, run to retry): the spec's retryOf first; later the previous failed run
        when Kapacitor still has it, otherwise a fresh manual run."""
        attempts = self.status.attempts or []
        if not attempts:
            return ("retry", self.run.spec.retryOf) if self.run.spec.retryOf else ("manual", None)
        previous = attempts[-1].externalID
        if previous:
            with contextlib.suppress(KapacitorError):
                if await client.get_run(task_id, previous) is not None:
                    return "retry", previous
        return "manual", None

    async def _api_step(self) -> None:
        gen = self.run.generation
        dangling = open_attempt(self.status)
        if dangling is not None:
            await self._finish(
                AttemptResult(
                    end_reason="crashed",
                    external_id=dangling.externalID,
                    message="The operator stopped during this attempt; Kapacitor cancels a run "
                    "whose connection closes, so its result is unknown.",
                ),
                "kapacitor",
            )
            return
        target = await self._flux_target()
        if target is None:
            return
        client, task_id = target
        try:
            method, retry_of = await self._plan(client, task_id)
        except KapacitorError:
            await self.sleep(5.0)
            return
        await self.write(
            begin_attempt(
                self.status,
                method=method,  # type: ignore[arg-type]
                retry_of=retry_of,
                now=utcnow(),
                generation=gen,
            )
        )
        self.ctx.emit(
            [
                EventNote(
                    "Normal",
                    c.ATTEMPT_STARTED,
                    f"Attempt {self.status.attempt} started ({method} run"
                    + (f" of {retry_of})." if retry_of else ")."),
                )
            ]
        )
        timeout = (
            parse_duration(self.run.spec.timeout)
            if self.run.spec.timeout
            else self.ctx.settings.default_run_timeout
        )
        attempt = ApiAttempt(
            task_id=task_id,
            retry_of=retry_of,
            scheduled_for=self.run.spec.scheduledFor if not retry_of else None,
            timeout=timeout,
        )

        async def on_run_id(run_id: str) -> None:
            await self.write(note_external_id(self.status, run_id))

        try:
            result = await run_attempt(
                client, attempt, on_run_id=on_run_id, is_cancelled=self.interrupted
            )
        except AttemptNotStarted as exc:
            await self._unstart(str(exc))
            return
        except AttemptImpossible as exc:
            # Retrying cannot help when Kapacitor refuses outright (unknown task or run).
            result = AttemptResult(end_reason="failed", message=str(exc))
            await self._finish(result, "kapacitor", retryable=False)
            return
        if self.ctx.stopped() and not self.cancel_requested():
            return  # operator exiting: the restart will find the attempt open and decide
        if self.status.taskID != task_id:
            self.status.taskID = task_id
        await self._finish(result, "kapacitor")

    async def _unstart(self, reason: str) -> None:
        """Kapacitor was unreachable before the attempt began: take it back and wait."""
        st = self.status.model_copy(deep=True)
        st.attempts = (st.attempts or [])[:-1]
        st.attempt = len(st.attempts) or None
        st.phase = "Retrying" if st.attempts else "Pending"
        message = f"Kapacitor unreachable, attempt not started; trying again: {reason}"
        st.message = message
        st.conditions = c.set_condition(
            st.conditions,
            type=c.SUCCEEDED,
            status="Unknown",
            reason=c.UNAVAILABLE,
            message=message,
            now=utcnow(),
            generation=self.run.generation,
        )
        await self.write(st)
        await self.sleep(5.0)

    # --- Job attempts -------------------------------------------------------------------

    async def _job_step(self) -> None:
        gen = self.run.generation
        current = open_attempt(self.status)
        if current is None:
            number = len(self.status.attempts or []) + 1
            name = job_name(self.run.name, number)
            await self.write(
                begin_attempt(
                    self.status, method="job", external_id=name, now=utcnow(), generation=gen
                )
            )
            self.ctx.emit(
                [EventNote("Normal", c.ATTEMPT_STARTED, f"Attempt {number} started as Job {name}.")]
            )
        attempt = open_attempt(self.status)
        assert attempt is not None
        # Creating by a deterministic name is idempotent: after a restart the Job either
        # exists (we keep watching it) or is created now, never twice.
        await self.ctx.kube.create_job(self.run.namespace, build_job(self.run, attempt.number))
        result = await self._await_job(attempt.externalID or "")
        if result is not None:
            await self._finish(result, "job")

    async def _await_job(self, name: str) -> AttemptResult | None:
        signal = self.ctx.signals.event(self.key)
        while not self.ctx.stopped():
            signal.clear()
            job = await self.ctx.kube.get_job(self.run.namespace, name)
            if self.cancel_requested():
                await self.ctx.kube.delete_job(self.run.namespace, name)
                return AttemptResult(
                    end_reason="stopped", external_id=name, message="Job deleted by spec.cancel."
                )
            if job is None:
                return AttemptResult(
                    end_reason="crashed",
                    external_id=name,
                    message=f"Job {name} disappeared before it finished.",
                )
            if job_result(job, []) is not None:
                pods = await self.ctx.kube.job_pods(self.run.namespace, name)
                return job_result(job, pods)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), timeout=JOB_POLL)
        return None
