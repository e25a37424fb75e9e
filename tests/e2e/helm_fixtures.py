"""Fixtures for Helm: the helm binary, and the operator installed as a Pod by its chart.

:func:`operator_pod` is the deployment a user makes: ``helm install`` of
helm/kapacitor-operator with the image built from the repository's Dockerfile (imported
into the node, ``pullPolicy: Never``), talking to a Kapacitor on the node IP (the
emulator; Pods cannot reach the host's loopback). It serves one namespace of its own, so
it never touches what other tests create. :func:`installed_operator_pod` installs such a
release for any Kapacitor URL (kapacitord_fixtures.py points one at a real kapacitord).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.binaries import find_tool, search_dirs
from kapacitor_testkit.node import Node
from tests.e2e.helm import CHART, Helm, unique, values_file

#: The chart's own liveness probe (values.yaml), as users get it. A tighter one (every 2 s,
#: 2 s timeout, 2 failures) restarted a healthy operator on this 2-core machine while the
#: suite loaded it: the kubelet logged "context deadline exceeded (Client.Timeout exceeded
#: while awaiting headers)" for a Pod whose only work was a standby's Lease read. That
#: measures the machine, not the operator; the chart's 5 s timeout and 3 failures 20 s
#: apart do not.
LIVENESS: dict[str, int] = yaml.safe_load((CHART / "values.yaml").read_text())["livenessProbe"]


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """helm from the test tool directory; a missing binary fails with how to fix it."""
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return Helm(binary=find_tool("helm", search_dirs()), env=env)


@pytest.fixture(scope="session")
def cluster_helm(helm: Helm, control_plane: ControlPlane) -> Helm:
    return Helm(binary=helm.binary, env=helm.env, kubeconfig=control_plane.kubeconfig_path)


@dataclass(frozen=True)
class OperatorPod:
    """A release of the chart whose operator Pod runs on the node."""

    release: str
    namespace: str
    """The release's namespace (Pod Security "restricted")."""
    watched: str
    """The one namespace the operator serves."""
    image: str
    kapacitor_url: str

    @property
    def deployment(self) -> str:
        return f"{self.release}-kapacitor-operator"

    @property
    def service_account(self) -> str:
        return f"{self.release}-kapacitor-operator"


@contextmanager
def installed_operator_pod(
    cp: ControlPlane,
    node: Node,
    helm: Helm,
    kapacitor_url: str,
    workdir: Path,
    operator_values: dict[str, Any] | None = None,
) -> Iterator[OperatorPod]:
    """Install the chart (its own release, namespace and watched namespace) with the
    locally built image, ``kapacitor.url`` and ``operator`` values; yield once its Pod is
    Ready; uninstall."""
    name = unique("ko-pod")
    pod = OperatorPod(
        release=name,
        namespace=name,
        watched=unique("served"),
        image=node.images.operator.ref,
        kapacitor_url=kapacitor_url,
    )
    cp.kubectl("create", "namespace", pod.namespace)
    cp.kubectl("label", "namespace", pod.namespace, "pod-security.kubernetes.io/enforce=restricted")
    cp.kubectl("create", "namespace", pod.watched)
    repository, tag = pod.image.rsplit(":", 1)
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "kapacitor": {"url": pod.kapacitor_url},
        "rbac": {"clusterWide": False},
        "watchNamespaces": [pod.watched],
        "livenessProbe": LIVENESS,
        **({"operator": operator_values} if operator_values else {}),
    }
    try:
        helm.run(
            "install", pod.release, str(CHART), "-n", pod.namespace,
            "-f", str(values_file(workdir, values)),
            "--wait", "--timeout=3m",
            timeout=240.0,
        )  # fmt: skip
        yield pod
    finally:
        logs = cp.kubectl("logs", f"deployment/{pod.deployment}", "-n", pod.namespace, check=False)
        print(f"--- operator Pod log tail ---\n{logs.stdout[-6000:]}{logs.stderr[-2000:]}")
        helm.run("uninstall", pod.release, "-n", pod.namespace, "--wait", check=False)
        for namespace in (pod.namespace, pod.watched):
            cp.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator_pod(
    control_plane: ControlPlane,
    crds: list[str],
    node: Node,
    node_emulator: EmulatorHandle,
    cluster_helm: Helm,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorPod]:
    """The chart installed with the locally built image, its Kapacitor the emulator on
    the node IP (for faults and stored runs); returns once its Pod is Ready."""
    with installed_operator_pod(
        control_plane,
        node,
        cluster_helm,
        node_emulator.base_url,
        tmp_path_factory.mktemp("operator-pod"),
    ) as pod:
        yield pod
