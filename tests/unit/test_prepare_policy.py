"""A TaskRun runs its KapacitorTask's connection: the URL policy holds there too, before
anything is read for it (issue 12)."""

from __future__ import annotations

from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.models.resources import parse_taskrun
from kapacitor_operator.reconcile.connection import MissingReference
from kapacitor_operator.reconcile.taskrun_model import TargetState
from kapacitor_operator.runs.ports import EngineDeps
from kapacitor_operator.runs.prepare import resolve_target


class Kube:
    def __init__(self, task: dict[str, Any]) -> None:
        self.task = task

    async def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        return self.task


def flux_task(url: str, *, synced: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": "nightly", "namespace": "team-a", "uid": "u", "generation": 1},
        "spec": {
            "type": "flux",
            "flux": 'from(bucket: "b") |> range(start: -1h)',
            "every": "1h",
            "kapacitor": {"url": url, "credentialsSecretRef": {"name": "creds"}},
        },
        "status": {"taskID": "0000000000000001", "taskName": "n"} if synced else {},
    }


def deps(task: dict[str, Any], resolved: list[str]) -> EngineDeps:
    async def resolve(t: Any) -> Any:
        resolved.append(t.name)
        raise MissingReference("Secret team-a/creds not found")

    return EngineDeps(
        kube=Kube(task),  # type: ignore[arg-type]
        clients=None,  # type: ignore[arg-type]
        settings=Settings(kapacitor_url="http://kapacitor.monitoring:9092"),
        resolve_connection=resolve,
    )


RUN = parse_taskrun(
    {
        "metadata": {"name": "r", "namespace": "team-a", "uid": "r1", "generation": 1},
        "spec": {"taskRef": {"name": "nightly"}},
    }
)


async def test_a_task_outside_the_policy_cannot_run_and_nothing_is_read() -> None:
    for synced in (True, False):
        resolved: list[str] = []
        found = await resolve_target(
            deps(flux_task("http://evil:9092", synced=synced), resolved), RUN
        )
        assert isinstance(found, TargetState)
        assert (found.reason, found.permanent) == (c.KAPACITOR_URL_NOT_ALLOWED, True)
        assert resolved == []


async def test_reference_problems_keep_their_reason() -> None:
    resolved: list[str] = []
    found = await resolve_target(deps(flux_task("http://kapacitor.monitoring:9092"), resolved), RUN)
    assert isinstance(found, TargetState)
    assert (found.reason, found.permanent, found.transient) == (c.SECRET_NOT_FOUND, False, False)
    assert found.message == "Secret team-a/creds not found."
    assert resolved == ["nightly"]
