"""KapacitorTask end to end: real kube-apiserver, the operator process, the Kapacitor emulator."""

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


def test_create_update_disable_delete(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = f"{kube.ns}.cpu"
    kube.apply(task_manifest("cpu"))
    kube.kubectl_wait("kapacitortask", "cpu", "Ready")
    obj = kube.wait_condition("kapacitortask", "cpu", "Synced")
    assert obj["status"]["taskID"] == task_id
    assert obj["status"]["executing"] is True
    server = kapacitor_task(emulator, task_id)
    assert server is not None
    assert (server["script"], server["status"]) == (SCRIPT, "enabled")

    # Update the script of an enabled task: patched, then disabled + enabled to reload it.
    mark = len(emulator.requests())
    new_script = SCRIPT + "    |log().level('INFO')\n"
    kube.apply(task_manifest("cpu", script=new_script))
    kube.wait_for(
        "kapacitortask",
        "cpu",
        lambda o: (
            o["status"].get("observedGeneration") == 2 and condition(o, "Ready")["status"] == "True"
        ),
        what="generation 2 Ready",
    )
    assert kapacitor_task(emulator, task_id)["script"] == new_script  # type: ignore[index]
    patches = [p for m, p in writes(emulator, mark) if m == "PATCH"]
    assert patches == [f"/kapacitor/v1/tasks/{task_id}"] * 3

    # Disable.
    kube.apply(task_manifest("cpu", script=new_script, enabled=False))
    kube.wait_condition("kapacitortask", "cpu", "Ready", reason="Disabled")
    assert kapacitor_task(emulator, task_id)["status"] == "disabled"  # type: ignore[index]

    # Delete: the finalizer removes the task from Kapacitor, then the resource goes.
    kube.delete("kapacitortask", "cpu")
    kube.wait_gone("kapacitortask", "cpu")
    assert kapacitor_task(emulator, task_id) is None


def test_orphan_policy_leaves_the_task(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    kube.apply(task_manifest("keep", deletionPolicy="Orphan", taskID=f"{kube.ns}-orphan"))
    kube.wait_condition("kapacitortask", "keep", "Ready")
    kube.delete("kapacitortask", "keep")
    kube.wait_gone("kapacitortask", "keep")
    assert kapacitor_task(emulator, f"{kube.ns}-orphan") is not None


def test_restart_costs_no_kapacitor_writes(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    for i in range(3):
        kube.apply(task_manifest(f"t{i}"))
    for i in range(3):
        kube.wait_condition("kapacitortask", f"t{i}", "Ready")
    operator.stop()
    mark = len(emulator.requests())
    operator.start()
    # Settled objects cost nothing on a restart: no write, not even a read (drift is
    # checked by one list per server per interval, not per object).
    wait_until(lambda: settled_after_restart(operator, 3), what="restart settled")
    assert [r for r in emulator.requests()[mark:] if kube.ns in r["path"]] == []
    assert reconciles_ok(operator) == 0


def test_drift_is_repaired_with_an_event(
    control_plane: Any, kube: Kube, crds: Any, emulator: EmulatorHandle, tmp_path: Any
) -> None:
    from tests.e2e.operator_fixtures import make_operator

    op = make_operator(
        control_plane, kube.ns, emulator.base_url, tmp_path / "op", OPERATOR_DRIFT_INTERVAL="2"
    )
    with op:
        task_id = f"{kube.ns}.drifty"
        kube.apply(task_manifest("drifty"))
        kube.wait_condition("kapacitortask", "drifty", "Ready")
        # Someone deletes the task in Kapacitor behind the operator's back.
        httpx.delete(f"{emulator.base_url}/kapacitor/v1/tasks/{task_id}").raise_for_status()
        wait_until(lambda: kapacitor_task(emulator, task_id) is not None, what="recreated")
        kube.wait_event("drifty", "DriftRepaired")
        # And someone edits its script.
        httpx.patch(
            f"{emulator.base_url}/kapacitor/v1/tasks/{task_id}",
            json={"script": "stream|from().measurement('mem')"},
        ).raise_for_status()
        wait_until(
            lambda: (kapacitor_task(emulator, task_id) or {}).get("script") == SCRIPT,
            what="script restored",
        )


def test_bad_script_is_rejected_with_kapacitors_message(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    kube.apply(task_manifest("broken", script="stream|from(.measurement('cpu')"))
    obj = kube.wait_condition("kapacitortask", "broken", "Ready", "False", reason="Rejected")
    message = condition(obj, "Ready")["message"]  # type: ignore[index]
    assert "invalid TICKscript" in message
    assert condition(obj, "Stalled")["status"] == "True"  # type: ignore[index]
    event = kube.wait_event("broken", "Rejected")
    assert "invalid TICKscript" in event["message"]
    # Permanent: not retried in a loop.
    mark = len(emulator.requests())
    kube.wait_condition("kapacitortask", "broken", "Synced", "False")
    posts = [w for w in writes(emulator, mark) if w[0] == "POST"]
    assert len(posts) <= 1
    # Fixing the spec recovers.
    kube.apply(task_manifest("broken"))
    kube.wait_condition("kapacitortask", "broken", "Ready")


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
    emulator.down()
    try:
        kube.delete("kapacitortask", "doomed")
        kube.wait_event("doomed", "KapacitorUnreachable")
        assert kube.get("kapacitortask", "doomed") is not None, "finalizer must hold"
    finally:
        emulator.up()
    kube.wait_gone("kapacitortask", "doomed", timeout=60)
    assert kapacitor_task(emulator, task_id) is None


def test_second_claim_on_the_same_task_is_a_conflict(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    shared = f"{kube.ns}-shared"
    kube.apply(task_manifest("first", taskID=shared))
    kube.wait_condition("kapacitortask", "first", "Ready")
    mark = len(emulator.requests())
    kube.apply(task_manifest("second", taskID=shared, script=SCRIPT + "    |log()\n"))
    obj = kube.wait_condition("kapacitortask", "second", "Ready", "False", reason="Conflict")
    assert "first" in condition(obj, "Ready")["message"]  # type: ignore[index]
    assert writes(emulator, mark) == []
    assert kapacitor_task(emulator, shared)["script"] == SCRIPT  # type: ignore[index]
    kube.delete("kapacitortask", "second")
    kube.wait_gone("kapacitortask", "second")
    assert kapacitor_task(emulator, shared) is not None, "the loser must not delete it"


def test_flux_task_lifecycle(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    import yaml

    def manifest(every: str) -> str:
        return yaml.safe_dump(
            {
                "apiVersion": "kapacitor.operator.dev/v1alpha1",
                "kind": "KapacitorTask",
                "metadata": {"name": "flux"},
                "spec": {
                    "type": "flux",
                    "every": every,
                    "flux": 'from(bucket: "b")\n    |> range(start: -1m)\n',
                },
            }
        )

    kube.apply(manifest("1m"))
    obj = kube.wait_condition("kapacitortask", "flux", "Ready", reason="Active")
    flux_id = obj["status"]["taskID"]
    assert len(flux_id) == 16
    server = httpx.get(f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{flux_id}").json()
    assert (server["name"], server["every"]) == (f"{kube.ns}.flux", "1m")
    kube.apply(manifest("5m"))
    kube.wait_for(
        "kapacitortask",
        "flux",
        lambda o: o["status"].get("observedGeneration") == 2,
        what="generation 2",
    )
    server = httpx.get(f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{flux_id}").json()
    assert server["every"] == "5m"
    # A restart finds it by ID and writes nothing, despite Kapacitor's reformatting.
    operator.stop()
    mark = len(emulator.requests())
    operator.start()
    wait_until(lambda: settled_after_restart(operator, 1), what="restart settled")
    assert [w for w in writes(emulator, mark) if flux_id in w[1]] == []
    kube.delete("kapacitortask", "flux")
    kube.wait_gone("kapacitortask", "flux")
    gone = httpx.get(f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{flux_id}")
    assert gone.status_code == 404


def test_configmap_script_changes_are_picked_up_by_the_drift_check(
    control_plane: Any, kube: Kube, crds: Any, emulator: EmulatorHandle, tmp_path: Any
) -> None:
    import yaml

    from tests.e2e.operator_fixtures import make_operator

    def configmap(script: str) -> str:
        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "scripts"},
                "data": {"cpu.tick": script},
            }
        )

    task_id = f"{kube.ns}.from-cm"
    kube.apply(
        yaml.safe_dump(
            {
                "apiVersion": "kapacitor.operator.dev/v1alpha1",
                "kind": "KapacitorTask",
                "metadata": {"name": "from-cm"},
                "spec": {
                    "type": "stream",
                    "dbrps": [{"db": "telegraf", "rp": "autogen"}],
                    "scriptFrom": {"configMapKeyRef": {"name": "scripts", "key": "cpu.tick"}},
                },
            }
        )
    )
    with make_operator(
        control_plane, kube.ns, emulator.base_url, tmp_path / "op", OPERATOR_DRIFT_INTERVAL="2"
    ):
        kube.wait_condition("kapacitortask", "from-cm", "Ready", "False", reason="ScriptNotFound")
        kube.apply(configmap(SCRIPT))
        kube.wait_condition("kapacitortask", "from-cm", "Ready", timeout=60)
        changed = SCRIPT + "    |log()\n"
        kube.apply(configmap(changed))
        wait_until(
            lambda: (kapacitor_task(emulator, task_id) or {}).get("script") == changed,
            timeout=30,
            what="new ConfigMap script in Kapacitor",
        )
