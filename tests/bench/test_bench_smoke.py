"""The benchmark runs end to end at its smoke size and reports every figure.

Only the shape of the report is checked: speed targets live in the benchmark (see
bench/README.md), never in tests, so a slow or busy CI machine cannot fail this.
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
    "taskrun_end_latency_p50_s": float,
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
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    report = json.loads(out.read_text())

    for key, kind in REQUIRED.items():
        assert key in report, f"{key} missing from the report"
        value = report[key]
        assert isinstance(value, int | float), (key, value)
        assert not isinstance(value, bool), (key, value)
        if kind is int:
            assert isinstance(value, int), (key, value)
        assert math.isfinite(value), (key, value)
        assert value >= 0, (key, value)
    for key in ("ready_latency_p50_ratio", "bulk_ratio", "bulk_seconds", "idle_rss_mb"):
        assert report[key] > 0, (key, report[key])

    assert report["mode"] == "smoke"
    assert isinstance(report["n"], int)
    assert report["n"] > 0
    assert report["config"]["n"] == report["n"]
    assert report["details"]["bulk"]["n"] == report["n"]
    assert report["machine"]["logical_cpus"] >= 1
    for name in ("python", "kopf", "kube_apiserver", "kapacitor_operator"):
        assert report["versions"][name], name
    # The table went to stdout, one row per figure.
    for key in REQUIRED:
        assert key in result.stdout, f"{key} not in the printed table"
