"""`Kapacitor` connection objects and KapacitorTemplate end to end: the real
kube-apiserver, the operator process and a real kapacitord (no fault is injected here,
except a server that is not there at all)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_testkit import ControlPlane
from kapacitor_testkit.kapacitord import KapacitordHandle, running_kapacitord
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube, condition
from tests.e2e.operator_fixtures import make_operator

API = "kapacitor.operator.dev/v1alpha1"
DBRPS = [{"db": "telegraf", "rp": "autogen"}]
TEMPLATE = (
    "// Alert threshold\nvar crit = 90.0\nvar measurement string\n"
    "stream\n    |from()\n        .measurement(measurement)\n"
    '    |alert()\n        .crit(lambda: "value" > crit)\n'
)


@pytest.fixture(scope="module")
def kapacitord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KapacitordHandle]:
    with running_kapacitord(workdir=tmp_path_factory.mktemp("kapacitord")) as server:
        yield server


@pytest.fixture
def op(
    control_plane: ControlPlane,
    crds: list[str],
    kapacitord: KapacitordHandle,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator, its default connection and allow-list on the real kapacitord."""
    proc = make_operator(
        control_plane,
        namespace,
        kapacitord.base_url,
        tmp_path / "operator",
        OPERATOR_DRIFT_INTERVAL="3600",
        OPERATOR_KAPACITOR_CHECK_INTERVAL="2",
        OPERATOR_ALLOWED_KAPACITOR_URLS="http://127.0.0.1:*",
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        print(f"--- operator log tail ({proc.log_path}) ---\n{proc.log_tail(80)}")


def manifest(kind: str, name: str, spec: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}
    )


def task(name: str, **spec: Any) -> str:
    return manifest("KapacitorTask", name, {"type": "stream", "dbrps": DBRPS, **spec})


def server_get(server: KapacitordHandle, path: str) -> Any:
    resp = httpx.get(f"{server.base_url}/kapacitor/v1/{path}", params={"script-format": "raw"})
    return None if resp.status_code == 404 else resp.raise_for_status().json()


