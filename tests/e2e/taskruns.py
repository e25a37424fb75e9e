"""Helpers shared by the TaskRun e2e tests: manifests, waits, Kapacitor's request log."""

from __future__ import annotations

from typing import Any

import httpx
import yaml

from kapacitor_emulator.process import EmulatorHandle
from tests.e2e.kube import Kube

API = "kapacitor.operator.dev/v1alpha1"
FLUX = 'import "array"\n\narray.from(rows: [{_time: now(), _value: 1}])\n    |> yield()\n'
TERMINAL = {"Succeeded", "Failed", "Cancelled"}


def flux_task(kube: Kube, name: str = "job", **spec: Any) -> str:
    """Apply a Flux KapacitorTask and return its Kapacitor ID once Ready."""
    body = {"type": "flux", "every": "1h", "flux": FLUX, **spec}
    kube.apply(
        yaml.safe_dump(
            {"apiVersion": API, "kind": "KapacitorTask", "metadata": {"name": name}, "spec": body}
        )
    )
    obj = kube.wait_condition("kapacitortask", name, "Ready")
    task_id: str = obj["status"]["taskID"]
    return task_id


def taskrun(kube: Kube, name: str, **spec: Any) -> None:
    kube.apply(
        yaml.safe_dump(
            {"apiVersion": API, "kind": "TaskRun", "metadata": {"name": name}, "spec": spec}
        )
    )


def status(obj: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = obj.get("status") or {}
    return result


def finished(kube: Kube, name: str, timeout: float = 60.0) -> dict[str, Any]:
    return kube.wait_for(
        "taskrun",
        name,
        lambda o: status(o).get("phase") in TERMINAL,
        timeout=timeout,
        what="end",
    )


def in_flight(kube: Kube, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until the TaskRun's latest attempt has its Kapacitor run ID (the run exists)."""

    def known(obj: dict[str, Any]) -> bool:
        attempts = status(obj).get("attempts") or []
        return bool(
            attempts and attempts[-1].get("externalID") and not attempts[-1].get("finishedAt")
        )

    return kube.wait_for("taskrun", name, known, timeout=timeout, what="run in flight")


def run_posts(emulator: EmulatorHandle, task_id: str) -> list[str]:
    """Run-starting calls (manual runs and retries) Kapacitor received for the task."""
    return [
        r["path"]
        for r in emulator.requests()
        if r["method"] == "POST"
        and r["path"].startswith(f"/kapacitor/v1/api/v2/tasks/{task_id}/runs")
    ]


def kapacitor_run(emulator: EmulatorHandle, task_id: str, run_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{task_id}/runs/{run_id}")
    resp.raise_for_status()
    result: dict[str, Any] = resp.json()
    return result
