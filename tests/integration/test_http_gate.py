"""The test kit's HTTP gate: requests wait until the test opens it, and a real kapacitord's
Flux run that calls it stays in flight (visible, with its ID) until then, and fails with
the gate's status when told to."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from kapacitor_testkit.http_gate import HttpGate, gated_flux
from kapacitor_testkit.kapacitord import (
    KapacitordHandle,
    KapacitordNotFoundError,
    find_kapacitord,
    running_kapacitord,
)
from kapacitor_testkit.processes import wait_until


def test_requests_wait_for_the_gate() -> None:
    with HttpGate() as gate, ThreadPoolExecutor(2) as pool:
        first = pool.submit(httpx.get, gate.url, timeout=30.0)
        assert gate.wait_for_requests(1, timeout=10.0)
        assert not first.done()
        assert gate.waiting == 1
        gate.open(503)
        assert first.result(timeout=10.0).status_code == 503
        assert httpx.get(gate.url).status_code == 503  # open stays open
        gate.close()
        second = pool.submit(httpx.get, gate.url, timeout=30.0)
        assert gate.wait_for_requests(3, timeout=10.0)
        gate.open(200)
        assert second.result(timeout=10.0).status_code == 200


@pytest.fixture(scope="module")
def kapacitord() -> Iterator[KapacitordHandle | KapacitordNotFoundError]:
    try:
        binary = find_kapacitord()
    except KapacitordNotFoundError as exc:
        yield exc
        return
    with running_kapacitord(str(binary)) as handle:
        yield handle


@pytest.mark.kapacitord
def test_a_gated_flux_run_stays_in_flight_until_the_gate_opens(
    kapacitord: KapacitordHandle | KapacitordNotFoundError,
) -> None:
    if isinstance(kapacitord, KapacitordNotFoundError):
        pytest.fail(f"kapacitord is not available: {kapacitord}", pytrace=False)
    tasks = f"{kapacitord.base_url}/kapacitor/v1/api/v2/tasks"
    with HttpGate() as gate, ThreadPoolExecutor(1) as pool:
        imports, body = gated_flux(gate.url).split("\n\n", 1)
        flux = f'{imports}\n\noption task = {{name: "gated", cron: "0 0 1 1 *"}}\n\n{body}'
        task = httpx.post(tasks, json={"flux": flux}).json()
        runs = f"{tasks}/{task['id']}/runs"
        call = pool.submit(httpx.post, runs, timeout=60.0)
        assert gate.wait_for_requests(1, timeout=20.0)
        (run,) = httpx.get(runs).json()["runs"]
        assert run["status"] == "started"
        assert not call.done()
        gate.open(503)
        answer = call.result(timeout=30.0)
    assert answer.status_code == 500
    assert answer.json()["message"].endswith("upstream answered 503")

    def failed() -> bool:
        got = httpx.get(f"{tasks}/{task['id']}").json()
        return bool(got.get("lastRunStatus") == "failed")

    assert wait_until(failed, timeout=10.0)
    assert httpx.get(runs).json()["runs"] == [], "task-run-influxdb = none: the run is gone"
