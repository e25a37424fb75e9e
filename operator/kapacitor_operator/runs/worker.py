"""The loop of one live TaskRun: observe, decide, write status, act, wait for an event.

The worker is the only writer of its TaskRun's status. It writes what decide() returned
before performing the actions that follow from it, so an attempt is on record before its
Job or Kapacitor call exists. It sleeps until something happens: its TaskRun, Job or
Pods change, a KapacitorTask it waits for changes, its attempt's call ends, or a timer
that decide() asked for (retry delay, TTL) fires. Nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from kapacitor_operator import API_VERSION, metrics
from kapacitor_operator import conditions as c
from kapacitor_operator.k8s.errors import KubeError, KubeForbidden
from kapacitor_operator.models.common import parse_duration
from kapacitor_operator.models.resources import TaskRun, parse_taskrun
from kapacitor_operator.models.taskrun import Attempt, TaskRunStatus
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.taskrun_decide import decide, invalid_spec
from kapacitor_operator.reconcile.taskrun_model import (
    Action,
    Attach,
    AttemptResult,
    Cancel,
    Decision,
    DeleteJob,
    Ended,
    Expire,
    NotStarted,
    Observation,
    Prepare,
    Prepared,
    RunInputs,
    Start,
    TargetState,
    Waiting,
)
from kapacitor_operator.reconcile.taskrun_state import is_terminal, open_attempt
from kapacitor_operator.runs.api_handle import ApiHandle
from kapacitor_operator.runs.job_handle import JobHandle
from kapacitor_operator.runs.persist import StatusWriter
from kapacitor_operator.runs.prepare import RECHECK, Target, resolve_target, target_ref
from kapacitor_operator.runs.replay_handle import ReplayHandle, replay_plan
from kapacitor_operator.timeutil import parse_time

if TYPE_CHECKING:
    from kapacitor_operator.runs.engine import RunEngine

log = logging.getLogger(__name__)
ANNOTATION_TRIGGERED_BY = "kapacitor.operator.dev/triggered-by"
LEGACY_FINALIZER = "kapacitor.operator.dev/finalizer"


def involved(body: Mapping[str, Any]) -> dict[str, Any]:
    """The TaskRun as an Event's involvedObject."""
    meta = body.get("metadata") or {}
    return {
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
    }


def _target(run: TaskRun) -> str:
    """status.target of a TaskRun."""
    spec = run.spec
    if spec.replay is not None:
        return f"Replay/{spec.replay.taskRef.name}"
    return f"KapacitorTask/{spec.taskRef.name}" if spec.taskRef else "Job"


