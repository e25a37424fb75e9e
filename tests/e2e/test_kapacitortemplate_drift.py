"""KapacitorTemplate on the shared pattern (issue 15): a drift pass is one paged list of
templates (and of the tasks' template IDs) per server and reads no template that did not
drift; a restart reads nothing; templates no resource claims are counted."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.test_kapacitortask import wait_until
from tests.e2e.test_kapacitortask_drift import sample

SCRIPT = "var m string\nstream\n    |from()\n        .measurement(m)\n"
KIND = 'kind="KapacitorTemplate"'


def template(name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kapacitor.operator.dev/v1alpha1",
            "kind": "KapacitorTemplate",
            "metadata": {"name": name},
            "spec": {"type": "stream", "script": SCRIPT},
        }
    )


def passes(op: OperatorProcess) -> float:
    return sample(op, "kapacitor_operator_drift_passes_total", f'{KIND},result="ok"') or 0


def test_template_drift_lists_per_server_and_a_restart_reads_nothing(
    control_plane: ControlPlane,
    kube: Kube,
    crds: list[str],
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    api = f"{emulator.base_url}/kapacitor/v1"
    stray = f"{kube.ns}-stray"
    httpx.post(
        f"{api}/templates", json={"id": stray, "type": "stream", "script": SCRIPT}
    ).raise_for_status()
    lists = {("GET", "/kapacitor/v1/templates"), ("GET", "/kapacitor/v1/tasks")}

    def start(log: str) -> OperatorProcess:
        return make_operator(
            control_plane, kube.ns, emulator.base_url, tmp_path / log, OPERATOR_DRIFT_INTERVAL="2"
        )

    with start("op1") as op:
        for i in range(3):
            kube.apply(template(f"t{i}"))
        for i in range(3):
            kube.wait_condition("kapacitortemplate", f"t{i}", "Ready", reason="Defined")
        first = passes(op)
        wait_until(lambda: passes(op) >= first + 1, timeout=30, what="a drift pass")
        mark = len(emulator.requests())
        wait_until(lambda: passes(op) >= first + 3, timeout=30, what="two more passes")
        seen = {(r["method"], r["path"]) for r in emulator.requests()[mark:]}
        assert {s for s in seen if kube.ns in s[1]} == set(), "no per-template request"
        assert seen <= lists | {("GET", "/kapacitor/v1/api/v2/tasks")}
        # Unmanaged: every template on the server that no KapacitorTemplate claims.
        listed = httpx.get(f"{api}/templates", params={"limit": "-1", "fields": "id"}).json()
        ours = {f"{kube.ns}.t{i}" for i in range(3)}
        expected = len([t for t in listed["templates"] if t["id"] not in ours])
        labels = f'api="template",{KIND}'
        wait_until(
            lambda: sample(op, "kapacitor_operator_unmanaged_objects", labels) == expected,
            timeout=30,
            what=f"{expected} unmanaged templates",
        )
        # One template edited behind the operator's back: only it is read and repaired.
        mark = len(emulator.requests())
        edited = SCRIPT.replace("measurement(m)", "measurement('x')")
        httpx.patch(
            f"{api}/templates/{kube.ns}.t1", json={"type": "stream", "script": edited}
        ).raise_for_status()
        kube.wait_event("t1", "DriftRepaired")
        touched = {r["path"] for r in emulator.requests()[mark:] if kube.ns in r["path"]}
        assert touched == {f"/kapacitor/v1/templates/{kube.ns}.t1"}
    # A restart: every template is settled, so nothing is read until drift finds a reason.
    mark = len(emulator.requests())
    with start("op2") as op:
        first = passes(op)
        wait_until(lambda: passes(op) >= first + 2, timeout=30, what="two passes after restart")
        seen = {(r["method"], r["path"]) for r in emulator.requests()[mark:]}
        assert {s for s in seen if kube.ns in s[1]} == set(), "a restart reads no template"
        for i in range(3):
            kube.delete("kapacitortemplate", f"t{i}")
        for i in range(3):
            kube.wait_gone("kapacitortemplate", f"t{i}", timeout=40)
    httpx.delete(f"{api}/templates/{stray}")
