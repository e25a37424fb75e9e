"""The benchmark's phases: latency, bulk, restart, idle, taskrun.

Each phase works in its own namespaces and starts its own operator process watching only
those, so phases do not disturb one another, and the floor's objects are never seen by
the operator. Every timing is taken by the same watch code for both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import floor
from bench.kube import API, Kube, Predicate, Watcher, is_ready, is_terminal_run
from bench.measure import (
    EmulatorControl,
    ProcessProbe,
    count_writes,
    metric_value,
    parse_rfc3339,
    percentile,
    requests_between,
    scrape,
    summary,
)
from bench.operator_run import BenchOperator

PHASES = ("latency", "bulk", "restart", "idle", "taskrun")
RECONCILES = "kapacitor_operator_reconciles_total"
KAPACITOR_REQUESTS = "kapacitor_operator_kapacitor_request_duration_seconds_count"
#: No `import`: the operator puts its `option task` record before the user's script, so
#: imports would follow a statement, which Flux (and the emulator since its Flux
#: validation) rejects. The run's outcome is queued in the emulator; the script only has
#: to be accepted.
FLUX = 'from(bucket: "telegraf/autogen")\n    |> range(start: -1h)\n    |> yield()\n'
#: Environment of every operator the benchmark starts (drift checks off unless asked).
BASE_ENV = {"OPERATOR_DRIFT_INTERVAL": "3600", "OPERATOR_RUN_POLL_INTERVAL": "60"}


@dataclass(frozen=True)
class Config:
    """Sizes and windows of one benchmark run."""

    n: int
    latency_samples: int
    warmup: int
    concurrency: int
    drift_interval: float
    idle_window: float
    quiet: float
    taskrun_samples: int
    run_duration_ms: int
    phases: tuple[str, ...]
    work_dir: Path
    operator_env: dict[str, str] = field(default_factory=dict)
    profile_dir: Path | None = None
    sample_gap: float = 0.2


@dataclass
class Bench:
    """Everything the phases share: the control plane's coordinates, the emulator, the
    Kubernetes client, and the operator processes started so far."""

    config: Config
    kubeconfig: Path
    kapacitor_url: str
    kube: Kube
    control: EmulatorControl
    operators: list[BenchOperator] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    #: Namespaces whose N tasks the operator has synced (bulk, or the restart set-up).
    synced_namespace: str | None = None

    def operator(self, label: str, namespaces: list[str], **env: str) -> BenchOperator:
        merged = {**BASE_ENV, **self.config.operator_env, **env}
        op = BenchOperator(
            kubeconfig=self.kubeconfig,
            kapacitor_url=self.kapacitor_url,
            namespaces=namespaces,
            log_dir=self.config.work_dir / f"operator-{label}",
            env=merged,
            label=label,
            profile_dir=self.config.profile_dir,
        )
        self.operators.append(op)
        return op

    async def start(self, op: BenchOperator) -> None:
        await asyncio.to_thread(op.start)

    async def stop(self, op: BenchOperator) -> None:
        await asyncio.to_thread(op.stop)

    async def stop_all(self) -> None:
        for op in self.operators:
            with contextlib.suppress(Exception):
                await self.stop(op)

    async def watcher(self, plural: str, namespace: str, done: Predicate = is_ready) -> Watcher:
        await self.kube.create_namespace(namespace)
        watcher = Watcher(self.kube, plural, namespace, done)
        await watcher.start()
        return watcher


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def _bounded(count: int, concurrency: int, make: Callable[[int], Awaitable[None]]) -> None:
    """Run make(0..count-1) with at most `concurrency` in flight."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await make(i)

    await asyncio.gather(*(one(i) for i in range(count)))


def _per_task(total: float, tasks: int) -> float:
    return round(total / tasks, 2) if tasks else 0.0


# --- latency ----------------------------------------------------------------------------


