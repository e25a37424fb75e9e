"""Contract: Flux runs that do not need stored runs (run storage ``none``).

Every test runs against each kind of server (``api``: emulator and kapacitord, both with
``task-run-influxdb = "none"``). Runs use scripts that need no InfluxDB: ``array.from``
succeeds, ``die()`` fails (the emulator evaluates just that call). Tests of finished
runs read back from storage are in ``test_flux_runs_stored.py`` (emulator only).
"""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from tests.integration.contract.helpers import (
    FLUX,
    RFC3339,
    RFC3339NANO,
    assert_flux_error,
    create_flux,
    dying_flux,
    iso,
    run_now,
    runnable_flux,
    utc_seconds,
)


def test_manual_run_is_synchronous_201_snapshot(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"run-{uid}", flux=runnable_flux(f"run-{uid}"))
    resp = run_now(api, task["id"])
    assert resp.status_code == 201, resp.text
    assert resp.text.endswith("}\n")
    run = resp.json()
    rid = run["id"]
    assert re.fullmatch(r"[0-9a-f]{16}", rid)
    assert (run["taskID"], run["status"]) == (task["id"], "scheduled")
    assert RFC3339.match(run["scheduledFor"])  # now, truncated to whole seconds
    assert RFC3339NANO.match(run["requestedAt"])
    for absent in ("startedAt", "finishedAt", "log"):
        assert absent not in run
    base = f"{FLUX}/{task['id']}/runs/{rid}"
    assert run["links"] == {
        "self": base,
        "task": f"{FLUX}/{task['id']}",
        "logs": f"{base}/logs",
        "retry": f"{base}/retry",
    }
    # The call returned after the run finished: the task already knows the result.
    after = api.get(f"{FLUX}/{task['id']}").json()
    assert after["lastRunStatus"] == "success"
    assert "lastRunError" not in after


def test_failed_manual_run_is_an_error(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"die-{uid}", flux=dying_flux(f"die-{uid}", "boom"))
    resp = run_now(api, task["id"])
    message = (
        "failed to force run: unexpected error from queryd: error while executing flux "
        'program: error calling function "die" @3:1-3:17: boom'
    )
    assert_flux_error(resp, 500, "internal error", message)
    after = api.get(f"{FLUX}/{task['id']}").json()
    # lastRunError is the second-to-last log line: literally "Completed(failed)".
    assert (after["lastRunStatus"], after["lastRunError"]) == ("failed", "Completed(failed)")
    assert after["latestCompleted"] >= task["latestCompleted"]


def test_task_logs_null_without_runs(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"nolog-{uid}")
    resp = api.get(f"{FLUX}/{task['id']}/logs")
    assert resp.text == '{"events":null}\n'


def test_manual_run_scheduled_for_is_echoed_in_whole_seconds(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"sf-{uid}", flux=runnable_flux(f"sf-{uid}"))
    past = utc_seconds(timedelta(hours=-1))
    run = run_now(api, task["id"], scheduledFor=past.isoformat().replace("+00:00", "Z")).json()
    assert run["scheduledFor"] == iso(past)
    fraction = iso(past - timedelta(hours=1)).replace("Z", ".5Z")
    run = run_now(api, task["id"], scheduledFor=fraction).json()
    assert run["scheduledFor"] == iso(past - timedelta(hours=1))


def test_manual_run_of_inactive_task_executes(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"in-{uid}", flux=runnable_flux(f"in-{uid}"), status="inactive")
    assert run_now(api, task["id"]).status_code == 201
    assert api.get(f"{FLUX}/{task['id']}").json()["lastRunStatus"] == "success"


def test_manual_run_of_missing_task(api: httpx.Client) -> None:
    resp = run_now(api, "00000000000000fd")
    assert_flux_error(resp, 404, "not found", "failed to force run: task not found")


