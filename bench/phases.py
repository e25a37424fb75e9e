"""The benchmark's phases: latency, bulk, restart, idle (taskrun: bench/taskrun_phase.py,
liveruns: bench/liveruns_phase.py).

Each phase works in its own namespaces, one per side, and starts its own controller
processes watching only their own, so phases and sides do not disturb one another. Every
timing is taken by the same watch code for every side, and every controller (the
operator, the peer) goes through the same functions: only the report keys differ.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench import floor
from bench.kube import Watcher
from bench.liveruns_phase import liveruns
from bench.measure import (
    ProcessProbe,
    count_writes,
    parse_rfc3339,
    percentile,
    requests_between,
    summary,
)
from bench.operator_run import BenchController
from bench.sides import (
    PHASES,
    Bench,
    bounded,
    key,
    log,
    namespace,
    per_task,
    progress,
    ratio,
)
from bench.taskrun_phase import taskrun

#: Report keys of the latency figures per side (the operator's are the original ones).
LATENCY_KEY = {"operator": "ready_latency", "floor": "floor_latency", "peer": "peer_latency"}

# --- latency ----------------------------------------------------------------------------


def _rotation(sides: tuple[str, ...], i: int) -> tuple[str, ...]:
    """Sample i's order: each side goes first, second, ... equally often (with two
    sides, ABAB...), so machine noise hits every side alike."""
    r = i % len(sides)
    return sides[r:] + sides[:r]


async def latency(b: Bench) -> None:
    """One KapacitorTask at a time, apply to Ready; the sides' samples interleave."""
    cfg = b.config
    sides = cfg.sides
    ns = {s: namespace("latency", s) for s in sides}
    watchers = {s: await b.watcher("kapacitortasks", ns[s]) for s in sides}
    procs = {s: b.controller(s, "latency", [ns[s]]) for s in cfg.controllers}
    for s, proc in procs.items():
        watchers[s].timeline = True
        await b.start(proc)
    await asyncio.sleep(1.0)
    await b.control.clear_requests()
    kapacitor = floor.FloorKapacitor(b.kapacitor_url)
    times: dict[str, list[float]] = {s: [] for s in sides}
    began: dict[str, dict[str, float]] = {s: {} for s in sides}
    total = cfg.warmup + cfg.latency_samples
    log(f"latency: {total} samples per side ({cfg.warmup} warm-up), sides {','.join(sides)}")
    try:
        for i in range(total):
            name = f"t{i}"
            for side in _rotation(sides, i):
                start = time.monotonic()
                if side == "floor":
                    await floor.apply_one(b.kube, kapacitor, ns[side], name)
                else:
                    await b.kube.create("kapacitortasks", ns[side], floor.task_manifest(name))
                reached = await watchers[side].wait(name, within=60.0)
                if i >= cfg.warmup:
                    times[side].append(reached.monotonic - start)
                    began[side][name] = start
                await asyncio.sleep(cfg.sample_gap)
        await asyncio.sleep(1.0)  # let trailing writes land before counting them
        requests = await b.control.requests()
        counted = {s: await progress(p) for s, p in procs.items()}
    finally:
        await kapacitor.aclose()
        for proc in procs.values():
            await b.stop(proc)
        for w in watchers.values():
            await w.stop()
    summaries = {s: summary(times[s]) for s in sides}
    for s in sides:
        b.results[f"{LATENCY_KEY[s]}_p50_s"] = summaries[s]["p50"]
        b.results[f"{LATENCY_KEY[s]}_p99_s"] = summaries[s]["p99"]
    p50 = {s: float(summaries[s]["p50"]) for s in sides}
    if "operator" in sides and "floor" in sides:
        b.results["ready_latency_p50_ratio"] = ratio(p50["operator"], p50["floor"])
    if "operator" in sides and "peer" in sides:
        b.results["ready_latency_p50_peer_ratio"] = ratio(p50["operator"], p50["peer"])
    # The emulator's log cannot tell the sides apart (POST /tasks names no task): the
    # floor and the peer count their own calls, and the operator's are the rest.
    kap_calls = {"floor": float(kapacitor.count)} if "floor" in sides else {}
    kap_writes = {"floor": float(kapacitor.writes)} if "floor" in sides else {}
    if "peer" in counted:
        kap_calls["peer"] = counted["peer"].kapacitor_requests
        kap_writes["peer"] = counted["peer"].kapacitor_writes
    if "operator" in sides:
        kap_calls["operator"] = len(requests) - sum(kap_calls.values())
        kap_writes["operator"] = count_writes(requests) - sum(kap_writes.values())
    b.details["latency"] = {
        **{f"{s}_s": summaries[s] for s in sides},
        "p50_ratios": {f"{a}/{c}": ratio(p50[a], p50[c]) for a in sides for c in sides if a != c},
        **{
            f"{s}_event_offsets_p50_s": _event_offsets(watchers[s].times, began[s])
            for s in cfg.controllers
        },
        "namespaces": ns,
        "kube_events_per_task": {s: per_task(watchers[s].events, total) for s in sides},
        "kapacitor_calls_per_task": {s: per_task(v, total) for s, v in kap_calls.items()},
        "kapacitor_writes_per_task": {s: per_task(v, total) for s, v in kap_writes.items()},
        # What each side left in status (the peer writes the floor's shape).
        "status_keys": {s: _status_keys(watchers[s]) for s in sides},
    }
    await b.control.clear_requests()


