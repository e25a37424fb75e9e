"""The TaskRun engine: a worker per live TaskRun, fed by watch events, and a drain that
lets in-flight Kapacitor runs finish when the operator stops.

kopf calls `on_taskrun`, `on_owned` and `on_kapacitortask` from its event handlers;
nothing else drives the engine. A TaskRun that has ended and has no TTL costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.models.taskrun import Attempt
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.run_registry import LOOKBACK, Claims, ServerFacts, second_of
from kapacitor_operator.reconcile.taskrun_api import ApiAttempt, RunContext
from kapacitor_operator.reconcile.taskrun_job import LABEL_TASKRUN_UID
from kapacitor_operator.reconcile.taskrun_model import AttemptResult, Ended, Prepared
from kapacitor_operator.runs.api_handle import ApiHandle
from kapacitor_operator.runs.ports import EngineDeps
from kapacitor_operator.runs.prepare import Planner, Target
from kapacitor_operator.runs.slots import RunSlots
from kapacitor_operator.runs.worker import LEGACY_FINALIZER, RunWorker
from kapacitor_operator.timeutil import parse_time

log = logging.getLogger(__name__)
TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled"})
COMPONENT = "kapacitor-operator"
ABANDON_GRACE = 10.0
USED_SECONDS_KEPT = 4096
"""Per task, how many used seconds are remembered before those far past are dropped."""
"""Seconds a run stopped at the end of the drain gets to be recorded."""


def settled(body: Mapping[str, Any]) -> bool:
    """An ended TaskRun with nothing left to do (no TTL, no legacy finalizer)."""
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    meta = body.get("metadata") or {}
    return (
        status.get("phase") in TERMINAL
        and spec.get("ttlSecondsAfterFinished") is None
        and LEGACY_FINALIZER not in (meta.get("finalizers") or [])
    )


class RunEngine:
    """All live TaskRuns of this operator process."""

    def __init__(self, deps: EngineDeps) -> None:
        self.deps = deps
        self.workers: dict[str, RunWorker] = {}
        self.planner = Planner(RunSlots(deps.settings.max_runs_per_server))
        self.claims = Claims()
        self.facts = ServerFacts()
        self.draining = False
        # Kapacitor runs recorded in any TaskRun's status, per Flux task: never another
        # attempt's, even after a restart emptied the in-memory claims.
        self.recorded: dict[str, set[str]] = {}
        # scheduledFor seconds of open attempts in any TaskRun's status, per Flux task
        # (second -> TaskRun UID): a new manual run never takes one.
        self.open_seconds: dict[str, dict[int, str]] = {}
        # scheduledFor seconds of every attempt in any TaskRun's status, per Flux task: a
        # run may exist there (retried later, or a crashed attempt's unrecorded run), so a
        # new manual run never takes one, even after a restart.
        self.used_seconds: dict[str, set[int]] = {}
        # Set once every TaskRun has been read: before that, nothing starts or is resolved,
        # since an attempt left open by the previous operator might not be known yet.
        self.primed = asyncio.Event()
        self._task_waiters: dict[tuple[str, str], set[str]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # --- events --------------------------------------------------------------------------

    def on_taskrun(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A TaskRun watch event (None: seen in the initial listing)."""
        uid = str((body.get("metadata") or {}).get("uid", ""))
        self.record(body.get("status") or {}, uid)
        if event_type == "DELETED":
            worker = self.workers.pop(uid, None)
            if worker is not None:
                worker.delete()
            return
        worker = self.workers.get(uid)
        if worker is not None:
            worker.feed(body)
        elif not self.draining and not settled(body):
            worker = RunWorker(self, body)
            self.workers[uid] = worker
            worker.start()

    def on_owned(self, body: Mapping[str, Any]) -> None:
        """A Job or Pod of an attempt changed: wake its TaskRun's worker."""
        labels = (body.get("metadata") or {}).get("labels") or {}
        worker = self.workers.get(str(labels.get(LABEL_TASKRUN_UID, "")))
        if worker is not None:
            worker.wake()

    def on_kapacitortask(self, namespace: str, name: str) -> None:
        """A KapacitorTask changed: TaskRuns waiting for it prepare again."""
        for uid in self._task_waiters.pop((namespace, name), set()):
            worker = self.workers.get(uid)
            if worker is not None:
                worker.task_changed()

    def record(self, status: Mapping[str, Any], uid: str) -> None:
        """Remember the runs a TaskRun status attributes to its attempts, and the
        scheduledFor of its open attempt."""
        task_id = str(status.get("taskID") or "")
        if not task_id:
            return
        attempts = status.get("attempts") or []
        runs = {str(a["externalID"]) for a in attempts if a.get("externalID")}
        if runs:
            self.recorded.setdefault(task_id, set()).update(runs)
        used = self.used_seconds.setdefault(task_id, set())
        used.update(second_of(str(a["scheduledFor"])) for a in attempts if a.get("scheduledFor"))
        if len(used) > USED_SECONDS_KEPT:
            newest = max(used)
            used.difference_update([s for s in used if s < newest - 2 * LOOKBACK])
        seconds = self.open_seconds.setdefault(task_id, {})
        for second in [s for s, owner in seconds.items() if owner == uid]:
            del seconds[second]
        last = attempts[-1] if attempts else {}
        if last.get("scheduledFor") and not last.get("finishedAt"):
            seconds[second_of(str(last["scheduledFor"]))] = uid

    def busy_seconds(self, task_id: str, uid: str) -> set[int]:
        """scheduledFor seconds a new manual run of the task must not take: other TaskRuns'
        open attempts', and every second a recorded attempt used."""
        others = {s for s, owner in self.open_seconds.get(task_id, {}).items() if owner != uid}
        return others | self.used_seconds.get(task_id, set())

    def start(self) -> None:
        """Read every TaskRun once (in the background), then let workers act."""
        task = asyncio.create_task(self._prime(), name="taskrun engine priming")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _prime(self) -> None:
        pause = 1.0
        namespaces: list[str | None] = [*self.deps.settings.namespaces] or [None]
        while True:
            try:
                for namespace in namespaces:
                    for body in await self.deps.kube.list_custom("taskruns", namespace):
                        uid = str((body.get("metadata") or {}).get("uid", ""))
                        self.record(body.get("status") or {}, uid)
            except KubeError as exc:
                log.warning("cannot list TaskRuns yet, retrying in %.0fs: %s", pause, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
                continue
            self.primed.set()
            return

    def not_ours(
        self, worker: RunWorker, task_id: str, number: int, retry_of: str | None
    ) -> frozenset[str]:
        """Runs attempt `number` of `worker` must never be attributed: recorded by other
        attempts (of any TaskRun), and the run it retries."""
        own = {a.externalID for a in worker.status.attempts or [] if a.number == number}
        others = self.recorded.get(task_id, set()) - own
        return frozenset(others | worker.earlier_runs(number) | ({retry_of} if retry_of else set()))

    def wait_for_task(self, namespace: str, name: str, worker: RunWorker) -> None:
        self._task_waiters.setdefault((namespace, name), set()).add(worker.uid)

    def forget(self, worker: RunWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]
        self.planner.forget(worker.uid)

    # --- Events --------------------------------------------------------------------------

    def emit(self, involved: dict[str, Any], note: EventNote) -> None:
        """Post an Event in the background; a failure to post is logged, never fatal."""
        task = asyncio.create_task(self._post(involved, note))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _post(self, involved: dict[str, Any], note: EventNote) -> None:
        try:
            await self.deps.kube.create_event(
                str(involved.get("namespace", "")),
                involved,
                note.type,
                note.reason,
                note.message,
                component=COMPONENT,
            )
        except Exception as exc:
            log.warning("Event %s on %s not posted: %s", note.reason, involved.get("name"), exc)

    # --- attempts ------------------------------------------------------------------------

    def _context(self, client: Any, handle_ref: list[ApiHandle]) -> RunContext:
        async def noted(run_id: str) -> None:
            await handle_ref[0].noted(run_id)

        return RunContext(client=client, claims=self.claims, facts=self.facts, on_run_id=noted)

    def api_handle(
        self,
        worker: RunWorker,
        target: Target,
        prepared: Prepared,
        number: int,
        timeout: float,
        *,
        started_at: datetime,
    ) -> ApiHandle:
        """Start the Kapacitor run of a prepared attempt."""
        attempt = ApiAttempt(
            server=target.server,
            task_id=prepared.task_id,
            owner=f"{worker.uid}/{number}",
            method=prepared.method,
            retry_of=prepared.retry_of,
            scheduled_for=prepared.scheduled_for,
            timeout=timeout,
            started_at=started_at,
            not_ours=self.not_ours(worker, prepared.task_id, number, prepared.retry_of),
        )
        ref: list[ApiHandle] = []
        handle = ApiHandle(
            attempt, self._context(target.client, ref), wake=worker.wake, clock=self.deps.clock
        )
        ref.append(handle)
        return handle

    def follow_handle(
        self,
        worker: RunWorker,
        target: Target | None,
        open_attempt: Attempt,
        timeout: float,
        *,
        status_task_id: str | None,
    ) -> tuple[ApiHandle, tuple[str, str, str] | None]:
        """Follow an open attempt found in status through Kapacitor's record of its run."""
        attempt = ApiAttempt(
            server=target.server if target else "",
            task_id=status_task_id or (target.task_id if target else ""),
            owner=f"{worker.uid}/{open_attempt.number}",
            method="retry" if open_attempt.method == "retry" else "manual",
            retry_of=open_attempt.retryOfRunID,
            scheduled_for=open_attempt.scheduledFor or "",
            timeout=timeout,
            started_at=parse_time(open_attempt.startedAt or "1970-01-01T00:00:00Z"),
            not_ours=self.not_ours(
                worker,
                status_task_id or (target.task_id if target else ""),
                open_attempt.number,
                open_attempt.retryOfRunID,
            ),
        )
        ref: list[ApiHandle] = []
        if target is None:
            message = "The attempt's KapacitorTask is gone, so how its run ended is unknown."
            outcome = Ended(AttemptResult("crashed", open_attempt.externalID, message))
            handle = ApiHandle(
                attempt,
                self._context(None, ref),
                wake=worker.wake,
                clock=self.deps.clock,
                outcome=outcome,
            )
            return handle, None
        held = None
        # The run exists whoever else holds its second now; hold it only if free, so a
        # release at the end never frees another attempt's.
        if attempt.scheduled_for and self.planner.reservations.reserve(
            attempt.key, attempt.scheduled_for, worker.uid
        ):
            held = (attempt.server, attempt.task_id, attempt.scheduled_for)
        self.planner.slots.take(attempt.server, worker.uid)
        if open_attempt.externalID:
            self.claims.assign(attempt.key, open_attempt.externalID, attempt.owner)
        handle = ApiHandle(
            attempt,
            self._context(target.client, ref),
            wake=worker.wake,
            clock=self.deps.clock,
            run_id=open_attempt.externalID,
            follow=True,
        )
        ref.append(handle)
        return handle, held or (attempt.server, attempt.task_id, "")

    # --- stopping ------------------------------------------------------------------------

    async def drain(self, limit: float) -> None:
        """Start nothing new; let Kapacitor runs in flight finish for up to `limit`
        seconds and record them; then stop what is left (recorded as crashed)."""
        self.draining = True
        for worker in list(self.workers.values()):
            worker.wake()
        running = [w.task for w in self.workers.values() if w.task is not None]
        if running:
            log.info("draining %d TaskRun workers for up to %.0fs", len(running), limit)
            await asyncio.wait(running, timeout=limit)
        late = [w for w in self.workers.values() if w.runs_in_kapacitor]
        for worker in late:
            worker.abandon(
                f"The operator stopped and its drain timeout ({limit:g}s) ran out: the run "
                "was cancelled."
            )
        pending = [
            w.task for w in self.workers.values() if w.task is not None and not w.task.done()
        ]
        if late and pending:
            await asyncio.wait(pending, timeout=ABANDON_GRACE)
        for worker in list(self.workers.values()):
            if worker.task is not None and not worker.task.done():
                worker.task.cancel()
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._background:
            await asyncio.wait(self._background, timeout=5)
