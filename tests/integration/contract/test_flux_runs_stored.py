"""Contract: finished Flux runs read back from storage. Emulator only.

Listing, reading, retrying and filtering finished runs needs a server that keeps them:
Kapacitor writes them to an InfluxDB (``task-run-influxdb``), and the real kapacitord of
these tests has none (it runs with ``"none"``). So these tests take ``api_memory``, whose
only kind is the emulator with ``--run-storage memory`` (``RUN_STORAGE_KINDS`` in
``conftest.py``), standing in for a Kapacitor with an InfluxDB behind it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

from tests.integration.contract.helpers import (
    FLUX,
    RFC3339NANO,
    create_flux,
    iso,
    run_now,
    runnable_flux,
    utc_seconds,
)


def runnable(api: httpx.Client, name: str) -> str:
    task_id: str = create_flux(api, name, flux=runnable_flux(name))["id"]
    return task_id


def test_finished_run_is_listed_and_readable(api_memory: httpx.Client, uid: str) -> None:
    task_id = runnable(api_memory, f"lst-{uid}")
    rid = run_now(api_memory, task_id).json()["id"]
    listing = api_memory.get(f"{FLUX}/{task_id}/runs").json()
    assert listing["links"] == {"self": f"{FLUX}/{task_id}/runs", "task": f"{FLUX}/{task_id}"}
    (run,) = listing["runs"]
    assert (run["id"], run["status"]) == (rid, "success")
    assert RFC3339NANO.match(run["startedAt"])
    assert RFC3339NANO.match(run["finishedAt"])
    assert api_memory.get(f"{FLUX}/{task_id}/runs/{rid}").json()["status"] == "success"


def test_run_logs(api_memory: httpx.Client, uid: str) -> None:
    task = create_flux(api_memory, f"log-{uid}", flux=runnable_flux(f"log-{uid}"))
    rid = run_now(api_memory, task["id"]).json()["id"]
    events = api_memory.get(f"{FLUX}/{task['id']}/runs/{rid}/logs").json()["events"]
    messages = [e["message"] for e in events]
    assert messages[0] == "Started task from script: " + json.dumps(task["flux"])
    assert messages[-1] == "Completed(success)"
    assert {e["runID"] for e in events} == {rid}
    task_events = api_memory.get(f"{FLUX}/{task['id']}/logs").json()["events"]
    assert [e["message"] for e in task_events] == messages


def test_runs_listing_hides_future_runs_by_default(api_memory: httpx.Client, uid: str) -> None:
    task_id = runnable(api_memory, f"sf-{uid}")
    past = utc_seconds(timedelta(hours=-1))
    run_now(api_memory, task_id, scheduledFor=iso(past))
    future = utc_seconds(timedelta(hours=1))
    run_now(api_memory, task_id, scheduledFor=iso(future))
    visible = api_memory.get(f"{FLUX}/{task_id}/runs").json()["runs"]
    assert [r["scheduledFor"] for r in visible] == [iso(past)]
    later = {"beforeTime": iso(future + timedelta(hours=1))}
    both = api_memory.get(f"{FLUX}/{task_id}/runs", params=later).json()["runs"]
    assert [r["scheduledFor"] for r in both] == [iso(future), iso(past)]


def test_runs_time_filters_are_exclusive(api_memory: httpx.Client, uid: str) -> None:
    task_id = runnable(api_memory, f"ex-{uid}")
    at = utc_seconds(timedelta(hours=-2))
    run_now(api_memory, task_id, scheduledFor=iso(at))

    def listed(**params: str) -> int:
        return len(api_memory.get(f"{FLUX}/{task_id}/runs", params=params).json()["runs"])

    assert listed(afterTime=iso(at)) == 0
    assert listed(afterTime=iso(at - timedelta(seconds=1))) == 1
    assert listed(beforeTime=iso(at)) == 0
    assert listed(beforeTime=iso(at + timedelta(seconds=1))) == 1


def test_runs_after_filters_stored_runs(api_memory: httpx.Client, uid: str) -> None:
    task_id = runnable(api_memory, f"af-{uid}")
    ids = []
    for minutes in (3, 2, 1):
        moment = iso(utc_seconds(timedelta(minutes=-minutes)))
        ids.append(run_now(api_memory, task_id, scheduledFor=moment).json()["id"])
    pivot = sorted(ids)[0]
    listed = api_memory.get(f"{FLUX}/{task_id}/runs", params={"after": pivot}).json()["runs"]
    assert sorted(r["id"] for r in listed) == sorted(ids)[1:]
    newest_first = api_memory.get(f"{FLUX}/{task_id}/runs").json()["runs"]
    assert [r["id"] for r in newest_first] == ids[::-1]


def test_retry_creates_new_run(api_memory: httpx.Client, uid: str) -> None:
    task_id = runnable(api_memory, f"rt-{uid}")
    first = run_now(api_memory, task_id).json()
    resp = api_memory.post(f"{FLUX}/{task_id}/runs/{first['id']}/retry")
    assert resp.status_code == 200, resp.text
    retried = resp.json()
    assert retried["id"] != first["id"]
    assert retried["scheduledFor"] == first["scheduledFor"]
    assert retried["status"] == "scheduled"
    assert "requestedAt" in retried
    statuses = [r["status"] for r in api_memory.get(f"{FLUX}/{task_id}/runs").json()["runs"]]
    assert statuses == ["success", "success"]
