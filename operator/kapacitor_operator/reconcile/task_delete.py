"""Remove a KapacitorTask's task from Kapacitor when the resource goes (deletionPolicy)."""

from __future__ import annotations

from dataclasses import dataclass

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.models.resources import KapacitorTask
from kapacitor_operator.reconcile.desired import default_task_id
from kapacitor_operator.reconcile.outcome import EventNote


@dataclass(frozen=True)
class DeleteResult:
    """What the finalizer did."""

    deleted: list[str]
    event: EventNote


def task_identity(task: KapacitorTask) -> str:
    """TICKscript task ID, or Flux task name."""
    return task.spec.taskID or default_task_id(task.namespace, task.name)


def orphaned(task: KapacitorTask) -> DeleteResult:
    """deletionPolicy: Orphan: nothing is deleted, and Kapacitor need not be reached."""
    ident = task_identity(task)
    return DeleteResult(
        [],
        EventNote(
            "Normal", c.ORPHANED, f"Left task {ident} in Kapacitor (deletionPolicy: Orphan)."
        ),
    )


async def delete_from_kapacitor(task: KapacitorTask, client: KapacitorClient) -> DeleteResult:
    """Delete the task (idempotently) unless deletionPolicy is Orphan.

    Raises:
        KapacitorError: Kapacitor could not be reached or refused; the caller retries and
            the finalizer stays until the deletion is done.
    """
    ident = task_identity(task)
    if task.spec.deletionPolicy == "Orphan":
        return orphaned(task)
    if task.spec.type != "flux":
        await client.delete_task(ident)
        return DeleteResult(
            [ident], EventNote("Normal", c.DELETED, f"Deleted task {ident} from Kapacitor.")
        )
    ids: list[str] = []
    if task.status.taskID and task.status.taskName:
        ids.append(task.status.taskID)
    ids.extend(t.id for t in await client.find_flux_tasks(ident) if t.id not in ids)
    deleted = [task_id for task_id in ids if await client.delete_flux_task(task_id)]
    what = ", ".join(deleted) if deleted else "nothing left to delete"
    return DeleteResult(
        deleted,
        EventNote("Normal", c.DELETED, f"Deleted Flux task {ident} from Kapacitor ({what})."),
    )
