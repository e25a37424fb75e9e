"""A Job-backed attempt: create its Job (idempotently, by its deterministic name), read
its Job and Pods when they change, read the log tail when it ends, delete it on cancel.

Nothing here waits: the worker calls `observe()` when a Job or Pod event (or a timer)
wakes it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.k8s.errors import (
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeUnavailable,
)
from kapacitor_operator.models.resources import TaskRun
from kapacitor_operator.reconcile.job_refusal import job_refusal, view_without_pods
from kapacitor_operator.reconcile.taskrun_job import JobView, build_job, view_job
from kapacitor_operator.reconcile.taskrun_model import (
    AttemptObservation,
    AttemptResult,
    Ended,
    Live,
    NotStarted,
)
from kapacitor_operator.runs.ports import Kube
from kapacitor_operator.timeutil import parse_time

log = logging.getLogger(__name__)
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 16384


def start_failure(exc: KubeError, name: str) -> Ended | NotStarted:
    """What a refused Job creation means for the attempt."""
    if isinstance(exc, KubeInvalid):
        # The spec itself is wrong (no image, a bad name...): retrying cannot help.
        result = AttemptResult("failed", name, exc.message, retryable=False, reason=c.JOB_REJECTED)
        return Ended(result)
    if isinstance(exc, KubeForbidden):
        return NotStarted(c.FORBIDDEN, f"The API server refused Job {name}: {exc.message}")
    if isinstance(exc, KubeUnavailable):
        return NotStarted(c.UNAVAILABLE, f"The API server is unavailable: {exc.message}")
    result = AttemptResult(
        "failed", name, f"Job {name}: {exc}", retryable=False, reason=c.JOB_REJECTED
    )
    return Ended(result)


class JobHandle:
    """One attempt's Job."""

    def __init__(self, kube: Kube, run: TaskRun, number: int, name: str) -> None:
        self.kube = kube
        self.run = run
        self.number = number
        self.name = name
        self.created = False
        self.seen = False
        self.cancelled = False
        self.recheck_at: datetime | None = None
        self.ended: AttemptObservation | None = None

    async def create(self) -> AttemptObservation | None:
        """Create the Job; None when it now exists (made now or before)."""
        try:
            await self.kube.create_job(self.run.namespace, build_job(self.run, self.number))
        except KubeError as exc:
            return start_failure(exc, self.name)
        self.created = True
        return None

    async def observe(self, now: datetime) -> AttemptObservation:
        """The attempt as its Job and Pods show it now.

        Raises:
            KubeError: the API server could not answer (the worker looks again later).
        """
        if self.ended is not None:
            return self.ended
        ns = self.run.namespace
        job = await self.kube.get_job(ns, self.name)
        if self.cancelled:
            return self._end(AttemptResult("stopped", self.name, "Job deleted by spec.cancel."))
        if job is None:
            if self.seen:
                message = f"Job {self.name} was deleted before it finished."
                return self._end(AttemptResult("crashed", self.name, message))
            # Written to status, never created (the operator stopped in between): create it.
            failure = await self.create()
            return failure if failure is not None else Live(self.name)
        self.seen = True
        pods = await self.kube.job_pods(ns, self.name)
        view = view_job(job, pods, now)
        if not pods and not isinstance(view.seen, Ended):
            view = await self._without_pods(job, now)
        if isinstance(view.seen, Ended) and view.log_pod is not None:
            view = view_job(job, pods, now, await self._log_tail(*view.log_pod))
        self.recheck_at = view.recheck_at
        if isinstance(view.seen, Ended):
            return self._end(view.seen.result)
        return view.seen

    async def _without_pods(self, job: dict[str, Any], now: datetime) -> JobView:
        """Why a Job has no Pod (Pod Security, quota...): only the Job controller's Events
        say. Read once the Job is a second old, so a Job whose Pod is on its way costs
        nothing more."""
        meta = job.get("metadata") or {}
        stamp = meta.get("creationTimestamp")
        created = parse_time(stamp) if stamp else now
        refusal = None
        if (now - created).total_seconds() >= 1:
            uid = meta.get("uid")
            selector = f"involvedObject.uid={uid}" if uid else f"involvedObject.name={self.name}"
            try:
                events = await self.kube.list_events(
                    self.run.namespace, f"{selector},reason=FailedCreate"
                )
            except KubeError as exc:
                # Not fatal: the attempt goes on; its status says what cannot be seen.
                message = f"Job {self.name} has no Pod, and its Events cannot be read: {exc}"
                log.warning("TaskRun %s/%s: %s", self.run.namespace, self.run.name, message)
                view = view_without_pods(self.name, None, created, now)
                return JobView(Live(self.name, detail=message), recheck_at=view.recheck_at)
            refusal = job_refusal(events)
        return view_without_pods(self.name, refusal, created, now)

    def _end(self, result: AttemptResult) -> Ended:
        self.ended = Ended(result)
        return self.ended

    async def _log_tail(self, pod: str, container: str) -> tuple[str, ...] | None:
        try:
            text = await self.kube.pod_log(
                self.run.namespace,
                pod,
                container=container or None,
                tail_lines=LOG_TAIL_LINES,
                limit_bytes=LOG_TAIL_BYTES,
            )
        except KubeError as exc:
            log.info("no log tail for %s/%s: %s", self.run.namespace, pod, exc)
            return None
        if not text:
            return None
        return tuple(text.rstrip("\n").splitlines()[-LOG_TAIL_LINES:])

    async def cancel(self) -> None:
        """Delete the Job; its Pods (and containers) go with it.

        Raises:
            KubeError: the API server refused (the worker asks again).
        """
        await self.kube.delete_job(self.run.namespace, self.name)
        self.cancelled = True


def involved(run: TaskRun) -> dict[str, Any]:
    """The TaskRun as an Event's involvedObject."""
    from kapacitor_operator import API_VERSION

    return {
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "name": run.name,
        "namespace": run.namespace,
        "uid": run.uid,
    }