class RunWorker:
    """Drives one TaskRun; see the module docstring."""

    def __init__(self, engine: RunEngine, body: Mapping[str, Any]) -> None:
        self.engine = engine
        self.deps = engine.deps
        self.body: dict[str, Any] = copy.deepcopy(dict(body))
        meta = self.body.get("metadata") or {}
        self.uid = str(meta.get("uid", ""))
        self.namespace = str(meta.get("namespace", ""))
        self.name = str(meta.get("name", ""))
        self.status = TaskRunStatus.model_validate(self.body.get("status") or {})
        self.run: TaskRun | None = None
        self.invalid: str | None = None
        self._parse()
        self.writer = StatusWriter(
            self.deps.kube,
            self.namespace,
            self.name,
            str(meta.get("resourceVersion") or "") or None,
            stopping=lambda: self.gone,
        )
        self.handle: ApiHandle | JobHandle | ReplayHandle | None = None
        self.held: tuple[str, str, str] | None = None  # server, task ID, scheduledFor
        self.target: TargetState | None = None
        self.resolved: Target | None = None
        self.ready: Prepared | Waiting | None = None
        self.recheck_at: datetime | None = None
        self.start_failures = 0
        self.gone = False
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # --- feeding -------------------------------------------------------------------------

    def _parse(self) -> None:
        try:
            self.run = parse_taskrun(self.body)
            self.invalid = None
        except ValidationError as exc:
            self.invalid = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop(), name=f"taskrun {self.namespace}/{self.name}")

    def wake(self) -> None:
        self._wake.set()

    def feed(self, body: Mapping[str, Any]) -> None:
        """A watch event: take the new spec and version (status is the worker's own)."""
        meta = body.get("metadata") or {}
        version = str(meta.get("resourceVersion") or "")
        if version and version == self.writer.resource_version:
            return  # the echo of our own write
        self.body = {**copy.deepcopy(dict(body)), "status": self.body.get("status")}
        self.writer.resource_version = version or self.writer.resource_version
        self._parse()
        self.wake()

    def task_changed(self) -> None:
        """The KapacitorTask this run waits for changed: prepare again."""
        self.target, self.ready = None, None
        self.wake()

    def delete(self) -> None:
        """The TaskRun is gone: stop its attempt (a Job goes with its owner) and the loop."""
        self.gone = True
        if isinstance(self.handle, ApiHandle | ReplayHandle):
            self.handle.cancel()
        self.wake()

    def abandon(self, message: str) -> None:
        """The operator is leaving and cannot wait any longer for the attempt's run."""
        if isinstance(self.handle, ApiHandle):
            self.handle.abandon(message)

    def earlier_runs(self, number: int) -> frozenset[str]:
        """The Kapacitor runs of this TaskRun's attempts before `number`."""
        return frozenset(
            a.externalID for a in self.status.attempts or [] if a.number < number and a.externalID
        )

    @property
    def runs_in_kapacitor(self) -> bool:
        return isinstance(self.handle, ApiHandle)

    # --- the loop ------------------------------------------------------------------------

    async def _loop(self) -> None:
        try:
            await self._migrate()
            while not self.gone:
                await asyncio.sleep(0)  # never starve others, whatever the loop finds
                self._wake.clear()
                now = self.deps.clock()
                if self.invalid is not None:
                    generation = int((self.body.get("metadata") or {}).get("generation") or 0)
                    await self._write(invalid_spec(self.status, self.invalid, now, generation))
                    return
                observation = await self._observe(now)
                decision = decide(self._inputs(now), self.status, observation)
                if decision.status != self.status and not await self._write(decision.status):
                    continue
                for note in decision.events:
                    self.engine.emit(involved(self.body), note)
                self._count(observation, decision)
                await self._act(decision, observation, now)
                if decision.done and self.handle is None:
                    return
                if self.engine.draining and not self.runs_in_kapacitor:
                    return
                await self._sleep(decision.wake_at, now)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("TaskRun %s/%s: worker failed", self.namespace, self.name)
        finally:
            await self._close()

    async def _write(self, status: TaskRunStatus) -> bool:
        outcome = await self.writer.write(status)
        if outcome == "written":
            self.status = status
            self.body["status"] = status.model_dump(by_alias=True, mode="json", exclude_none=True)
            self.engine.record(self.body["status"], self.uid)
            return True
        if outcome == "conflict":
            fresh = await self.writer.read()
            if fresh is None:
                self.gone = True
            else:
                self.body = fresh
                self.status = TaskRunStatus.model_validate(fresh.get("status") or {})
                self._parse()
            return False
        self.gone = True  # gone, or a status the API server will never take
        return False

    async def _migrate(self) -> None:
        """TaskRuns from before this engine carry a finalizer nothing would remove."""
        finalizers = (self.body.get("metadata") or {}).get("finalizers") or []
        if LEGACY_FINALIZER in finalizers:
            try:
                await self.deps.kube.remove_finalizer(
                    self.namespace, "taskruns", self.name, LEGACY_FINALIZER
                )
            except KubeError as exc:
                # The run goes on, but its deletion would hang on the finalizer: say so.
                reason = c.FORBIDDEN if isinstance(exc, KubeForbidden) else c.KUBERNETES_ERROR
                message = (
                    f"Cannot remove the finalizer {LEGACY_FINALIZER} of an older operator "
                    f"version: {exc}. Deleting this TaskRun waits for it."
                )
                log.warning("TaskRun %s/%s: %s", self.namespace, self.name, message)
                self.engine.emit(involved(self.body), EventNote("Warning", reason, message))

    def _inputs(self, now: datetime) -> RunInputs:
        assert self.run is not None
        spec = self.run.spec
        meta = self.body.get("metadata") or {}
        note = (meta.get("annotations") or {}).get(ANNOTATION_TRIGGERED_BY)
        created = self.run.creation_timestamp
        return RunInputs(
            name=self.name,
            generation=self.run.generation,
            created_at=parse_time(created) if created else now,
            job=spec.job is not None,
            target=_target(self.run),
            retry=spec.retry,
            cancel=spec.cancel,
            ttl=spec.ttlSecondsAfterFinished,
            retry_of=spec.retryOf,
            triggered_by="schedule" if note == "schedule" else "retry" if spec.retryOf else "api",
            replay=spec.replay is not None,
            uid=self.uid,
            recording_id=spec.replay.recordingID if spec.replay else None,
        )

    async def _observe(self, now: datetime) -> Observation:
        seen = None
        if isinstance(self.handle, ApiHandle | ReplayHandle):
            seen = self.handle.observe()
        elif isinstance(self.handle, JobHandle):
            try:
                seen = await self.handle.observe(now)
            except KubeError as exc:
                log.info("TaskRun %s/%s: cannot read its Job: %s", self.namespace, self.name, exc)
                self.recheck_at = now + timedelta(seconds=RECHECK)
        if isinstance(self.handle, JobHandle):
            self.recheck_at = self.handle.recheck_at or self.recheck_at
        return Observation(
            now=now,
            draining=self.engine.draining,
            target=self.target,
            ready=self.ready,
            attempt=seen,
            start_failures=self.start_failures,
            jitter=self.deps.jitter(),
        )

    def _count(self, observation: Observation, decision: Decision) -> None:
        seen = observation.attempt
        if isinstance(seen, Ended) and open_attempt(decision.status) is None:
            backend = (
                "job"
                if isinstance(self.handle, JobHandle)
                else "replay"
                if isinstance(self.handle, ReplayHandle)
                else "kapacitor"
            )
            metrics.RUN_ATTEMPTS.labels(backend, seen.result.end_reason).inc()
            if decision.status.phase == "Retrying":
                metrics.RETRIES.labels(seen.result.end_reason).inc()
            if is_terminal(decision.status) and decision.status.endReason:
                metrics.RUNS.labels(decision.status.endReason).inc()

    # --- actions -------------------------------------------------------------------------

    async def _act(self, decision: Decision, observation: Observation, now: datetime) -> None:
        started = False
        for action in decision.actions:
            started = await self._perform(action, now) or started
        if self.handle is not None and open_attempt(decision.status) is None:
            self.start_failures = (
                self.start_failures + 1 if isinstance(self._last_seen(), NotStarted) else 0
            )
            self._drop_handle()
        if isinstance(observation.ready, Prepared) and not started:
            self._release_prepared()  # offered, not taken (cancel, drain): give it back
        if not any(isinstance(a, Prepare) for a in decision.actions):
            self.target, self.ready = None, None

    def _last_seen(self) -> object:
        if isinstance(self.handle, ApiHandle | ReplayHandle):
            return self.handle.outcome
        return self.handle.ended if isinstance(self.handle, JobHandle) else None

    async def _perform(self, action: Action, now: datetime) -> bool:
        if isinstance(action, Prepare):
            await self._prepare(now)
        elif isinstance(action, Start):
            await self._start(action, now)
            return True
        elif isinstance(action, Attach):
            await self._attach(action, now)
        elif isinstance(action, Cancel):
            await self._cancel(now)
        elif isinstance(action, DeleteJob):
            try:
                await self.deps.kube.delete_job(self.namespace, action.name)
            except KubeError as exc:
                log.warning(
                    "TaskRun %s/%s: Job %s not deleted: %s",
                    self.namespace,
                    self.name,
                    action.name,
                    exc,
                )
        elif isinstance(action, Expire):
            try:
                await self.deps.kube.delete_custom(
                    self.namespace, "taskruns", self.name, uid=self.uid
                )
            except KubeError as exc:
                log.info("TaskRun %s/%s: TTL delete failed: %s", self.namespace, self.name, exc)
                self.recheck_at = now + timedelta(seconds=RECHECK)
        return False

    async def _prepare(self, now: datetime) -> None:
        assert self.run is not None
        await self.engine.primed.wait()
        self.wake()  # decide again at once with what is learned here
        found = await resolve_target(self.deps, self.run)
        if isinstance(found, TargetState):
            self.target, self.ready = found, None
            self.engine.wait_for_task(self.namespace, target_ref(self.run), self)
            if found.transient:
                self.recheck_at = now + timedelta(seconds=RECHECK)
            return
        self.resolved = found
        if self.run.spec.replay is not None:
            self.target, self.ready = TargetState(True, task_id=found.task_id), None
            return
        previous = self.status.attempts[-1].externalID if self.status.attempts else None
        try:
            planned = await self.engine.planner.plan(
                self.run,
                found,
                previous,
                owner=self.uid,
                now=now,
                wake=self.wake,
                avoid=self.engine.busy_seconds(found.task_id, self.uid),
            )
        except Exception as exc:  # Kapacitor could not answer: say so, look again later
            message = f"Kapacitor at {found.server} could not answer: {exc}"
            self.target = TargetState(
                False, reason="KapacitorUnavailable", message=message, transient=True
            )
            self.recheck_at = now + timedelta(seconds=RECHECK)
            return
        if isinstance(planned, TargetState):
            self.target, self.ready = planned, None
        else:
            self.target, self.ready = TargetState(True, task_id=found.task_id), planned

    def _timeout(self) -> float:
        assert self.run is not None
        spec = self.run.spec.timeout
        return parse_duration(spec) if spec else self.deps.settings.default_run_timeout

    async def _start(self, action: Start, now: datetime) -> None:
        assert self.run is not None
        if action.method == "job":
            handle = JobHandle(self.deps.kube, self.run, action.number, action.external_id or "")
            handle.ended = await handle.create()
            self.handle = handle
            self.wake()
            return
        if action.method == "replay":
            assert self.resolved is not None
            self.handle = self._replay_handle(self.resolved, action.number, now)
            return
        assert isinstance(self.ready, Prepared)
        assert self.resolved is not None
        prepared, target = self.ready, self.resolved
        self.held = (target.server, prepared.task_id, prepared.scheduled_for)
        self.ready = None
        self.handle = self.engine.api_handle(
            self, target, prepared, action.number, self._timeout(), started_at=now
        )

    async def _attach(self, action: Attach, now: datetime) -> None:
        assert self.run is not None
        attempt = open_attempt(self.status)
        assert attempt is not None
        if self.run.spec.job is not None:
            self.handle = JobHandle(
                self.deps.kube, self.run, action.number, attempt.externalID or ""
            )
            self.wake()
            return
        await self.engine.primed.wait()
        found = await resolve_target(self.deps, self.run)
        if isinstance(found, TargetState) and found.transient:
            self.recheck_at = now + timedelta(seconds=RECHECK)
            return
        # A task that is gone or changed kind cannot say how the attempt's run ended.
        target = found if isinstance(found, Target) else None
        if self.run.spec.replay is not None:
            started = parse_time(attempt.startedAt) if attempt.startedAt else now
            self.handle = self._replay_handle(target, action.number, started, attempt)
            self.wake()
            return
        self.handle, self.held = self.engine.follow_handle(
            self, target, attempt, self._timeout(), status_task_id=self.status.taskID
        )
        self.wake()

    def _replay_handle(
        self, target: Target | None, number: int, started: datetime, attempt: Attempt | None = None
    ) -> ReplayHandle:
        """Make (or find) attempt `number`'s recording and replay, and follow them; for an
        attempt found open, by the IDs and task its status records. No target: the
        KapacitorTask is gone, so how the replay ended cannot be known."""
        assert self.run is not None
        task_id = self.status.taskID if attempt is not None and self.status.taskID else None
        plan = replay_plan(
            self.run,
            self.uid,
            number,
            task_id=task_id or (target.task_id if target else ""),
            started=started,
            timeout=self._timeout(),
            attempt=attempt,
        )
        if target is None:
            message = "The replay's KapacitorTask is gone, so how its replay ended is unknown."
            result = AttemptResult("crashed", plan.replay_id, message)
            outcome = Ended(result)
            return ReplayHandle(plan, None, wake=self.wake, clock=self.deps.clock, outcome=outcome)
        return ReplayHandle(plan, target.client, wake=self.wake, clock=self.deps.clock)

    async def _cancel(self, now: datetime) -> None:
        if isinstance(self.handle, ApiHandle | ReplayHandle):
            self.handle.cancel()
        elif isinstance(self.handle, JobHandle) and not self.handle.cancelled:
            try:
                await self.handle.cancel()
            except KubeError as exc:
                log.info("TaskRun %s/%s: Job not deleted yet: %s", self.namespace, self.name, exc)
                self.recheck_at = now + timedelta(seconds=RECHECK)
            self.wake()

    def _drop_handle(self) -> None:
        if self.held is not None:
            server, task_id, scheduled_for = self.held
            self.engine.planner.release(server, task_id, scheduled_for, self.uid, spent=True)
            self.held = None
        if isinstance(self.handle, ApiHandle):
            self.engine.claims.release(self.handle.attempt.key, self.handle.attempt.owner)
        self.handle = None

    def _release_prepared(self) -> None:
        if isinstance(self.ready, Prepared) and self.resolved is not None:
            self.engine.planner.release(
                self.resolved.server, self.ready.task_id, self.ready.scheduled_for, self.uid
            )
        self.ready = None

    async def _sleep(self, wake_at: datetime | None, now: datetime) -> None:
        moments = [t for t in (wake_at, self.recheck_at) if t is not None]
        self.recheck_at = None
        timeout = max(0.0, (min(moments) - now).total_seconds()) if moments else None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _close(self) -> None:
        if isinstance(self.handle, ApiHandle) and self.handle.task is not None:
            self.handle.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.handle.task), timeout=10)
        if isinstance(self.handle, ReplayHandle) and self.handle.task is not None:
            # A replay goes on in Kapacitor without us (the next operator follows it),
            # unless it was being stopped: give the deletion a moment.
            if self.handle.stopping:
                with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.handle.task), timeout=10)
            self.handle.task.cancel()
        self._release_prepared()
        if self.handle is not None:
            self._drop_handle()
        self.engine.forget(self)
