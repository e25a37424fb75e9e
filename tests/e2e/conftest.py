"""Fixtures for the e2e suite: one real cluster per session, a namespace per test.

The cluster is a node-mode control plane (etcd, kube-apiserver on the `kubernetes`
ClusterIP, kube-controller-manager) plus the test node (kube-scheduler, containerd, a
kubelet): Pods really run. It is started once (seconds, not per test) and always stopped,
even when tests fail. Its binaries and images must exist: a missing one is an error
telling you which hack/ script to run, never a skip.

One such cluster runs per machine at a time: a second session waits for the first (and
says so). The teardown tests (test_node_teardown.py) start and stop clusters of their
own, so they are moved to the front of the session, before the shared one exists.
"""

from __future__ import annotations

import contextlib
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kapacitor_testkit import ControlPlane, restore_kube_env, setup_kube_env
from kapacitor_testkit.node import Node
from kapacitor_testkit.processes import wait_until

_E2E_DIR = Path(__file__).parent
#: Tests that need the machine's node to themselves: they run before the shared cluster.
_EXCLUSIVE_PATHS = frozenset({_E2E_DIR / "test_node_teardown.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e as ``e2e``; run the node teardown tests first."""
    for item in items:
        if _E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
    exclusive = [i for i in items if i.path in _EXCLUSIVE_PATHS]
    others = [i for i in items if i not in exclusive]
    items[:] = exclusive + others


def terminal_notifier(config: pytest.Config) -> Callable[[str], None]:
    """A message sink that reaches the terminal even while pytest captures output.

    Used for "waiting for another test cluster on this machine" and leftover cleanup:
    a silent wait would look like a hang.
    """
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def notify(message: str) -> None:
        if reporter is None:
            print(message, file=sys.stderr, flush=True)
            return
        quiet = contextlib.nullcontext()
        with capture.global_and_fixture_disabled() if capture is not None else quiet:
            reporter.write_line(f"[test node] {message}")

    return notify


@dataclass(frozen=True)
class Cluster:
    """The session's control plane and node."""

    control_plane: ControlPlane
    node: Node


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    """A node-mode control plane and the node, with KUBECONFIG pointing at it."""
    notify = terminal_notifier(request.config)
    # Under pytest's basetemp, so even a SIGKILLed run's files get rotated away; what it
    # leaves outside (containers, mounts, the bridge) the next start-up cleans up.
    with (
        ControlPlane(node=True, parent_dir=tmp_path_factory.mktemp("cluster"), notify=notify) as cp,
        Node(cp) as node,
    ):
        notify(
            f"{cp.version.get('gitVersion')} at {cp.server_url} from {cp.bin_dir}; start-up "
            f"seconds: control plane {cp.startup_seconds}, node {node.startup_seconds}"
        )
        snapshot = setup_kube_env(cp.kubeconfig_path)
        try:
            yield Cluster(cp, node)
        finally:
            restore_kube_env(snapshot)


@pytest.fixture(scope="session")
def control_plane(cluster: Cluster) -> ControlPlane:
    """The session's control plane (node mode: its node runs Pods)."""
    return cluster.control_plane


@pytest.fixture(scope="session")
def node(cluster: Cluster) -> Node:
    """The session's node: its images (``node.images.busybox.ref``) and logs."""
    return cluster.node


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"e2e-{slug}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace whose ``default`` ServiceAccount exists (so Pods are admitted).

    Deletion is requested but never awaited: names are unique, and a namespace with
    custom resources may take long to finalize.
    """
    name = _namespace_name(request.node.name)
    control_plane.kubectl("create", "namespace", name)

    def has_default_sa() -> bool:
        return control_plane.api.status(f"/api/v1/namespaces/{name}/serviceaccounts/default") == 200

    assert wait_until(has_default_sa, timeout=30.0, interval=0.1), (
        f"kube-controller-manager did not create the default ServiceAccount in {name}"
    )
    try:
        yield name
    finally:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)
