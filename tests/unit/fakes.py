"""An in-memory stand-in for KapacitorClient, for reconcile unit tests (no network)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from kapacitor_operator.kapacitor.errors import KapacitorError, KapacitorNotFound
from kapacitor_operator.kapacitor.schemas import FluxTask, TickTask


class FakeKapacitor:
    """Stores tasks, records every call, and can be told to fail."""

    base_url = "http://kapacitor.test:9092"

    def __init__(self) -> None:
        self.ticks: dict[str, dict[str, Any]] = {}
        self.fluxes: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_with: KapacitorError | None = None
        self._ids = itertools.count(1)

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if not c[0].startswith("get") and c[0] != "find"]

    def _call(self, name: str, key: str) -> None:
        self.calls.append((name, key))
        if self.fail_with is not None:
            raise self.fail_with

    async def get_task(self, task_id: str, *, script_format: str = "raw") -> TickTask | None:
        self._call("get_task", task_id)
        data = self.ticks.get(task_id)
        return TickTask.model_validate(data) if data else None

    async def create_task(self, definition: Mapping[str, Any]) -> TickTask:
        self._call("create_task", definition["id"])
        enabled = definition.get("status") == "enabled"
        self.ticks[definition["id"]] = {
            **definition,
            "executing": enabled,
            "template-id": definition.get("template-id", ""),
        }
        return TickTask.model_validate(self.ticks[definition["id"]])

    async def patch_task(self, task_id: str, changes: Mapping[str, Any]) -> TickTask:
        self._call("patch_task", f"{task_id}:{','.join(sorted(changes))}")
        if task_id not in self.ticks:
            raise KapacitorNotFound("task does not exist, cannot update", status=404)
        task = self.ticks[task_id]
        task.update({k: v for k, v in changes.items() if v})
        task["executing"] = task.get("status") == "enabled"
        return TickTask.model_validate(task)

    async def delete_task(self, task_id: str) -> None:
        self._call("delete_task", task_id)
        self.ticks.pop(task_id, None)

    async def get_flux_task(self, task_id: str) -> FluxTask | None:
        self._call("get_flux_task", task_id)
        data = self.fluxes.get(task_id)
        return FluxTask.model_validate(data) if data else None

    async def find_flux_tasks(self, name: str) -> list[FluxTask]:
        self._call("find", name)
        return [FluxTask.model_validate(t) for t in self.fluxes.values() if t["name"] == name]

    async def create_flux_task(
        self, flux: str, *, active: bool = True, description: str = ""
    ) -> FluxTask:
        self._call("create_flux_task", flux[:20])
        task_id = f"{next(self._ids):016x}"
        name = flux.split('name: "', 1)[1].split('"', 1)[0]
        self.fluxes[task_id] = {
            "id": task_id,
            "name": name,
            "flux": flux,
            "status": "active" if active else "inactive",
            "description": description,
        }
        return FluxTask.model_validate(self.fluxes[task_id])

    async def patch_flux_task(self, task_id: str, changes: Mapping[str, Any]) -> FluxTask:
        self._call("patch_flux_task", f"{task_id}:{','.join(sorted(changes))}")
        task = self.fluxes[task_id]
        task.update(changes)
        if "flux" in changes:
            task["flux"] = "// reformatted\n" + changes["flux"]  # Kapacitor rewrites on PATCH
        return FluxTask.model_validate(task)

    async def delete_flux_task(self, task_id: str) -> bool:
        self._call("delete_flux_task", task_id)
        return self.fluxes.pop(task_id, None) is not None
