"""The liveruns phase: what N TaskRuns in flight cost while nothing changes, and whether
every one ends when they are all cancelled at once.

N API-backed TaskRuns (manual runs of Flux tasks whose Kapacitor runs last an hour) are
created; the operator starts as many as its per-server cap allows
(OPERATOR_MAX_RUNS_PER_SERVER, default 100) and queues the rest with a `Waiting` reason.
Once every TaskRun shows that state, the operator's CPU, wake-ups (voluntary context
switches), RSS and Kapacitor calls are measured over a window; then `spec.cancel` is set
on all of them and the phase times until every one is `Cancelled`. The operator's alone.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

from bench.kube import API
from bench.measure import ProcessProbe
from bench.sides import Bench, bounded, log

FLUX = 'import "array"\narray.from(rows: [{_time: now(), _value: 1}])\n    |> yield()\n'
NS = "bench-liveruns"
RUNS_PER_TASK = 100
"""Manual runs of one Flux task in flight take distinct seconds (reconcile/run_registry):
spread them over tasks, as many as a task's 300-second window holds comfortably."""
RUN_MS = 3_600_000
CAP = 100
"""The operator's default OPERATOR_MAX_RUNS_PER_SERVER."""


def _phase(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def _running(obj: dict[str, Any]) -> bool:
    attempts = (obj.get("status") or {}).get("attempts") or []
    return _phase(obj) == "Running" and bool(attempts and attempts[-1].get("externalID"))


def _waiting(obj: dict[str, Any]) -> bool:
    conds = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("reason") == "Waiting" for c in conds)


def _pool_timeouts(log_dir: Path) -> int:
    return sum(
        path.read_text(errors="replace").count("PoolTimeout") for path in log_dir.glob("*.log")
    )


def _wakeups(process: Any) -> int:
    """Voluntary context switches of a psutil.Process: how often it woke to wait again."""
    return int(process.num_ctx_switches().voluntary)


async def liveruns(b: Bench) -> None:
    """N TaskRuns in flight: CPU, wake-ups and RSS over a window; then all cancelled."""
    cfg = b.config
    n = cfg.live_runs
    tasks = await b.watcher("kapacitortasks", NS)
    live = await b.watcher("taskruns", NS, lambda o: _running(o) or _waiting(o), keep_bodies=False)
    running = await b.watcher("taskruns", NS, _running, keep_bodies=False)
    ended = await b.watcher("taskruns", NS, lambda o: _phase(o) == "Cancelled", keep_bodies=False)
    op = b.controller("operator", "liveruns", [NS])
    await b.start(op)
    log(f"liveruns: {n} TaskRuns in flight, window {cfg.live_window:g} s")
    try:
        count = math.ceil(n / RUNS_PER_TASK)
        task_ids: list[str] = []
        for t in range(count):
            name = f"live-{t}"
            manifest = {
                "apiVersion": API,
                "kind": "KapacitorTask",
                "metadata": {"name": name},
                "spec": {"type": "flux", "every": "1h", "flux": FLUX},
            }
            await b.kube.create("kapacitortasks", NS, manifest)
            reached = await tasks.wait(name, within=60.0)
            task_id = str(reached.body["status"]["taskID"])
            task_ids.append(task_id)
            await b.control.queue_outcomes(
                task_id, [{"status": "success", "durationMs": RUN_MS}] * RUNS_PER_TASK
            )
        await b.control.clear_requests()

        async def create(i: int) -> None:
            body = {
                "apiVersion": API,
                "kind": "TaskRun",
                "metadata": {"name": f"run-{i}"},
                "spec": {"taskRef": {"name": f"live-{i % count}"}},
            }
            await b.kube.create("taskruns", NS, body)

        began = time.monotonic()
        await bounded(n, cfg.concurrency, create)
        await live.wait_count(n, within=600.0)
        await running.wait_count(min(n, CAP), within=600.0)
        settle_seconds = time.monotonic() - began
        probe = ProcessProbe(op.pid)
        cpu0, wake0 = probe.cpu_mark(), _wakeups(probe.process)
        requests0 = len(await b.control.requests())
        rss: list[float] = []
        window_end = time.monotonic() + cfg.live_window
        while time.monotonic() < window_end:
            rss.append(probe.rss_mib())
            await asyncio.sleep(min(1.0, max(0.0, window_end - time.monotonic())))
        cpu1, wake1 = probe.cpu_mark(), _wakeups(probe.process)
        requests1 = len(await b.control.requests())
        rss.append(probe.rss_mib())
        window = cpu1.wall - cpu0.wall

        async def cancel(i: int) -> None:
            resp = await b.kube.request(
                "PATCH",
                b.kube.path("taskruns", NS, f"run-{i}"),
                data=json.dumps({"spec": {"cancel": True}}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            if resp.status >= 400:
                raise RuntimeError(f"cancel run-{i}: {resp.status} {resp.text[:200]}")

        cancelled_at = time.monotonic()
        await bounded(n, cfg.concurrency, cancel)
        await ended.wait_count(n, within=600.0)
        end_seconds = time.monotonic() - cancelled_at
        posts = [
            r
            for r in await b.control.requests()
            if r.get("method") == "POST" and "/runs" in str(r.get("path", ""))
        ]
    finally:
        await b.stop(op)
        for watcher in (tasks, live, running, ended):
            await watcher.stop()
    b.results["liveruns_cpu_percent"] = round(ProcessProbe.cpu_percent(cpu0, cpu1), 2)
    b.results["liveruns_rss_mb"] = round(rss[-1], 1)
    b.results["liveruns_wakeups_per_s"] = round((wake1 - wake0) / window, 1)
    b.results["liveruns_cancel_all_seconds"] = round(end_seconds, 1)
    b.results["liveruns_pool_timeouts"] = _pool_timeouts(op.log_dir)
    b.details["liveruns"] = {
        "taskruns": n,
        "flux_tasks": count,
        "in_flight_cap": CAP,
        "window_seconds": round(window, 1),
        "create_until_all_running_or_waiting_s": round(settle_seconds, 1),
        "kapacitor_calls_in_window": requests1 - requests0,
        "run_posts": len(posts),
        "cpu_ms_per_live_taskrun_per_s": round(1000 * (cpu1.cpu - cpu0.cpu) / window / n, 4),
    }
    await b.control.clear_requests()
