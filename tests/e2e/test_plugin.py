"""`kubectl kapacitor` end to end: the real console script, run as a subprocess against the
test control plane, the operator (a subprocess), Kapacitor emulators and a real kapacitord.

Self-contained on purpose: its namespaces, Kapacitors and operator are module fixtures of
this file (only `control_plane` comes from conftest), so the rest of the e2e suite can
change without touching it. Every wait polls with a deadline.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_operator import __version__
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.kapacitord import KapacitordHandle, running_kapacitord
from kapacitor_testkit.node import Node
from kapacitor_testkit.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
API = "kapacitor.operator.dev/v1alpha1"
# No `import`: the operator puts its `option task` record first, and Flux wants imports
# before any statement.
FLUX = 'from(bucket: "telegraf")\n    |> range(start: -1h)\n    |> yield()\n'
STREAM = "stream\n    |from()\n        .measurement('cpu')\n    |log()\n"
PASSWORD = "pl-s3cret-" + uuid.uuid4().hex[:8]
PREFIX = "kubectl-kapacitor-validate-"


def _plugin_binary() -> str:
    found = shutil.which("kubectl-kapacitor", path=str(Path(sys.executable).parent))
    assert found, (
        "kubectl-kapacitor is not installed next to the interpreter: run hack/bootstrap.sh"
    )
    return found


def _host_ip() -> str:
    """A non-loopback IPv4 address of this machine: the API server refuses to proxy to
    loopback, so the proxied Kapacitor listens here."""
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(
                    sock.fileno(), siocgifaddr, struct.pack("256s", name.encode()[:15])
                )
            except OSError:
                continue  # no IPv4 address on this interface
            address = socket.inet_ntoa(packed[20:24])
            if not address.startswith("127."):
                return address
    raise AssertionError("this machine has no non-loopback IPv4 address for the proxy test")


def _wait(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


@dataclass
class Env:
    cp: ControlPlane
    ns: str
    ns2: str
    op_ns: str
    emulator: EmulatorHandle  # memory run storage, listening on a host address (proxy)
    none_emulator: EmulatorHandle  # task-run-influxdb = none
    auth_emulator: EmulatorHandle  # basic auth on
    kapacitord: KapacitordHandle
    tmp: Path

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> Any:
        return self.cp.kubectl(*args, check=check, input=input)

    def apply(self, namespace: str, *docs: dict[str, Any]) -> None:
        self.kubectl(
            "apply", "-n", namespace, "--server-side", "--field-manager=e2e", "-f", "-",
            input=yaml.safe_dump_all(docs),
        )  # fmt: skip

    def get(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        result = self.kubectl("get", "-n", namespace, kind, name, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def plugin(
        self, *args: str, kubeconfig: Path | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(kubeconfig or self.cp.kubeconfig_path))
        return subprocess.run(
            [_plugin_binary(), *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        result = self.plugin(*args, **kw)
        assert result.returncode == 0, f"{args}: rc {result.returncode}\n{result.stderr}"
        return result

    def wait_ready(self, namespace: str, name: str) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            obj = self.get(namespace, "kapacitortask", name)
            conds = ((obj or {}).get("status") or {}).get("conditions") or []
            return (
                obj if any(c["type"] == "Ready" and c["status"] == "True" for c in conds) else None
            )

        found: dict[str, Any] = _wait(ready, f"kapacitortask/{name} Ready")
        return found

    def wait_ended(self, namespace: str, name: str, timeout: float = 60.0) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            obj = self.get(namespace, "taskrun", name)
            phase = ((obj or {}).get("status") or {}).get("phase")
            return obj if phase in {"Succeeded", "Failed", "Cancelled"} else None

        found: dict[str, Any] = _wait(ended, f"taskrun/{name} ended", timeout)
        return found


def _namespace(cp: ControlPlane, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cp.kubectl("create", "namespace", name)
    return name


@pytest.fixture(scope="module")
def env(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    cp = control_plane
    cp.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
    tmp = tmp_path_factory.mktemp("plugin")
    namespaces = [_namespace(cp, p) for p in ("plugin", "plugin2", "plugin-op")]
    with (
        running_emulator("memory", ["--host", _host_ip()]) as emulator,
        running_emulator("none") as none_emulator,
        running_emulator("memory", ["--username", "kapa", "--password", PASSWORD]) as auth,
        running_kapacitord() as kapacitord,
    ):
        # Resources name the other Kapacitors too: the operator must be told it may call
        # them (OPERATOR_ALLOWED_KAPACITOR_URLS; only the default is allowed otherwise).
        others = (none_emulator.base_url, auth.base_url, kapacitord.base_url)
        operator = OperatorProcess(
            kubeconfig=cp.kubeconfig_path,
            kapacitor_url=emulator.base_url,
            namespaces=namespaces[:2],
            log_dir=tmp / "operator",
            env={"OPERATOR_ALLOWED_KAPACITOR_URLS": ",".join(others)},
        )
        operator.start()
        try:
            ns, ns2, op_ns = namespaces
            yield Env(cp, ns, ns2, op_ns, emulator, none_emulator, auth, kapacitord, tmp)
        finally:
            operator.stop()
            print(f"--- operator log tail ---\n{operator.log_tail(60)}")
            for ns in namespaces:
                cp.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def task_doc(name: str, url: str | None = None, **spec: Any) -> dict[str, Any]:
    body = dict(spec)
    if url:
        body["kapacitor"] = {**body.get("kapacitor", {}), "url": url}
    return {"apiVersion": API, "kind": "KapacitorTask", "metadata": {"name": name}, "spec": body}


def flux_spec(**extra: Any) -> dict[str, Any]:
    return {"type": "flux", "every": "1h", "flux": FLUX, **extra}


def tick_spec(script: str = STREAM) -> dict[str, Any]:
    return {"type": "stream", "dbrps": [{"db": "telegraf", "rp": "autogen"}], "script": script}


def taskrun_doc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "TaskRun", "metadata": {"name": name}, "spec": spec}


def runs_of(kapacitor_url: str, task_id: str) -> list[dict[str, Any]]:
    url = f"{kapacitor_url}/kapacitor/v1/api/v2/tasks/{task_id}/runs"
    runs: list[dict[str, Any]] = httpx.get(url).json()["runs"]
    return runs


# --- command line conventions ---------------------------------------------------------


def test_help_usage_errors_and_kubectl_discovery(env: Env) -> None:
    for args in ([], ["show"], ["logs"], ["retry-failed"], ["validate"]):
        result = env.ok(*args, "--help")
        assert "usage: kubectl kapacitor" in result.stdout
    for args, message in (
        (["show", "taskrun/x"], "this command works on kapacitortasks, not taskruns"),
        (["show"], "the following arguments are required"),
        (["logs", "tr/x", "-f", "-o", "json"], "--follow prints text"),
        (["retry-failed", "kt/x", "--since", "soon"], "invalid --since 'soon'"),
        (["show", "pods/x"], 'resource type "pods"'),
        (["show", "kt/x", "-o", "xml"], "invalid choice: 'xml'"),
    ):
        result = env.plugin(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr
        assert message in result.stderr, result.stderr
    missing = env.plugin("show", "kt/nope", "-n", env.ns)
    assert missing.returncode == 1
    assert missing.stderr == (
        f'error: kapacitortasks.kapacitor.operator.dev "nope" not found in namespace "{env.ns}"\n'
    )
    # kubectl finds the console script on PATH and hands it the arguments.
    kubectl = str(env.cp.binaries.kubectl)
    path = f"{Path(_plugin_binary()).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    found = subprocess.run(
        [kubectl, "kapacitor", "version"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=path, KUBECONFIG=str(env.cp.kubeconfig_path)),
        check=False,
        timeout=60,
    )
    assert (found.returncode, found.stdout.strip()) == (0, __version__), found.stderr
    plugins = subprocess.run(
        [kubectl, "plugin", "list"], capture_output=True, text=True, check=False, timeout=60,
        env=dict(os.environ, PATH=path),
    )  # fmt: skip
    assert "kubectl-kapacitor" in plugins.stdout


# --- show -----------------------------------------------------------------------------


def test_show_tickscript_from_kapacitord(env: Env) -> None:
    env.apply(env.ns, task_doc("cpu", env.kapacitord.base_url, **tick_spec()))
    env.wait_ready(env.ns, "cpu")
    text = env.ok("show", "kt/cpu", "-n", env.ns).stdout
    assert "Executing:" in text
    assert "true" in text.split("Executing:")[1].splitlines()[0]
    assert f"\nTask ID:       {env.ns}.cpu\n" in text
    assert '"telegraf"."autogen"' in text
    assert "DOT:" in text
    assert "digraph" in text
    assert "Stats:" in text
    doc = json.loads(env.ok("show", "kapacitortask", "cpu", "-n", env.ns, "-o", "json").stdout)
    assert doc["kind"] == "KapacitorTask"
    assert doc["metadata"] == {
        "name": "cpu",
        "namespace": env.ns,
    }
    assert doc["kapacitorURL"] == env.kapacitord.base_url
    assert doc["via"] == "direct"
    assert doc["task"]["status"] == "enabled"
    assert doc["task"]["executing"] is True
    assert doc["task"]["dot"].startswith("digraph")
    assert "node-stats" in doc["task"]["stats"]
    as_yaml = yaml.safe_load(env.ok("show", "kt/cpu", "-n", env.ns, "-o", "yaml").stdout)
    assert as_yaml["task"]["id"] == doc["task"]["id"]
    assert "Script:" in env.ok("show", "kt/cpu", "-n", env.ns, "-o", "wide").stdout
    # The namespace defaults to the kubeconfig context's.
    config = yaml.safe_load(env.cp.kubeconfig_path.read_text())
    config["contexts"][0]["context"]["namespace"] = env.ns
    scoped = env.tmp / "scoped.kubeconfig"
    scoped.write_text(yaml.safe_dump(config))
    assert env.ok("show", "kt/cpu", kubeconfig=scoped).stdout.startswith("Name:          cpu\n")
    other = env.plugin("show", "kt/cpu", "--namespace", env.ns2, kubeconfig=scoped)
    assert other.returncode == 1
    assert f'not found in namespace "{env.ns2}"' in other.stderr


def test_show_flux_with_the_operators_default_connection(env: Env) -> None:
    env.apply(env.ns, task_doc("hourly", **flux_spec()))  # no spec.kapacitor
    task_id = env.wait_ready(env.ns, "hourly")["status"]["taskID"]
    env.emulator.queue_outcomes(task_id, [{"status": "failed", "message": "no bucket"}])
    run = env.emulator.trigger_scheduled_run(task_id)
    _wait(
        lambda: any(r["status"] == "failed" for r in runs_of(env.emulator.base_url, task_id)), "run"
    )
    nowhere = env.plugin("show", "kt/hourly", "-n", env.ns, "--operator-namespace", env.op_ns)
    assert nowhere.returncode == 1
    assert "no kapacitor-operator Deployment was found" in nowhere.stderr
    assert "--kapacitor-url" in nowhere.stderr
    # As the chart deploys it: the plugin reads KAPACITOR_URL from the Deployment's env.
    env.apply(env.op_ns, _operator_deployment(env.emulator.base_url))
    args = ("show", "kt/hourly", "-n", env.ns, "--operator-namespace", env.op_ns)
    doc = json.loads(env.ok(*args, "-o", "json").stdout)
    assert doc["kapacitorURL"] == env.emulator.base_url
    assert doc["task"]["id"] == task_id
    assert doc["task"]["every"] == "1h"
    assert [r["id"] for r in doc["runs"]] == [run["id"]]
    assert doc["runs"][0]["status"] == "failed"
    text = env.ok(*args).stdout
    assert "Schedule:" in text
    assert "every 1h" in text
    assert "Recent Runs:" in text
    assert run["id"] in text
    # --kapacitor-url needs no Deployment at all.
    flagged = env.ok("show", "kt/hourly", "-n", env.ns, "--kapacitor-url", env.emulator.base_url)
    assert run["id"] in flagged.stdout
    down = env.plugin("show", "kt/hourly", "-n", env.ns, "--kapacitor-url", "http://127.0.0.1:9")
    assert down.returncode == 1
    assert down.stderr.startswith("error: Kapacitor at http://127.0.0.1:9: cannot reach Kapacitor")


def _operator_deployment(url: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "kapacitor-operator", "app.kubernetes.io/instance": "x"}
    container: dict[str, Any] = {"name": "operator", "image": "kapacitor-operator:never-pulled"}
    container["env"] = [{"name": "KAPACITOR_URL", "value": url}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "kapacitor-operator", "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


# --- retry-failed ---------------------------------------------------------------------


def test_retry_failed_creates_one_taskrun_per_failed_run_once(env: Env) -> None:
    env.apply(env.ns, task_doc("batchy", env.emulator.base_url, **flux_spec()))
    task_id = env.wait_ready(env.ns, "batchy")["status"]["taskID"]
    now = datetime.now(UTC).replace(microsecond=0)
    env.emulator.queue_outcomes(task_id, [{"status": "failed", "message": "boom"}] * 2)
    for hours in (3, 2):
        stamp = (now - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
        env.emulator.trigger_scheduled_run(task_id, stamp)

    def failed() -> list[str]:
        runs = runs_of(env.emulator.base_url, task_id)
        ids = [r["id"] for r in runs if r["status"] == "failed"]
        return ids if len(ids) == 2 else []

    failed_ids = sorted(_wait(failed, "two failed runs"))
    names = sorted(f"batchy-retry-{i}" for i in failed_ids)
    dry = json.loads(
        env.ok("retry-failed", "kt/batchy", "-n", env.ns, "--dry-run", "-o", "json").stdout
    )
    assert dry["dryRun"] is True
    assert dry["taskID"] == task_id
    assert sorted(r["taskRun"] for r in dry["runs"]) == names
    assert {r["result"] for r in dry["runs"]} == {"would create"}
    assert all(env.get(env.ns, "taskrun", n) is None for n in names)

    # Slow retries: the second call below comes while they are still running.
    env.emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 4000}] * 2)
    first = env.ok("retry-failed", "kapacitortask/batchy", "-n", env.ns).stdout
    assert first.splitlines()[0].split() == ["RUN", "ID", "SCHEDULED", "FOR", "TASKRUN", "RESULT"]
    assert first.count(" created") == 2
    for name, run_id in zip(names, failed_ids, strict=True):
        obj = env.get(env.ns, "taskrun", name)
        assert obj is not None
        assert obj["spec"]["taskRef"] == {"name": "batchy"}
        assert obj["spec"]["retryOf"] == run_id
    again = json.loads(env.ok("retry-failed", "kt/batchy", "-n", env.ns, "-o", "json").stdout)
    assert {r["result"] for r in again["runs"]} == {"already present"}
    for name in names:
        ended = env.wait_ended(env.ns, name)["status"]
        assert (ended["phase"], ended["triggeredBy"]) == ("Succeeded", "retry")
    # The retries succeeded: by default only failures after the latest success count.
    quiet = env.ok("retry-failed", "kt/batchy", "-n", env.ns)
    assert quiet.stdout == ""
    assert "No failed runs of kapacitortask/batchy since" in quiet.stderr
    explicit = yaml.safe_load(
        env.ok("retry-failed", "kt/batchy", "-n", env.ns, "--since", "4h", "-o", "yaml").stdout
    )
    assert sorted(r["taskRun"] for r in explicit["runs"]) == names
    assert {r["result"] for r in explicit["runs"]} == {"already present"}
    env.apply(env.ns, task_doc("streamy", env.emulator.base_url, **tick_spec()))
    wrong = env.plugin("retry-failed", "kt/streamy", "-n", env.ns)
    assert wrong.returncode == 1
    assert (
        wrong.stderr == "error: retry-failed works on Flux tasks; kapacitortask/streamy is stream\n"
    )


# --- logs -----------------------------------------------------------------------------


def test_logs_from_kapacitor_then_from_status(env: Env) -> None:
    env.apply(env.ns, task_doc("logged", env.emulator.base_url, **flux_spec()))
    task_id = env.wait_ready(env.ns, "logged")["status"]["taskID"]
    env.emulator.queue_outcomes(
        task_id, [{"status": "failed", "message": "bucket missing"}, {"status": "success"}]
    )
    env.apply(
        env.ns,
        taskrun_doc("twice", taskRef={"name": "logged"}, retry={"limit": 1, "delays": ["1s"]}),
    )
    status = env.wait_ended(env.ns, "twice")["status"]
    assert status["phase"] == "Succeeded", status
    first, second = status["attempts"]
    text = env.ok("logs", "taskrun/twice", "-n", env.ns).stdout
    assert (
        f"--- attempt 1 (manual, run {first['externalID']}, failed): logs from Kapacitor ---"
        in text
    )
    assert (
        f"--- attempt 2 (retry, run {second['externalID']}, success): logs from Kapacitor ---"
        in text
    )
    assert "bucket missing" in text.split("--- attempt 2")[0]
    assert "Completed(success)" in text.split("--- attempt 2")[1]
    doc = json.loads(
        env.ok("logs", "tr", "twice", "-n", env.ns, "--attempt", "2", "-o", "json").stdout
    )
    (only,) = doc["attempts"]
    assert (only["attempt"], only["source"], only["externalID"]) == (
        2,
        "kapacitor",
        second["externalID"],
    )
    assert any("Completed(success)" in line for line in only["lines"])
    from_status = yaml.safe_load(
        env.ok("logs", "tr/twice", "-n", env.ns, "--source", "status", "-o", "yaml").stdout
    )
    assert [a["source"] for a in from_status["attempts"]] == ["status", "status"]
    assert from_status["attempts"][1]["lines"] == second["logTail"]
    absent = env.plugin("logs", "tr/twice", "-n", env.ns, "--attempt", "5")
    assert absent.returncode == 1
    assert absent.stderr == "error: taskrun/twice has no attempt 5 in status (attempts: 1, 2)\n"

    # Kapacitor without run storage forgets finished runs: the logs come from status.
    env.apply(env.ns, task_doc("forgetful", env.none_emulator.base_url, **flux_spec()))
    forgetful = env.wait_ready(env.ns, "forgetful")["status"]["taskID"]
    # Long enough for the operator to capture the log while the run is in flight.
    env.none_emulator.queue_outcomes(forgetful, [{"status": "success", "durationMs": 2500}])
    env.apply(env.ns, taskrun_doc("gone", taskRef={"name": "forgetful"}))
    gone = env.wait_ended(env.ns, "gone")["status"]
    assert gone["phase"] == "Succeeded"
    header, *lines = env.ok("logs", "tr/gone", "-n", env.ns).stdout.splitlines()
    assert header.endswith("success): status (Kapacitor no longer has the run) ---")
    assert lines == gone["attempts"][0]["logTail"]
    assert lines[0].startswith("Started task from script")


def test_logs_follow_until_the_run_ends(env: Env) -> None:
    env.apply(env.ns, task_doc("slowish", env.emulator.base_url, **flux_spec()))
    task_id = env.wait_ready(env.ns, "slowish")["status"]["taskID"]
    env.emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 3000}])
    env.apply(env.ns, taskrun_doc("followed", taskRef={"name": "slowish"}))
    started = time.monotonic()
    result = env.ok("logs", "tr/followed", "-n", env.ns, "-f")
    assert time.monotonic() - started >= 1.0, "follow returned before the run ended"
    assert "Completed(success)" in result.stdout
    assert result.stdout.count("--- attempt 1 ") == 1
    assert env.get(env.ns, "taskrun", "followed")["status"]["phase"] == "Succeeded"  # type: ignore[index]


def test_logs_of_a_job_attempt_come_from_its_pod(env: Env, node: Node) -> None:
    script = 'echo "copying"; echo "disk full" > /dev/termination-log; exit 3'
    container = {
        "name": "main",
        "image": node.images.busybox.ref,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
    }
    env.apply(
        env.ns, taskrun_doc("backup", job={"template": {"spec": {"containers": [container]}}})
    )
    status = env.wait_ended(env.ns, "backup", timeout=120)["status"]
    assert status["attempts"][0]["message"] == "disk full"
    doc = json.loads(env.ok("logs", "tr/backup", "-n", env.ns, "-o", "json").stdout)
    (attempt,) = doc["attempts"]
    assert (attempt["method"], attempt["externalID"]) == ("job", "backup-1")
    assert attempt["source"] == "pod"
    assert attempt["lines"] == ["copying"]
    text = env.ok("logs", "tr/backup", "-n", env.ns).stdout
    assert text.startswith("--- attempt 1 (job, job backup-1, failed): log of pod backup-1-")
    # With its Job (and Pod) gone, the log tail in status is what remains.
    env.kubectl("delete", "job", "backup-1", "-n", env.ns, "--wait=true")
    doc = json.loads(env.ok("logs", "tr/backup", "-n", env.ns, "-o", "json").stdout)
    (attempt,) = doc["attempts"]
    assert attempt["source"] == "status"
    assert attempt["lines"][-1] == "message: disk full"


# --- validate -------------------------------------------------------------------------


def _kapacitord_tasks(env: Env) -> tuple[list[str], list[str]]:
    base = env.kapacitord.base_url
    ticks = [t["id"] for t in httpx.get(f"{base}/kapacitor/v1/tasks?limit=-1").json()["tasks"]]
    fluxes = [t["name"] for t in httpx.get(f"{base}/kapacitor/v1/api/v2/tasks").json()["tasks"]]
    return ticks, fluxes


def _kapacitord_answer(env: Env, path: str, body: dict[str, Any]) -> str:
    """What kapacitord itself says to a definition, for an exact comparison."""
    response = httpx.post(f"{env.kapacitord.base_url}/kapacitor/v1/{path}", json=body)
    assert response.status_code == 400, response.text
    message: str = response.json()["message"]
    return message


def test_validate_asks_kapacitor_and_leaves_nothing_behind(env: Env) -> None:
    url = env.kapacitord.base_url
    bad_tick = STREAM.replace("|log()", '|alert()\n        .crit(lambda: "usage" > )')
    bad_flux = 'from(bucket: "x")\n    |> range(start: -1h\n'
    env.apply(env.ns, task_doc("live", url, **tick_spec()))
    live = env.wait_ready(env.ns, "live")
    before = httpx.get(f"{url}/kapacitor/v1/tasks/{env.ns}.live").json()
    env.kubectl("create", "configmap", "scripts", "-n", env.ns, f"--from-literal=cpu.tick={STREAM}")
    from_cm = tick_spec()
    del from_cm["script"]
    from_cm["scriptFrom"] = {"configMapKeyRef": {"name": "scripts", "key": "cpu.tick"}}
    docs = [
        task_doc("live", url, **tick_spec()),
        task_doc("bad-tick", url, **tick_spec(bad_tick)),
        task_doc("good-flux", url, **flux_spec()),
        task_doc("bad-flux", url, **flux_spec(flux=bad_flux)),
        task_doc("from-cm", url, **from_cm),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored"}, "data": {}},
    ]
    manifest = env.tmp / "tasks.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    result = env.plugin("validate", "-f", str(manifest), "-n", env.ns, "-o", "json")
    assert result.returncode == 1, result.stderr
    assert "skipping ConfigMap/ignored" in result.stderr
    items = {i["name"]: i for i in json.loads(result.stdout)["items"]}
    assert {n: i["result"] for n, i in items.items()} == {
        "live": "valid",
        "bad-tick": "invalid",
        "good-flux": "valid",
        "bad-flux": "invalid",
        "from-cm": "valid",
    }
    expected_tick = _kapacitord_answer(
        env,
        "tasks",
        {"id": "probe", "dbrps": [{"db": "telegraf", "rp": "autogen"}], "script": bad_tick},
    )
    assert items["bad-tick"]["message"] == expected_tick
    assert expected_tick.startswith("invalid TICKscript")
    probe_flux = 'option task = {name: "probe", every: 1h}\n\n' + bad_flux
    assert items["bad-flux"]["message"] == _kapacitord_answer(
        env, "api/v2/tasks", {"flux": probe_flux}
    )
    ticks, fluxes = _kapacitord_tasks(env)
    assert not [t for t in ticks + fluxes if t.startswith(PREFIX)], (ticks, fluxes)
    after = httpx.get(f"{url}/kapacitor/v1/tasks/{env.ns}.live").json()
    assert after["modified"] == before["modified"]
    assert after["status"] == "enabled"
    assert live["status"]["taskID"] == f"{env.ns}.live"
    # A table by default, stdin with -f -, exit 0 when everything is valid.
    table = env.plugin("validate", "-f", "-", "-n", env.ns, input=yaml.safe_dump(docs[1]))
    assert table.returncode == 1
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "TYPE", "RESULT", "MESSAGE"]
    assert row.split()[:3] == ["bad-tick", "stream", "invalid"]
    assert expected_tick in row
    good = env.ok("validate", "-f", "-", "-n", env.ns, "-o", "yaml", input=yaml.safe_dump(docs[2]))
    assert yaml.safe_load(good.stdout)["items"][0]["result"] == "valid"
    ticks, fluxes = _kapacitord_tasks(env)
    assert not [t for t in ticks + fluxes if t.startswith(PREFIX)]


# --- the user's own rights --------------------------------------------------------------


def _viewer_kubeconfig(env: Env) -> tuple[Path, str]:
    """A ServiceAccount that may read our kinds but no Secret, as a token kubeconfig."""
    rules = [
        {"apiGroups": ["kapacitor.operator.dev"], "resources": ["kapacitortasks", "taskruns"],
         "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
    ]  # fmt: skip
    env.apply(
        env.ns,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "viewer"}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "viewer"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
         "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": env.ns}]},
    )  # fmt: skip
    token = env.kubectl("create", "token", "viewer", "-n", env.ns).stdout.strip()
    config = yaml.safe_load(env.cp.kubeconfig_path.read_text())
    config["users"] = [{"name": "viewer", "user": {"token": token}}]
    config["contexts"][0]["context"].update(user="viewer", namespace=env.ns)
    path = env.tmp / "viewer.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path, f"system:serviceaccount:{env.ns}:viewer"


def test_credentials_secret_is_read_with_the_users_rights_and_never_printed(env: Env) -> None:
    url = env.auth_emulator.base_url
    env.apply(
        env.ns,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kapa-creds"},
         "stringData": {"username": "kapa", "password": PASSWORD}},
        task_doc("guarded", url, kapacitor={"credentialsSecretRef": {"name": "kapa-creds"}},
                 **tick_spec()),
    )  # fmt: skip
    env.wait_ready(env.ns, "guarded")
    for fmt in ("json", "yaml", "wide"):
        shown = env.ok("show", "kt/guarded", "-n", env.ns, "-o", fmt)
        assert PASSWORD not in shown.stdout + shown.stderr
    viewer, user = _viewer_kubeconfig(env)
    env.auth_emulator.clear_requests()
    denied = env.plugin("show", "kt/guarded", kubeconfig=viewer)
    assert denied.returncode == 1
    assert denied.stderr.startswith(f"error: you may not read Secret {env.ns}/kapa-creds, ")
    assert "never the operator's" in denied.stderr
    assert PASSWORD not in denied.stderr
    assert denied.stdout == ""
    impersonated = env.plugin("show", "kt/guarded", "-n", env.ns, "--as", user)
    assert (impersonated.returncode, impersonated.stderr) == (1, denied.stderr)
    # The same identity from an exec credential plugin (as EKS, GKE or kubelogin users have).
    config = yaml.safe_load(viewer.read_text())
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": config["users"][0]["user"]["token"]}}  # fmt: skip
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
            "interactiveMode": "Never",
        }
    }
    exec_kubeconfig = env.tmp / "exec.kubeconfig"
    exec_kubeconfig.write_text(yaml.safe_dump(config))
    impersonated = env.plugin("show", "kt/guarded", kubeconfig=exec_kubeconfig)
    assert (impersonated.returncode, impersonated.stderr) == (1, denied.stderr)
    manifest = yaml.safe_dump(
        task_doc("guarded", url, kapacitor={"credentialsSecretRef": {"name": "kapa-creds"}},
                 **tick_spec())
    )  # fmt: skip
    refused = env.plugin("validate", "-f", "-", kubeconfig=viewer, input=manifest)
    assert (refused.returncode, refused.stderr) == (1, denied.stderr)
    assert env.auth_emulator.requests() == [], "nothing reached Kapacitor without credentials"
    ok = env.ok("validate", "-f", "-", "-n", env.ns, input=manifest)
    assert "valid" in ok.stdout
    assert PASSWORD not in ok.stdout + ok.stderr


# --- the API server's service proxy -----------------------------------------------------


def _kapacitor_service(env: Env, namespace: str) -> None:
    """A Service `kapacitor` (port 9092) whose endpoint is the emulator on this machine.

    The API server proxies only to endpoint addresses that belong to a Pod with that IP,
    so a Pod stands in for Kapacitor's: a scheduling gate keeps any scheduler away, and
    its status (written as a kubelet would) carries the emulator's address.
    """
    port = int(env.emulator.base_url.rsplit(":", 1)[1])
    host = env.emulator.base_url.split("//")[1].rsplit(":", 1)[0]
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kapacitor-0"},
        "spec": {"schedulingGates": [{"name": "kapacitor.operator.dev/e2e-stand-in"}],
                 "containers": [{"name": "kapacitor", "image": "kapacitor:never-pulled"}]},
    }  # fmt: skip
    env.apply(namespace, pod)
    status = {"status": {"phase": "Running", "podIP": host, "podIPs": [{"ip": host}]}}
    env.kubectl(
        "patch", "pod", "kapacitor-0", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps(status),
    )  # fmt: skip
    address = {
        "ip": host,
        "targetRef": {"kind": "Pod", "name": "kapacitor-0", "namespace": namespace},
    }
    env.apply(
        namespace,
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kapacitor"},
         "spec": {"ports": [{"name": "http", "port": 9092, "targetPort": port}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kapacitor"},
         "subsets": [{"addresses": [address], "ports": [{"name": "http", "port": port}]}]},
    )  # fmt: skip
    ping = f"/api/v1/namespaces/{namespace}/services/kapacitor:9092/proxy/kapacitor/v1/ping"
    _wait(lambda: env.kubectl("get", "--raw", ping, check=False).returncode == 0, "proxy", 30)


def test_service_proxy_reaches_an_in_cluster_name(env: Env) -> None:
    _kapacitor_service(env, env.ns2)
    url = f"http://kapacitor.{env.ns2}.svc:9092"
    doc = task_doc("proxied", url, **tick_spec())
    doc["metadata"]["namespace"] = env.ns2
    env.emulator.clear_requests()
    checked = env.ok("validate", "-f", "-", "-o", "json", input=yaml.safe_dump(doc))
    (item,) = json.loads(checked.stdout)["items"]
    assert (item["result"], item["kapacitorURL"]) == ("valid", url)
    paths = [(r["method"], r["path"]) for r in env.emulator.requests()]
    assert ("POST", "/kapacitor/v1/tasks") in paths, paths
    direct = env.plugin(
        "validate", "-f", "-", "--service-proxy", "never", input=yaml.safe_dump(doc)
    )
    assert direct.returncode == 1
    assert "cannot reach Kapacitor" in direct.stdout
    # show through the proxy: the task exists in Kapacitor (the operator, on this machine,
    # cannot resolve the name, so the test defines it).
    httpx.post(
        f"{env.emulator.base_url}/kapacitor/v1/tasks",
        json={"id": f"{env.ns2}.proxied", "dbrps": [{"db": "telegraf", "rp": "autogen"}],
              "script": STREAM, "status": "enabled"},
    ).raise_for_status()  # fmt: skip
    env.apply(env.ns2, doc)
    shown = env.ok("show", "kt/proxied", "-n", env.ns2)
    assert f"({'service-proxy'} {env.ns2}/kapacitor:9092)" in shown.stdout
    assert "enabled" in shown.stdout
    # The proxy cannot carry Kapacitor credentials: the plugin says how to get there instead.
    guarded = task_doc("proxied-auth", url, kapacitor={"credentialsSecretRef": {"name": "creds"}},
                       **tick_spec())  # fmt: skip
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
              "stringData": {"username": "kapa", "password": PASSWORD}}  # fmt: skip
    env.apply(env.ns2, secret, guarded)
    refused = env.plugin("show", "kt/proxied-auth", "-n", env.ns2)
    assert refused.returncode == 1
    assert "which cannot carry Kapacitor credentials" in refused.stderr
    assert f"kubectl port-forward -n {env.ns2} svc/kapacitor 9092" in refused.stderr
    assert PASSWORD not in refused.stderr