def _status_keys(watcher: Watcher) -> list[str]:
    """Top-level status fields of the last object the watcher saw Ready."""
    if not watcher.reached:
        return []
    last = max(watcher.reached.values(), key=lambda r: r.monotonic)
    return sorted((last.body.get("status") or {}).keys())


def _event_offsets(times: dict[str, list[float]], began: dict[str, float]) -> list[float]:
    """Median delay from the create request to the k-th watch event of the object
    (ADDED, then each write by the controller): where its time goes."""
    per_step: dict[int, list[float]] = {}
    for name, start in began.items():
        for k, t in enumerate(times.get(name, [])):
            per_step.setdefault(k, []).append(t - start)
    return [round(percentile(v, 50), 4) for _, v in sorted(per_step.items())]


# --- bulk -------------------------------------------------------------------------------


#: The floor first (on an apiserver and etcd as fresh as they get), then the controllers.
BULK_ORDER = ("floor", "operator", "peer")


def _bulk_within(n: int) -> float:
    return max(300.0, n * 1.0)


async def _bulk_floor(b: Bench, ns: str) -> dict[str, Any]:
    cfg = b.config
    watcher = await b.watcher("kapacitortasks", ns, keep_bodies=False)
    kapacitor = floor.FloorKapacitor(b.kapacitor_url)
    try:
        began = time.monotonic()

        async def one(i: int) -> None:
            await floor.apply_one(b.kube, kapacitor, ns, f"t{i}")

        await bounded(cfg.n, cfg.concurrency, one)
        written = time.monotonic()
        await watcher.wait_count(cfg.n, within=_bulk_within(cfg.n))
        done = max(r.monotonic for r in watcher.reached.values())
        events = watcher.events
    finally:
        await kapacitor.aclose()
        await watcher.stop()
    return {
        "seconds": round(done - began, 3),
        "writes_seconds": round(written - began, 3),
        "kube_events_per_task": per_task(events, cfg.n),
    }


