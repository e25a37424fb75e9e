"""The floor: the least any controller must do to make a KapacitorTask live.

For one task that is exactly three requests, in order:

1. create the KapacitorTask object in Kubernetes (as `kubectl apply` would);
2. POST the task to Kapacitor (`/kapacitor/v1/tasks`, enabled);
3. patch the object's status to Ready=True for its generation (the status subresource).

No reads, no finalizer, no annotations, no retries, no Events: a script, not an
operator. The benchmark times it exactly as it times the operator (from the create until
its watch sees Ready=True with observedGeneration == generation), in the same run, on
the same machine, through the same HTTP client as the benchmark's own applies.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp

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


class KapacitorRefused(RuntimeError):
    """Kapacitor answered the floor's POST with an error."""


class FloorKapacitor:
    """The floor's Kapacitor client: one aiohttp session (the harness's own library, see
    bench/kube.py) with the operator's pool size (ClientPool: 50 connections). It counts
    its requests: the emulator's log cannot tell whose a POST /tasks was."""

    def __init__(self, kapacitor_url: str, max_connections: int = 50) -> None:
        self.url = kapacitor_url.rstrip("/")
        self.http = aiohttp.ClientSession(
            base_url=self.url,
            connector=aiohttp.TCPConnector(limit=max_connections),
            timeout=aiohttp.ClientTimeout(total=30.0),
        )
        self.count = 0
        self.writes = 0

    async def aclose(self) -> None:
        await self.http.close()

    async def create_task(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /kapacitor/v1/tasks; Kapacitor's record of the new task.

        Raises:
            KapacitorRefused: any error status.
        """
        self.count += 1
        self.writes += 1
        async with self.http.post("/kapacitor/v1/tasks", json=body) as resp:
            data = await resp.read()
            if resp.status >= 400:
                raise KapacitorRefused(
                    f"POST /kapacitor/v1/tasks: HTTP {resp.status}: {data[:256]!r}"
                )
        created: dict[str, Any] = json.loads(data)
        return created


async def apply_one(kube: Kube, kapacitor: FloorKapacitor, namespace: str, name: str) -> None:
    """Create, POST, patch status: the floor for one KapacitorTask.

    Raises:
        KubeError: the apiserver refused a write.
        KapacitorRefused: Kapacitor refused the task.
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
    server = await kapacitor.create_task(body)
    generation = int(created["metadata"].get("generation", 1))
    status = ready_status(generation, task_id, kapacitor.url, server)
    await kube.patch_status(PLURAL, namespace, name, status)
