"""Several replicas with kopf peering: exactly one works, the others stand by."""

from __future__ import annotations

from pathlib import Path

import yaml

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube
from tests.e2e.test_kapacitortask import reconciles_ok, task_manifest, wait_until

PEERING_CRDS = (
    Path(__file__).resolve().parents[2] / "helm/kapacitor-operator/charts/kopf-peering/crds"
)


def test_two_peered_replicas_have_one_active(
    control_plane: ControlPlane, kube: Kube, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    control_plane.install_crds(sorted(PEERING_CRDS.glob("*.yaml")))
    kube.apply(
        yaml.safe_dump(
            {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "ha"}}
        )
    )
    replicas = [
        OperatorProcess(
            kubeconfig=control_plane.kubeconfig_path,
            kapacitor_url=emulator.base_url,
            namespaces=[kube.ns],
            log_dir=tmp_path / f"replica-{i}",
            standalone=False,
            env={"OPERATOR_PEERING": "ha"},
        )
        for i in range(2)
    ]
    for replica in replicas:
        replica.start()
    try:
        # Both see each other in the peering object before any work is handed out.
        wait_until(
            lambda: len((kube.get("kopfpeering", "ha") or {}).get("status") or {}) >= 2,
            timeout=30,
            what="two peers in the peering object",
        )
        for i in range(3):
            kube.apply(task_manifest(f"ha-{i}"))
        for i in range(3):
            kube.wait_condition("kapacitortask", f"ha-{i}", "Ready", timeout=60)
        workers = [r for r in replicas if reconciles_ok(r) > 0]
        assert len(workers) == 1, [r.log_tail(20) for r in replicas]
        peers = (kube.get("kopfpeering", "ha") or {}).get("status") or {}
        priorities = [p.get("priority") for p in peers.values()]
        assert len(priorities) == 2
        assert len(set(priorities)) == 2, "equal priorities would pause both replicas"
    finally:
        for replica in replicas:
            replica.stop()