async def _bulk_controller(b: Bench, ns: str, proc: BenchController) -> dict[str, Any]:
    """Apply N tasks at once for a running controller; seconds until all are Ready."""
    cfg = b.config
    watcher = await b.watcher("kapacitortasks", ns, keep_bodies=False)
    await b.control.clear_requests()
    probe = ProcessProbe(proc.pid)
    cpu0 = probe.cpu_mark()
    try:
        began = time.monotonic()

        async def one(i: int) -> None:
            await b.kube.create("kapacitortasks", ns, floor.task_manifest(f"t{i}"))

        await bounded(cfg.n, cfg.concurrency, one)
        created = time.monotonic()
        await watcher.wait_count(cfg.n, within=_bulk_within(cfg.n))
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
        "cpu_seconds": round(cpu1.cpu - cpu0.cpu, 2),
        "cpu_ms_per_task": round(1000 * (cpu1.cpu - cpu0.cpu) / cfg.n, 2),
        "rss_mib_after": round(probe.rss_mib(), 1),
        "tcp_connections_at_done": conns,
        "kube_events_per_task": per_task(events, cfg.n),
        # The request log was cleared before: every request in it is this controller's.
        "kapacitor_calls_per_task": per_task(len(requests), cfg.n),
        "kapacitor_writes_per_task": per_task(count_writes(requests), cfg.n),
    }


async def _bulk_side(b: Bench, side: str, ns: str, label: str) -> dict[str, Any]:
    """A fresh controller of `side` makes N new tasks in `ns` Ready; it is then synced."""
    await b.control.clear_requests()
    await b.kube.create_namespace(ns)
    proc = b.controller(side, label, [ns])
    await b.start(proc)
    await asyncio.sleep(1.0)
    try:
        result = await _bulk_controller(b, ns, proc)
    finally:
        await b.stop(proc)
    b.synced[side] = ns
    await b.control.clear_requests()
    return result


async def bulk(b: Bench) -> None:
    """N tasks applied at once until all are Ready: the floor, then each controller."""
    cfg = b.config
    seconds: dict[str, float] = {}
    details: dict[str, Any] = {"n": cfg.n}
    for side in sorted(cfg.sides, key=BULK_ORDER.index):
        log(f"bulk: {side}, {cfg.n} tasks, concurrency {cfg.concurrency}")
        ns = namespace("bulk", side)
        if side == "floor":
            details[side] = await _bulk_floor(b, ns)
        else:
            details[side] = await _bulk_side(b, side, ns, "bulk")
        seconds[side] = details[side]["seconds"]
        log(f"bulk: {side} took {seconds[side]} s")
    for side, value in seconds.items():
        b.results["bulk_floor_seconds" if side == "floor" else key(side, "bulk_seconds")] = value
    if "operator" in seconds and "floor" in seconds:
        b.results["bulk_ratio"] = ratio(seconds["operator"], seconds["floor"])
    if "operator" in seconds and "peer" in seconds:
        b.results["bulk_peer_ratio"] = ratio(seconds["operator"], seconds["peer"])
    b.details["bulk"] = details


async def _ensure_synced(b: Bench, side: str) -> str:
    """The namespace with N tasks synced by `side` (made here, untimed, without bulk)."""
    if side not in b.synced:
        log(f"setting up {b.config.n} tasks synced by the {side}")
        await _bulk_side(b, side, namespace("bulk", side), "setup")
    return b.synced[side]


# --- restart and idle -------------------------------------------------------------------


@dataclass
class Settled:
    """When a freshly started controller went quiet over N existing tasks."""

    settled: bool
    seconds: float
    live_seconds: float
    reconciles: float
    reconcile_errors: float
    kapacitor_requests: float
    kube_events: int


