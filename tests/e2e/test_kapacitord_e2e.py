"""KapacitorTask and TaskRun end to end against the real kapacitord v1.8.3 (no emulator):
every behaviour that needs no fault injection. The operator is a process on the host for
this test's namespace (so a test can restart it or shorten its drift interval); Kapacitor
is the session's kapacitord on the node IP, configured as the playground's (Flux tasks
on, ``task-run-influxdb = "none"``, no InfluxDB).

What the operator wrote is read from kapacitord's own HTTP log (``[http] log-enabled``:
one line per answered request, with the operator's User-Agent), not from a proxy.
Outages, hangs, scripted run outcomes and stored runs need the emulator and stay in
test_kapacitortask.py and test_taskrun.py; the examples run against this server through
the chart's operator Pod in test_examples.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_operator.timeutil import parse_time
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.example_setup import THRESHOLD_ALERT_ID, prepare_kapacitor
from kapacitor_testkit.http_gate import HttpGate, gated_flux
from kapacitor_testkit.kapacitord import KapacitordHandle
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kapacitord_fixtures import (
    kd_flux_task,
    kd_task,
    operator_requests,
    operator_writes,
)
from tests.e2e.kube import Kube, condition
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.taskruns import API, finished, flux_task, in_flight, status, taskrun
from tests.e2e.test_kapacitortask import (
    SCRIPT,
    reconciles_ok,
    settled_after_restart,
    task_manifest,
    wait_until,
)

pytestmark = pytest.mark.kapacitord

RAW = {"script-format": "raw"}
ALERT = '    |alert()\n        .crit(lambda: "usage_idle" < 10)\n'


def write(kd: KapacitordHandle, lines: str) -> None:
    resp = httpx.post(
        f"{kd.base_url}/kapacitor/v1/write",
        params={"db": "telegraf", "rp": "autogen"},
        content=lines,
        timeout=10.0,
    )
    assert resp.status_code == 204, resp.text


def node_stats(kd: KapacitordHandle, task_id: str) -> dict[str, dict[str, int]]:
    task = kd_task(kd, task_id) or {}
    stats: dict[str, dict[str, int]] = (task.get("stats") or {}).get("node-stats") or {}
    return stats


def settles_to(read: Any, expected: Any, timeout: float = 10.0) -> None:
    """Poll ``read()`` until it equals ``expected`` (kapacitord logs a request once it has
    answered it), then check it once more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and read() != expected:
        time.sleep(0.2)
    assert read() == expected


