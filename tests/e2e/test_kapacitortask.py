"""KapacitorTask end to end with the Kapacitor emulator: the cases that need a fault
injected (Kapacitor down, then back). Everything else runs against the real kapacitord
in test_kapacitord_e2e.py; the helpers here are shared with it."""

from __future__ import annotations

import time
from typing import Any

import httpx

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube, condition

SCRIPT = "stream\n    |from()\n        .measurement('cpu')\n    |log()\n"


def task_manifest(name: str, **spec: Any) -> str:
    import yaml

    body = {
        "type": "stream",
        "dbrps": [{"db": "telegraf", "rp": "autogen"}],
        "script": SCRIPT,
        **spec,
    }
    return yaml.safe_dump(
        {
            "apiVersion": "kapacitor.operator.dev/v1alpha1",
            "kind": "KapacitorTask",
            "metadata": {"name": name},
            "spec": body,
        }
    )


def kapacitor_task(emulator: EmulatorHandle, task_id: str) -> dict[str, Any] | None:
    resp = httpx.get(
        f"{emulator.base_url}/kapacitor/v1/tasks/{task_id}", params={"script-format": "raw"}
    )
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def writes(emulator: EmulatorHandle, since: int = 0) -> list[tuple[str, str]]:
    """The emulator's write requests (method, path) from the `since`-th request on."""
    return [
        (r["method"], r["path"])
        for r in emulator.requests()[since:]
        if r["method"] in {"POST", "PATCH", "DELETE", "PUT"}
    ]


def reconciles_ok(op: OperatorProcess) -> float:
    """Finished successful KapacitorTask reconciles since the process started (metrics)."""
    for line in op.metrics().splitlines():
        if line.startswith('kapacitor_operator_reconciles_total{kind="KapacitorTask",result="ok"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def metric(op: OperatorProcess, name: str) -> float:
    """A KapacitorTask sample of the operator's metrics (0 when absent)."""
    for line in op.metrics().splitlines():
        if line.startswith(f'{name}{{kind="KapacitorTask"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def settled_after_restart(op: OperatorProcess, objects: int) -> bool:
    """The restarted controller got a watch event for each object and has nothing left
    to do: every write (and read) it would make has been made."""
    return (
        metric(op, "kapacitor_operator_watch_events_total") >= objects
        and metric(op, "kapacitor_operator_pending_reconciles") == 0
    )


def wait_until(check: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s")


def test_kapacitor_down_then_up(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    emulator.down()
    try:
        kube.apply(task_manifest("patient"))
        obj = kube.wait_condition(
            "kapacitortask", "patient", "Synced", "False", reason="KapacitorUnreachable"
        )
        assert condition(obj, "Ready")["status"] == "Unknown"  # type: ignore[index]
    finally:
        emulator.up()
    kube.wait_condition("kapacitortask", "patient", "Ready", timeout=60)


def test_delete_survives_kapacitor_being_down(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = f"{kube.ns}.doomed"
    kube.apply(task_manifest("doomed"))
    kube.wait_condition("kapacitortask", "doomed", "Ready")
    kube.wait_held("kapacitortask", "doomed")
    emulator.down()
    try:
        kube.delete("kapacitortask", "doomed")
        kube.wait_event("doomed", "KapacitorUnreachable")
        assert kube.get("kapacitortask", "doomed") is not None, "finalizer must hold"
    finally:
        emulator.up()
    kube.wait_gone("kapacitortask", "doomed", timeout=60)
    assert kapacitor_task(emulator, task_id) is None


def test_tasks_deleted_right_after_they_are_applied_leave_nothing_in_kapacitor(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    """Deleted while their first reconcile writes to a slow Kapacitor (the finalizer goes on
    after the write and its status, not before): each task is taken back once its create
    returns, even though the resources are long gone by then."""
    names = [f"brief-{i}" for i in range(6)]
    emulator.set_faults(latency_ms=800, paths="^/kapacitor/v1/tasks$")
    before = len(emulator.requests())
    try:
        for name in names:
            kube.apply(task_manifest(name))
            kube.delete("kapacitortask", name)
        for name in names:
            kube.wait_gone("kapacitortask", name, timeout=60)
    finally:
        emulator.set_faults()
    task_ids = [f"{kube.ns}.{name}" for name in names]

    def taken_back() -> bool:
        # The emulator logs a create when it arrives, and holds it 800 ms: one still in
        # flight is not in Kapacitor yet, and its undo comes once it returns.
        made = [p for m, p in writes(emulator, before) if m == "POST"]
        deleted = [p for m, p in writes(emulator, before) if m == "DELETE"]
        return len(deleted) >= len(made) and all(
            kapacitor_task(emulator, task_id) is None for task_id in task_ids
        )

    wait_until(taken_back, timeout=30, what="every task created in Kapacitor deleted again")
    made = [p for m, p in writes(emulator, before) if m == "POST"]
    assert len(made) <= len(names), made  # none created twice (a delete may beat its create)