async def _wait_settled(
    b: Bench, proc: BenchController, watcher: Watcher, started: float, live: float
) -> Settled:
    """Poll until N reconciles succeeded and nothing moved (reconciles, the controller's
    Kapacitor calls, watch events) for `quiet` seconds. The idle moment is the latest
    of: the last Kapacitor request (emulator log), the last watch event, the first poll
    that saw N successful reconciles. Gives up (settled=False) after max(120, N/20) s:
    a resume slower than 20 tasks a second is a finding, not something to wait out (at
    N = 10,000 the old N/2 would have let one phase wait 83 minutes). A controller whose
    resume outlasts the drift interval never goes quiet: its drift checks start first.
    """
    cfg = b.config
    events0 = watcher.events
    deadline = time.monotonic() + max(120.0, cfg.n / 20)
    last_state: tuple[float, float, float, int] | None = None
    last_change = time.monotonic()
    reached_n: float | None = None
    settled = False
    now = await progress(proc)
    while time.monotonic() < deadline:
        now = await progress(proc)
        state = (now.ok, now.errors, now.kapacitor_requests, watcher.events)
        if state != last_state:
            last_state, last_change = state, time.monotonic()
        if reached_n is None and now.caught_up(cfg.n):
            reached_n = time.time()
        if reached_n is not None and time.monotonic() - last_change >= cfg.quiet:
            settled = True
            break
        await asyncio.sleep(0.2)
    if not settled:
        log(f"{proc.side} did not settle in time: (ok, errors, calls, events) = {last_state}")
    requests = await b.control.requests()
    last_request = max((parse_rfc3339(r["time"]) for r in requests), default=started)
    idle_at = max(last_request, watcher.last_event_wall, reached_n or time.time())
    return Settled(
        settled=settled,
        seconds=round(idle_at - started, 3),
        live_seconds=round(live - started, 3),
        reconciles=now.ok,
        reconcile_errors=now.errors,
        kapacitor_requests=now.kapacitor_requests,
        kube_events=watcher.events - events0,
    )


async def _restart_side(b: Bench, side: str) -> None:
    ns = await _ensure_synced(b, side)
    watcher = await b.watcher("kapacitortasks", ns, keep_bodies=False)
    await b.control.clear_requests()
    proc = b.controller(side, "restart", [ns])
    log(f"restart: {side} over {b.config.n} synced tasks")
    try:
        started = time.time()
        await b.start(proc)
        live = time.time()
        probe = ProcessProbe(proc.pid)
        settled = await _wait_settled(b, proc, watcher, started, live)
        cpu = probe.cpu_mark().cpu
        rss = probe.rss_mib()
        conns = probe.tcp_connections()
        requests = await b.control.requests()
    finally:
        await b.stop(proc)
        await watcher.stop()
    b.results[key(side, "restart_kapacitor_writes")] = count_writes(requests)
    # A resume that never went quiet has no duration, only the moment the wait gave up.
    b.results[key(side, "restart_seconds")] = settled.seconds if settled.settled else None
    if not settled.settled:
        b.warn(
            f"{side} restart did not settle in {settled.seconds:g} s "
            f"({settled.reconciles:g} of {b.config.n} reconciles, {cpu:.0f} CPU-s): "
            f"restart_seconds is absent and its writes count covers an unfinished resume"
        )
    b.details[key(side, "restart")] = {
        "kapacitor_requests": len(requests),
        "kapacitor_writes": count_writes(requests),
        "kube_events": settled.kube_events,
        "settled": settled.settled,
        "seconds_to_live": settled.live_seconds,
        "reconciles_ok": settled.reconciles,
        "reconcile_errors": settled.reconcile_errors,
        "cpu_seconds": round(cpu, 2),
        "rss_mib": round(rss, 1),
        "tcp_connections": conns,
    }
    await b.control.clear_requests()


async def restart(b: Bench) -> None:
    """Each controller restarted over its N synced tasks: Kapacitor writes (0 expected)
    and time until idle."""
    for side in b.config.controllers:
        await _restart_side(b, side)
    if len(b.config.controllers) == 2:
        b.results["restart_peer_ratio"] = ratio(
            b.results["restart_seconds"], b.results["restart_peer_seconds"]
        )


