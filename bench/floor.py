"""The floor: the least any controller must do to make a KapacitorTask live.

For one task that is exactly three requests, in order:

1. create the KapacitorTask object in Kubernetes (as `kubectl apply` would);
2. POST the task to Kapacitor (`/kapacitor/v1/tasks`, enabled);
3. patch the object's status to Ready=True for its generation (the status subresource).

No reads, no finalizer, no annotations, no retries, no Events: a script, not an
operator. The benchmark times it exactly as it times the operator (from the create until
its watch sees Ready=True with observedGeneration == generation), in the same run, on
the same machine, through the same HTTP client settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.kube import API, Kube

PLURAL = "kapacitortasks"
SCRIPT = "stream\n    |from()\n        .measurement('cpu')\n    |log()\n"
DBRPS = [{"db": "telegraf", "rp": "autogen"}]


def task_manifest(name: str, *, script: str = SCRIPT) -> dict[str, Any]:
    """The KapacitorTask both sides apply: a small TICKscript stream task."""
    return {
        "apiVersion": API,
        "kind": "KapacitorTask",
        "metadata": {"name": name},
        "spec": {"type": "stream", "dbrps": DBRPS, "script": script},
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_status(
    generation: int, task_id: str, kapacitor_url: str, server: dict[str, Any]
) -> dict[str, Any]:
    """A status of the same shape the operator writes (Ready and Synced conditions)."""
    now = _now()
    return {
        "observedGeneration": generation,
        "taskID": task_id,
        "kapacitorURL": kapacitor_url,
        "status": str(server.get("status", "enabled")),
        "executing": bool(server.get("executing", True)),
        "lastSyncedAt": now,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Executing",
                "message": "Task is defined and executing.",
                "lastTransitionTime": now,
                "observedGeneration": generation,
            },
            {
                "type": "Synced",
                "status": "True",
                "reason": "Synced",
                "message": f"Kapacitor at {kapacitor_url} matches the spec.",
                "lastTransitionTime": now,
                "observedGeneration": generation,
            },
        ],
    }


@dataclass
class CallCounter:
    """Requests the floor sent to Kapacitor (its share of the emulator's request log)."""

    count: int = 0
    writes: int = 0

    async def __call__(self, request: httpx.Request) -> None:
        self.count += 1
        if request.method in {"POST", "PATCH", "PUT", "DELETE"}:
            self.writes += 1


def new_kapacitor_client(
    kapacitor_url: str, max_connections: int = 50, counter: CallCounter | None = None
) -> httpx.AsyncClient:
    """Kapacitor client with the operator's own pool size (ClientPool: 50 connections)."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    hooks: dict[str, list[Any]] = {"request": [counter]} if counter is not None else {}
    return httpx.AsyncClient(base_url=kapacitor_url, limits=limits, timeout=30.0, event_hooks=hooks)


async def apply_one(kube: Kube, kapacitor: httpx.AsyncClient, namespace: str, name: str) -> None:
    """Create, POST, patch status: the floor for one KapacitorTask.

    Raises:
        KubeError: the apiserver refused a write.
        httpx.HTTPStatusError: Kapacitor refused the task.
    """
    created = await kube.create(PLURAL, namespace, task_manifest(name))
    task_id = f"{namespace}.{name}"
    body = {
        "id": task_id,
        "type": "stream",
        "dbrps": DBRPS,
        "script": SCRIPT,
        "status": "enabled",
    }
    resp = await kapacitor.post("/kapacitor/v1/tasks", json=body)
    resp.raise_for_status()
    generation = int(created["metadata"].get("generation", 1))
    status = ready_status(generation, task_id, str(kapacitor.base_url).rstrip("/"), resp.json())
    await kube.patch_status(PLURAL, namespace, name, status)