async def latency(b: Bench) -> None:
    """One KapacitorTask at a time, apply to Ready; operator and floor samples alternate."""
    cfg = b.config
    ns_op, ns_floor = "bench-latency-op", "bench-latency-floor"
    w_op = await b.watcher("kapacitortasks", ns_op)
    w_op.timeline = True
    w_floor = await b.watcher("kapacitortasks", ns_floor)
    op = b.operator("latency", [ns_op])
    await b.start(op)
    await asyncio.sleep(1.0)
    await b.control.clear_requests()
    calls = floor.CallCounter()
    kapacitor = floor.new_kapacitor_client(b.kapacitor_url, counter=calls)
    op_times: list[float] = []
    floor_times: list[float] = []
    began_op: dict[str, float] = {}
    total = cfg.warmup + cfg.latency_samples
    _log(f"latency: {total} samples per side ({cfg.warmup} warm-up)")
    try:
        for i in range(total):
            name = f"t{i}"
            sides = ("op", "floor") if i % 2 == 0 else ("floor", "op")
            for side in sides:
                began = time.monotonic()
                if side == "op":
                    await b.kube.create("kapacitortasks", ns_op, floor.task_manifest(name))
                    reached = await w_op.wait(name, within=60.0)
                else:
                    await floor.apply_one(b.kube, kapacitor, ns_floor, name)
                    reached = await w_floor.wait(name, within=60.0)
                if i >= cfg.warmup:
                    (op_times if side == "op" else floor_times).append(reached.monotonic - began)
                    if side == "op":
                        began_op[name] = began
                await asyncio.sleep(cfg.sample_gap)
        await asyncio.sleep(1.0)  # let trailing writes land before counting them
        requests = await b.control.requests()
    finally:
        await kapacitor.aclose()
        await b.stop(op)
        await w_op.stop()
        await w_floor.stop()
    op_s, floor_s = summary(op_times), summary(floor_times)
    b.results["ready_latency_p50_ratio"] = round(float(op_s["p50"]) / float(floor_s["p50"]), 3)
    b.results["ready_latency_p50_s"] = op_s["p50"]
    b.results["ready_latency_p99_s"] = op_s["p99"]
    b.results["floor_latency_p50_s"] = floor_s["p50"]
    b.results["floor_latency_p99_s"] = floor_s["p99"]
    b.details["latency"] = {
        "operator_s": op_s,
        "floor_s": floor_s,
        "operator_event_offsets_p50_s": _event_offsets(w_op.times, began_op),
        "namespaces": {"operator": ns_op, "floor": ns_floor},
        "kube_events_per_task": {
            "operator": _per_task(w_op.events, total),
            "floor": _per_task(w_floor.events, total),
        },
        # POST /tasks names no task: the floor counts its own calls, the rest are ours.
        "kapacitor_calls_per_task": {
            "operator": _per_task(len(requests) - calls.count, total),
            "floor": _per_task(calls.count, total),
        },
        "kapacitor_writes_per_task": {
            "operator": _per_task(count_writes(requests) - calls.writes, total),
            "floor": _per_task(calls.writes, total),
        },
    }
    await b.control.clear_requests()


def _event_offsets(times: dict[str, list[float]], began: dict[str, float]) -> list[float]:
    """Median delay from the create request to the k-th watch event of the object
    (ADDED, then each write by the operator): where the operator's time goes."""
    per_step: dict[int, list[float]] = {}
    for name, start in began.items():
        for k, t in enumerate(times.get(name, [])):
            per_step.setdefault(k, []).append(t - start)
    return [round(percentile(v, 50), 4) for _, v in sorted(per_step.items())]


# --- bulk -------------------------------------------------------------------------------


async def _bulk_floor(b: Bench, ns: str) -> dict[str, Any]:
    cfg = b.config
    watcher = await b.watcher("kapacitortasks", ns)
    kapacitor = floor.new_kapacitor_client(b.kapacitor_url)
    try:
        began = time.monotonic()

        async def one(i: int) -> None:
            await floor.apply_one(b.kube, kapacitor, ns, f"t{i}")

        await _bounded(cfg.n, cfg.concurrency, one)
        written = time.monotonic()
        await watcher.wait_count(cfg.n, within=max(120.0, cfg.n * 0.5))
        done = max(r.monotonic for r in watcher.reached.values())
    finally:
        await kapacitor.aclose()
        await watcher.stop()
    return {"seconds": round(done - began, 3), "writes_seconds": round(written - began, 3)}


