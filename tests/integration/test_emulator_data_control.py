"""Emulator-only tests: control knobs for recordings, replays and alerts.

Outcomes make recordings and replays fail or hang (and ``finish`` releases them), events
are injected into alert topics, and the state dump shows which handlers are attached.
A real kapacitord has none of this; the emulator is reset before each test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kapacitor_emulator.process import EmulatorHandle

RECORDINGS = "/kapacitor/v1/recordings"
REPLAYS = "/kapacitor/v1/replays"
TOPICS = "/kapacitor/v1/alerts/topics"
DBRPS = [{"db": "db", "rp": "rp"}]


@pytest.fixture
def api(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    emulator.reset()
    with httpx.Client(base_url=emulator.base_url, timeout=10.0) as client:
        resp = client.post(
            "/kapacitor/v1/tasks",
            json={"id": "t", "dbrps": DBRPS, "script": "stream|from().measurement('m')"},
        )
        assert resp.status_code == 200, resp.text
        yield client


def _record(api: httpx.Client, recording_id: str) -> None:
    body = {"id": recording_id, "task": "t", "stop": "1970-01-01T00:00:10Z"}
    assert api.post(f"{RECORDINGS}/stream", json=body).status_code == 201


def _close(api: httpx.Client) -> None:
    resp = api.post(
        "/kapacitor/v1/write",
        params={"db": "db", "rp": "rp", "precision": "s"},
        content="m v=1 1\nm v=2 11",
    )
    assert resp.status_code == 204


def _settle(api: httpx.Client, path: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        resp = api.get(path)
        if resp.status_code == 200 or time.monotonic() > deadline:
            return resp
        time.sleep(0.02)


def test_queued_outcome_fails_a_recording(emulator: EmulatorHandle, api: httpx.Client) -> None:
    queued = emulator.queue_data_outcomes(
        "recordings", [{"status": "failed", "error": "disk full"}]
    )
    assert queued == [{"status": "failed", "error": "disk full", "delayMs": 0}]
    _record(api, "r1")
    _close(api)
    done = _settle(api, f"{RECORDINGS}/r1").json()
    assert (done["status"], done["error"], done["progress"]) == ("failed", "disk full", 1)
    assert done["size"] > 0


def test_hanging_recording_until_finished(emulator: EmulatorHandle, api: httpx.Client) -> None:
    emulator.set_data_outcome("recordings", "r2", status="hang")
    _record(api, "r2")
    _close(api)
    assert _settle(api, f"{RECORDINGS}/r2", timeout=0.3).status_code == 202
    assert emulator.state()["replay"]["recordings"]["r2"]["points"] == 1
    finished = emulator.finish_data("recordings", "r2", status="finished")
    assert finished["status"] == "finished"
    assert api.get(f"{RECORDINGS}/r2").status_code == 200
    with pytest.raises(httpx.HTTPStatusError):
        emulator.finish_data("recordings", "r2")


def test_delayed_batch_recording(emulator: EmulatorHandle, api: httpx.Client) -> None:
    body = {"id": "q", "query": 'SELECT * FROM "db"."rp".m', "type": "stream"}
    emulator.queue_data_outcomes("recordings", [{"delayMs": 300}])
    assert api.post(f"{RECORDINGS}/query", json=body).status_code == 201
    assert api.get(f"{RECORDINGS}/q").status_code == 202
    assert _settle(api, f"{RECORDINGS}/q").json()["status"] == "finished"


def test_replay_outcomes(emulator: EmulatorHandle, api: httpx.Client) -> None:
    _record(api, "r")
    _close(api)
    assert _settle(api, f"{RECORDINGS}/r").json()["status"] == "finished"
    emulator.set_data_outcome("replays", "bad", status="failed", error="task crashed")
    emulator.queue_data_outcomes("replays", [{"status": "hang"}])
    assert api.post(REPLAYS, json={"id": "bad", "task": "t", "recording": "r"}).status_code == 201
    assert api.post(REPLAYS, json={"id": "hang", "task": "t", "recording": "r"}).status_code == 201
    failed = _settle(api, f"{REPLAYS}/bad").json()
    assert (failed["status"], failed["error"], failed["stats"]) == ("failed", "task crashed", {})
    assert _settle(api, f"{REPLAYS}/hang", timeout=0.3).status_code == 202
    emulator.finish_data("replays", "hang", status="failed", error="released")
    assert api.get(f"{REPLAYS}/hang").json()["error"] == "released"


def test_bad_outcomes_are_400(emulator: EmulatorHandle) -> None:
    with httpx.Client(base_url=emulator.control_url) as control:
        resp = control.put("/emulator/v1/replays/outcomes", json={"outcomes": [{"status": "x"}]})
        assert resp.status_code == 400
        resp = control.put("/emulator/v1/recordings/r/outcome", json={"delayMs": -1})
        assert resp.status_code == 400


def test_events_reach_attached_handlers(emulator: EmulatorHandle, api: httpx.Client) -> None:
    spec = {"id": "h", "kind": "tcp", "options": {"address": "x:1"}}
    assert api.post(f"{TOPICS}/t/handlers", json=spec).status_code == 200
    assert emulator.fire_alert("t", id="e1", level="WARNING", message="m") == 1
    assert api.get(f"{TOPICS}/t").json()["level"] == "WARNING"
    assert api.delete(f"{TOPICS}/t").status_code == 204
    assert emulator.fire_alert("t", id="e2") == 0
    handler = emulator.state()["alerts"]["handlers"]["t"]["h"]
    assert handler == {"kind": "tcp", "attached": False, "delivered": 1}
    assert api.put(f"{TOPICS}/t/handlers/h", json=spec).status_code == 200
    assert emulator.fire_alert("t", id="e3", durationMs=1500) == 1
    event = api.get(f"{TOPICS}/t/events/e3").json()["state"]
    assert (event["level"], event["duration"]) == ("CRITICAL", "1.5s")


def test_aggregate_without_interval_crashes_the_real_server(api: httpx.Client) -> None:
    # kapacitord panics in time.NewTicker and exits; the emulator drops the connection.
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"{TOPICS}/t/handlers", json={"id": "agg", "kind": "aggregate"})
    assert api.get(f"{TOPICS}/t/handlers").json()["handlers"] == []


def test_state_shows_template_links(emulator: EmulatorHandle, api: httpx.Client) -> None:
    template = {"id": "tp", "script": "var m = 'cpu'\nstream|from().measurement(m)"}
    assert api.post("/kapacitor/v1/templates", json=template).status_code == 200
    task = {"id": "from-tp", "template-id": "tp", "dbrps": DBRPS}
    assert api.post("/kapacitor/v1/tasks", json=task).status_code == 200
    assert emulator.state()["templateLinks"] == [["tp", "from-tp"]]
    assert api.delete("/kapacitor/v1/templates/tp").status_code == 204
    assert emulator.state()["templateLinks"] == []
