"""The TaskRun executor's Kapacitor runs against the emulator (a real HTTP server), with
an in-memory Kubernetes.

The emulator is used because these cases need outcomes, durations, outages and
cancellation to be scripted; the same calls against the real kapacitord are in the e2e
suite.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.timeutil import format_time
from tests.integration.runs.world import NS, EngineWorld, until

FLUX = "array.from(rows: [{_value: 1}]) |> yield()\n"


def flux_task(emulator: EmulatorHandle) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    script = f'import "array"\n\noption task = {{name: "{name}", cron: "0 0 1 1 *"}}\n\n{FLUX}'
    resp = httpx.post(
        f"{emulator.base_url}/kapacitor/v1/api/v2/tasks", json={"flux": script, "status": "active"}
    )
    resp.raise_for_status()
    task_id: str = resp.json()["id"]
    return task_id


class World(EngineWorld):
    """One synced Flux KapacitorTask (``job``) in the fake cluster."""

    def __init__(self, emulator: EmulatorHandle, pool: ClientPool, **settings: Any) -> None:
        self.task_id = flux_task(emulator)
        task = {
            "metadata": {"name": "job"},
            "spec": {"type": "flux", "every": "1h", "flux": FLUX},
            "status": {"taskID": self.task_id, "taskName": "job"},
        }
        configured = replace(Settings(kapacitor_url=emulator.base_url), **settings)
        super().__init__(emulator, pool, task, configured)

    def create(self, name: str, **spec: Any) -> None:
        self.put_run(name, {"taskRef": {"name": "job"}, **spec})

    def run_record(self, run_id: str) -> dict[str, Any]:
        resp = httpx.get(
            f"{self.emulator.base_url}/kapacitor/v1/api/v2/tasks/{self.task_id}/runs/{run_id}"
        )
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def run_posts(self) -> list[str]:
        prefix = f"/kapacitor/v1/api/v2/tasks/{self.task_id}/runs"
        return [
            r["path"]
            for r in self.emulator.requests()
            if r["method"] == "POST" and r["path"].startswith(prefix)
        ]


async def test_concurrent_manual_runs_of_one_task_each_get_their_own_run(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    outcomes = [
        {
            "status": "failed" if i % 3 == 0 else "success",
            "message": f"boom {i}",
            "durationMs": 200 + 37 * i,
        }
        for i in range(20)
    ]
    emulator.queue_outcomes(world.task_id, outcomes)
    names = [f"run-{i}" for i in range(20)]
    for name in names:
        world.create(name)
    finals = [await until(functools.partial(world.ended, name), limit=60) for name in names]
    run_ids = [st["runID"] for st in finals]
    assert len(set(run_ids)) == 20, run_ids
    for st in finals:
        record = world.run_record(st["runID"])
        expected = "Succeeded" if record["status"] == "success" else "Failed"
        assert st["phase"] == expected, (st, record)
        assert st["attempts"][0]["scheduledFor"] == record["scheduledFor"]
    assert sorted(st["phase"] for st in finals).count("Failed") == 7
    assert len(world.run_posts()) == 20
    await world.engine.drain(5)


async def test_a_failure_is_retried_through_the_retry_endpoint(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    emulator.queue_outcomes(
        world.task_id, [{"status": "failed", "message": "bucket missing"}, {"status": "success"}]
    )
    world.create("flaky", retry={"limit": 2, "delays": ["100ms"]})
    st = await until(lambda: world.ended("flaky"))
    first, second = st["attempts"]
    assert "bucket missing" in first["message"]
    assert (second["method"], second["retryOfRunID"]) == ("retry", first["externalID"])
    assert st["phase"] == "Succeeded"
    await world.engine.drain(5)


async def test_an_attempt_found_open_is_resolved_from_kapacitors_record(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    # Kapacitor lists stored runs of the last 14 days only: a recent scheduledFor.
    scheduled = format_time(datetime.now(UTC) - timedelta(hours=1))
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{world.task_id}/runs",
            json={"scheduledFor": scheduled},
        )
    assert resp.status_code == 201, resp.text
    posts = len(world.run_posts())
    body = {
        "metadata": {"name": "resumed", "namespace": NS},
        "spec": {"taskRef": {"name": "job"}, "retry": {"limit": 3}},
        "status": {
            "phase": "Running",
            "taskID": world.task_id,
            "attempt": 1,
            "attempts": [
                {
                    "number": 1,
                    "method": "manual",
                    "scheduledFor": scheduled,
                    "startedAt": format_time(datetime.now(UTC) - timedelta(minutes=1), millis=True),
                }
            ],
        },
    }
    world.engine.on_taskrun(None, world.kube.put("taskruns", body))
    st = await until(lambda: world.ended("resumed"))
    assert st["phase"] == "Succeeded"
    assert st["runID"] == resp.json()["id"]
    assert len(world.run_posts()) == posts, "a run that succeeded is not run again"
    await world.engine.drain(5)


async def test_an_open_attempt_without_a_record_ends_crashed_and_is_retried(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    body = {
        "metadata": {"name": "lost", "namespace": NS},
        "spec": {"taskRef": {"name": "job"}, "retry": {"limit": 1, "delays": ["10ms"]}},
        "status": {
            "phase": "Running",
            "taskID": world.task_id,
            "attempt": 1,
            "attempts": [
                {
                    "number": 1,
                    "method": "manual",
                    "scheduledFor": "2026-07-01T00:00:00Z",
                    "startedAt": "2026-07-01T00:00:00.000Z",
                }
            ],
        },
    }
    world.engine.on_taskrun(None, world.kube.put("taskruns", body))
    st = await until(lambda: world.ended("lost"))
    first, second = st["attempts"]
    assert first["endReason"] == "crashed"
    assert second["endReason"] == "success"
    await world.engine.drain(5)


async def test_the_drain_lets_runs_in_flight_finish(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    emulator.queue_outcomes(world.task_id, [{"status": "success", "durationMs": 1500}] * 5)
    for i in range(5):
        world.create(f"d-{i}")
    await until(lambda: all(world.status(f"d-{i}").get("phase") == "Running" for i in range(5)))
    await world.engine.drain(30)
    for i in range(5):
        st = world.status(f"d-{i}")
        assert st["phase"] == "Succeeded", st
    assert len(world.run_posts()) == 5


async def test_a_drain_that_runs_out_records_the_run_crashed(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    emulator.queue_outcomes(world.task_id, [{"status": "success", "durationMs": 8000}])
    world.create("slow")
    st = await until(lambda: world.status("slow") if world.status("slow").get("runID") else None)
    await world.engine.drain(0.2)
    st = world.status("slow")
    attempt = st["attempts"][0]
    assert attempt["endReason"] == "crashed"
    assert "drain timeout" in attempt["message"]
    assert world.run_record(attempt["externalID"])["status"] == "canceled"


async def test_runs_beyond_the_per_server_limit_wait_their_turn(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool, max_runs_per_server=2)
    emulator.queue_outcomes(world.task_id, [{"status": "success", "durationMs": 400}] * 5)
    for i in range(5):
        world.create(f"q-{i}")
    seen_waiting = False
    peak = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not all(world.ended(f"q-{i}") for i in range(5)):
        assert loop.time() < deadline
        server = emulator.base_url.rstrip("/")
        peak = max(peak, world.engine.planner.slots.in_use(server))
        reasons = {
            (world.status(f"q-{i}").get("conditions") or [{}])[0].get("reason") for i in range(5)
        }
        seen_waiting = seen_waiting or "Waiting" in reasons
        await asyncio.sleep(0.02)
    assert peak == 2
    assert seen_waiting
    assert all(world.status(f"q-{i}")["phase"] == "Succeeded" for i in range(5))
    await world.engine.drain(5)


async def test_cancel_and_timeout_stop_the_run_in_kapacitor(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    emulator.queue_outcomes(world.task_id, [{"status": "success", "durationMs": 8000}] * 2)
    world.create("cancelled")
    world.create("late", timeout="1s")
    await until(lambda: world.status("cancelled").get("runID"))
    world.engine.on_taskrun(
        "MODIFIED", world.kube.edit_spec("taskruns", NS, "cancelled", cancel=True)
    )
    cancelled = await until(lambda: world.ended("cancelled"))
    late = await until(lambda: world.ended("late"))
    assert (cancelled["phase"], cancelled["endReason"]) == ("Cancelled", "stopped")
    assert (late["phase"], late["endReason"]) == ("Failed", "timeout")
    for st in (cancelled, late):
        assert world.run_record(st["runID"])["status"] == "canceled"
    await world.engine.drain(5)


async def test_kapacitor_down_at_start_withdraws_the_attempt_and_runs_once_it_is_back(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    emulator.down()
    try:
        world.create("patient")
        st = await until(
            lambda: (
                world.status("patient")
                if world.status("patient").get("conditions")
                and world.status("patient")["conditions"][0]["reason"] == "KapacitorUnavailable"
                else None
            )
        )
        assert st["phase"] == "Pending"
    finally:
        emulator.up()
    st = await until(lambda: world.ended("patient"), limit=60)
    assert st["phase"] == "Succeeded"
    assert [a["number"] for a in st["attempts"]] == [1]
    assert len(world.run_posts()) == 1
    await world.engine.drain(5)


async def test_a_missing_kapacitortask_is_reported_at_once_and_waited_for(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    body = {"metadata": {"name": "early", "namespace": NS}, "spec": {"taskRef": {"name": "later"}}}
    world.engine.on_taskrun(None, world.kube.put("taskruns", body))
    await until(lambda: world.status("early").get("conditions"))
    st = world.status("early")
    assert st["phase"] == "Pending"
    (cond,) = st["conditions"]
    assert (cond["status"], cond["reason"]) == ("Unknown", "TaskNotFound")
    assert "KapacitorTask later does not exist" in cond["message"]
    world.kube.put(
        "kapacitortasks",
        {
            "metadata": {"name": "later", "namespace": NS},
            "spec": {"type": "flux", "every": "1h", "flux": FLUX},
            "status": {"taskID": world.task_id, "taskName": "later"},
        },
    )
    world.engine.on_kapacitortask(NS, "later")
    st = await until(lambda: world.ended("early"))
    assert st["phase"] == "Succeeded"
    await world.engine.drain(5)


async def test_an_open_retry_is_never_attributed_the_run_it_retries(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    emulator.queue_outcomes(world.task_id, [{"status": "failed", "message": "first"}])
    scheduled = format_time(datetime.now(UTC) - timedelta(minutes=5))
    async with httpx.AsyncClient() as http:
        first = await http.post(
            f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{world.task_id}/runs",
            json={"scheduledFor": scheduled},
        )
    failed_id = await until(lambda: world_run_id(world, scheduled))
    started = format_time(datetime.now(UTC), millis=True)
    body = {
        "metadata": {"name": "retried", "namespace": NS},
        "spec": {"taskRef": {"name": "job"}},
        "status": {
            "phase": "Running",
            "taskID": world.task_id,
            "attempt": 2,
            "attempts": [
                {
                    "number": 1,
                    "method": "manual",
                    "externalID": failed_id,
                    "scheduledFor": scheduled,
                    "startedAt": started,
                    "finishedAt": started,
                    "endReason": "failed",
                },
                {
                    "number": 2,
                    "method": "retry",
                    "retryOfRunID": failed_id,
                    "scheduledFor": scheduled,
                    "startedAt": started,
                },
            ],
        },
    }
    world.engine.on_taskrun(None, world.kube.put("taskruns", body))
    st = await until(lambda: world.ended("retried"))
    second = st["attempts"][1]
    assert second["endReason"] == "crashed"
    assert second.get("externalID") != failed_id, "the retried run is not the retry's run"
    assert first.status_code == 500
    await world.engine.drain(5)


def world_run_id(world: World, scheduled: str) -> str | None:
    resp = httpx.get(
        f"{world.emulator.base_url}/kapacitor/v1/api/v2/tasks/{world.task_id}/runs",
        params={"afterTime": "2020-01-01T00:00:00Z"},
    )
    runs = [
        r for r in resp.json()["runs"] if r["scheduledFor"] == scheduled and r["status"] == "failed"
    ]
    return runs[0]["id"] if runs else None


async def test_nothing_starts_before_every_taskrun_was_read_and_open_seconds_are_avoided(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    world.engine.primed.clear()
    now = datetime.now(UTC)
    taken = [format_time(now - timedelta(seconds=s)) for s in range(0, 4)]
    # Open attempts another operator left behind, holding the last few seconds.
    for i, second in enumerate(taken):
        world.kube.put(
            "taskruns",
            {
                "metadata": {"name": f"left-{i}", "namespace": NS},
                "spec": {"taskRef": {"name": "job"}},
                "status": {
                    "phase": "Running",
                    "taskID": world.task_id,
                    "attempt": 1,
                    "attempts": [
                        {
                            "number": 1,
                            "method": "manual",
                            "scheduledFor": second,
                            "startedAt": format_time(now, millis=True),
                        }
                    ],
                },
            },
        )
    world.create("fresh")
    st = await until(lambda: world.status("fresh").get("conditions"))
    assert world.run_posts() == [], "no run starts before the engine has read every TaskRun"
    assert st[0]["reason"] == "Pending"
    world.engine.start()
    done = await until(lambda: world.ended("fresh"))
    assert done["attempts"][0]["scheduledFor"] not in taken
    await world.engine.drain(5)