async def _bulk_operator(b: Bench, ns: str, op: BenchOperator) -> dict[str, Any]:
    """Apply N tasks at once for a running operator; seconds until all are Ready."""
    cfg = b.config
    watcher = await b.watcher("kapacitortasks", ns)
    await b.control.clear_requests()
    probe = ProcessProbe(op.pid)
    cpu0 = probe.cpu_mark()
    try:
        began = time.monotonic()

        async def one(i: int) -> None:
            await b.kube.create("kapacitortasks", ns, floor.task_manifest(f"t{i}"))

        await _bounded(cfg.n, cfg.concurrency, one)
        created = time.monotonic()
        await watcher.wait_count(cfg.n, within=max(300.0, cfg.n * 1.0))
        done = max(r.monotonic for r in watcher.reached.values())
        cpu1 = probe.cpu_mark()
        conns = probe.tcp_connections()
        await asyncio.sleep(2.0)  # trailing writes (kopf's bookkeeping) before counting
        events = watcher.events
    finally:
        await watcher.stop()
    requests = await b.control.requests()
    return {
        "seconds": round(done - began, 3),
        "create_seconds": round(created - began, 3),
        "operator_cpu_seconds": round(cpu1.cpu - cpu0.cpu, 2),
        "operator_cpu_ms_per_task": round(1000 * (cpu1.cpu - cpu0.cpu) / cfg.n, 2),
        "operator_rss_mib_after": round(probe.rss_mib(), 1),
        "operator_tcp_connections_at_done": conns,
        "kube_events_per_task": _per_task(events, cfg.n),
        # The request log was cleared before: every request in it is the operator's.
        "kapacitor_calls_per_task": _per_task(len(requests), cfg.n),
        "kapacitor_writes_per_task": _per_task(count_writes(requests), cfg.n),
    }


async def bulk(b: Bench) -> None:
    """N tasks applied at once until all are Ready: the floor first, then the operator."""
    cfg = b.config
    ns_op, ns_floor = "bench-bulk-op", "bench-bulk-floor"
    _log(f"bulk: floor, {cfg.n} tasks, concurrency {cfg.concurrency}")
    floor_result = await _bulk_floor(b, ns_floor)
    _log(f"bulk: floor took {floor_result['seconds']} s; now the operator")
    await b.control.clear_requests()
    await b.kube.create_namespace(ns_op)
    op = b.operator("bulk", [ns_op])
    await b.start(op)
    await asyncio.sleep(1.0)
    try:
        op_result = await _bulk_operator(b, ns_op, op)
    finally:
        await b.stop(op)
    _log(f"bulk: operator took {op_result['seconds']} s")
    b.synced_namespace = ns_op
    b.results["bulk_seconds"] = op_result["seconds"]
    b.results["bulk_floor_seconds"] = floor_result["seconds"]
    b.results["bulk_ratio"] = round(op_result["seconds"] / floor_result["seconds"], 3)
    b.details["bulk"] = {"operator": op_result, "floor": floor_result, "n": cfg.n}
    await b.control.clear_requests()


async def _ensure_synced(b: Bench) -> str:
    """The namespace with N synced tasks (made here, untimed, when bulk did not run)."""
    if b.synced_namespace is not None:
        return b.synced_namespace
    ns = "bench-bulk-op"
    await b.kube.create_namespace(ns)
    op = b.operator("setup", [ns])
    await b.start(op)
    try:
        _log(f"setting up {b.config.n} synced tasks in {ns}")
        await _bulk_operator(b, ns, op)
    finally:
        await b.stop(op)
    b.synced_namespace = ns
    await b.control.clear_requests()
    return ns


# --- restart and idle -------------------------------------------------------------------


@dataclass
class Settled:
    """When a freshly started operator went quiet over N existing tasks."""

    settled: bool
    seconds: float
    live_seconds: float
    reconciles: float
    reconcile_errors: float
    kapacitor_requests: float
    kube_events: int


async def _reconciles(op: BenchOperator) -> tuple[float, float]:
    """(successful, failed) KapacitorTask reconciles of this process so far."""
    text = await scrape(op.metrics_url)
    ok = metric_value(text, RECONCILES, {"kind": "KapacitorTask", "result": "ok"})
    return ok, metric_value(text, RECONCILES, {"kind": "KapacitorTask"}) - ok