def test_tickscript_define_update_reload_disable_delete(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    kd = node_kapacitord
    task_id = f"{kube.ns}.cpu"
    kube.apply(task_manifest("cpu"))
    kube.kubectl_wait("kapacitortask", "cpu", "Ready")
    kube.wait_condition("kapacitortask", "cpu", "Ready", reason="Executing")
    obj = kube.wait_condition("kapacitortask", "cpu", "Synced")
    assert (obj["status"]["taskID"], obj["status"]["executing"]) == (task_id, True)
    server = kd_task(kd, task_id, **RAW) or {}
    assert (server["script"], server["status"], server["executing"]) == (SCRIPT, "enabled", True)
    assert set(server["stats"]["node-stats"]) == {"stream0", "from1", "log2"}
    first_enabled = parse_time(server["last-enabled"])

    # A new script for the enabled task: Kapacitor stores it but keeps running the old
    # pipeline until the task restarts, so the operator disables and enables it.
    mark = len(kd.http_requests())
    new_script = SCRIPT + ALERT
    kube.apply(task_manifest("cpu", script=new_script))
    kube.wait_for(
        "kapacitortask",
        "cpu",
        lambda o: (
            o["status"].get("observedGeneration") == 2
            and (condition(o, "Ready") or {}).get("status") == "True"
        ),
        what="generation 2 Ready",
    )
    server = kd_task(kd, task_id, **RAW) or {}
    assert server["script"] == new_script
    assert "log2 -> alert3" in server["dot"], server["dot"]
    assert set(server["stats"]["node-stats"]) == {"stream0", "from1", "log2", "alert3"}
    assert parse_time(server["last-enabled"]) > first_enabled
    expected = [("PATCH", f"/kapacitor/v1/tasks/{task_id}")] * 3  # script, disable, enable
    settles_to(lambda: operator_writes(kd, mark), expected)
    # The running pipeline is the new one: a point now reaches its alert node.
    write(kd, f"cpu,host=e2e usage_idle=3 {time.time_ns()}")
    wait_until(
        lambda: node_stats(kd, task_id).get("alert3", {}).get("crits_triggered", 0) >= 1,
        what="the new alert node fired",
    )

    kube.apply(task_manifest("cpu", script=new_script, enabled=False))
    kube.wait_condition("kapacitortask", "cpu", "Ready", reason="Disabled")
    server = kd_task(kd, task_id) or {}
    assert (server["status"], server["executing"]) == ("disabled", False)

    kube.delete("kapacitortask", "cpu")
    kube.wait_gone("kapacitortask", "cpu")
    assert kd_task(kd, task_id) is None


#: Scripts kapacitord refuses, and its own words for why (checked against v1.8.3).
BAD_SCRIPTS = {
    "paren": (
        "stream\n    |from()\n        .measurement('cpu'))\n    |log()\n",
        "invalid TICKscript: parser: unexpected ) line 3 char 28 in \"ent('cpu'))\". "
        'expected: "number","string","duration","identifier","TRUE","FALSE","==","(","-","!"',
    ),
    "method": (
        "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .foo('x')\n",
        'invalid TICKscript: line 5 char 10: no method or property "foo" on *pipeline.AlertNode',
    ),
    "duration": (
        "stream\n    |from()\n        .measurement('cpu')\n    |window()\n"
        "        .period(10x)\n        .every(10s)\n    |log()\n",
        "invalid TICKscript: parser: unexpected identifier line 5 char 19 in "
        '".period(10x)". expected: ")"',
    ),
}


def test_bad_scripts_are_rejected_with_kapacitors_own_text(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    kd = node_kapacitord
    mark = len(kd.http_requests())
    for name, (script, _) in BAD_SCRIPTS.items():
        kube.apply(task_manifest(name, script=script))
    for name, (_, text) in BAD_SCRIPTS.items():
        obj = kube.wait_condition("kapacitortask", name, "Ready", "False", reason="Rejected")
        assert text in (condition(obj, "Ready") or {})["message"]
        assert (condition(obj, "Stalled") or {})["status"] == "True"
        assert text in kube.wait_event(name, "Rejected")["message"]
        kube.wait_condition("kapacitortask", name, "Synced", "False")
        assert kd_task(kd, f"{kube.ns}.{name}") is None
    # Permanent: one attempt each, not a retry loop.
    settles_to(lambda: operator_writes(kd, mark), [("POST", "/kapacitor/v1/tasks")] * 3)
    # Fixing the spec recovers.
    kube.apply(task_manifest("paren"))
    kube.wait_condition("kapacitortask", "paren", "Ready", reason="Executing")


def template_task(name: str, measurement: str, crit: float) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": API,
            "kind": "KapacitorTask",
            "metadata": {"name": name},
            "spec": {
                "type": "stream",
                "templateID": THRESHOLD_ALERT_ID,
                "dbrps": [{"db": "telegraf", "rp": "autogen"}],
                "vars": {
                    "measurement": {"type": "string", "value": measurement},
                    "crit": {"type": "float", "value": crit},
                },
            },
        }
    )


