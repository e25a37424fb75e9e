"""The benchmark runs end to end at its smoke size, with the Go peer, and reports every
figure.

Only the shape of the report is checked: speed targets live in the benchmark (see
bench/README.md), never in tests, so a slow or busy CI machine cannot fail this. The run
builds the peer (bench/peer/build.sh, cached after the first build on a machine).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Every figure issue 6 asks for, and whether it is a count (int) or a measure (float).
REQUIRED: dict[str, type] = {
    "ready_latency_p50_ratio": float,
    "ready_latency_p99_s": float,
    "bulk_ratio": float,
    "bulk_seconds": float,
    "restart_kapacitor_writes": int,
    "restart_seconds": float,
    "idle_kapacitor_calls_per_min": float,
    "idle_rss_mb": float,
    "idle_cpu_percent": float,
    "idle_cpu_ms_per_task_per_pass": float,
    "taskrun_end_latency_p50_s": float,
}

#: The peer's figures and the operator's ratios to them (issue 14 item 5).
PEER: dict[str, type] = {
    "peer_latency_p50_s": float,
    "peer_latency_p99_s": float,
    "ready_latency_p50_peer_ratio": float,
    "bulk_peer_seconds": float,
    "bulk_peer_ratio": float,
    "restart_peer_kapacitor_writes": int,
    "restart_peer_seconds": float,
    "restart_peer_ratio": float,
    "idle_peer_kapacitor_calls_per_min": float,
    "idle_peer_rss_mb": float,
    "idle_peer_cpu_percent": float,
    "idle_peer_cpu_ms_per_task_per_pass": float,
    "idle_rss_peer_ratio": float,
    "idle_cpu_peer_ratio": float,
    "peer_build_seconds": float,
}


@pytest.mark.e2e
def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--smoke",
            "--json",
            str(out),
            "--work-dir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # A cold build of the peer takes minutes on a busy 2-core machine, once.
        timeout=1500,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    report = json.loads(out.read_text())

    for key, kind in {**REQUIRED, **PEER}.items():
        assert key in report, f"{key} missing from the report"
        value = report[key]
        if value is None and key == "idle_cpu_peer_ratio":
            # Too little peer CPU in a 12 s window to divide by: only then may it be None.
            assert report["idle_peer_cpu_percent"] == 0, report["idle_peer_cpu_percent"]
            continue
        assert isinstance(value, int | float), (key, value)
        assert not isinstance(value, bool), (key, value)
        if kind is int:
            assert isinstance(value, int), (key, value)
        assert math.isfinite(value), (key, value)
        assert value >= 0, (key, value)
    for key in ("ready_latency_p50_ratio", "bulk_ratio", "bulk_seconds", "idle_rss_mb"):
        assert report[key] > 0, (key, report[key])
    for key in ("ready_latency_p50_peer_ratio", "bulk_peer_ratio", "idle_peer_rss_mb"):
        assert report[key] > 0, (key, report[key])
    # The peer leaves the floor's status shape (same fields, so the same patch weight).
    status_keys = report["details"]["latency"]["status_keys"]
    assert status_keys["peer"] == status_keys["floor"], status_keys
    assert report["versions"]["peer_controller_runtime"].startswith("v0.")
    # The operator side runs as the chart installs it where the cluster serves
    # MutatingAdmissionPolicy: its finalizer comes at creation, so each new task makes two
    # watch events (the create and the status write), as the floor's do.
    assert report["config"]["finalizer_policy_api"] == "admissionregistration.k8s.io/v1beta1"
    assert report["details"]["bulk"]["operator"]["kube_events_per_task"] == 2.0

    assert report["mode"] == "smoke"
    assert isinstance(report["n"], int)
    assert report["n"] > 0
    assert report["config"]["n"] == report["n"]
    assert report["details"]["bulk"]["n"] == report["n"]
    assert report["machine"]["logical_cpus"] >= 1
    for name in ("python", "kopf", "kube_apiserver", "kapacitor_operator"):
        assert report["versions"][name], name
    # The table went to stdout, one row per operator figure or ratio, a column per side.
    header = next(line for line in result.stdout.splitlines() if line.startswith("figure"))
    assert header.split()[1:4] == ["operator", "floor", "peer"], header
    rows = [*REQUIRED, *(k for k in PEER if k.endswith("_ratio")), "peer_build_seconds"]
    for key in rows:
        assert key in result.stdout, f"{key} not in the printed table"
