"""Teardown of the test node leaves the machine as it was, also after a crash.

A run that leaves a container, a mount, a cgroup, a veth, an address or an iptables rule
behind breaks the next run or the developer's machine; one that crashed (SIGKILL: no
teardown code runs) is cleaned up by the next start-up, which knows the fixed names.

These tests start and stop clusters of their own, and only one node runs per machine, so
the e2e conftest moves them before every other test (before the shared cluster exists).
They import only the small images.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kapacitor_testkit import ControlPlane
from kapacitor_testkit.node import Node, hostnet, leftovers
from kapacitor_testkit.node import layout as node_layout
from kapacitor_testkit.processes import wait_until
from tests.e2e.conftest import terminal_notifier

SMALL_IMAGES = ("pause", "busybox")
READY_TIMEOUT = 240.0


@dataclass(frozen=True)
class MachineView:
    """What a node could change on the machine, compared before and after a run."""

    links: frozenset[str]
    lo_addresses: frozenset[str]
    iptables: tuple[str, ...]
    leftovers: str


def machine_view() -> MachineView:
    return MachineView(
        links=frozenset(hostnet.link_names()),
        lo_addresses=frozenset(hostnet.lo_addresses()),
        iptables=tuple(hostnet.iptables_rules()),
        leftovers=leftovers.find().describe(),
    )


def baseline() -> MachineView:
    """The machine as a clean run must leave it: now, minus anything of a node.

    A crashed earlier run (or one that just ended) may have left things with the node's
    fixed names; the first start-up removes them, and they must not come back.
    """
    view = machine_view()
    ours = {node_layout.BRIDGE, *hostnet.bridge_ports()}
    return MachineView(
        links=view.links - ours,
        lo_addresses=view.lo_addresses - {node_layout.CLUSTER_IP},
        iptables=tuple(r for r in view.iptables if node_layout.IPTABLES_COMMENT not in r),
        leftovers="",
    )


@pytest.fixture
def notify(request: pytest.FixtureRequest) -> Callable[[str], None]:
    return terminal_notifier(request.config)


@pytest.fixture
def forward_drop() -> Iterator[None]:
    """FORWARD policy DROP for the test, as Docker's daemon leaves it on many machines."""
    before = hostnet.forward_policy()
    hostnet.set_forward_policy("DROP")
    try:
        yield
    finally:
        hostnet.set_forward_policy(before or "ACCEPT")


def run_pod(cp: ControlPlane, name: str, image: str, command: list[str]) -> dict[str, Any]:
    """Create a Pod in `default` and wait until it has ended; return it."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "main", "image": image, "imagePullPolicy": "Never", "command": command}
            ],
        },
    }
    cp.kubectl("create", "-f", "-", input=json.dumps(pod))
    found: dict[str, Any] = {}

    def ended() -> bool:
        nonlocal found
        found = json.loads(cp.kubectl("get", "pod", name, "-o", "json").stdout)
        return (found.get("status") or {}).get("phase") in {"Succeeded", "Failed"}

    assert wait_until(ended, timeout=120.0, interval=0.5), f"pod {name}: {found.get('status')}"
    return found


def test_stop_leaves_the_machine_as_it_was(
    tmp_path: Path, notify: Callable[[str], None], forward_drop: None
) -> None:
    before = baseline()

    with (
        ControlPlane(node=True, parent_dir=tmp_path, notify=notify) as cp,
        Node(cp, import_images=SMALL_IMAGES) as node,
    ):
        busybox = node.images.busybox.ref
        # Docker's DROP policy would drop bridged Pod-to-Pod traffic: the node opened it.
        assert len(hostnet.our_rules()) == 2
        server = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "server", "namespace": "default"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "httpd",
                        "image": busybox,
                        "imagePullPolicy": "Never",
                        "command": ["httpd", "-f", "-p", "8080", "-h", "/etc"],
                    }
                ],
            },
        }
        cp.kubectl("create", "-f", "-", input=json.dumps(server))
        cp.kubectl("wait", "--for=condition=Ready", "pod/server", "--timeout=120s")
        server_ip = cp.kubectl(
            "get", "pod", "server", "-o", "jsonpath={.status.podIP}"
        ).stdout.strip()
        # busybox's wget crashes in this image (static NSS); its nc does plain TCP fine.
        request = f"printf 'GET /passwd HTTP/1.0\\r\\n\\r\\n' | nc -w 10 {server_ip} 8080"
        client = run_pod(cp, "client", busybox, ["sh", "-c", request])
        logs = cp.kubectl("logs", "client").stdout
        assert client["status"]["phase"] == "Succeeded", logs
        assert "root:x:0:0" in logs
        # A running node is all over the machine: that is what must go away.
        running = leftovers.find()
        assert running.processes
        assert running.mounts
        assert running.cgroups
        assert node_layout.BRIDGE in running.links

    after = machine_view()
    assert after.leftovers == ""
    assert after == before


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
    lines.put("")


def test_next_start_cleans_up_after_a_crashed_run(
    tmp_path: Path, notify: Callable[[str], None]
) -> None:
    before = baseline()
    # A separate process owns a cluster with a running Pod, and is killed like a crash.
    crashed = subprocess.Popen(
        [
            sys.executable, "-m", "kapacitor_testkit.node",
            "--pod", "sleeper", "--images", ",".join(SMALL_IMAGES),
            "--workdir", str(tmp_path / "crashed"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert crashed.stdout is not None
    threading.Thread(target=_read_lines, args=(crashed.stdout, lines), daemon=True).start()
    output: list[str] = []
    try:
        while "READY\n" not in output:
            line = lines.get(timeout=READY_TIMEOUT)
            assert line, "the crashing run exited early:\n" + "".join(output)
            output.append(line)
    finally:
        os.kill(crashed.pid, signal.SIGKILL)
        crashed.wait(timeout=30)

    # Its kubelet, containerd and control plane died with it (PR_SET_PDEATHSIG) ...
    def components_gone() -> bool:
        return not any(
            name in p for p in leftovers.find().processes for name in ("kubelet", "containerd ")
        )

    assert wait_until(components_gone, timeout=30.0, interval=0.2)
    # ... but the shim keeps the container alive, with its mounts, cgroups and veth.
    crashed_left = leftovers.find()
    assert any("containerd-shim" in p for p in crashed_left.processes), crashed_left
    assert any("sleep 3600" in p for p in crashed_left.processes), crashed_left
    assert crashed_left.mounts
    assert crashed_left.cgroups
    assert len(crashed_left.links) == 2  # the bridge and the sleeper's veth

    # The next run starts (cleaning up first) and runs Pods as if nothing had happened.
    with (
        ControlPlane(node=True, parent_dir=tmp_path / "next", notify=notify) as cp,
        Node(cp, import_images=SMALL_IMAGES) as node,
    ):
        assert not any("sleep 3600" in p for p in leftovers.find().processes)
        pod = run_pod(cp, "after-crash", node.images.busybox.ref, ["echo", "fine"])
        assert pod["status"]["phase"] == "Succeeded"

    after = machine_view()
    assert after.leftovers == ""
    assert after == before