def test_template_vars_reach_the_running_pipeline(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    kd = node_kapacitord
    prepare_kapacitor(kd.base_url)
    task_id, measurement = f"{kube.ns}.disk", f"disk_{kube.ns.replace('-', '_')}"
    kube.apply(template_task("disk", measurement, 95.0))
    kube.wait_condition("kapacitortask", "disk", "Ready", reason="Executing")
    server = kd_task(kd, task_id) or {}
    assert server["template-id"] == THRESHOLD_ALERT_ID
    assert (server["vars"]["measurement"]["value"], server["vars"]["crit"]["value"]) == (
        measurement,
        95,
    )

    def feed(start: int) -> None:
        # last() emits a point when the next timestamp arrives: three points, two emitted.
        lines = [f"{measurement},host=e2e,path=/ used_percent=60 {start + i}" for i in range(3)]
        write(kd, "\n".join(lines))

    def alert_stats() -> dict[str, int]:
        return node_stats(kd, task_id).get("alert3", {})

    feed(time.time_ns())
    wait_until(lambda: alert_stats().get("collected") == 2, what="two points at the alert")
    assert alert_stats()["crits_triggered"] == 0, "60 % is below crit 95"

    mark = len(kd.http_requests())
    kube.apply(template_task("disk", measurement, 50.0))
    kube.wait_for(
        "kapacitortask",
        "disk",
        lambda o: (
            o["status"].get("observedGeneration") == 2
            and (condition(o, "Ready") or {}).get("status") == "True"
        ),
        what="generation 2 Ready",
    )
    assert (kd_task(kd, task_id) or {})["vars"]["crit"]["value"] == 50
    expected = [("PATCH", f"/kapacitor/v1/tasks/{task_id}")] * 3  # vars, disable, enable
    settles_to(lambda: operator_writes(kd, mark), expected)
    feed(time.time_ns())
    wait_until(lambda: alert_stats().get("crits_triggered", 0) >= 1, what="crit 50 fired")


def test_orphan_policy_leaves_the_task(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    task_id = f"{kube.ns}-orphan"
    kube.apply(task_manifest("keep", deletionPolicy="Orphan", taskID=task_id))
    kube.wait_condition("kapacitortask", "keep", "Ready")
    kube.delete("kapacitortask", "keep")
    kube.wait_gone("kapacitortask", "keep")
    assert (kd_task(node_kapacitord, task_id) or {}).get("executing") is True
    httpx.delete(f"{node_kapacitord.base_url}/kapacitor/v1/tasks/{task_id}").raise_for_status()


def test_second_claim_on_the_same_task_is_a_conflict(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    kd = node_kapacitord
    shared = f"{kube.ns}-shared"
    kube.apply(task_manifest("first", taskID=shared))
    kube.wait_condition("kapacitortask", "first", "Ready")
    mark = len(kd.http_requests())
    kube.apply(task_manifest("second", taskID=shared, script=SCRIPT + "    |log()\n"))
    obj = kube.wait_condition("kapacitortask", "second", "Ready", "False", reason="Conflict")
    assert "first" in (condition(obj, "Ready") or {})["message"]
    assert (kd_task(kd, shared, **RAW) or {})["script"] == SCRIPT
    kube.delete("kapacitortask", "second")
    kube.wait_gone("kapacitortask", "second")
    assert kd_task(kd, shared) is not None, "the loser must not delete it"
    assert operator_writes(kd, mark) == [], "the loser writes nothing, not even on delete"


def test_restart_makes_no_kapacitor_write(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    kd = node_kapacitord
    for i in range(3):
        kube.apply(task_manifest(f"t{i}"))
    flux_id = flux_task(kube)
    for i in range(3):
        kube.wait_condition("kapacitortask", f"t{i}", "Ready")
    kd_operator.stop()
    mark = len(kd.http_requests())
    kd_operator.start()
    # Settled objects cost nothing on a restart: no write and not even a read (drift is
    # checked by one list per server per interval, here 3600 s). Settled: a watch event
    # for each object and nothing pending.
    wait_until(lambda: settled_after_restart(kd_operator, 4), what="restart settled")
    ids = [f"{kube.ns}.t{i}" for i in range(3)] + [flux_id]
    assert operator_requests(kd, mark, *ids) == []
    assert operator_writes(kd, mark) == []
    assert reconciles_ok(kd_operator) == 0


def test_drift_is_repaired_on_the_real_server(
    control_plane: ControlPlane,
    kube: Kube,
    crds: list[str],
    node_kapacitord: KapacitordHandle,
    tmp_path: Path,
) -> None:
    kd = node_kapacitord
    op = make_operator(
        control_plane, kube.ns, kd.base_url, tmp_path / "op", OPERATOR_DRIFT_INTERVAL="2"
    )
    with op:
        task_id = f"{kube.ns}.drifty"
        kube.apply(task_manifest("drifty"))
        kube.wait_condition("kapacitortask", "drifty", "Ready")
        flux_id = flux_task(kube, "fluxy")
        # Someone deletes the TICKscript task in Kapacitor behind the operator's back.
        httpx.delete(f"{kd.base_url}/kapacitor/v1/tasks/{task_id}").raise_for_status()
        wait_until(lambda: kd_task(kd, task_id) is not None, what="recreated")
        kube.wait_event("drifty", "DriftRepaired")
        wait_until(lambda: (kd_task(kd, task_id) or {}).get("executing") is True)
        # And someone edits its script.
        httpx.patch(
            f"{kd.base_url}/kapacitor/v1/tasks/{task_id}",
            json={"script": "stream|from().measurement('mem')"},
        ).raise_for_status()
        wait_until(
            lambda: (kd_task(kd, task_id, **RAW) or {}).get("script") == SCRIPT,
            what="script restored",
        )
        # A Flux task's schedule edited in Kapacitor (which rewrites its option task).
        flux_url = f"{kd.base_url}/kapacitor/v1/api/v2/tasks/{flux_id}"
        httpx.patch(flux_url, json={"every": "7m"}).raise_for_status()
        wait_until(lambda: (kd_flux_task(kd, flux_id) or {}).get("every") == "1h", what="1h")
        kube.wait_event("fluxy", "DriftRepaired")
        # A Flux task deleted: recreated, under the new ID Kapacitor gives it.
        httpx.delete(flux_url).raise_for_status()
        obj = kube.wait_for(
            "kapacitortask",
            "fluxy",
            lambda o: o["status"].get("taskID") not in (None, flux_id),
            what="a new Flux task ID",
        )
        recreated = kd_flux_task(kd, obj["status"]["taskID"]) or {}
        assert (recreated["name"], recreated["status"]) == (f"{kube.ns}.fluxy", "active")


def test_configmap_script_changes_are_picked_up(
    control_plane: ControlPlane,
    kube: Kube,
    crds: list[str],
    node_kapacitord: KapacitordHandle,
    tmp_path: Path,
) -> None:
    kd = node_kapacitord

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
                "apiVersion": API,
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
        control_plane, kube.ns, kd.base_url, tmp_path / "op", OPERATOR_DRIFT_INTERVAL="2"
    ):
        kube.wait_condition("kapacitortask", "from-cm", "Ready", "False", reason="ScriptNotFound")
        kube.apply(configmap(SCRIPT))
        kube.wait_condition("kapacitortask", "from-cm", "Ready", timeout=60)
        kube.apply(configmap(SCRIPT + ALERT))
        wait_until(
            lambda: (kd_task(kd, task_id, **RAW) or {}).get("script") == SCRIPT + ALERT,
            timeout=30,
            what="new ConfigMap script in Kapacitor",
        )
        wait_until(lambda: "alert3" in node_stats(kd, task_id), what="the new pipeline runs")


# --- Flux tasks and runs (scripts that need no InfluxDB) -------------------------------------


def test_flux_task_lifecycle_and_a_manual_run(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    kd = node_kapacitord
    flux_id = flux_task(kube)
    kube.wait_condition("kapacitortask", "job", "Ready", reason="Active")
    assert len(flux_id) == 16
    server = kd_flux_task(kd, flux_id) or {}
    assert (server["name"], server["every"], server["status"]) == (f"{kube.ns}.job", "1h", "active")

    taskrun(kube, "now", taskRef={"name": "job"})
    kube.kubectl_wait("taskrun", "now", "Succeeded")
    st = status(kube.get("taskrun", "now") or {})
    assert (st["phase"], st["endReason"], st["triggeredBy"]) == ("Succeeded", "success", "api")
    (attempt,) = st["attempts"]
    assert attempt["method"] == "manual"
    assert len(attempt["externalID"]) == 16
    assert st["runID"] == attempt["externalID"]
    assert st["runHistory"] == "Unavailable", "task-run-influxdb = none keeps no finished run"
    assert (kd_flux_task(kd, flux_id) or {})["lastRunStatus"] == "success"

    flux_task(kube, every="5m")
    server = kd_flux_task(kd, flux_id) or {}
    assert (server["every"], server["status"]) == ("5m", "active")
    assert "every: 5m" in server["flux"]

    kube.delete("kapacitortask", "job")
    kube.wait_gone("kapacitortask", "job")
    assert kd_flux_task(kd, flux_id) is None


def test_a_failing_flux_run_is_retried_with_kapacitors_error(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    flux_id = flux_task(kube, "dies", flux='die(msg: "boom")\n')
    taskrun(kube, "doomed", taskRef={"name": "dies"}, retry={"limit": 1, "delays": ["1s"]})
    obj = finished(kube, "doomed")
    st = status(obj)
    assert (st["phase"], st["endReason"]) == ("Failed", "failed")
    assert [a["endReason"] for a in st["attempts"]] == ["failed", "failed"]
    # Kapacitor keeps no finished run to retry: each attempt is a new manual run.
    assert [a["method"] for a in st["attempts"]] == ["manual", "manual"]
    for attempt in st["attempts"]:
        assert 'error calling function "die"' in attempt["message"]
        assert "boom" in attempt["message"]
    cond = condition(obj, "Succeeded") or {}
    assert (cond["status"], cond["reason"]) == ("False", "Failed")
    task = kd_flux_task(node_kapacitord, flux_id) or {}
    assert (task["lastRunStatus"], task["lastRunError"]) == ("failed", "Completed(failed)")


def test_a_run_in_flight_is_seen_and_its_failure_recorded(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    kd = node_kapacitord
    with HttpGate() as gate:
        flux_id = flux_task(kube, "held", flux=gated_flux(gate.url))
        taskrun(kube, "held", taskRef={"name": "held"})
        run_id = status(in_flight(kube, "held"))["attempts"][0]["externalID"]
        runs = httpx.get(f"{kd.base_url}/kapacitor/v1/api/v2/tasks/{flux_id}/runs").json()
        assert [(r["id"], r["status"]) for r in runs["runs"]] == [(run_id, "started")]
        gate.open(503)
        st = status(finished(kube, "held"))
    assert (st["phase"], st["endReason"], st["runHistory"]) == ("Failed", "failed", "Unavailable")
    (attempt,) = st["attempts"]
    assert attempt["externalID"] == run_id
    assert "upstream answered 503" in attempt["message"]
    # Logs vanish with the run: the operator captured them while it was in flight.
    assert any(line.startswith("Started task from script") for line in attempt["logTail"])


def test_timeout_and_cancel_stop_real_runs(
    kube: Kube, kd_operator: OperatorProcess, node_kapacitord: KapacitordHandle
) -> None:
    kd = node_kapacitord
    with HttpGate() as gate:
        flux_id = flux_task(kube, "slow", flux=gated_flux(gate.url))
        runs_url = f"{kd.base_url}/kapacitor/v1/api/v2/tasks/{flux_id}/runs"
        taskrun(kube, "late", taskRef={"name": "slow"}, timeout="2s")
        obj = finished(kube, "late")
        st = status(obj)
        assert (st["phase"], st["endReason"]) == ("Failed", "timeout")
        assert (condition(obj, "Succeeded") or {})["reason"] == "TimedOut"
        assert st["attempts"][0]["externalID"], "the run ID is captured while in flight"
        # The gate never opened: only the cancel can have ended the run in Kapacitor.
        wait_until(lambda: httpx.get(runs_url).json()["runs"] == [], what="run cancelled")

        taskrun(kube, "stopme", taskRef={"name": "slow"}, retry={"limit": 3})
        in_flight(kube, "stopme")
        kube.patch("taskrun", "stopme", {"spec": {"cancel": True}})
        obj = finished(kube, "stopme")
        st = status(obj)
        assert (st["phase"], st["endReason"], len(st["attempts"])) == ("Cancelled", "stopped", 1)
        assert st["observedGeneration"] == obj["metadata"]["generation"] == 2
        wait_until(lambda: httpx.get(runs_url).json()["runs"] == [], what="run cancelled")
        assert gate.received == 2, "one Kapacitor run per attempt, none after the cancel"
    # The gate never opened, so no run succeeded. A run cancelled while it executes ends
    # `failed` (its query's context is cancelled), or `canceled` when the DELETE of the
    # run lands after the executor's last state update and before it finishes the run (a
    # race in Kapacitor: task/kv CancelRun vs the executor's UpdateRunState; both seen).
    assert (kd_flux_task(kd, flux_id) or {})["lastRunStatus"] in {"failed", "canceled"}


def test_status_and_kubectl_get_show_a_task_is_alive(
    control_plane: ControlPlane,
    kube: Kube,
    crds: list[str],
    node_kapacitord: KapacitordHandle,
    tmp_path: Path,
) -> None:
    kd = node_kapacitord
    op = make_operator(
        control_plane, kube.ns, kd.base_url, tmp_path / "op", OPERATOR_DRIFT_INTERVAL="2"
    )
    script = "stream\n    |from()\n        .measurement('alive')\n" + ALERT
    with op:
        kube.apply(task_manifest("alive", script=script))
        kube.wait_condition("kapacitortask", "alive", "Ready")
        now = time.time_ns()
        idle = [f"alive,host=a usage_idle=90 {now + i}" for i in range(4)]
        busy = [f"alive,host=a usage_idle=2 {now + 10 + i}" for i in range(2)]
        write(kd, "\n".join(idle + busy) + "\n")
        wait_until(lambda: bool(node_stats(kd, f"{kube.ns}.alive")), what="Kapacitor's stats")
        obj = kube.wait_for(
            "kapacitortask",
            "alive",
            lambda o: (o["status"].get("stats") or {}).get("pointsProcessed") == 6,
            timeout=30,
            what="six points in status",
        )
        stats = obj["status"]["stats"]
        nodes = node_stats(kd, f"{kube.ns}.alive")
        alerts = sum(v.get("alerts_triggered", 0) for v in nodes.values())
        assert alerts >= 1, nodes  # the critical points fired
        assert (stats["alertsTriggered"], stats["errors"]) == (alerts, 0), (stats, nodes)
        assert stats["observedAt"]
        table = kube.kubectl("get", "kapacitortask", "alive").stdout
        header, row = table.splitlines()[:2]
        assert header.split()[-3:] == ["POINTS", "ALERTS", "AGE"], header
        assert row.split()[-3:-1] == ["6", str(alerts)], row
        wide = kube.kubectl("get", "kapacitortask", "alive", "-o", "wide").stdout
        assert wide.splitlines()[0].split()[-2:] == ["ERRORS", "AGE"]
