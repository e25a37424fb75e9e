"""The operator SIGKILLed at many points during 100 retrying TaskRuns (Kapacitor runs and
Jobs on the node): every TaskRun still ends, attempt numbers have no gap or duplicate, and
what Kapacitor and the API server saw matches the attempts recorded, one for one.

The kills are spread by progress, not by time: each comes after a random number of
attempts changed since the previous one, so they land before, during and after status
writes, Kapacitor calls and Job creations.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

import httpx
import yaml

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.node import Node
from kapacitor_testkit.processes import wait_until
from tests.e2e.kube import Kube
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.taskruns import API, TERMINAL, flux_task
from tests.e2e.test_taskrun_jobs import job

API_RUNS = 70
JOB_RUNS = 30
KILLS = 10


def everything(kube: Kube) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(kube.kubectl("get", "taskruns", "-o", "json").stdout)[
        "items"
    ]
    return items


def reached(kube: Kube, goal: int) -> bool:
    """Whether the TaskRuns' progress got to `goal`."""
    return progress(everything(kube)) >= goal


def progress(items: list[dict[str, Any]]) -> int:
    """A number that grows whenever any attempt starts, learns its run ID or ends."""
    total = 0
    for item in items:
        for attempt in (item.get("status") or {}).get("attempts") or []:
            total += 1 + bool(attempt.get("externalID")) + bool(attempt.get("finishedAt"))
    return total


def test_kills_at_random_points_lose_and_double_nothing(
    control_plane: ControlPlane,
    kube: Kube,
    node: Node,
    emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    rng = random.Random(20261201)
    op = make_operator(control_plane, kube.ns, emulator.base_url, tmp_path / "op")
    op.start()
    try:
        task_id = flux_task(kube)
        emulator.queue_outcomes(
            task_id,
            [
                {
                    "status": "failed" if rng.random() < 0.5 else "success",
                    "message": "flaky",
                    "durationMs": rng.randint(100, 900),
                }
                for _ in range(API_RUNS * 4)
            ],
        )
        retry = {"limit": 3, "delays": ["200ms"]}
        script = 'if [ "$ATTEMPT" = 1 ]; then exit 1; fi; echo ok'
        docs = [
            {"metadata": {"name": f"api-{i}"}, "spec": {"taskRef": {"name": "job"}, "retry": retry}}
            for i in range(API_RUNS)
        ] + [
            {
                "metadata": {"name": f"job-{i}"},
                "spec": {"retry": retry, "job": job(node.images.busybox.ref, script)},
            }
            for i in range(JOB_RUNS)
        ]
        kube.apply(yaml.safe_dump_all({"apiVersion": API, "kind": "TaskRun", **d} for d in docs))
        for _ in range(KILLS):
            target = progress(everything(kube)) + rng.randint(1, 12)
            wait_until(functools.partial(reached, kube, target), timeout=20, interval=0.2)
            op.stop(kill=True)
            op.start()
        ended = wait_until(
            lambda: all((i.get("status") or {}).get("phase") in TERMINAL for i in everything(kube)),
            timeout=300,
            interval=1.0,
        )
        unfinished = {
            i["metadata"]["name"]: i.get("status")
            for i in everything(kube)
            if (i.get("status") or {}).get("phase") not in TERMINAL
        }
        assert ended, f"every TaskRun ends; these did not: {json.dumps(unfinished)[:6000]}"
    finally:
        op.stop(timeout=60)
    items = {i["metadata"]["name"]: i["status"] for i in everything(kube)}
    assert len(items) == API_RUNS + JOB_RUNS
    for name, st in items.items():
        numbers = [a["number"] for a in st["attempts"]]
        assert numbers == list(range(1, len(numbers) + 1)), (name, numbers)
        assert st["attempt"] == len(numbers)
        assert all(a.get("finishedAt") for a in st["attempts"]), name
    # Kapacitor: every run it started belongs to exactly one attempt, and every attempt
    # that reached Kapacitor names its run.
    owners: dict[str, list[str]] = {}
    for name, st in items.items():
        for a in st["attempts"] if name.startswith("api-") else []:
            if a.get("externalID"):
                owners.setdefault(a["externalID"], []).append(
                    f"{name}#{a['number']} {a['method']} {a.get('scheduledFor')} {a['endReason']}"
                )
    claimed = list(owners)
    twice = {run: who for run, who in owners.items() if len(who) > 1}
    assert not twice, f"no run is claimed twice: {twice}"
    records = {r["id"]: r for r in kapacitor_runs(emulator, task_id)}
    runs = set(records)
    lost = {
        run: (
            {
                k: records[run].get(k)
                for k in ("status", "scheduledFor", "requestedAt", "startedAt")
            },
            [
                f"{name}#{a['number']} {a['method']} {a.get('endReason')} "
                f"{a.get('message', '')[:80]}"
                for name, st in items.items()
                for a in st["attempts"]
                if a.get("scheduledFor") == records[run]["scheduledFor"][:19] + "Z"
            ],
        )
        for run in runs - set(claimed)
    }
    assert not lost, f"every run belongs to an attempt: {lost}"
    posts = [
        r
        for r in emulator.requests()
        if r["method"] == "POST"
        and r["path"].startswith(f"/kapacitor/v1/api/v2/tasks/{task_id}/runs")
    ]
    assert set(claimed) == runs, (sorted(runs - set(claimed)), sorted(set(claimed) - runs))
    # Every run was started by exactly one POST (the emulator's log names the run a POST
    # started), and a POST that started none was refused (4xx: "run already queued", say)
    # or cut off by a kill (499) before Kapacitor made the run.
    starters = sorted(p["runID"] for p in posts if p.get("runID"))
    assert starters == sorted(runs), ("one POST per run", starters, sorted(runs))
    idle = [p for p in posts if not p.get("runID")]
    assert all(400 <= int(p.get("status") or 0) < 500 for p in idle), ("POSTs without a run", idle)
    refused = [p for p in idle if p["status"] != 499]
    assert len(refused) <= KILLS, ("refusals come only from interrupted attempts", refused)
    # Jobs: one per recorded attempt, none without one.
    jobs = {
        j["metadata"]["name"]
        for j in json.loads(kube.kubectl("get", "jobs", "-o", "json").stdout)["items"]
    }
    attempts = {
        a["externalID"]
        for name, st in items.items()
        if name.startswith("job-")
        for a in st["attempts"]
    }
    assert jobs == attempts
    assert all(items[f"job-{i}"]["phase"] == "Succeeded" for i in range(JOB_RUNS))


def kapacitor_runs(emulator: EmulatorHandle, task_id: str) -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{task_id}/runs", params={"limit": 500}
    )
    resp.raise_for_status()
    runs: list[dict[str, Any]] = resp.json()["runs"]
    return runs
