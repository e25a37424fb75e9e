"""Drift by server (issue 14): a drift pass is one paged list per Kapacitor server, reads
no task that did not drift, repairs the one that did, and counts the tasks no resource
claims."""

from __future__ import annotations

from pathlib import Path

import httpx

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.test_kapacitortask import SCRIPT, kapacitor_task, task_manifest, wait_until


def sample(op: OperatorProcess, name: str, labels: str) -> float | None:
    for line in op.metrics().splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def passes(op: OperatorProcess) -> float:
    return (
        sample(op, "kapacitor_operator_drift_passes_total", 'kind="KapacitorTask",result="ok"') or 0
    )


def test_one_list_per_server_and_only_drifted_tasks_are_touched(
    control_plane: ControlPlane,
    kube: Kube,
    crds: list[str],
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    api = f"{emulator.base_url}/kapacitor/v1"
    stray = f"{kube.ns}-stray"
    httpx.post(
        f"{api}/tasks",
        json={"id": stray, "type": "stream", "dbrps": [{"db": "a", "rp": "b"}], "script": SCRIPT},
    ).raise_for_status()
    op: OperatorProcess = make_operator(
        control_plane, kube.ns, emulator.base_url, tmp_path / "op", OPERATOR_DRIFT_INTERVAL="2"
    )
    with op:
        for i in range(3):
            kube.apply(task_manifest(f"d{i}"))
        for i in range(3):
            kube.wait_condition("kapacitortask", f"d{i}", "Ready")
        # Every task is synced: a pass that starts now touches no task of ours.
        start = passes(op)
        wait_until(lambda: passes(op) >= start + 1, timeout=30, what="a drift pass")
        mark = len(emulator.requests())
        wait_until(lambda: passes(op) >= start + 3, timeout=30, what="two more passes")
        seen = [(r["method"], r["path"]) for r in emulator.requests()[mark:]]
        assert [s for s in seen if kube.ns in s[1]] == [], "no per-task request"
        assert {s for s in seen} <= {
            ("GET", "/kapacitor/v1/tasks"),
            ("GET", f"{api[len(emulator.base_url) :]}/api/v2/tasks"),
        }
        # Unmanaged: every TICKscript task on the server that no resource of ours claims.
        listed = httpx.get(f"{api}/tasks", params={"limit": "-1", "fields": "status"}).json()
        ours = {f"{kube.ns}.d{i}" for i in range(3)}
        expected = len([t for t in listed["tasks"] if t["id"] not in ours])
        assert stray in {t["id"] for t in listed["tasks"]}
        labels = 'api="tick",kind="KapacitorTask"'
        wait_until(
            lambda: sample(op, "kapacitor_operator_unmanaged_objects", labels) == expected,
            timeout=30,
            what=f"{expected} unmanaged tasks",
        )
        # One task edited behind the operator's back: repaired, and only it is read.
        mark = len(emulator.requests())
        httpx.patch(f"{api}/tasks/{kube.ns}.d1", json={"status": "disabled"}).raise_for_status()
        wait_until(
            lambda: (kapacitor_task(emulator, f"{kube.ns}.d1") or {}).get("status") == "enabled",
            timeout=30,
            what="d1 re-enabled",
        )
        kube.wait_event("d1", "DriftRepaired")
        touched = {r["path"] for r in emulator.requests()[mark:] if kube.ns in r["path"]}
        assert touched == {f"/kapacitor/v1/tasks/{kube.ns}.d1"}
    httpx.delete(f"{api}/tasks/{stray}")
