"""Smoke tests against a real kapacitord v1.8.3 (built by hack/provision-kapacitord.sh).

They check a few behaviours of /work/shared/kapacitor-api.md on the real server, with the
configuration the contract tests assume: Flux task API on, ``task-run-influxdb = "none"``,
no InfluxDB. A missing binary FAILS these tests (it never skips them): the message says to
run ``hack/provision-kapacitord.sh``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kapacitor_testkit.kapacitord import (
    KapacitordHandle,
    KapacitordNotFoundError,
    find_kapacitord,
    running_kapacitord,
)

pytestmark = pytest.mark.kapacitord

API = "/kapacitor/v1"
FLUX_TASKS = f"{API}/api/v2/tasks"


@pytest.fixture(scope="module")
def kapacitord() -> Iterator[KapacitordHandle | KapacitordNotFoundError]:
    """The running server, or the lookup error (turned into a failure inside each test)."""
    try:
        binary = find_kapacitord()
    except KapacitordNotFoundError as exc:
        yield exc
        return
    with running_kapacitord(str(binary)) as handle:
        yield handle


def connect(server: KapacitordHandle | KapacitordNotFoundError) -> httpx.Client:
    """A client for the server; fails the calling test when there is no binary."""
    if isinstance(server, KapacitordNotFoundError):
        pytest.fail(f"kapacitord is not available: {server}", pytrace=False)
    return httpx.Client(base_url=server.base_url, timeout=30.0, follow_redirects=False)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_flux_task(
    client: httpx.Client, name: str, body: str, imports: str = ""
) -> dict[str, Any]:
    """Create an active Flux task running ``body`` (imports go first in Flux).

    The schedule is once a year (00:00 on 1 January), so no scheduled run can overlap the
    manual runs these tests make and inspect.
    """
    flux = f'{imports}option task = {{name: "{name}", cron: "0 0 1 1 *"}}\n{body}'
    resp = client.post(FLUX_TASKS, json={"flux": flux})
    assert resp.status_code == 201, resp.text
    task: dict[str, Any] = resp.json()
    return task


def test_binary_is_provisioned() -> None:
    try:
        binary = find_kapacitord()
    except KapacitordNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    assert binary.is_file()


def test_ping_is_204_with_version_header(
    kapacitord: KapacitordHandle | KapacitordNotFoundError,
) -> None:
    with connect(kapacitord) as client:
        for method in ("GET", "HEAD"):
            resp = client.request(method, f"{API}/ping")
            assert resp.status_code == 204
            assert resp.content == b""
            assert resp.headers["X-Kapacitor-Version"] == "1.8.3"
            assert resp.headers["Request-Id"]
        # Without the base path there is no ping.
        assert client.get("/ping").status_code == 404


def test_tickscript_task_create_and_raw_script(
    kapacitord: KapacitordHandle | KapacitordNotFoundError,
) -> None:
    task_id = unique("smoke")
    raw = "stream|from().measurement('cpu')"
    with connect(kapacitord) as client:
        resp = client.post(
            f"{API}/tasks",
            json={"id": task_id, "script": raw, "dbrps": [{"db": "telegraf", "rp": "autogen"}]},
        )
        assert resp.status_code == 200, resp.text
        task = resp.json()
        assert task["id"] == task_id
        assert task["status"] == "disabled"  # the default, not "enabled"
        assert task["type"] == "stream"  # taken from the script
        assert task["executing"] is False
        assert task["link"] == {"rel": "self", "href": f"{API}/tasks/{task_id}"}
        assert task["last-enabled"] == "0001-01-01T00:00:00Z"
        # Create returns the formatted script.
        assert task["script"] == "stream\n    |from()\n        .measurement('cpu')\n"

        got = client.get(f"{API}/tasks/{task_id}", params={"script-format": "raw"})
        assert got.status_code == 200
        assert got.json()["script"] == raw
        formatted = client.get(f"{API}/tasks/{task_id}")
        assert formatted.json()["script"] == task["script"]

        # Native error format: the same text in "error" and "message".
        dup = client.post(
            f"{API}/tasks",
            json={"id": task_id, "script": raw, "dbrps": [{"db": "telegraf", "rp": "autogen"}]},
        )
        assert dup.status_code == 400
        assert dup.json() == {
            "error": f"task {task_id} already exists",
            "message": f"task {task_id} already exists",
        }
        assert client.delete(f"{API}/tasks/{task_id}").status_code == 204


def test_flux_task_create(kapacitord: KapacitordHandle | KapacitordNotFoundError) -> None:
    with connect(kapacitord) as client:
        resp = client.post(
            FLUX_TASKS,
            # name and every in the body are ignored: they come from the script.
            json={"flux": 'option task = {name: "x", every: 1h}\n1', "name": "y", "every": "5m"},
        )
        assert resp.status_code == 201, resp.text
        task = resp.json()
        assert task["name"] == "x"
        assert task["every"] == "1h"
        assert "cron" not in task
        assert task["status"] == "active"
        assert task["ownerID"] == "ADMIN_USER"
        assert task["orgID"] == ""
        assert task["labels"] is None
        assert len(task["id"]) == 16
        assert task["latestCompleted"] == task["createdAt"]
        assert "updatedAt" not in task
        # Flux routes answer compact JSON with a trailing newline.
        assert resp.text.endswith("}\n")

        got = client.get(f"{FLUX_TASKS}/{task['id']}")
        assert got.status_code == 200
        assert got.json()["flux"] == 'option task = {name: "x", every: 1h}\n1'

        assert client.delete(f"{FLUX_TASKS}/{task['id']}").status_code == 204
        missing = client.delete(f"{FLUX_TASKS}/{task['id']}")
        assert missing.status_code == 404
        assert missing.json() == {
            "code": "not found",
            "message": "failed to delete task: task not found",
        }
        assert missing.headers["X-Platform-Error-Code"] == "not found"


def test_flux_manual_run_without_influxdb_then_runs_vanish(
    kapacitord: KapacitordHandle | KapacitordNotFoundError,
) -> None:
    """array.from needs no data source: the run succeeds, and under "none" it is gone."""
    with connect(kapacitord) as client:
        task_id = create_flux_task(
            client,
            unique("array"),
            "array.from(rows: [{_time: now(), _value: 1}]) |> yield()",
            imports='import "array"\n',
        )["id"]

        run_resp = client.post(f"{FLUX_TASKS}/{task_id}/runs")
        assert run_resp.status_code == 201, run_resp.text
        run = run_resp.json()
        # A snapshot taken when the run was created, although the call returns after it ran.
        assert run["status"] == "scheduled"
        assert run["taskID"] == task_id
        assert "requestedAt" in run
        assert "startedAt" not in run
        assert "finishedAt" not in run
        assert set(run["links"]) == {"self", "task", "logs", "retry"}

        # task-run-influxdb = "none": finished runs vanish.
        runs = client.get(f"{FLUX_TASKS}/{task_id}/runs")
        assert runs.status_code == 200
        assert runs.json()["runs"] == []
        gone = client.get(f"{FLUX_TASKS}/{task_id}/runs/{run['id']}")
        assert gone.status_code == 404
        assert gone.json()["message"] == "failed to find run: run not found"
        retry = client.post(f"{FLUX_TASKS}/{task_id}/runs/{run['id']}/retry")
        assert retry.status_code == 404
        assert retry.json()["message"] == "failed to retry run: run not found"

        # ... but the task keeps the outcome.
        after = client.get(f"{FLUX_TASKS}/{task_id}").json()
        assert after["lastRunStatus"] == "success"
        assert "lastRunError" not in after
        assert client.get(f"{FLUX_TASKS}/{task_id}/logs").json() == {"events": None}


def test_flux_failing_run_is_an_error_response(
    kapacitord: KapacitordHandle | KapacitordNotFoundError,
) -> None:
    with connect(kapacitord) as client:
        task = create_flux_task(client, unique("die"), 'die(msg: "boom")')
        resp = client.post(f"{FLUX_TASKS}/{task['id']}/runs")
        assert resp.status_code == 500
        body = resp.json()
        assert body["code"] == "internal error"
        assert body["message"].startswith("failed to force run: unexpected error from queryd: ")
        assert body["message"].endswith("boom")
        # Error bodies of the Flux routes have no trailing newline (success bodies do).
        assert not resp.text.endswith("\n")
        after = client.get(f"{FLUX_TASKS}/{task['id']}").json()
        assert after["lastRunStatus"] == "failed"
        # The second-to-last log line, not the cause.
        assert after["lastRunError"] == "Completed(failed)"


def test_flux_from_without_influxdb_fails(
    kapacitord: KapacitordHandle | KapacitordNotFoundError,
) -> None:
    """With no [fluxtask] default-influxdb, from() has no host (no fallback to Kapacitor)."""
    with connect(kapacitord) as client:
        task = create_flux_task(
            client, unique("from"), 'from(bucket: "b") |> range(start: -1m) |> yield()'
        )
        resp = client.post(f"{FLUX_TASKS}/{task['id']}/runs")
        assert resp.status_code == 500
        assert resp.json()["message"].endswith("from requires a remote host to be specified")


def test_gzip_only_on_native_routes(
    kapacitord: KapacitordHandle | KapacitordNotFoundError,
) -> None:
    """Native routes gzip when asked (httpx asks by default); the Flux routes never do."""
    with connect(kapacitord) as client:
        native = client.get(f"{API}/tasks", headers={"Accept-Encoding": "gzip"})
        assert native.status_code == 200
        assert native.headers.get("Content-Encoding") == "gzip"
        assert native.text.startswith("{\n    ")  # pretty, decoded by httpx
        assert not native.text.endswith("\n")
        plain = client.get(f"{API}/tasks", headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        flux = client.get(FLUX_TASKS, headers={"Accept-Encoding": "gzip"})
        assert flux.status_code == 200
        assert "Content-Encoding" not in flux.headers
