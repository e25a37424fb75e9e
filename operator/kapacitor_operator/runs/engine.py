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

from kapacitor_operator.models.taskrun import Attempt
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.run_registry import Claims, ServerFacts
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
        self._task_waiters: dict[tuple[str, str], set[str]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # --- events --------------------------------------------------------------------------

    def on_taskrun(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A TaskRun watch event (None: seen in the initial listing)."""
        uid = str((body.get("metadata") or {}).get("uid", ""))
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
            not_ours=worker.earlier_runs(number) | {prepared.retry_of or ""},
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
            not_ours=worker.earlier_runs(open_attempt.number) | {open_attempt.retryOfRunID or ""},
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
