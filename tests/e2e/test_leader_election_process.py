"""Leader election between two operator processes on this machine (no image, no chart):
one leads, the standby handles nothing and stops cleanly, a SIGTERMed leader releases the
Lease and exits 0, a SIGKILLed one is replaced after the lease duration.

The Pod-level test (the chart, two replicas on the node) is test_leader_election.py.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from pathlib import Path

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube
from tests.e2e.test_kapacitortask import reconciles_ok, task_manifest, wait_until, writes

LEASE = "ha"


def replica(
    cp: ControlPlane, kube: Kube, emulator: EmulatorHandle, log_dir: Path
) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig=cp.kubeconfig_path,
        kapacitor_url=emulator.base_url,
        namespaces=[kube.ns],
        log_dir=log_dir,
        standalone=False,
        env={"OPERATOR_LEASE_NAMESPACE": kube.ns, "OPERATOR_LEASE_NAME": LEASE},
    )


def identity(op: OperatorProcess) -> str:
    """The identity the process stands by with (from its own log)."""
    found = re.findall(r"standing by for Lease \S+ as (\S+)", op.log_tail(400))
    assert found, op.log_tail(40)
    return str(found[-1])


def holder(kube: Kube) -> str:
    lease = kube.get("lease", LEASE) or {}
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def stop(op: OperatorProcess, *, kill: bool = False) -> int | None:
    process = op.process
    assert process is not None
    op.stop(kill=kill, timeout=30.0)
    return process.returncode


def test_two_processes_elect_one_leader_and_hand_over(
    control_plane: ControlPlane, kube: Kube, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    a = replica(control_plane, kube, emulator, tmp_path / "a")
    b = replica(control_plane, kube, emulator, tmp_path / "b")
    a.start()
    b.start()
    try:
        wait_until(lambda: holder(kube) in {identity(a), identity(b)}, 30, "a Lease holder")
        leader, standby = (a, b) if holder(kube) == identity(a) else (b, a)
        since = len(emulator.requests())
        for i in range(3):
            kube.apply(task_manifest(f"hp-{i}", taskID=f"hp_{i}"))
        for i in range(3):
            kube.wait_condition("kapacitortask", f"hp-{i}", "Ready", timeout=60)
        assert writes(emulator, since) == [("POST", "/kapacitor/v1/tasks")] * 3
        assert reconciles_ok(leader) >= 3
        assert reconciles_ok(standby) == 0
        assert "Handler" not in standby.log_text()
        assert "kapacitor_operator_leader 1.0" in leader.metrics()
        assert "kapacitor_operator_leader 0.0" in standby.metrics()

        # A standby stops at once and cleanly; it comes back as a standby.
        assert stop(standby) == 0
        standby.start()
        assert holder(kube) == identity(leader)

        # SIGTERM: the leader releases the Lease, the standby takes over at its next look.
        started = time.monotonic()
        assert stop(leader) == 0
        assert "released Lease" in leader.log_text()
        wait_until(lambda: holder(kube) == identity(standby), 10, "takeover after release")
        print(
            f"[leader election] process SIGTERM -> taken over in {time.monotonic() - started:.1f} s"
        )
        leader, standby = standby, leader
        standby.start()

        # SIGKILL: no release; the standby waits for the lease duration (10 s), no more.
        started = time.monotonic()
        stop(leader, kill=True)
        wait_until(lambda: holder(kube) == identity(standby), 20, "takeover after a crash")
        took = time.monotonic() - started
        print(f"[leader election] process SIGKILL -> taken over in {took:.1f} s")
        assert took <= 15
        kube.apply(task_manifest("hp-after", taskID="hp_after"))
        kube.wait_condition("kapacitortask", "hp-after", "Ready", timeout=60)
        assert writes(emulator, since) == [("POST", "/kapacitor/v1/tasks")] * 4
    finally:
        for op in (a, b):
            if op.process is not None:
                with contextlib.suppress(subprocess.SubprocessError):
                    op.stop()
            print(f"--- {op.log_dir.name} ---\n{op.log_tail(40)}")
