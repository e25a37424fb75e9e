"""Reading a KapacitorTask and finding its task in Kapacitor, shared by the commands."""

from __future__ import annotations

from pydantic import ValidationError

from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.models.resources import KAPACITORTASK, KapacitorTask, parse_kapacitortask
from kapacitor_operator.plugin.errors import PluginError
from kapacitor_operator.plugin.session import Session
from kapacitor_operator.reconcile.desired import default_task_id


async def load_task(session: Session, name: str) -> KapacitorTask:
    """The KapacitorTask in the session's namespace.

    Raises:
        PluginError: absent, forbidden, or its spec does not parse.
        KubeError: any other API failure.
    """
    body = await session.get_object(KAPACITORTASK, name)
    try:
        return parse_kapacitortask(body)
    except ValidationError as exc:
        raise PluginError(f"kapacitortask/{name} does not parse: {exc.errors()[0]['msg']}") from exc


def task_name(task: KapacitorTask) -> str:
    """TICKscript: the task ID; Flux: the task name (Kapacitor assigns Flux IDs)."""
    return task.spec.taskID or default_task_id(task.namespace, task.name)


async def kapacitor_id(client: KapacitorClient, task: KapacitorTask) -> str | None:
    """The task's ID in Kapacitor: recorded in status, else (Flux) looked up by name as
    the operator does, else (TICKscript) the ID the spec implies. None: no such task.

    Raises:
        KapacitorError: Kapacitor could not answer.
    """
    if task.status.taskID:
        return task.status.taskID
    if task.spec.type != "flux":
        return task_name(task)
    found = await client.find_flux_tasks(task.status.taskName or task_name(task))
    return found[0].id if found else None


def not_synced(task: KapacitorTask) -> str:
    """Why the task may be missing in Kapacitor, from its Ready condition."""
    for cond in task.status.conditions or []:
        if cond.type == "Ready":
            return f"Ready={cond.status} {cond.reason}: {cond.message}".rstrip(": ")
    return "the operator has not reported on it yet"
