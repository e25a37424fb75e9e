"""Two operator Pods from the chart (replicaCount 2) on the node: leader election by Lease.

One Pod holds the Lease and works; the other stands by and sends Kapacitor nothing. The
leader's process is SIGKILLed (a crash: no release) and the standby must take over within
15 s; then the new leader is deleted normally (SIGTERM: drain, release) and the handover
must be faster than a lease expiry. Resources applied after each handover converge, and
Kapacitor (a dedicated emulator, so every request in its log comes from these two Pods)
sees exactly one create per task: nothing is written twice.

The takeover times are printed (`pytest -s`) and kept in docs/ha.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.node import Node
from kapacitor_testkit.node.layout import NODE_IP
from kapacitor_testkit.processes import wait_until
from tests.e2e.helm import CHART, Helm, unique, values_file
from tests.e2e.helm_fixtures import LIVENESS
from tests.e2e.kube import Kube
from tests.e2e.test_kapacitortask import task_manifest

TAKEOVER_LIMIT = 15.0
LEASE_DURATION = 10  # the chart's defaults, which these tests measure
READINESS = {"periodSeconds": 1, "timeoutSeconds": 3, "failureThreshold": 2}


@dataclass(frozen=True)
class HA:
    cp: ControlPlane
    release: str
    namespace: str
    watched: str
    emulator: EmulatorHandle
    log_dir: Path

    @property
    def lease_path(self) -> str:
        name = f"{self.release}-kapacitor-operator"
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{name}"

    def lease(self) -> dict[str, Any]:
        """The Lease's spec; empty while it does not exist yet."""
        try:
            spec: dict[str, Any] = self.cp.api.get_json(self.lease_path)["spec"]
        except RuntimeError as exc:  # 404 before the first replica created it
            if "HTTP 404" not in str(exc):
                raise
            return {}
        return spec

    def holder(self) -> str:
        return str(self.lease().get("holderIdentity") or "")

    def pods(self) -> list[dict[str, Any]]:
        out = self.cp.kubectl(
            "get", "pods", "-n", self.namespace, "-o", "json",
            "-l", f"app.kubernetes.io/instance={self.release}",
        ).stdout  # fmt: skip
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self) -> list[dict[str, Any]]:
        def ready(pod: dict[str, Any]) -> bool:
            conditions = pod.get("status", {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        return [p for p in self.pods() if ready(p)]

    def writes(self) -> list[tuple[str, str]]:
        """Writes Kapacitor carried out (a create it refused, as for a task that already
        exists, changed nothing)."""
        return [
            (r["method"], r["path"])
            for r in self.emulator.requests()
            if r["method"] != "GET" and int(r.get("status") or 0) < 400
        ]


def pod_of(holder: str, pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Pod a Lease holder identity (`<pod name>_<suffix>`) names."""
    for pod in pods:
        if holder.rsplit("_", 1)[0] == pod["metadata"]["name"]:
            return pod
    return None


def metrics(pod: dict[str, Any]) -> dict[str, float]:
    """The Pod's own Prometheus samples, summed by metric name."""
    text = httpx.get(f"http://{pod['status']['podIP']}:9090/metrics", timeout=5.0).text
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            key = name.split("{", 1)[0]
            sums[key] = sums.get(key, 0.0) + float(value)
    return sums


def kapacitor_requests(pod: dict[str, Any]) -> float:
    return metrics(pod).get("kapacitor_operator_kapacitor_request_duration_seconds_count", 0.0)


def host_pids(pod_name: str) -> list[int]:
    """Processes of a Pod's container, found on the host (the node runs here) by the
    POD_ID variable the chart sets."""
    marker = f"POD_ID={pod_name}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in env:
            found.append(int(entry.name))
    return found


def wait_for_one_leader_and_a_ready_standby(ha: HA, timeout: float = 120.0) -> str:
    def settled() -> bool:
        pods = ha.ready_pods()
        return len(pods) == 2 and pod_of(ha.holder(), pods) is not None

    assert wait_until(settled, timeout=timeout, interval=0.5), (
        ha.lease(),
        [p["metadata"]["name"] for p in ha.pods()],
    )
    return ha.holder()


def wait_for_takeover(ha: HA, old: str, started: float, timeout: float) -> tuple[str, float]:
    """Poll the Lease until a holder other than `old` (and not empty) has it."""
    deadline = started + timeout
    while time.monotonic() < deadline:
        holder = ha.holder()
        if holder and holder != old:
            return holder, time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"no takeover from {old} in {timeout}s: {ha.lease()}")


def report(line: str) -> None:
    print(f"[leader election] {line}", flush=True)


@pytest.fixture(scope="module")
def ha(
    control_plane: ControlPlane,
    crds: list[str],
    node: Node,
    cluster_helm: Helm,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HA]:
    """The chart with two replicas, serving one namespace, and a Kapacitor of its own."""
    cp = control_plane
    name = unique("ko-ha")
    with running_emulator("memory", host=NODE_IP) as emulator:
        ha = HA(cp, name, name, unique("ha-served"), emulator, tmp_path_factory.mktemp("ha"))
        cp.kubectl("create", "namespace", ha.namespace)
        cp.kubectl(
            "label", "namespace", ha.namespace, "pod-security.kubernetes.io/enforce=restricted"
        )
        cp.kubectl("create", "namespace", ha.watched)
        repository, tag = node.images.operator.ref.rsplit(":", 1)
        values = {
            "replicaCount": 2,
            "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
            "kapacitor": {"url": emulator.base_url},
            "rbac": {"clusterWide": False},
            "watchNamespaces": [ha.watched],
            "livenessProbe": LIVENESS,
            "readinessProbe": READINESS,
            # No drain to wait for: these tests start no Kapacitor runs.
            "operator": {"drainTimeout": 10, "logFormat": "text"},
        }
        try:
            cluster_helm.run(
                "install", ha.release, str(CHART), "-n", ha.namespace,
                "-f", str(values_file(ha.log_dir, values)), "--wait", "--timeout=3m",
                timeout=240.0,
            )  # fmt: skip
            yield ha
        finally:
            for pod in ha.pods():
                logs = cp.kubectl(
                    "logs", pod["metadata"]["name"], "-n", ha.namespace, "--all-containers",
                    "--tail=80", check=False,
                )  # fmt: skip
                print(f"--- {pod['metadata']['name']} ---\n{logs.stdout}{logs.stderr}")
            cluster_helm.run("uninstall", ha.release, "-n", ha.namespace, "--wait", check=False)
            for namespace in (ha.namespace, ha.watched):
                cp.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def apply_tasks(ha: HA, names: list[str]) -> None:
    kube = Kube(ha.cp, ha.watched)
    for name in names:
        kube.apply(task_manifest(name, taskID=name.replace("-", "_")))
    for name in names:
        kube.wait_condition("kapacitortask", name, "Ready", "True", timeout=90.0)


def creates(ha: HA) -> int:
    return ha.writes().count(("POST", "/kapacitor/v1/tasks"))


def test_one_leader_works_and_the_standby_never_writes(ha: HA) -> None:
    leader = wait_for_one_leader_and_a_ready_standby(ha)
    pods = ha.ready_pods()
    leading = pod_of(leader, pods)
    assert leading is not None
    (standby,) = [p for p in pods if p is not leading]
    apply_tasks(ha, [f"ha-a{i}" for i in range(3)])
    assert ha.writes() == [("POST", "/kapacitor/v1/tasks")] * 3

    # The leader renews (the Lease changes), nobody else takes it, no write is added.
    first = ha.lease()
    renewals = {first["renewTime"]}
    deadline = time.monotonic() + 30
    while len(renewals) < 4 and time.monotonic() < deadline:
        lease = ha.lease()
        assert lease["holderIdentity"] == leader, lease
        renewals.add(lease["renewTime"])
        time.sleep(0.5)
    assert len(renewals) >= 4, renewals
    lease = ha.lease()
    assert lease["holderIdentity"] == leader
    assert lease.get("leaseTransitions", 0) == first.get("leaseTransitions", 0)
    assert ha.writes() == [("POST", "/kapacitor/v1/tasks")] * 3

    # Who sent what, by each Pod's own metrics: the standby never called Kapacitor.
    assert metrics(leading)["kapacitor_operator_leader"] == 1
    assert kapacitor_requests(leading) > 0
    assert metrics(standby)["kapacitor_operator_leader"] == 0
    assert kapacitor_requests(standby) == 0


def test_a_killed_leader_is_replaced_within_15_seconds(ha: HA) -> None:
    leader = wait_for_one_leader_and_a_ready_standby(ha)
    pod = pod_of(leader, ha.pods())
    assert pod is not None
    pids = host_pids(pod["metadata"]["name"])
    assert pids, f"no process of {pod['metadata']['name']} on the host"
    before = creates(ha)
    started = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)  # a crash: no cleanup, no release
    holder, took = wait_for_takeover(ha, leader, started, timeout=TAKEOVER_LIMIT + 15)
    report(f"SIGKILL of the leader -> Lease taken over after {took:.1f} s")
    assert took <= TAKEOVER_LIMIT, f"takeover took {took:.1f}s"
    assert pod_of(holder, ha.pods()) is not None

    # Work resumes under the new leader: new resources converge, old ones are not rewritten.
    ready_started = time.monotonic()
    apply_tasks(ha, [f"ha-b{i}" for i in range(3)])
    report(f"3 tasks applied after the takeover Ready in {time.monotonic() - ready_started:.1f} s")
    assert creates(ha) == before + 3
    assert ha.writes() == [("POST", "/kapacitor/v1/tasks")] * (before + 3)


def test_sigterm_hands_the_lease_over_at_once(ha: HA) -> None:
    leader = wait_for_one_leader_and_a_ready_standby(ha)
    pod = pod_of(leader, ha.pods())
    assert pod is not None
    name = pod["metadata"]["name"]
    follow = subprocess.Popen(
        [
            str(ha.cp.binaries.kubectl), f"--kubeconfig={ha.cp.kubeconfig_path}",
            "logs", "-f", name, "-n", ha.namespace,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        before = creates(ha)
        started = time.monotonic()
        ha.cp.kubectl("delete", "pod", name, "-n", ha.namespace, "--wait=false")
        holder, took = wait_for_takeover(ha, leader, started, timeout=TAKEOVER_LIMIT + 15)
        report(f"SIGTERM (pod deleted) -> Lease handed over after {took:.1f} s")
        # Faster than any takeover by expiry: the old leader released the Lease.
        assert took < LEASE_DURATION, f"handover took {took:.1f}s"
        out, _ = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            follow.kill()
    assert "released Lease" in out, out[-3000:]
    assert "exiting at once" not in out
    assert holder != leader

    apply_tasks(ha, [f"ha-c{i}" for i in range(3)])
    assert creates(ha) == before + 3
    assert ha.writes() == [("POST", "/kapacitor/v1/tasks")] * (before + 3)
    wait_for_one_leader_and_a_ready_standby(ha)
