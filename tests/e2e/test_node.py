"""The test node runs Pods for real: exit codes, logs, networking, limits, deadlines.

Each test pins down one behaviour the operator relies on (Job-backed TaskRuns read exit
codes, termination messages and log tails; the operator Pod uses in-cluster config and
reaches Kapacitor on the node IP) or that shows the node is a real one (images are never
pulled, memory limits are enforced, a Job's deadline kills its container).
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.kapacitord import running_kapacitord
from kapacitor_testkit.node import Node, hostnet
from kapacitor_testkit.node import layout as node_layout
from kapacitor_testkit.processes import wait_until
from tests.e2e.kube import Kube, condition

#: Label the Job controller puts on its Pods.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: Generous: a cold node pulls nothing, but a loaded CI machine is slow to start containers.
POD_TIMEOUT = 120.0


@pytest.fixture
def k(control_plane: ControlPlane, namespace: str) -> Kube:
    return Kube(control_plane, namespace)


def container(image: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": "main", "image": image, "imagePullPolicy": "Never", "command": command, **extra}


def create_job(k: Kube, name: str, containers: list[dict[str, Any]], **spec: Any) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": containers,
                }
            },
            **spec,
        },
    }
    k.kubectl("create", "-f", "-", input=json.dumps(job))


def create_pod(k: Kube, name: str, containers: list[dict[str, Any]]) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": containers,
        },
    }
    k.kubectl("create", "-f", "-", input=json.dumps(pod))


def job_pod(k: Kube, job: str) -> dict[str, Any]:
    pods: list[dict[str, Any]] = []

    def found() -> bool:
        nonlocal pods
        out = k.kubectl("get", "pods", "-l", f"{JOB_NAME_LABEL}={job}", "-o", "json").stdout
        pods = json.loads(out)["items"]
        return len(pods) == 1

    assert wait_until(found, timeout=30.0, interval=0.2), f"job {job}: pods {pods}"
    return pods[0]


def wait_job_condition(k: Kube, job: str, ctype: str) -> dict[str, Any]:
    def done(obj: dict[str, Any]) -> bool:
        found = condition(obj, ctype)
        return found is not None and found["status"] == "True"

    return k.wait_for("job", job, done, timeout=POD_TIMEOUT, what=f"{ctype}=True")


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    (status,) = pod["status"]["containerStatuses"]
    state: dict[str, Any] = status["state"]["terminated"]
    return state


def is_failed(pod: dict[str, Any]) -> bool:
    return bool((pod.get("status") or {}).get("phase") == "Failed")


def host_processes(argv: str) -> list[int]:
    """PIDs of processes on this machine whose command line is exactly ``argv``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
            except OSError:
                continue
            if cmdline.decode(errors="replace") == argv:
                found.append(int(entry.name))
    return found