async def _wait_settled(
    b: Bench, op: BenchOperator, watcher: Watcher, started: float, live: float
) -> Settled:
    """Poll until N reconciles succeeded and nothing moved (reconciles, the operator's
    Kapacitor calls, watch events) for `quiet` seconds. The idle moment is the latest
    of: the last Kapacitor request (emulator log), the last watch event, the first poll
    that saw N successful reconciles. Gives up (settled=False) after max(120, N/2) s.
    """
    cfg = b.config
    events0 = watcher.events
    deadline = time.monotonic() + max(120.0, cfg.n * 0.5)
    last_state: tuple[float, float, float, int] | None = None
    last_change = time.monotonic()
    reached_n: float | None = None
    settled = False
    reconciles = errors = calls = 0.0
    while time.monotonic() < deadline:
        text = await scrape(op.metrics_url)
        reconciles = metric_value(text, RECONCILES, {"kind": "KapacitorTask", "result": "ok"})
        errors = metric_value(text, RECONCILES, {"kind": "KapacitorTask"}) - reconciles
        calls = metric_value(text, KAPACITOR_REQUESTS)
        state = (reconciles, errors, calls, watcher.events)
        if state != last_state:
            last_state, last_change = state, time.monotonic()
        if reached_n is None and reconciles >= cfg.n:
            reached_n = time.time()
        if reached_n is not None and time.monotonic() - last_change >= cfg.quiet:
            settled = True
            break
        await asyncio.sleep(0.2)
    if not settled:
        _log(f"operator did not settle in time: (ok, errors, calls, events) = {last_state}")
    requests = await b.control.requests()
    last_request = max((parse_rfc3339(r["time"]) for r in requests), default=started)
    idle_at = max(last_request, watcher.last_event_wall, reached_n or time.time())
    return Settled(
        settled=settled,
        seconds=round(idle_at - started, 3),
        live_seconds=round(live - started, 3),
        reconciles=reconciles,
        reconcile_errors=errors,
        kapacitor_requests=calls,
        kube_events=watcher.events - events0,
    )


async def restart(b: Bench) -> None:
    """Operator restarted over N synced tasks: Kapacitor writes and time until idle."""
    ns = await _ensure_synced(b)
    watcher = await b.watcher("kapacitortasks", ns)
    await b.control.clear_requests()
    op = b.operator("restart", [ns])
    _log(f"restart: operator over {b.config.n} synced tasks")
    try:
        started = time.time()
        await b.start(op)
        live = time.time()
        probe = ProcessProbe(op.pid)
        settled = await _wait_settled(b, op, watcher, started, live)
        cpu = probe.cpu_mark().cpu
        rss = probe.rss_mib()
        conns = probe.tcp_connections()
        requests = await b.control.requests()
    finally:
        await b.stop(op)
        await watcher.stop()
    b.results["restart_kapacitor_writes"] = count_writes(requests)
    b.results["restart_seconds"] = settled.seconds
    b.details["restart"] = {
        "kapacitor_requests": len(requests),
        "kapacitor_writes": count_writes(requests),
        "kube_events": settled.kube_events,
        "settled": settled.settled,
        "seconds_to_live": settled.live_seconds,
        "reconciles_ok": settled.reconciles,
        "reconcile_errors": settled.reconcile_errors,
        "operator_cpu_seconds": round(cpu, 2),
        "operator_rss_mib": round(rss, 1),
        "operator_tcp_connections": conns,
    }
    await b.control.clear_requests()


async def idle(b: Bench) -> None:
    """N synced tasks, nothing changing: Kapacitor calls, RSS and CPU over a window that
    includes drift checks (the operator runs with a short OPERATOR_DRIFT_INTERVAL)."""
    cfg = b.config
    ns = await _ensure_synced(b)
    watcher = await b.watcher("kapacitortasks", ns)
    await b.control.clear_requests()
    op = b.operator("idle", [ns], OPERATOR_DRIFT_INTERVAL=f"{cfg.drift_interval:g}")
    _log(f"idle: drift interval {cfg.drift_interval:g} s, window {cfg.idle_window:g} s")
    rss_samples: list[float] = []
    try:
        started = time.time()
        await b.start(op)
        probe = ProcessProbe(op.pid)
        settled = await _wait_settled(b, op, watcher, started, time.time())
        resume_requests = await b.control.requests()
        events0 = watcher.events
        ok0, errors0 = await _reconciles(op)
        cpu0 = probe.cpu_mark()
        window_end = time.monotonic() + cfg.idle_window
        conns = 0
        while time.monotonic() < window_end:
            rss_samples.append(probe.rss_mib())
            conns = max(conns, probe.tcp_connections())
            await asyncio.sleep(min(1.0, max(0.0, window_end - time.monotonic())))
        cpu1 = probe.cpu_mark()
        rss_samples.append(probe.rss_mib())
        events = watcher.events - events0
        ok1, errors1 = await _reconciles(op)
        requests = requests_between(await b.control.requests(), cpu0.wall, cpu1.wall)
    finally:
        await b.stop(op)
        await watcher.stop()
    window = cpu1.wall - cpu0.wall
    minutes = window / 60.0
    checks = cfg.n * window / cfg.drift_interval
    b.results["idle_kapacitor_calls_per_min"] = round(len(requests) / minutes, 1)
    b.results["idle_rss_mb"] = round(rss_samples[-1], 1)
    b.results["idle_cpu_percent"] = round(ProcessProbe.cpu_percent(cpu0, cpu1), 2)
    b.details["idle"] = {
        "window_seconds": round(window, 1),
        "drift_interval_seconds": cfg.drift_interval,
        "kapacitor_requests": len(requests),
        "kapacitor_writes": count_writes(requests),
        "kapacitor_calls_per_task_per_drift_interval": round(len(requests) / checks, 3)
        if checks
        else None,
        "kube_events_per_min": round(events / minutes, 1),
        "drift_checks_ok": ok1 - ok0,
        "reconcile_errors": errors1 - errors0,
        "operator_tcp_connections_max": conns,
        "resume_settled": settled.settled,
        "resume_reconcile_errors": settled.reconcile_errors,
        "rss_mib_max": round(max(rss_samples), 1),
        "rss_mib_unit": "MiB (2^20 bytes)",
        "resume_seconds": settled.seconds,
        "resume_kapacitor_writes": count_writes(resume_requests),
    }
    await b.control.clear_requests()


