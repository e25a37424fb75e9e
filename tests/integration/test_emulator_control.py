"""Emulator-only tests: the ``/emulator/v1`` control API and what it makes observable.

Run outcomes (failures, durations, queueing), cancellation, faults, outages, the clock,
the scheduler and the state dump. These need the control API, so they cannot run
against a real ``kapacitord``; the shared emulator is reset before each test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kapacitor_emulator.process import EmulatorHandle, running_emulator

FLUX = "/kapacitor/v1/api/v2/tasks"
DAY_MS = 86_400_000
Poll = Callable[..., Any]


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    for name in ("emulator", "emulator_none"):
        if name in request.fixturenames:
            handle: EmulatorHandle = request.getfixturevalue(name)
            handle.reset()


@pytest.fixture
def api(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=30.0) as client:
        yield client


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def flux_task(api: httpx.Client, name: str = "t", schedule: str = "every: 1h", **body: Any) -> str:
    flux = f'option task = {{name: "{name}", {schedule}}}\nfrom(bucket: "b") |> range(start: -1m)'
    resp = api.post(FLUX, json={"flux": flux, **body})
    assert resp.status_code == 201, resp.text
    task_id: str = resp.json()["id"]
    return task_id


def runs(api: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = api.get(f"{FLUX}/{task_id}/runs").json()["runs"]
    return result


def run_in_background(
    pool: ThreadPoolExecutor, base_url: str, task_id: str, **body: Any
) -> Future[httpx.Response]:
    def call() -> httpx.Response:
        return httpx.post(f"{base_url}{FLUX}/{task_id}/runs", json=body or None, timeout=30.0)

    return pool.submit(call)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- basics -------------------------------------------------------------------------------


def test_info_on_control_and_main_port(emulator: EmulatorHandle) -> None:
    info = emulator.info()
    assert (info["api"], info["control"]) == (emulator.base_url, emulator.control_url)
    assert info["runStorage"] == "memory"
    on_main = httpx.get(f"{emulator.base_url}/emulator/v1/info").json()
    assert on_main["control"] == emulator.control_url


def test_unknown_control_route_is_404(emulator: EmulatorHandle) -> None:
    resp = httpx.get(f"{emulator.control_url}/emulator/v1/nothing")
    assert resp.status_code == 404
    assert "error" in resp.json()


def test_request_log_and_clear(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.clear_requests()
    api.get("/kapacitor/v1/tasks", params={"pattern": "x*"})
    api.get("/kapacitor/v1/nope")
    httpx.get(f"{emulator.base_url}/emulator/v1/info")
    seen = emulator.requests()
    assert [(r["method"], r["path"], r["query"], r["status"]) for r in seen] == [
        ("GET", "/kapacitor/v1/tasks", "pattern=x%2A", 200),
        ("GET", "/kapacitor/v1/nope", "", 404),
    ]
    assert seen[0]["time"].endswith("Z")
    emulator.clear_requests()
    assert emulator.requests() == []


def test_reset_forgets_everything(emulator: EmulatorHandle, api: httpx.Client) -> None:
    flux_task(api)
    body = {"id": "t", "script": "stream|from()", "dbrps": [{"db": "d", "rp": "r"}]}
    api.post("/kapacitor/v1/tasks", json=body)
    emulator.reset()
    state = emulator.state()
    assert (state["tasks"], state["fluxTasks"]) == ([], [])


# --- run outcomes -------------------------------------------------------------------------


def test_failed_outcome_fails_the_manual_run(emulator: EmulatorHandle, api: httpx.Client) -> None:
    task_id = flux_task(api)
    emulator.queue_outcomes(task_id, [{"status": "failed", "message": "boom"}])
    resp = api.post(f"{FLUX}/{task_id}/runs")
    assert resp.status_code == 500
    assert resp.headers["X-Platform-Error-Code"] == "internal error"
    assert resp.json() == {
        "code": "internal error",
        "message": "failed to force run: unexpected error from queryd: boom",
    }
    task = api.get(f"{FLUX}/{task_id}").json()
    assert (task["lastRunStatus"], task["lastRunError"]) == ("failed", "Completed(failed)")
    (run,) = runs(api, task_id)
    assert run["status"] == "failed"
    assert [e["message"] for e in run["log"]][1:] == [
        "Completed(failed)",
        "unexpected error from queryd: boom",
    ]
    assert emulator.queue_outcomes(task_id, []) == []


def test_success_after_failure_clears_last_run_error(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    task_id = flux_task(api)
    emulator.queue_outcomes(task_id, [{"status": "failed"}, {"status": "success"}])
    assert api.post(f"{FLUX}/{task_id}/runs").status_code == 500
    assert api.post(f"{FLUX}/{task_id}/runs").status_code == 201
    task = api.get(f"{FLUX}/{task_id}").json()
    assert task["lastRunStatus"] == "success"
    assert "lastRunError" not in task


def test_outcome_duration_delays_the_response(emulator: EmulatorHandle, api: httpx.Client) -> None:
    task_id = flux_task(api)
    emulator.queue_outcomes(task_id, [{"durationMs": 300}])
    started = time.monotonic()
    assert api.post(f"{FLUX}/{task_id}/runs").status_code == 201
    assert time.monotonic() - started >= 0.3


def test_failed_retry_is_an_error(emulator: EmulatorHandle, api: httpx.Client) -> None:
    task_id = flux_task(api)
    rid = api.post(f"{FLUX}/{task_id}/runs").json()["id"]
    emulator.queue_outcomes(task_id, [{"status": "failed", "message": "again"}])
    resp = api.post(f"{FLUX}/{task_id}/runs/{rid}/retry")
    assert resp.status_code == 500
    assert resp.json()["message"] == "failed to retry run: unexpected error from queryd: again"


def test_outcomes_are_validated(emulator: EmulatorHandle) -> None:
    url = f"{emulator.control_url}/emulator/v1/tasks/00000000000000aa/outcomes"
    resp = httpx.put(url, json={"outcomes": [{"status": "maybe"}]})
    assert resp.status_code == 400


# --- queueing, ordering, cancellation -----------------------------------------------------


def test_duplicate_queued_scheduled_for_is_422(
    emulator: EmulatorHandle, api: httpx.Client, pool: ThreadPoolExecutor, wait_for: Poll
) -> None:
    task_id = flux_task(api)
    emulator.queue_outcomes(task_id, [{"queuedMs": 20_000}])
    when = iso(datetime.now(UTC) - timedelta(minutes=5))
    first = run_in_background(pool, emulator.base_url, task_id, scheduledFor=when)
    queued = wait_for(lambda: runs(api, task_id))
    assert (queued[0]["status"], queued[0]["scheduledFor"]) == ("scheduled", when)
    dup = api.post(f"{FLUX}/{task_id}/runs", json={"scheduledFor": when})
    assert dup.status_code == 422
    assert dup.json()["message"] == "failed to force run: run already queued"
    other = api.post(f"{FLUX}/{task_id}/runs", json={"scheduledFor": iso(datetime.now(UTC))})
    assert other.status_code == 201
    emulator.reset()  # cancels the queued run
    assert first.result(timeout=10).status_code == 500


def test_runs_order_queued_inflight_stored(
    emulator: EmulatorHandle, api: httpx.Client, pool: ThreadPoolExecutor, wait_for: Poll
) -> None:
    task_id = flux_task(api)
    now = datetime.now(UTC)
    api.post(f"{FLUX}/{task_id}/runs", json={"scheduledFor": iso(now - timedelta(hours=1))})
    api.post(f"{FLUX}/{task_id}/runs", json={"scheduledFor": iso(now - timedelta(hours=2))})
    emulator.queue_outcomes(task_id, [{"durationMs": 5000}, {"queuedMs": 5000}])
    inflight = run_in_background(
        pool, emulator.base_url, task_id, scheduledFor=iso(now - timedelta(hours=4))
    )
    wait_for(lambda: any(r["status"] == "started" for r in runs(api, task_id)))
    queued = run_in_background(
        pool, emulator.base_url, task_id, scheduledFor=iso(now - timedelta(hours=3))
    )
    listing = wait_for(lambda: (r := runs(api, task_id)) and len(r) == 4 and r)
    assert [r["status"] for r in listing] == ["scheduled", "started", "success", "success"]
    assert [r["scheduledFor"] for r in listing[2:]] == [
        iso(now - timedelta(hours=1)),
        iso(now - timedelta(hours=2)),
    ]
    api.delete(f"{FLUX}/{task_id}/runs/{listing[1]['id']}")
    assert inflight.result().status_code == 500
    emulator.reset()
    assert queued.result().status_code == 500


def test_cancel_in_flight_run(
    emulator: EmulatorHandle, api: httpx.Client, pool: ThreadPoolExecutor, wait_for: Poll
) -> None:
    task_id = flux_task(api)
    emulator.queue_outcomes(task_id, [{"durationMs": 20_000}])
    pending = run_in_background(pool, emulator.base_url, task_id)
    (run,) = wait_for(lambda: [r for r in runs(api, task_id) if r["status"] == "started"])
    resp = api.delete(f"{FLUX}/{task_id}/runs/{run['id']}")
    assert (resp.status_code, resp.content) == (200, b"")
    result = pending.result(timeout=10)
    assert result.status_code == 500
    expected = "failed to force run: unexpected error from queryd: context canceled"
    assert result.json()["message"] == expected
    assert runs(api, task_id)[0]["status"] == "canceled"
    assert api.get(f"{FLUX}/{task_id}").json()["lastRunStatus"] == "canceled"


def test_client_disconnect_cancels_run(
    emulator: EmulatorHandle, api: httpx.Client, wait_for: Poll
) -> None:
    task_id = flux_task(api)
    emulator.queue_outcomes(task_id, [{"durationMs": 20_000}])
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{emulator.base_url}{FLUX}/{task_id}/runs", timeout=0.3)
    (run,) = wait_for(lambda: [r for r in runs(api, task_id) if r["status"] == "canceled"])
    assert run["log"][-1]["message"] == "unexpected error from queryd: context canceled"


def test_request_log_names_the_run_each_post_started(
    emulator: EmulatorHandle, api: httpx.Client, wait_for: Poll
) -> None:
    task_id = flux_task(api)
    emulator.queue_outcomes(task_id, [{"durationMs": 10}, {"durationMs": 20_000}])
    emulator.clear_requests()
    done = api.post(f"{FLUX}/{task_id}/runs", json={"scheduledFor": iso(datetime.now(UTC))})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{emulator.base_url}{FLUX}/{task_id}/runs", timeout=0.3)
    cut = wait_for(lambda: [r for r in runs(api, task_id) if r["status"] == "canceled"])
    assert api.post(f"{FLUX}/0000000000000001/runs").status_code == 404
    posts = [r for r in emulator.requests() if r["method"] == "POST"]
    assert [(r["status"], r.get("runID")) for r in posts] == [
        (201, done.json()["id"]),
        (499, cut[0]["id"]),
        (404, None),
    ]


def test_retry_of_in_flight_run_copies_log(
    emulator: EmulatorHandle, api: httpx.Client, pool: ThreadPoolExecutor, wait_for: Poll
) -> None:
    task_id = flux_task(api)
    emulator.queue_outcomes(task_id, [{"durationMs": 20_000}])
    pending = run_in_background(pool, emulator.base_url, task_id)
    (run,) = wait_for(lambda: [r for r in runs(api, task_id) if r["status"] == "started"])
    retried = api.post(f"{FLUX}/{task_id}/runs/{run['id']}/retry")
    assert retried.status_code == 200
    body = retried.json()
    assert "requestedAt" not in body
    assert body["log"][0]["message"].startswith("Started task from script: ")
    api.delete(f"{FLUX}/{task_id}/runs/{run['id']}")
    assert pending.result(timeout=10).status_code == 500


# --- scheduled runs and run storage -------------------------------------------------------


def test_scheduled_run_is_not_manual(
    emulator: EmulatorHandle, api: httpx.Client, wait_for: Poll
) -> None:
    task_id = flux_task(api)
    ahead = iso(datetime.now(UTC) + timedelta(minutes=5))
    run = emulator.trigger_scheduled_run(task_id, ahead)
    assert "requestedAt" not in run
    assert run["scheduledFor"] == ahead
    task = wait_for(lambda: (t := api.get(f"{FLUX}/{task_id}").json()).get("lastRunStatus") and t)
    assert (task["lastRunStatus"], task["latestCompleted"]) == ("success", ahead)
    later = {"beforeTime": iso(datetime.now(UTC) + timedelta(hours=1))}
    (listed,) = api.get(f"{FLUX}/{task_id}/runs", params=later).json()["runs"]
    assert (listed["id"], listed["status"]) == (run["id"], "success")
    assert "requestedAt" not in listed


def test_none_storage_retry_of_in_flight_needs_a_manual_run(
    emulator_none: EmulatorHandle, pool: ThreadPoolExecutor, wait_for: Poll
) -> None:
    with httpx.Client(base_url=emulator_none.base_url, timeout=30.0) as api:
        task_id = flux_task(api)
        emulator_none.queue_outcomes(task_id, [{"durationMs": 20_000}])
        run = emulator_none.trigger_scheduled_run(task_id)
        wait_for(lambda: runs(api, task_id))
        retry = api.post(f"{FLUX}/{task_id}/runs/{run['id']}/retry")
        assert retry.json()["message"] == "failed to retry run: run not found"
        assert api.post(f"{FLUX}/{task_id}/runs").status_code == 201
        assert api.post(f"{FLUX}/{task_id}/runs/{run['id']}/retry").status_code == 200
        assert api.get(f"{FLUX}/{task_id}/runs/{run['id']}/logs").status_code == 200
        api.delete(f"{FLUX}/{task_id}/runs/{run['id']}")
        wait_for(lambda: not runs(api, task_id))


def test_stored_runs_expire_after_14_days(emulator: EmulatorHandle, api: httpx.Client) -> None:
    task_id = flux_task(api)
    rid = api.post(f"{FLUX}/{task_id}/runs").json()["id"]
    emulator.set_clock_offset(13 * DAY_MS)
    assert len(runs(api, task_id)) == 1
    emulator.set_clock_offset(15 * DAY_MS)
    assert runs(api, task_id) == []
    assert api.get(f"{FLUX}/{task_id}/runs/{rid}").status_code == 404


def test_reactivation_resets_latest_completed(emulator: EmulatorHandle, api: httpx.Client) -> None:
    task_id = flux_task(api)
    created = api.get(f"{FLUX}/{task_id}").json()["latestCompleted"]
    api.patch(f"{FLUX}/{task_id}", json={"status": "inactive"})
    emulator.set_clock_offset(3_600_000)
    active = api.patch(f"{FLUX}/{task_id}", json={"status": "active"}).json()
    assert active["latestCompleted"] > created
    assert active["latestCompleted"] == active["updatedAt"]


# --- scheduler ------------------------------------------------------------------------------


def _on_scheduler(emulator: EmulatorHandle, task_id: str) -> bool:
    (task,) = [t for t in emulator.state()["fluxTasks"] if t["id"] == task_id]
    return bool(task["onScheduler"])


def test_patch_of_inactive_task_reschedules_it(emulator: EmulatorHandle, api: httpx.Client) -> None:
    task_id = flux_task(api)
    api.patch(f"{FLUX}/{task_id}", json={"status": "inactive"})
    assert _on_scheduler(emulator, task_id) is False
    # Any PATCH of an inactive task triggers it (a description-only PATCH is a 400).
    api.patch(f"{FLUX}/{task_id}", json={"status": "inactive"})
    assert _on_scheduler(emulator, task_id) is True  # the vendored bug
    emulator.set_clock_offset(2 * 3_600_000)
    started = emulator.scheduler_tick()
    assert [r["taskID"] for r in started] == [task_id]
    assert api.get(f"{FLUX}/{task_id}").json()["status"] == "inactive"


def test_scheduler_on_runs_every_tasks(wait_for: Poll) -> None:
    with (
        running_emulator(extra_args=["--scheduler", "on"]) as handle,
        httpx.Client(base_url=handle.base_url) as api,
    ):
        task_id = flux_task(api, schedule="every: 1s")
        done = wait_for(lambda: [r for r in runs(api, task_id) if r["status"] == "success"])
        assert "requestedAt" not in done[0]
        assert api.get(f"{FLUX}/{task_id}").json()["lastRunStatus"] == "success"


# --- faults and outages ---------------------------------------------------------------------


def test_error_fault_limited_by_path(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.set_faults(error_rate=1.0, error_status=503, paths="^/kapacitor/v1/tasks")
    resp = api.get("/kapacitor/v1/tasks")
    assert resp.status_code == 503
    assert resp.json() == {"error": "emulated fault", "message": "emulated fault"}
    assert api.get("/kapacitor/v1/ping").status_code == 204
    emulator.clear_faults()
    assert api.get("/kapacitor/v1/tasks").status_code == 200


def test_latency_fault(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.set_faults(latency_ms=250)
    started = time.monotonic()
    assert api.get("/kapacitor/v1/ping").status_code == 204
    assert time.monotonic() - started >= 0.25


def test_error_fault_is_deterministic_with_seed(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    def sample() -> list[int]:
        emulator.set_faults(error_rate=0.5, seed=7)
        return [api.get("/kapacitor/v1/ping").status_code for _ in range(20)]

    first = sample()
    assert first == sample()
    assert set(first) == {204, 503}


def test_down_refuses_connections_and_up_restores(
    emulator: EmulatorHandle, api: httpx.Client
) -> None:
    flux_task(api, "kept")
    emulator.down()
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{emulator.base_url}/kapacitor/v1/ping", timeout=2.0)
        assert emulator.info()["apiUp"] is False
    finally:
        emulator.up()
    assert httpx.get(f"{emulator.base_url}/kapacitor/v1/ping").status_code == 204
    assert [t["name"] for t in httpx.get(f"{emulator.base_url}{FLUX}").json()["tasks"]] == ["kept"]


def test_down_only_on_control_port(emulator: EmulatorHandle) -> None:
    resp = httpx.post(f"{emulator.base_url}/emulator/v1/down")
    assert resp.status_code == 409


# --- state dump -----------------------------------------------------------------------------


def test_state_shows_running_definition(emulator: EmulatorHandle, api: httpx.Client) -> None:
    body = {
        "id": "live",
        "script": "stream|from().measurement('cpu')",
        "dbrps": [{"db": "d", "rp": "r"}],
        "status": "enabled",
    }
    api.post("/kapacitor/v1/tasks", json=body)
    api.patch("/kapacitor/v1/tasks/live", json={"script": "stream|from().measurement('mem')"})
    (task,) = emulator.state()["tasks"]
    assert task["script"] == "stream|from().measurement('mem')"
    assert task["running"]["script"] == "stream|from().measurement('cpu')"
