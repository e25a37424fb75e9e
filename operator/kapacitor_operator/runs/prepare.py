"""Before an API attempt starts: is its Flux task runnable, is a run slot free, which
method (retry of the previous run, or a manual run) and which scheduledFor.

The answers feed decide() as an Observation; what is held (a slot, a scheduledFor) is
handed back by the worker if the attempt does not start after all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from kapacitor_operator import conditions as c
from kapacitor_operator.k8s.errors import KubeError, KubeForbidden
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.pool import InvalidCABundle
from kapacitor_operator.models.resources import TaskRun, parse_kapacitortask
from kapacitor_operator.reconcile.connection import ReferenceProblem, UrlNotAllowed, check_url
from kapacitor_operator.reconcile.run_registry import Reservations, TaskKey
from kapacitor_operator.reconcile.taskrun_model import ApiMethod, Prepared, TargetState, Waiting
from kapacitor_operator.runs.ports import EngineDeps
from kapacitor_operator.runs.slots import RunSlots
from kapacitor_operator.urls import redact_url

RECHECK = 10.0
"""Seconds before preparing again after Kapacitor or the API server failed to answer."""


@dataclass(frozen=True)
class Target:
    """A runnable Flux task: where it lives and its client."""

    server: str
    task_id: str
    client: KapacitorClient


def target_ref(run: TaskRun) -> str:
    """The name of the KapacitorTask a TaskRun (Flux run or replay) refers to."""
    if run.spec.replay is not None:
        return run.spec.replay.taskRef.name
    assert run.spec.taskRef is not None
    return run.spec.taskRef.name


async def resolve_target(deps: EngineDeps, run: TaskRun) -> TargetState | Target:
    """The KapacitorTask a TaskRun refers to, as a runnable target or why it is not:
    a Flux task for runs, a TICKscript task for replays."""
    ref = target_ref(run)
    replay = run.spec.replay
    try:
        body = await deps.kube.get_custom(run.namespace, "kapacitortasks", ref)
    except KubeError as exc:
        message = f"Cannot read KapacitorTask {ref}: {exc}"
        reason = c.FORBIDDEN if isinstance(exc, KubeForbidden) else c.KUBERNETES_ERROR
        return TargetState(False, reason=reason, message=message, transient=True)
    if body is None:
        return TargetState(
            False, reason=c.TASK_NOT_FOUND, message=f"KapacitorTask {ref} does not exist."
        )
    try:
        task = parse_kapacitortask(body)
    except ValidationError:
        return TargetState(
            False, reason=c.TASK_NOT_READY, message=f"KapacitorTask {ref} has an invalid spec."
        )
    if replay is None and task.spec.type != "flux":
        message = f"KapacitorTask {ref} is a {task.spec.type} task; TaskRuns run Flux tasks."
        return TargetState(False, reason=c.NOT_FLUX, message=message, permanent=True)
    if replay is not None and task.spec.type == "flux":
        message = f"KapacitorTask {ref} is a Flux task; replays need a TICKscript task."
        return TargetState(False, reason=c.NOT_TICKSCRIPT, message=message, permanent=True)
    if replay is not None and replay.record is not None and task.spec.type != "stream":
        message = (
            f"KapacitorTask {ref} is a {task.spec.type} task; a stream recording replays "
            "only against a stream task."
        )
        return TargetState(False, reason=c.NOT_TICKSCRIPT, message=message, permanent=True)
    try:
        # Before anything is read for it (issue 12): a task whose URL the operator may not
        # call cannot be run, whatever its status says.
        check_url(task.spec.kapacitor, deps.settings)
    except UrlNotAllowed as exc:
        return TargetState(False, reason=exc.reason, message=exc.message, permanent=True)
    if not (task.status.taskID and (replay is not None or task.status.taskName)):
        ready = c.get_condition(task.status.conditions, c.READY)
        why = f" ({ready.reason}: {ready.message})" if ready and ready.status != "True" else ""
        message = f"KapacitorTask {ref} has no Kapacitor task yet{why}."
        return TargetState(False, reason=c.TASK_NOT_READY, message=message)
    try:
        connection = await deps.resolve_connection(task)
        client = deps.clients.get(connection)
    except ReferenceProblem as exc:
        message = exc.message if exc.message.endswith(".") else f"{exc.message}."
        return TargetState(False, reason=exc.reason, message=message, permanent=exc.permanent)
    except InvalidCABundle as exc:
        return TargetState(False, reason=c.INVALID_CA, message=f"KAPACITOR_CA_FILE: {exc}.")
    except KubeError as exc:
        message = f"Cannot read a Secret: {exc}"
        return TargetState(False, reason=c.KUBERNETES_ERROR, message=message, transient=True)
    return Target(redact_url(connection.normalized_url), task.status.taskID, client)


@dataclass
class Planner:
    """Slots and scheduledFor reservations shared by all workers."""

    slots: RunSlots
    reservations: Reservations = field(default_factory=Reservations)
    waiting: dict[TaskKey, dict[str, Callable[[], None]]] = field(default_factory=dict)

    async def plan(
        self,
        run: TaskRun,
        target: Target,
        previous_run: str | None,
        *,
        owner: str,
        now: datetime,
        wake: Callable[[], None],
        avoid: set[int] | None = None,
    ) -> Prepared | Waiting | TargetState:
        """Take a slot and a scheduledFor, and choose the method; or say why not now.
        A manual run's scheduledFor is none of `avoid` (seconds other attempts use or used).
        Nothing stays held unless the answer is Prepared.

        Raises:
            KapacitorError: Kapacitor could not answer.
        """
        if not self.slots.acquire(target.server, owner, wake):
            place = self.slots.position(target.server, owner)
            return Waiting(
                f"Waiting for a free run slot on {target.server}: {self.slots.limit} runs are in "
                f"flight (OPERATOR_MAX_RUNS_PER_SERVER); number {place} in line."
            )
        result: Prepared | Waiting | TargetState | None = None
        try:
            result = await self._plan(run, target, previous_run, now, owner, wake, avoid or set())
            return result
        finally:
            if not isinstance(result, Prepared):
                self.slots.release(target.server, owner)

    def release(
        self,
        server: str,
        task_id: str,
        scheduled_for: str | None,
        owner: str,
        *,
        spent: bool = False,
    ) -> None:
        """Give back an attempt's slot and scheduledFor (`spent`: a run may have been
        started with it); wake whoever waits for them."""
        self.slots.release(server, owner)
        key = (server, task_id)
        self.reservations.release(key, scheduled_for, owner, spent=spent)
        for wake in self.waiting.pop(key, {}).values():
            wake()

    def forget(self, owner: str) -> None:
        """`owner` no longer waits for anything (its TaskRun ended or went away)."""
        for key in list(self.waiting):
            self.waiting[key].pop(owner, None)
            if not self.waiting[key]:
                del self.waiting[key]
        for server in list(self.slots.queue):
            self.slots.queue[server].pop(owner, None)

    async def _plan(
        self,
        run: TaskRun,
        target: Target,
        previous_run: str | None,
        now: datetime,
        owner: str,
        wake: Callable[[], None],
        avoid: set[int],
    ) -> Prepared | Waiting | TargetState:
        key = (target.server, target.task_id)
        method: ApiMethod = "manual"
        retry_of: str | None = None
        scheduled_for = run.spec.scheduledFor
        if previous_run is None and run.spec.retryOf:
            method, retry_of = "retry", run.spec.retryOf
        elif (
            # Not suppressed: a Kapacitor that cannot answer must not turn the retry of a
            # run into a manual run of another time (the caller looks again later).
            previous_run is not None
            and await target.client.get_run(target.task_id, previous_run) is not None
        ):
            method, retry_of = "retry", previous_run
        if retry_of is not None:
            original = await target.client.get_run(target.task_id, retry_of)
            if original is None:
                return TargetState(
                    False,
                    reason=c.FAILED,
                    message=f"Kapacitor no longer has run {retry_of} (finished runs are dropped "
                    "when task-run-influxdb = none, and kept 14 days otherwise).",
                    permanent=True,
                )
            scheduled_for = original.scheduled_for
        if scheduled_for is None:
            scheduled_for = self.reservations.reserve_near(key, now, owner, avoid)
            if scheduled_for is None:
                return Waiting(f"Too many manual runs of task {target.task_id} in flight.")
        elif not self.reservations.reserve(key, scheduled_for, owner):
            self.waiting.setdefault(key, {})[owner] = wake
            return Waiting(
                f"Another attempt of task {target.task_id} runs with scheduledFor "
                f"{scheduled_for}; waiting for it to end, so that each run is told apart."
            )
        return Prepared(target.task_id, method, retry_of, scheduled_for)