# --- taskrun ----------------------------------------------------------------------------


async def _run_finished_at(b: Bench, task_id: str, run_id: str) -> float:
    async with httpx.AsyncClient(base_url=b.kapacitor_url, timeout=10.0) as client:
        resp = await client.get(f"/kapacitor/v1/api/v2/tasks/{task_id}/runs/{run_id}")
    resp.raise_for_status()
    return parse_rfc3339(str(resp.json()["finishedAt"]))


async def taskrun(b: Bench) -> None:
    """A Kapacitor run finishing, to the TaskRun showing its terminal phase."""
    cfg = b.config
    ns = "bench-taskrun"
    tasks = await b.watcher("kapacitortasks", ns)
    runs = await b.watcher("taskruns", ns, is_terminal_run)
    op = b.operator("taskrun", [ns])
    await b.start(op)
    end_latencies: list[float] = []
    totals: list[float] = []
    warmup = 1
    _log(f"taskrun: {cfg.taskrun_samples} runs of {cfg.run_duration_ms} ms")
    try:
        manifest = {
            "apiVersion": API,
            "kind": "KapacitorTask",
            "metadata": {"name": "flux"},
            "spec": {"type": "flux", "every": "1h", "flux": FLUX},
        }
        await b.kube.create("kapacitortasks", ns, manifest)
        task = await tasks.wait("flux", within=60.0)
        task_id = str(task.body["status"]["taskID"])
        for i in range(warmup + cfg.taskrun_samples):
            name = f"run-{i}"
            await b.control.queue_outcomes(
                task_id, [{"status": "success", "durationMs": cfg.run_duration_ms}]
            )
            began = time.monotonic()
            body = {
                "apiVersion": API,
                "kind": "TaskRun",
                "metadata": {"name": name},
                "spec": {"taskRef": {"name": "flux"}},
            }
            await b.kube.create("taskruns", ns, body)
            reached = await runs.wait(name, within=60.0)
            status = reached.body["status"]
            if status.get("phase") != "Succeeded":
                raise RuntimeError(f"TaskRun {name} ended {status.get('phase')}: {status}")
            run_id = str(status.get("runID") or status["attempts"][-1]["externalID"])
            finished = await _run_finished_at(b, task_id, run_id)
            if i >= warmup:
                end_latencies.append(reached.wall - finished)
                totals.append(reached.monotonic - began)
            await asyncio.sleep(cfg.sample_gap)
    finally:
        await b.stop(op)
        await tasks.stop()
        await runs.stop()
    end_s = summary(end_latencies)
    b.results["taskrun_end_latency_p50_s"] = end_s["p50"]
    b.details["taskrun"] = {
        "end_latency_s": end_s,
        "apply_to_end_s": summary(totals),
        "run_duration_ms": cfg.run_duration_ms,
    }
    await b.control.clear_requests()


RUNNERS: dict[str, Callable[[Bench], Awaitable[None]]] = {
    "latency": latency,
    "bulk": bulk,
    "restart": restart,
    "idle": idle,
    "taskrun": taskrun,
}


async def run_phases(b: Bench) -> None:
    try:
        for phase in PHASES:
            if phase in b.config.phases:
                began = time.monotonic()
                await RUNNERS[phase](b)
                b.details.setdefault("phase_seconds", {})[phase] = round(
                    time.monotonic() - began, 1
                )
    finally:
        await b.stop_all()