async def _idle_side(b: Bench, side: str) -> None:
    cfg = b.config
    ns = await _ensure_synced(b, side)
    watcher = await b.watcher("kapacitortasks", ns, keep_bodies=False)
    await b.control.clear_requests()
    proc = b.controller(side, "idle", [ns], OPERATOR_DRIFT_INTERVAL=f"{cfg.drift_interval:g}")
    log(f"idle: {side}, drift interval {cfg.drift_interval:g} s, window {cfg.idle_window:g} s")
    rss_samples: list[float] = []
    try:
        started = time.time()
        await b.start(proc)
        probe = ProcessProbe(proc.pid)
        settled = await _wait_settled(b, proc, watcher, started, time.time())
        resume_requests = await b.control.requests()
        events0 = watcher.events
        before = await progress(proc)
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
        after = await progress(proc)
        requests = requests_between(await b.control.requests(), cpu0.wall, cpu1.wall)
    finally:
        await b.stop(proc)
        await watcher.stop()
    if not settled.settled:
        b.warn(
            f"{side} idle: the resume had not settled after {settled.seconds:g} s; the "
            "window measured a controller still resuming, not an idle one"
        )
    window = cpu1.wall - cpu0.wall
    minutes = window / 60.0
    checks = cfg.n * window / cfg.drift_interval
    b.results[key(side, "idle_kapacitor_calls_per_min")] = round(len(requests) / minutes, 1)
    b.results[key(side, "idle_rss_mb")] = round(rss_samples[-1], 1)
    b.results[key(side, "idle_cpu_percent")] = round(ProcessProbe.cpu_percent(cpu0, cpu1), 2)
    # All the window's CPU charged to the drift checks owed in it (one per task per
    # interval), whatever each side did to make them: an upper bound of the cost per check.
    b.results[key(side, "idle_cpu_ms_per_task_per_pass")] = (
        round(1000 * (cpu1.cpu - cpu0.cpu) / checks, 4) if checks else None
    )
    b.details[key(side, "idle")] = {
        "window_seconds": round(window, 1),
        "drift_interval_seconds": cfg.drift_interval,
        "kapacitor_requests": len(requests),
        "kapacitor_writes": count_writes(requests),
        "kapacitor_calls_per_task_per_drift_interval": round(len(requests) / checks, 3)
        if checks
        else None,
        "kube_events_per_min": round(events / minutes, 1),
        "drift_checks_ok": after.ok - before.ok,
        # CPU per Kapacitor call: the sides need not do the same number of checks in the
        # window (a fast resume bunches every task's timer; the bunch queues each round).
        "cpu_ms_per_kapacitor_call": round(1000 * (cpu1.cpu - cpu0.cpu) / len(requests), 3)
        if requests
        else None,
        "reconcile_errors": after.errors - before.errors,
        "tcp_connections_max": conns,
        "resume_settled": settled.settled,
        "resume_reconcile_errors": settled.reconcile_errors,
        "rss_mib_max": round(max(rss_samples), 1),
        "rss_mib_unit": "MiB (2^20 bytes)",
        "resume_seconds": settled.seconds,
        "resume_kapacitor_writes": count_writes(resume_requests),
    }
    await b.control.clear_requests()


async def idle(b: Bench) -> None:
    """N synced tasks, nothing changing: Kapacitor calls, RSS and CPU of each controller
    over a window that includes drift checks (a short OPERATOR_DRIFT_INTERVAL)."""
    for side in b.config.controllers:
        await _idle_side(b, side)
    if len(b.config.controllers) == 2:
        r = b.results
        r["idle_cpu_peer_ratio"] = ratio(r["idle_cpu_percent"], r["idle_peer_cpu_percent"])
        r["idle_rss_peer_ratio"] = ratio(r["idle_rss_mb"], r["idle_peer_rss_mb"])


RUNNERS: dict[str, Callable[[Bench], Awaitable[None]]] = {
    "latency": latency,
    "bulk": bulk,
    "restart": restart,
    "idle": idle,
    "taskrun": taskrun,
    "liveruns": liveruns,
}


async def run_phases(b: Bench) -> None:
    try:
        for phase in PHASES:
            if phase not in b.config.phases:
                continue
            if phase in ("taskrun", "liveruns") and "operator" not in b.config.sides:
                continue  # TaskRuns are the operator's alone
            began = time.monotonic()
            await RUNNERS[phase](b)
            b.details.setdefault("phase_seconds", {})[phase] = round(time.monotonic() - began, 1)
    finally:
        await b.stop_all()
