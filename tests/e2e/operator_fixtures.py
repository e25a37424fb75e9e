"""Fixtures for end-to-end tests of the operator: CRDs, the emulator, the operator process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.node import Node
from kapacitor_testkit.node.layout import NODE_IP
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> list[str]:
    """The project's CRDs, installed and Established."""
    names = control_plane.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
    # The garbage collector re-reads discovery only every 30 s: restart it so owner
    # references to our new kinds (TaskRun -> Job) are honoured at once.
    control_plane.restart_controller_manager()
    return names


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorHandle]:
    """One Kapacitor emulator (run storage: memory) shared by the e2e session."""
    with running_emulator("memory") as handle:
        yield handle


@pytest.fixture(scope="session")
def node_emulator(node: Node) -> Iterator[EmulatorHandle]:
    """An emulator bound to the node IP: the Kapacitor of Pods (the operator's own Pod).

    Pods have no route to loopback addresses of the host, only to the node IP.
    """
    with running_emulator("memory", host=NODE_IP) as handle:
        yield handle


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str], namespace: str) -> Kube:
    return Kube(control_plane, namespace)


@contextmanager
def started(op: OperatorProcess) -> Iterator[OperatorProcess]:
    """`op` started; stopped on exit, with its log tail printed for the test report."""
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print(f"--- operator log tail ({op.log_path}) ---\n{op.log_tail(80)}")


def make_operator(
    control_plane: ControlPlane, namespace: str, kapacitor_url: str, log_dir: Path, **env: str
) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig=control_plane.kubeconfig_path,
        kapacitor_url=kapacitor_url,
        namespaces=[namespace],
        log_dir=log_dir,
        env=env,
    )


@pytest.fixture
def operator(
    control_plane: ControlPlane,
    crds: list[str],
    emulator: EmulatorHandle,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator, watching this test's namespace, talking to the shared emulator."""
    op = make_operator(
        control_plane,
        namespace,
        emulator.base_url,
        tmp_path / "operator",
        OPERATOR_DRIFT_INTERVAL="3600",
    )
    with started(op):
        yield op