def ready(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    cond = condition(obj, "Ready") or {}
    return cond.get("status"), cond.get("reason")


def test_kapacitor_object_status_refs_and_deletion(
    kube: Kube, op: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    # A task naming a Kapacitor object that does not exist yet says so.
    kube.apply(
        task("cpu", script="stream|from().measurement('cpu')", kapacitorRef={"name": "shared"})
    )
    kube.wait_condition("kapacitortask", "cpu", "Ready", "False", reason="KapacitorNotFound")

    version = httpx.get(f"{kapacitord.base_url}/kapacitor/v1/ping").headers["X-Kapacitor-Version"]
    kube.apply(manifest("Kapacitor", "shared", {"url": kapacitord.base_url}))
    shared = kube.wait_condition("kapacitors", "shared", "Ready", reason="Reachable")
    ready_at = time.monotonic()
    st = shared["status"]
    assert (st["reachable"], st["version"], st["kapacitorURL"]) == (
        True,
        version,
        kapacitord.base_url,
    )
    assert st["lastCheckedAt"]
    assert {"tasks", "templates", "handlers"} <= set(st)

    # The waiting task is nudged: Ready well before its 60 s reference retry.
    kube.wait_condition("kapacitortask", "cpu", "Ready", reason="Executing", timeout=30)
    nudged_in = time.monotonic() - ready_at
    print(f"task Ready {nudged_in:.1f}s after its Kapacitor became Ready")
    assert nudged_in < 30
    assert server_get(kapacitord, f"tasks/{kube.ns}.cpu")["status"] == "enabled"

    # A task made by hand is counted as unmanaged; ours is managed.
    unmanaged_id = f"{kube.ns}-by-hand"
    httpx.post(
        f"{kapacitord.base_url}/kapacitor/v1/tasks",
        json={"id": unmanaged_id, "type": "stream", "dbrps": DBRPS, "script": "stream|from()"},
    ).raise_for_status()
    total = len(server_get(kapacitord, "tasks?limit=-1")["tasks"])

    def counted(obj: dict[str, Any]) -> bool:
        tasks = (obj.get("status") or {}).get("tasks") or {}
        return bool(tasks.get("total") == total and tasks.get("unmanaged") == total - 1)

    kube.wait_for("kapacitors", "shared", counted, timeout=30, what="counts with unmanaged")

    # Handlers too, by topic and ID: one of a KapacitorAlertHandler is managed; one made
    # by hand on the same topic, with the same ID on another topic, is not.
    topic, other = f"{kube.ns}-cpu", f"{kube.ns}-mem"
    log = {"path": "/dev/null"}
    kube.apply(
        manifest(
            "KapacitorAlertHandler",
            "log",
            {"kapacitorRef": {"name": "shared"}, "topic": topic, "id": "log", "kind": "log"}
            | {"options": log},
        )
    )
    kube.kubectl_wait("kapacitoralerthandler", "log", "Ready")
    for on, handler_id in ((topic, "by-hand"), (other, "log")):
        httpx.post(
            f"{kapacitord.base_url}/kapacitor/v1/alerts/topics/{on}/handlers",
            json={"id": handler_id, "kind": "log", "options": log},
        ).raise_for_status()
    topics = server_get(kapacitord, "alerts/topics")["topics"]
    handlers = sum(
        len(server_get(kapacitord, f"alerts/topics/{t['id']}/handlers")["handlers"]) for t in topics
    )

    def handlers_counted(obj: dict[str, Any]) -> bool:
        counts = (obj.get("status") or {}).get("handlers") or {}
        return bool(counts.get("total") == handlers and counts.get("unmanaged") == handlers - 1)

    kube.wait_for("kapacitors", "shared", handlers_counted, timeout=30, what="handler counts")
    kube.delete("kapacitoralerthandler", "log")
    kube.wait_gone("kapacitoralerthandler", "log")
    for on, handler_id in ((topic, "by-hand"), (other, "log")):
        httpx.delete(f"{kapacitord.base_url}/kapacitor/v1/alerts/topics/{on}/handlers/{handler_id}")

    # kubectl: `kapacitors` and the short name are the connection objects; `kapacitor` is
    # the category, so it lists every kind of this operator.
    plural = kube.kubectl("get", "kapacitors").stdout
    assert "shared" in plural
    assert "VERSION" in plural
    assert "UNMANAGED" in plural
    assert "shared" in kube.kubectl("get", "kapa").stdout
    category = kube.kubectl("get", "kapacitor").stdout
    assert "kapacitor.kapacitor.operator.dev/shared" in category
    assert "kapacitortask.kapacitor.operator.dev/cpu" in category
    explained = kube.cp.kubectl("explain", "kapacitors.spec.credentialsSecretRef").stdout
    assert "Secret with basic-auth credentials" in explained

    # Deleting the connection while a task uses it waits, and says why.
    kube.delete("kapacitors", "shared")
    kube.wait_for(
        "kapacitors",
        "shared",
        lambda o: (
            ready(o) == ("False", "InUse")
            and "KapacitorTask cpu" in (condition(o, "Ready") or {})["message"]
        ),
        what="InUse",
    )
    kube.delete("kapacitortask", "cpu")
    kube.wait_gone("kapacitortask", "cpu")
    assert server_get(kapacitord, f"tasks/{kube.ns}.cpu") is None  # deleted through the ref
    kube.wait_gone("kapacitors", "shared", timeout=40)
    httpx.delete(f"{kapacitord.base_url}/kapacitor/v1/tasks/{unmanaged_id}")


def test_kapacitor_object_says_what_is_wrong(kube: Kube, op: OperatorProcess) -> None:
    kube.apply(manifest("Kapacitor", "dead", {"url": "http://127.0.0.1:1"}))
    dead = kube.wait_condition("kapacitors", "dead", "Ready", "False", reason="Unreachable")
    assert dead["status"]["reachable"] is False
    assert "ConnectError" in condition(dead, "Ready")["message"]  # type: ignore[index]
    kube.apply(
        manifest(
            "Kapacitor",
            "nosecret",
            {"url": "http://127.0.0.1:1", "credentialsSecretRef": {"name": "kap-creds"}},
        )
    )
    kube.wait_condition("kapacitors", "nosecret", "Ready", "False", reason="SecretNotFound")
    kube.apply(manifest("Kapacitor", "elsewhere", {"url": "http://kapacitor.example.com:9092"}))
    kube.wait_condition(
        "kapacitors", "elsewhere", "Ready", "False", reason="KapacitorURLNotAllowed"
    )
    # A task naming a connection that is not Ready says which and why.
    kube.apply(task("t", script="stream|from()", kapacitorRef={"name": "dead"}))
    obj = kube.wait_condition("kapacitortask", "t", "Ready", "False", reason="KapacitorNotReady")
    assert "Unreachable" in condition(obj, "Ready")["message"]  # type: ignore[index]
    # Admission: not both an inline connection and a ref.
    both = task(
        "both",
        script="stream|from()",
        kapacitorRef={"name": "dead"},
        kapacitor={"url": "http://a:1"},
    )
    rejected = kube.apply(both, check=False)
    assert rejected.returncode != 0
    assert "set spec.kapacitor or spec.kapacitorRef, not both" in rejected.stderr


def test_template_with_tasks_update_and_deletion(
    kube: Kube, op: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    tid = f"{kube.ns}.threshold"
    # Tasks first: they wait for their template, then are nudged when it is defined.
    for name, enabled in (("cpu", True), ("mem", False)):
        kube.apply(
            task(
                name,
                templateRef={"name": "threshold"},
                enabled=enabled,
                vars={"measurement": {"type": "string", "value": name}},
            )
        )
    kube.wait_condition("kapacitortask", "cpu", "Ready", "False", reason="TemplateNotFound")
    kube.apply(manifest("KapacitorTemplate", "threshold", {"type": "stream", "script": TEMPLATE}))
    tpl = kube.wait_condition("kapacitortemplate", "threshold", "Ready", reason="Defined")
    assert tpl["status"]["templateID"] == tid
    assert tpl["status"]["vars"]["crit"] == {
        "type": "float",
        "value": 90.0,
        "description": "Alert threshold",
    }
    assert tpl["status"]["vars"]["measurement"] == {"type": "string", "description": ""}
    kube.wait_condition("kapacitortask", "cpu", "Ready", reason="Executing", timeout=30)
    kube.wait_condition("kapacitortask", "mem", "Ready", reason="Disabled", timeout=30)
    assert server_get(kapacitord, f"tasks/{kube.ns}.cpu")["template-id"] == tid
    kube.wait_for(
        "kapacitortemplate",
        "threshold",
        lambda o: o["status"].get("tasks") == [f"{kube.ns}.cpu", f"{kube.ns}.mem"],
        what="tasks listed",
    )

    # A new template script that needs a var no task sets: Kapacitor takes it (the only
    # enabled task is reloaded... so first disable it), the disabled task reports the
    # compile error once the operator re-reads it.
    kube.apply(
        task(
            "cpu",
            templateRef={"name": "threshold"},
            enabled=False,
            vars={"measurement": {"type": "string", "value": "cpu"}},
        )
    )
    kube.wait_condition("kapacitortask", "cpu", "Ready", reason="Disabled")
    needs = TEMPLATE.replace("var crit = 90.0", "var crit float")
    kube.apply(manifest("KapacitorTemplate", "threshold", {"type": "stream", "script": needs}))
    kube.wait_for(
        "kapacitortemplate",
        "threshold",
        lambda o: (
            o["status"].get("observedGeneration") == 2
            and o["status"]["vars"]["crit"] == {"type": "float", "description": "Alert threshold"}
        ),
        what="vars after update",
    )
    for name in ("cpu", "mem"):
        assert server_get(kapacitord, f"tasks/{kube.ns}.{name}")["script"] == needs
        kube.wait_for(
            "kapacitortask",
            name,
            lambda o: 'missing value for var "crit"' in (o["status"].get("error") or ""),
            timeout=30,
            what="task status shows the reloaded template's error",
        )

    # Deleting the template waits for the tasks made from it, naming them.
    kube.delete("kapacitortemplate", "threshold")
    held = kube.wait_for(
        "kapacitortemplate", "threshold", lambda o: ready(o) == ("False", "InUse"), what="InUse"
    )
    message = condition(held, "Ready")["message"]  # type: ignore[index]
    assert f"{kube.ns}.cpu" in message
    assert f"{kube.ns}.mem" in message
    assert server_get(kapacitord, f"templates/{tid}") is not None
    kube.delete("kapacitortask", "cpu")
    kube.delete("kapacitortask", "mem")
    kube.wait_gone("kapacitortemplate", "threshold", timeout=40)
    assert server_get(kapacitord, f"templates/{tid}") is None


def test_template_claims_and_drift_on_the_shared_pattern(
    control_plane: ControlPlane,
    crds: list[str],
    kube: Kube,
    kapacitord: KapacitordHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    """Two KapacitorTemplates naming one template ID: the older manages it, the younger
    is told Conflict and takes over when the older goes (Orphan: the template stays).
    A template deleted or edited in Kapacitor is restored by the drift pass, with a
    DriftRepaired Event."""
    proc = make_operator(
        control_plane,
        namespace,
        kapacitord.base_url,
        tmp_path / "operator",
        OPERATOR_DRIFT_INTERVAL="2",
    )
    tid = f"shared-{kube.ns}"
    spec = {"type": "stream", "script": TEMPLATE, "templateID": tid}
    with proc:
        kube.apply(manifest("KapacitorTemplate", "first", {**spec, "deletionPolicy": "Orphan"}))
        kube.wait_condition("kapacitortemplate", "first", "Ready", reason="Defined")
        kube.apply(manifest("KapacitorTemplate", "second", spec))
        held = kube.wait_condition(
            "kapacitortemplate", "second", "Ready", "False", reason="Conflict"
        )
        assert "first" in condition(held, "Ready")["message"]  # type: ignore[index]
        # Drift: deleted in Kapacitor, then edited there.
        httpx.delete(f"{kapacitord.base_url}/kapacitor/v1/templates/{tid}").raise_for_status()
        kube.wait_event("first", "DriftRepaired")
        kube.wait_for(
            "kapacitortemplate",
            "first",
            lambda o: server_get(kapacitord, f"templates/{tid}") is not None,
            what="template defined again",
        )
        edited = TEMPLATE.replace("90.0", "50.0")
        httpx.patch(
            f"{kapacitord.base_url}/kapacitor/v1/templates/{tid}",
            json={"type": "stream", "script": edited},
        ).raise_for_status()
        kube.wait_for(
            "kapacitortemplate",
            "first",
            lambda o: (server_get(kapacitord, f"templates/{tid}") or {}).get("script") == TEMPLATE,
            what="script restored",
        )
        # The holder goes (Orphan): the template stays and the younger one takes over.
        kube.delete("kapacitortemplate", "first")
        kube.wait_gone("kapacitortemplate", "first", timeout=40)
        kube.wait_condition("kapacitortemplate", "second", "Ready", reason="Defined", timeout=40)
        assert server_get(kapacitord, f"templates/{tid}") is not None
        kube.delete("kapacitortemplate", "second")
        kube.wait_gone("kapacitortemplate", "second", timeout=40)
        assert server_get(kapacitord, f"templates/{tid}") is None