def test_latest_completed_moves_forward_only(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"fw-{uid}", flux=runnable_flux(f"fw-{uid}"))
    run_now(api, task["id"], scheduledFor=iso(utc_seconds(timedelta(days=-1))))
    assert api.get(f"{FLUX}/{task['id']}").json()["latestCompleted"] == task["latestCompleted"]
    ahead = utc_seconds(timedelta(hours=2))
    run_now(api, task["id"], scheduledFor=iso(ahead))
    assert api.get(f"{FLUX}/{task['id']}").json()["latestCompleted"] == iso(ahead)


def test_runs_of_unknown_task_is_empty_list(api: httpx.Client) -> None:
    resp = api.get(f"{FLUX}/00000000000000fc/runs")
    assert resp.status_code == 200
    assert resp.json()["runs"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "run limit is out of bounds, must be between 1 and 500"),
        ({"limit": "501"}, "run limit is out of bounds, must be between 1 and 500"),
        ({"limit": "-1"}, "run limit is out of bounds, must be between 1 and 500"),
        ({"limit": "many"}, 'strconv.Atoi: parsing "many": invalid syntax'),
        (
            {"afterTime": "2024-01-02T00:00:00Z", "beforeTime": "2024-01-01T00:00:00Z"},
            "beforeTime must be later than afterTime",
        ),
        (
            {"afterTime": "2024-01-01T00:00:00Z", "beforeTime": "2024-01-01T00:00:00Z"},
            "beforeTime must be later than afterTime",
        ),
    ],
)
def test_runs_list_bad_params(api: httpx.Client, params: dict[str, str], message: str) -> None:
    resp = api.get(f"{FLUX}/00000000000000fb/runs", params=params)
    assert_flux_error(resp, 400, "invalid", f"failed to decode request: {message}")


def test_runs_list_bad_time_is_400(api: httpx.Client) -> None:
    resp = api.get(f"{FLUX}/00000000000000fb/runs", params={"afterTime": "yesterday"})
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("failed to decode request: parsing time ")


def test_get_missing_run(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"gm-{uid}")
    resp = api.get(f"{FLUX}/{task['id']}/runs/00000000000000aa")
    assert_flux_error(resp, 404, "not found", "failed to find run: run not found")
    logs = api.get(f"{FLUX}/{task['id']}/runs/00000000000000aa/logs")
    assert_flux_error(logs, 404, "not found", "failed to find task logs: run not found")


def test_retry_errors(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"re-{uid}")
    unknown_run = api.post(f"{FLUX}/{task['id']}/runs/00000000000000aa/retry")
    assert_flux_error(unknown_run, 404, "not found", "failed to retry run: run not found")
    unknown_task = api.post(f"{FLUX}/00000000000000fa/runs/00000000000000aa/retry")
    assert_flux_error(unknown_task, 404, "not found", "failed to retry run: task not found")


def test_cancel_unknown_run(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"cx-{uid}")
    resp = api.delete(f"{FLUX}/{task['id']}/runs/00000000000000aa")
    assert_flux_error(resp, 404, "not found", "failed to cancel run: run not found")


def test_run_storage_none_loses_finished_runs(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"none-{uid}", flux=runnable_flux(f"none-{uid}"))
    run = run_now(api, task["id"])
    assert run.status_code == 201
    rid = run.json()["id"]
    assert api.get(f"{FLUX}/{task['id']}/runs").json()["runs"] == []
    missing = api.get(f"{FLUX}/{task['id']}/runs/{rid}")
    assert_flux_error(missing, 404, "not found", "failed to find run: run not found")
    retry = api.post(f"{FLUX}/{task['id']}/runs/{rid}/retry")
    assert_flux_error(retry, 404, "not found", "failed to retry run: run not found")
    logs = api.get(f"{FLUX}/{task['id']}/runs/{rid}/logs")
    assert_flux_error(logs, 404, "not found", "failed to find task logs: run not found")
    cancel = api.delete(f"{FLUX}/{task['id']}/runs/{rid}")
    assert_flux_error(cancel, 404, "not found", "failed to cancel run: run not found")
    assert api.get(f"{FLUX}/{task['id']}/logs").json() == {"events": None}
    assert api.get(f"{FLUX}/{task['id']}").json()["lastRunStatus"] == "success"
