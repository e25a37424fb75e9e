"""The operator deployed by its own Helm chart runs as a Pod on the node, as users run it.

The image is the one the repository's Dockerfile builds; the Pod runs under the chart's
security context, reaches the API server with its ServiceAccount token through in-cluster
config, answers its liveness probe and reconciles a KapacitorTask against a Kapacitor on
the node IP (the emulator).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.node import Node
from kapacitor_testkit.node import layout as node_layout
from kapacitor_testkit.processes import wait_until
from tests.e2e.helm_fixtures import LIVENESS, OperatorPod
from tests.e2e.kube import Kube

SELF_CHECK = (
    "import json, os; root = os.statvfs('/'); "
    "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), "
    "'read_only_root': bool(root.f_flag & os.ST_RDONLY), "
    "'service_host': os.environ.get('KUBERNETES_SERVICE_HOST'), "
    "'token': os.path.exists('/var/run/secrets/kubernetes.io/serviceaccount/token')}))"
)

TASK = """\
apiVersion: kapacitor.operator.dev/v1alpha1
kind: KapacitorTask
metadata:
  name: pod-cpu-alert
spec:
  type: stream
  taskID: pod_cpu_alert
  dbrps:
    - db: telegraf
      rp: autogen
  script: |
    stream
        |from()
            .measurement('cpu')
        |alert()
            .crit(lambda: "usage_idle" < 10)
"""


def the_pod(cp: ControlPlane, operator: OperatorPod) -> dict[str, Any]:
    out = cp.kubectl(
        "get", "pods", "-n", operator.namespace,
        "-l", f"app.kubernetes.io/instance={operator.release}", "-o", "json",
    ).stdout  # fmt: skip
    pods: list[dict[str, Any]] = json.loads(out)["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def test_operator_pod_runs_as_non_root_with_a_read_only_root(
    control_plane: ControlPlane, operator_pod: OperatorPod
) -> None:
    pod = the_pod(control_plane, operator_pod)
    (status,) = pod["status"]["containerStatuses"]
    assert status["image"] == operator_pod.image
    assert "running" in status["state"]
    assert pod["spec"]["nodeName"] == node_layout.NODE_NAME

    result = control_plane.kubectl(
        "exec", "-n", operator_pod.namespace, pod["metadata"]["name"], "--",
        "python3", "-c", SELF_CHECK,
    )  # fmt: skip
    assert json.loads(result.stdout) == {
        "uid": 10001,
        "gid": 10001,
        "read_only_root": True,
        "service_host": node_layout.CLUSTER_IP,
        "token": True,
    }


def restart_evidence(cp: ControlPlane, node: Node, operator: OperatorPod, name: str) -> str:
    """What the previous container said, the Pod's Events and the kubelet's lines on the
    Pod: enough to tell the operator stopping from the node restarting its sandbox."""
    previous = cp.kubectl(
        "logs", "-n", operator.namespace, name, "--previous", "--tail=40", check=False
    ).stdout
    selector = f"--field-selector=involvedObject.name={name}"
    listed = cp.kubectl("get", "events", "-n", operator.namespace, "-o", "json", selector)
    events = json.loads(listed.stdout)["items"]
    lines = [f"{e.get('lastTimestamp')} {e['reason']}: {e['message']}" for e in events]
    kubelet = [
        line
        for line in node.log_path("kubelet").read_text(errors="replace").splitlines()
        if name in line
    ]
    return "\n".join(
        ["previous container:", previous, "events:", *lines, "kubelet:", *kubelet[-40:]]
    )


def test_operator_pod_passes_its_liveness_probe(
    control_plane: ControlPlane, node: Node, operator_pod: OperatorPod
) -> None:
    pod = the_pod(control_plane, operator_pod)
    name = pod["metadata"]["name"]
    (status,) = pod["status"]["containerStatuses"]
    started = dt.datetime.fromisoformat(status["state"]["running"]["startedAt"])
    # Long enough for the kubelet to have probed several times and, had the probe failed
    # failureThreshold times in a row, to have restarted the container.
    probed_for = (
        LIVENESS["initialDelaySeconds"]
        + LIVENESS["failureThreshold"] * LIVENESS["periodSeconds"]
        + 2
    )

    def probed() -> bool:
        return (dt.datetime.now(dt.UTC) - started).total_seconds() > probed_for

    assert wait_until(probed, timeout=probed_for + 5, interval=0.5)
    (status,) = the_pod(control_plane, operator_pod)["status"]["containerStatuses"]
    if status["restartCount"]:
        evidence = restart_evidence(control_plane, node, operator_pod, name)
        raise AssertionError(f"restarted: {status.get('lastState')}\n{evidence}")
    assert status["ready"] is True
    events = control_plane.kubectl(
        "get", "events", "-n", operator_pod.namespace, "-o", "json",
        f"--field-selector=involvedObject.name={name},reason=Unhealthy",
    ).stdout  # fmt: skip
    # Readiness may fail while the operator starts (/readyz: not ready until its handlers
    # run); liveness never may.
    unhealthy = [e["message"] for e in json.loads(events)["items"]]
    assert [m for m in unhealthy if not m.startswith("Readiness probe failed")] == []
    # What the kubelet probes, asked directly (the host routes to Pod addresses).
    health = httpx.get(f"http://{pod['status']['podIP']}:8080/healthz", timeout=5.0)
    assert health.status_code == 200


def test_operator_pod_reconciles_a_task_as_its_service_account(
    control_plane: ControlPlane, operator_pod: OperatorPod, node_emulator: EmulatorHandle
) -> None:
    kube = Kube(control_plane, operator_pod.watched)
    kube.apply(TASK)
    kube.wait_condition("kapacitortask", "pod-cpu-alert", "Ready", "True", timeout=90.0)

    task = httpx.get(f"{node_emulator.base_url}/kapacitor/v1/tasks/pod_cpu_alert", timeout=5.0)
    assert task.status_code == 200
    assert task.json()["status"] == "enabled"

    # The status was written by the Pod's ServiceAccount (in-cluster config, its token).
    identity = f"system:serviceaccount:{operator_pod.namespace}:{operator_pod.service_account}"
    writes = [
        event
        for event in control_plane.audit_events()
        if (event.get("user") or {}).get("username") == identity
        and event.get("objectRef", {}).get("resource") == "kapacitortasks"
        and event.get("objectRef", {}).get("namespace") == operator_pod.watched
        and 200 <= event.get("responseStatus", {}).get("code", 0) < 300
    ]
    assert writes, f"no KapacitorTask write by {identity} in the audit log"
