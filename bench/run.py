"""Benchmark kapacitor-operator against the floor and a Go peer, on the test control plane.

    python bench/run.py --smoke --json /tmp/bench.json     # CI size, a few minutes
    python bench/run.py --n 1000 --json bench.json         # the full run

Builds the Go peer (bench/peer/build.sh, cached), starts etcd + kube-apiserver +
kube-controller-manager (hack/provision.sh binaries) and the Kapacitor emulator on
loopback, runs the phases (see bench/README.md), prints a table and, with --json, writes
every figure plus the machine, versions and sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: import `bench` from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import admission
from bench.kube import Kube
from bench.measure import EmulatorControl, machine, versions
from bench.operator_run import render_profiles
from bench.peer_run import PeerBuild, build_peer
from bench.phases import run_phases
from bench.sides import PHASES, SIDES, TASK_PHASES, Bench, Config, namespace
from kapacitor_emulator.process import running_emulator
from kapacitor_testkit import ControlPlane

ROOT = Path(__file__).resolve().parents[1]

#: The keys every complete run writes (the smoke test checks them).
REQUIRED_KEYS = (
    "ready_latency_p50_ratio",
    "ready_latency_p99_s",
    "bulk_ratio",
    "bulk_seconds",
    "restart_kapacitor_writes",
    "restart_seconds",
    "idle_kapacitor_calls_per_min",
    "idle_rss_mb",
    "idle_cpu_percent",
    "taskrun_end_latency_p50_s",
    "liveruns_cpu_percent",
    "liveruns_rss_mb",
    "liveruns_wakeups_per_s",
    "liveruns_cancel_all_seconds",
    "liveruns_pool_timeouts",
)

#: The keys a complete run writes when the peer is among the sides.
PEER_KEYS = (
    "peer_latency_p50_s",
    "ready_latency_p50_peer_ratio",
    "bulk_peer_seconds",
    "bulk_peer_ratio",
    "restart_peer_kapacitor_writes",
    "restart_peer_seconds",
    "idle_peer_rss_mb",
    "idle_peer_cpu_percent",
    "idle_cpu_peer_ratio",
    "idle_rss_peer_ratio",
    "peer_build_seconds",
)

#: Issue 14's goals per size (N = 1,000, and N = 10,000 for runs of at least 10,000 tasks);
#: reported, never asserted.
TARGETS: dict[str, tuple[str, float]] = {
    "ready_latency_p50_ratio": ("<=", 1.3),
    "bulk_ratio": ("<=", 1.3),
    "restart_kapacitor_writes": ("==", 0),
    "restart_seconds": ("<=", 10.0),
    "idle_rss_mb": ("<=", 120.0),
    "idle_cpu_percent": ("<=", 2.0),
    "idle_cpu_ms_per_task_per_pass": ("<=", 0.3),
    "taskrun_end_latency_p50_s": ("<=", 1.0),
    "liveruns_cpu_percent": ("<=", 5.0),
    "liveruns_pool_timeouts": ("==", 0),
}
TARGETS_10K: dict[str, tuple[str, float]] = {
    **TARGETS,
    "bulk_ratio": ("<=", 1.5),
    "restart_seconds": ("<=", 60.0),
    "idle_rss_mb": ("<=", 300.0),
    "idle_cpu_percent": ("<=", 10.0),
}


def targets_for(n: int) -> dict[str, tuple[str, float]]:
    """The goals that apply to a run over `n` tasks."""
    return TARGETS_10K if n >= 10_000 else TARGETS


#: (key, unit, floor key, peer key) rows of the printed table, in order. Ratio rows
#: show the operator's figure divided by the floor's (`_ratio`) or the peer's.
ROWS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("ready_latency_p50_s", "s", "floor_latency_p50_s", "peer_latency_p50_s"),
    ("ready_latency_p99_s", "s", "floor_latency_p99_s", "peer_latency_p99_s"),
    ("ready_latency_p50_ratio", "x", None, None),
    ("ready_latency_p50_peer_ratio", "x", None, None),
    ("bulk_seconds", "s", "bulk_floor_seconds", "bulk_peer_seconds"),
    ("bulk_ratio", "x", None, None),
    ("bulk_peer_ratio", "x", None, None),
    ("restart_kapacitor_writes", "", None, "restart_peer_kapacitor_writes"),
    ("restart_seconds", "s", None, "restart_peer_seconds"),
    ("restart_peer_ratio", "x", None, None),
    ("idle_kapacitor_calls_per_min", "/min", None, "idle_peer_kapacitor_calls_per_min"),
    ("idle_rss_mb", "MiB", None, "idle_peer_rss_mb"),
    ("idle_rss_peer_ratio", "x", None, None),
    ("idle_cpu_percent", "%", None, "idle_peer_cpu_percent"),
    ("idle_cpu_peer_ratio", "x", None, None),
    ("idle_cpu_ms_per_task_per_pass", "ms", None, "idle_peer_cpu_ms_per_task_per_pass"),
    ("taskrun_end_latency_p50_s", "s", None, None),
    ("liveruns_cpu_percent", "%", None, None),
    ("liveruns_wakeups_per_s", "/s", None, None),
    ("liveruns_rss_mb", "MiB", None, None),
    ("liveruns_cancel_all_seconds", "s", None, None),
    ("liveruns_pool_timeouts", "", None, None),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py", description="kapacitor-operator against the floor"
    )
    p.add_argument("--smoke", action="store_true", help="CI size: n=20, short windows")
    p.add_argument("--n", type=int, default=None, help="tasks for bulk/restart/idle (1000)")
    p.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    p.add_argument("--samples", type=int, default=None, help="latency samples per side (200)")
    p.add_argument("--concurrency", type=int, default=50, help="writes in flight (50)")
    p.add_argument("--drift-interval", type=float, default=None, help="idle phase (30 s)")
    p.add_argument("--idle-window", type=float, default=None, help="idle window (120 s)")
    p.add_argument("--taskrun-samples", type=int, default=None, help="TaskRuns (20)")
    p.add_argument("--live-runs", type=int, default=None, help="TaskRuns in flight (1000)")
    p.add_argument("--live-window", type=float, default=None, help="liveruns window (60 s)")
    p.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (partial runs lack keys)",
    )
    p.add_argument(
        "--sides",
        default=",".join(SIDES),
        help=f"comma-separated subset of {','.join(SIDES)} (e.g. operator,floor: no peer)",
    )
    p.add_argument(
        "--operator-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every operator process, e.g. OPERATOR_WORKER_LIMIT=20",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="run each operator under pyinstrument; reports land in DIR (figures inflate)",
    )
    p.add_argument(
        "--no-finalizer-policy",
        dest="finalizer_policy",
        action="store_false",
        help="no MutatingAdmissionPolicy: the operator adds its finalizer with a patch, as "
        "on a cluster that does not serve the policy (bench/admission.py)",
    )
    p.add_argument("--work-dir", type=Path, default=None, help="logs (default: a temp dir)")
    p.add_argument(
        "--crds",
        type=Path,
        default=ROOT / "crds",
        metavar="DIR",
        help="CRD manifests to install (default: crds/; to try a schema change)",
    )
    return p.parse_args(argv)


def make_config(args: argparse.Namespace) -> Config:
    smoke: bool = args.smoke
    phases = tuple(x.strip() for x in str(args.phases).split(",") if x.strip())
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    chosen = {x.strip() for x in str(args.sides).split(",") if x.strip()}
    if not chosen or chosen - set(SIDES):
        raise SystemExit(f"--sides wants a non-empty subset of {','.join(SIDES)}")
    sides = tuple(s for s in SIDES if s in chosen)
    env: dict[str, str] = {}
    for item in args.operator_env:
        key, sep, value = str(item).partition("=")
        if not sep:
            raise SystemExit(f"--operator-env wants KEY=VALUE, got {item!r}")
        env[key] = value
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="kapacitor-operator-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)

    def pick(value: Any, smoke_value: Any, full_value: Any) -> Any:
        if value is not None:
            return value
        return smoke_value if smoke else full_value

    return Config(
        n=pick(args.n, 20, 1000),
        latency_samples=pick(args.samples, 10, 200),
        warmup=2 if smoke else 5,
        concurrency=args.concurrency,
        drift_interval=pick(args.drift_interval, 5.0, 30.0),
        idle_window=pick(args.idle_window, 12.0, 120.0),
        quiet=1.0 if smoke else 2.0,
        taskrun_samples=pick(args.taskrun_samples, 3, 20),
        run_duration_ms=300,
        live_runs=pick(args.live_runs, 20, 1000),
        live_window=pick(args.live_window, 8.0, 60.0),
        phases=phases,
        sides=sides,
        work_dir=work_dir,
        operator_env=env,
        profile_dir=args.profile,
        finalizer_policy=args.finalizer_policy,
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def verdict(key: str, value: Any, n: int = 1000) -> str:
    target = targets_for(n).get(key)
    if target is None or value is None:
        return ""
    op, limit = target
    ok = value == limit if op == "==" else value <= limit
    return f"{op} {limit:g}: {'met' if ok else 'MISSED'}"


def table(results: dict[str, Any], n: int, smoke: bool) -> str:
    note = " (smoke: targets apply at n=1000)" if smoke else ""
    lines = [
        f"kapacitor-operator benchmark, n={n}{note}",
        f"{'figure':<30} {'operator':>12} {'floor':>12} {'peer':>12}  target",
        "-" * 90,
    ]

    def cell(name: str | None, unit: str) -> str:
        if name is None or name not in results:
            return ""
        return _fmt(results[name]) + (f" {unit}" if unit else "")

    for name, unit, floor_key, peer_key in ROWS:
        if not any(k in results for k in (name, floor_key, peer_key) if k is not None):
            continue
        row = f"{name:<30} {cell(name, unit):>12} {cell(floor_key, unit):>12}"
        lines.append(f"{row} {cell(peer_key, unit):>12}  {verdict(name, results.get(name), n)}")
    if "peer_build_seconds" in results:
        build = cell("peer_build_seconds", "s")
        lines.append(f"{'peer_build_seconds':<30} {'':>12} {'':>12} {build:>12}")
    return "\n".join(lines)


async def _run(
    config: Config, cp: ControlPlane, base_url: str, control_url: str, peer: PeerBuild | None
) -> Bench:
    kube = Kube(
        cp.server_url,
        cp.ca_path,
        cp.client_cert_path,
        cp.client_key_path,
        max_connections=config.concurrency,
    )
    control = EmulatorControl(control_url)
    bench = Bench(
        config=config,
        kubeconfig=cp.kubeconfig_path,
        kapacitor_url=base_url,
        kube=kube,
        control=control,
        peer=peer,
    )
    try:
        await run_phases(bench)
    finally:
        await kube.aclose()
        await control.aclose()
    return bench


def run(config: Config, *, smoke: bool, crds: Path = ROOT / "crds") -> dict[str, Any]:
    """Start the control plane and the emulator, run the phases, return the report."""
    began = time.monotonic()
    machine_info = machine()
    peer: PeerBuild | None = None
    if "peer" in config.sides:
        # Before the control plane starts: a cold build takes minutes of both cores.
        print("[bench] building the Go peer (bench/peer/build.sh; cached after the first)")
        peer = build_peer()
        print(f"[bench] peer {peer.binary} (build {peer.seconds_this_run} s this run)")
    with ControlPlane(parent_dir=config.work_dir) as cp:
        print(f"[bench] control plane {cp.version.get('gitVersion')} at {cp.server_url}")
        cp.install_crds(sorted(crds.glob("*.yaml")))
        policy = None
        if config.finalizer_policy and "operator" in config.sides:
            spaces = [namespace(phase, "operator") for phase in TASK_PHASES]
            policy = admission.install(cp, spaces)
            print(f"[bench] the chart's finalizer policy ({policy}) serves {', '.join(spaces)}")
        with running_emulator("memory") as emulator:
            bench = asyncio.run(_run(config, cp, emulator.base_url, emulator.control_url, peer))
        versions_info = versions(cp.version, cp.binaries.etcd)
    machine_info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # The benchmark's own cost (its creates, watches and the floor), to see it scale.
    harness = {
        "rss_mib_max": round(usage.ru_maxrss / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
    }
    config_info = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    report: dict[str, Any] = {
        "schema": 1,
        "mode": "smoke" if smoke else "full",
        "n": config.n,
        **bench.results,
        **({"peer_build_seconds": peer.build_seconds} if peer is not None else {}),
        "targets": {k: f"{op} {limit:g}" for k, (op, limit) in targets_for(config.n).items()},
        "config": {**config_info, "crds": str(crds), "finalizer_policy_api": policy},
        "machine": machine_info,
        "versions": {**versions_info, **_peer_versions(peer)},
        "details": {**bench.details, **_peer_details(peer), "harness": harness},
        "profiled": config.profile_dir is not None,
        "duration_seconds": round(time.monotonic() - began, 1),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return report


def _peer_details(peer: PeerBuild | None) -> dict[str, Any]:
    if peer is None:
        return {}
    return {
        "peer_build": {
            "binary": str(peer.binary),
            "build_seconds": peer.build_seconds,
            "packages_compiled": peer.packages_compiled,
            "seconds_this_run": peer.seconds_this_run,
            "cached": peer.cached,
        }
    }


def _peer_versions(peer: PeerBuild | None) -> dict[str, str]:
    if peer is None:
        return {}
    return {
        "peer_go": peer.go_version,
        "peer_controller_runtime": peer.controller_runtime,
        "peer_client_go": peer.client_go,
    }


def required_keys(config: Config) -> list[str]:
    """The figures a run of every phase must report, for the sides it ran."""
    keys = list(REQUIRED_KEYS) if {"operator", "floor"} <= set(config.sides) else []
    if {"operator", "peer"} <= set(config.sides):
        keys += PEER_KEYS
    return keys


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C, so operators, emulator and control plane stop."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    config = make_config(args)
    print(f"[bench] work dir {config.work_dir}", flush=True)
    report = run(config, smoke=args.smoke, crds=args.crds)
    if config.profile_dir is not None:
        for path in render_profiles(config.profile_dir):
            print(f"[bench] profile {path}")
    print(table(report, config.n, args.smoke))
    for warning in report["details"].get("warnings", []):
        print(f"[bench] warning: {warning}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
        print(f"[bench] wrote {args.json}")
    missing = [k for k in required_keys(config) if k not in report]
    if missing and set(config.phases) == set(PHASES):
        print(f"[bench] missing figures: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
