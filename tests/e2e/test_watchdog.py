"""The watchdog end to end on the real kapacitord and the real kube-apiserver (issue 16):
an enabled TICKscript task that cannot execute is not Ready, with Kapacitor's own reason;
selfHeal restarts it at most maxPerHour times; an active Flux task whose runs keep failing
is Degraded (with a Warning Event) until a run succeeds again.

No fault is injected: the batch task asks for data outside its dbrps, which Kapacitor
refuses at every start; the Flux task calls die().
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from kapacitor_testkit import ControlPlane
from kapacitor_testkit.kapacitord import KapacitordHandle
from kapacitor_testkit.operator_process import OperatorProcess
from kapacitor_testkit.processes import wait_until
from tests.e2e.kapacitord_fixtures import API, V1, operator_on, tick_task
from tests.e2e.kube import Kube

UNSTARTABLE = (
    'batch\n    |query(\'SELECT mean(v) FROM "unknowndb"."unknownrp".cpu\')\n'
    "        .period(1m)\n        .every(1m)\n"
)
REFUSAL = 'batch query is not allowed to request data from "unknowndb"."unknownrp"'


def reasons(kube: Kube, name: str) -> list[str]:
    return [e.get("reason", "") for e in kube.events(name)]


def test_an_enabled_task_that_cannot_execute_is_not_ready_with_kapacitors_reason(
    kube: Kube, kapacitord_operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    tick_task(kube, "broken", "batch", script=UNSTARTABLE)
    obj = kube.wait_condition(
        "kapacitortask", "broken", "Ready", "False", reason="NotExecuting", timeout=60
    )
    ready = next(x for x in obj["status"]["conditions"] if x["type"] == "Ready")
    assert ready["message"] == REFUSAL
    st = obj["status"]
    assert (st["status"], st["executing"], st["error"]) == ("enabled", False, REFUSAL)
    # Kapacitor's own record says the same.
    held = httpx.get(f"{kapacitord.base_url}{V1}/tasks/{kube.ns}-broken").json()
    assert (held["status"], held["executing"], held["error"]) == ("enabled", False, REFUSAL)
    wait_until(lambda: "NotExecuting" in reasons(kube, "broken"), timeout=30)
    assert "selfHeal" not in st  # off by default: nothing was restarted


def test_self_heal_restarts_a_stopped_task_at_most_max_per_hour(
    control_plane: ControlPlane,
    crds: list[str],
    kube: Kube,
    kapacitord: KapacitordHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    heal = {"enabled": True, "maxPerHour": 2}
    with operator_on(control_plane, kapacitord, namespace, tmp_path, OPERATOR_DRIFT_INTERVAL="2"):
        tick_task(kube, "broken", "batch", script=UNSTARTABLE, selfHeal=heal)
        kube.wait_for(
            "kapacitortask",
            "broken",
            lambda o: ((o.get("status") or {}).get("selfHeal") or {}).get("restarts") == 2,
            timeout=60,
            what="two restarts",
        )
        wait_until(lambda: "SelfHealLimitReached" in reasons(kube, "broken"), timeout=30)
        # More drift checks pass: the budget holds (no third restart within the hour).
        events_before = len(kube.events("broken"))
        wait_until(lambda: len(kube.events("broken")) > events_before, timeout=30)
        obj = kube.get("kapacitortask", "broken")
        assert obj is not None
        st = obj["status"]
        assert st["selfHeal"]["restarts"] == 2
        assert len(st["selfHeal"]["recent"]) == 2
        ready = next(x for x in st["conditions"] if x["type"] == "Ready")
        assert (ready["status"], ready["reason"], ready["message"]) == (
            "False",
            "NotExecuting",
            REFUSAL,
        )
        healed = [e for e in kube.events("broken") if e.get("reason") == "SelfHealed"]
        assert sum(int(e.get("count") or 1) for e in healed) == 2
        assert REFUSAL in healed[0]["message"]


def flux_task(kube: Kube, name: str, flux: str, every: str) -> None:
    spec: dict[str, Any] = {"type": "flux", "flux": flux, "every": every}
    manifest = {"apiVersion": API, "kind": "KapacitorTask", "metadata": {"name": name}}
    kube.apply(yaml.safe_dump({**manifest, "spec": spec}))


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        (x for x in (obj.get("status") or {}).get("conditions") or [] if x["type"] == kind), {}
    )
    return found


def test_a_flux_task_without_a_successful_run_for_two_periods_is_degraded(
    control_plane: ControlPlane,
    crds: list[str],
    kube: Kube,
    kapacitord: KapacitordHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    with operator_on(control_plane, kapacitord, namespace, tmp_path, OPERATOR_DRIFT_INTERVAL="2"):
        flux_task(kube, "dying", 'die(msg: "boom")\n', "2s")
        obj = kube.wait_for(
            "kapacitortask",
            "dying",
            lambda o: condition(o, "Degraded").get("status") == "True",
            timeout=60,
            what="Degraded",
        )
        degraded = condition(obj, "Degraded")
        assert degraded["reason"] == "RunsOverdue"
        assert "every 2s" in degraded["message"]
        assert "Last run: failed" in degraded["message"]
        assert condition(obj, "Ready")["status"] == "True"  # defined as declared
        task_id = obj["status"]["taskID"]
        held = httpx.get(f"{kapacitord.base_url}{V1}/api/v2/tasks/{task_id}").json()
        assert held["lastRunStatus"] == "failed"
        wait_until(lambda: "RunsOverdue" in reasons(kube, "dying"), timeout=30)
        overdue = [e for e in kube.events("dying") if e.get("reason") == "RunsOverdue"]
        assert overdue[0]["type"] == "Warning"
        # A fixed script runs successfully: Degraded turns False, with a Normal Event.
        fixed = 'import "array"\n\narray.from(rows: [{_time: now(), _value: 1}])\n    |> yield()\n'
        kube.patch("kapacitortask", "dying", {"spec": {"flux": fixed}})
        kube.wait_for(
            "kapacitortask",
            "dying",
            lambda o: condition(o, "Degraded").get("status") == "False",
            timeout=60,
            what="Degraded False",
        )
        wait_until(lambda: "RunsOnTime" in reasons(kube, "dying"), timeout=30)
        events = json.dumps(kube.events("dying"))
        assert "RunsOnTime" in events