def test_failed_job_reports_exit_code_and_termination_message(k: Kube, node: Node) -> None:
    script = "printf 'TICKscript rejected' >/dev/termination-log; echo failing; exit 3"
    create_job(k, "fails", [container(node.images.busybox.ref, ["sh", "-c", script])])

    job = wait_job_condition(k, "fails", "Failed")
    failed = condition(job, "Failed")
    assert failed is not None
    assert failed["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 1

    pod = job_pod(k, "fails")
    state = terminated(pod)
    assert (state["exitCode"], state["reason"]) == (3, "Error")
    assert state["message"] == "TICKscript rejected"
    assert pod["status"]["phase"] == "Failed"
    # Scheduled onto the real node; ServiceAccount admission assigned the default SA.
    assert pod["spec"]["nodeName"] == node_layout.NODE_NAME
    assert pod["spec"]["serviceAccountName"] == "default"
    # The Job controller removed its tracking finalizer once it counted the Pod.
    assert "batch.kubernetes.io/job-tracking" not in pod["metadata"].get("finalizers", [])


def test_succeeding_job_completes(k: Kube, node: Node) -> None:
    create_job(k, "succeeds", [container(node.images.busybox.ref, ["sh", "-c", "echo done"])])

    job = wait_job_condition(k, "succeeds", "Complete")
    assert job["status"]["succeeded"] == 1
    assert job["status"].get("completionTime")
    state = terminated(job_pod(k, "succeeds"))
    assert (state["exitCode"], state["reason"]) == (0, "Completed")


def test_kubectl_logs_returns_the_container_output(k: Kube, node: Node) -> None:
    script = "for i in 1 2 3; do echo line-$i; done; echo to-stderr >&2"
    create_job(k, "talks", [container(node.images.busybox.ref, ["sh", "-c", script])])
    wait_job_condition(k, "talks", "Complete")

    # apiserver -> kubelet on the node IP, TLS verified both ways. Both streams are there;
    # their relative order is not (containerd reads them separately).
    lines = k.kubectl("logs", "job/talks").stdout.splitlines()
    assert [line for line in lines if line.startswith("line-")] == ["line-1", "line-2", "line-3"]
    assert sorted(lines) == ["line-1", "line-2", "line-3", "to-stderr"]
    assert len(k.kubectl("logs", "job/talks", "--tail=2").stdout.splitlines()) == 2


IN_CLUSTER_PROBE = """
import asyncio, json, os, urllib.request
from kapacitor_operator.k8s.client import KubeClient
from kapacitor_operator.k8s.credentials import load_credentials

async def whoami():
    client = KubeClient(load_credentials())
    try:
        review = await client.json(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    finally:
        await client.aclose()
    return review["status"]["userInfo"]["username"]

with urllib.request.urlopen(os.environ["KAPACITOR_URL"] + "/kapacitor/v1/ping") as resp:
    ping = resp.status
print(json.dumps({
    "host": os.environ["KUBERNETES_SERVICE_HOST"],
    "port": os.environ["KUBERNETES_SERVICE_PORT"],
    "user": asyncio.run(whoami()),
    "ping": ping,
}))
"""


def test_pod_reaches_the_api_server_and_servers_on_the_node_ip(
    k: Kube, node: Node, node_emulator: EmulatorHandle
) -> None:
    """In-cluster config with the Pod's ServiceAccount token, and Kapacitor on the node IP,
    as the operator's own Pod needs them (through the operator's own Kubernetes client)."""
    probe = container(
        node.images.operator.ref,
        ["python3", "-c", IN_CLUSTER_PROBE],
        env=[{"name": "KAPACITOR_URL", "value": node_emulator.base_url}],
    )
    create_job(k, "probe", [probe])
    job = k.wait_for(
        "job",
        "probe",
        lambda j: condition(j, "Complete") is not None or condition(j, "Failed") is not None,
        timeout=POD_TIMEOUT,
        what="an end",
    )
    logs = k.kubectl("logs", "job/probe").stdout
    assert condition(job, "Complete") is not None, logs

    seen = json.loads(logs.strip().splitlines()[-1])
    assert seen == {
        "host": node_layout.CLUSTER_IP,
        "port": str(node_layout.API_PORT),
        "user": f"system:serviceaccount:{k.ns}:default",
        "ping": 204,
    }


def test_missing_image_is_never_pulled(k: Kube) -> None:
    missing = "kapacitor-operator.local/does-not-exist:1"
    create_pod(k, "nopull", [container(missing, ["true"])])

    def waiting_reason(pod: dict[str, Any]) -> bool:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        waiting = statuses[0].get("state", {}).get("waiting", {}) if statuses else {}
        return bool(waiting.get("reason") == "ErrImageNeverPull")

    pod = k.wait_for("pod", "nopull", waiting_reason, timeout=POD_TIMEOUT, what="ErrImageNeverPull")
    assert pod["status"]["phase"] == "Pending"


def test_container_over_its_memory_limit_is_oom_killed(k: Kube, node: Node) -> None:
    # tail keeps the last line of its input in memory, and /dev/zero has no line end.
    hog = container(
        node.images.busybox.ref,
        ["tail", "/dev/zero"],
        resources={"limits": {"memory": "32Mi"}, "requests": {"memory": "32Mi"}},
    )
    create_pod(k, "hog", [hog])

    pod = k.wait_for("pod", "hog", is_failed, timeout=POD_TIMEOUT, what="phase Failed")
    state = terminated(pod)
    assert (state["reason"], state["exitCode"]) == ("OOMKilled", 137)


def test_active_deadline_ends_a_running_job_and_kills_its_container(k: Kube, node: Node) -> None:
    # An argument no other process on this machine has, to find the container on the host.
    seconds = str(3_000_000 + uuid.uuid4().int % 1_000_000)
    argv = f"sleep {seconds}"
    create_job(
        k,
        "slow",
        [container(node.images.busybox.ref, ["sleep", seconds])],
        activeDeadlineSeconds=8,
    )
    k.wait_for(
        "job", "slow", lambda j: (j.get("status") or {}).get("ready") == 1, timeout=POD_TIMEOUT
    )
    assert host_processes(argv), f"no process {argv!r} on the host while the Job runs"

    job = wait_job_condition(k, "slow", "Failed")
    failed = condition(job, "Failed")
    assert failed is not None
    assert failed["reason"] == "DeadlineExceeded"
    # The Job controller deleted the Pod; the kubelet really stopped the container.
    assert wait_until(lambda: not host_processes(argv), timeout=60.0, interval=0.5), (
        f"{argv!r} still runs on the host (pids {host_processes(argv)})"
    )


@pytest.mark.kapacitord
def test_pod_reaches_a_real_kapacitord_on_the_node_ip(k: Kube, node: Node, tmp_path: Path) -> None:
    with running_kapacitord(workdir=tmp_path / "kapacitord", host=node_layout.NODE_IP) as server:
        request = "printf 'GET /kapacitor/v1/ping HTTP/1.0\\r\\n\\r\\n'"
        command = f"{request} | nc -w 10 {node_layout.NODE_IP} {server.port}"
        create_job(k, "ping", [container(node.images.busybox.ref, ["sh", "-c", command])])
        wait_job_condition(k, "ping", "Complete")
    status_line = k.kubectl("logs", "job/ping").stdout.splitlines()[0]
    assert status_line.split()[1] == "204", status_line


class Hits(http.server.BaseHTTPRequestHandler):
    """Counts the GETs a host server on the node IP answers."""

    count = 0

    def do_GET(self) -> None:
        type(self).count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def node_server(node: Node) -> Iterator[tuple[int, type[Hits]]]:
    """A host HTTP server on the node IP: (port, its request counter)."""
    hits = type("NodeHits", (Hits,), {"count": 0})
    server = http.server.ThreadingHTTPServer((node_layout.NODE_IP, 0), hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()


def test_pods_keep_reaching_the_node_while_bridge_ports_come_and_go(
    k: Kube, node: Node, node_server: tuple[int, type[Hits]]
) -> None:
    """Each Pod is a port (veth) of the node's bridge. A bridge without an address of its
    own takes the lowest MAC of its ports, so a Pod that ended could change the gateway's
    MAC under the running Pods, whose ARP caches kept the old one: what they sent to the
    node (API server calls, Lease renewals) was lost for up to ~40 s. A port with a MAC
    lower than any comes and goes while a Pod calls the node; its calls must go on."""
    port, hits = node_server
    veth, peer = "kapoptest0", "kapoptest1"
    hostnet.delete_link(veth)  # a crashed run's
    hostnet.add_bridge_port(veth, peer, mac="02:00:00:00:00:01")
    call = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {node_layout.NODE_IP} {port}"
    calls = f"while true; do {call} >/dev/null; sleep 0.2; done"
    try:
        create_pod(k, "caller", [container(node.images.busybox.ref, ["sh", "-c", calls])])
        # Calls arrive: the Pod has looked up the gateway's MAC.
        if not wait_until(lambda: hits.count >= 3, timeout=POD_TIMEOUT, interval=0.2):
            pod = k.kubectl("get", "pod", "caller", "-o", "json").stdout
            logs = k.kubectl("logs", "caller", check=False).stdout
            raise AssertionError(f"no calls from the Pod ({hits.count}): {logs}\n{pod}")
    finally:
        hostnet.delete_link(veth)
    before = hits.count
    assert wait_until(lambda: hits.count >= before + 3, timeout=10.0, interval=0.2), (
        "the Pod's calls to the node stopped once a bridge port went away"
    )
    assert hostnet.link_address(node_layout.BRIDGE) == node_layout.BRIDGE_MAC
