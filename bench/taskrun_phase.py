"""The taskrun phase: a Kapacitor run finishing, to the TaskRun showing its end.

The operator's alone (neither the floor nor the peer runs TaskRuns), so it sits apart
from the phases every side shares.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.kube import API, is_terminal_run
from bench.measure import parse_rfc3339, summary
from bench.sides import Bench, log

FLUX = 'import "array"\narray.from(rows: [{_time: now(), _value: 1}])\n    |> yield()\n'


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
    op = b.controller("operator", "taskrun", [ns])
    await b.start(op)
    end_latencies: list[float] = []
    totals: list[float] = []
    warmup = 1
    log(f"taskrun: {cfg.taskrun_samples} runs of {cfg.run_duration_ms} ms")
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
