"""Contract: replays (``/kapacitor/v1/replays``) of stream recordings, and their errors.

Every test runs against each kind of server (``api``: emulator and kapacitord). Node
counts in a replay's stats are read by Kapacitor before the task has drained, so they
vary from run to run; only their shape is checked.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.contract.helpers import RFC3339NANO, assert_native_error
from tests.integration.contract.replay_helpers import (
    RECORDINGS,
    REPLAYS,
    Wait,
    batch_task,
    ended,
    recorded,
    stream_task,
)

NODE_STATS = {"avg_exec_time_ns", "collected", "emitted", "errors", "working_cardinality"}


def _replay(api: httpx.Client, **body: object) -> dict[str, object]:
    resp = api.post(REPLAYS, json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, object] = resp.json()
    return result


def test_fast_replay_finishes_with_stats(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    recording = recorded(api, uid, wait_for, f"m{uid} v=1 0\nm{uid} v=2 5000")
    created = _replay(api, id=f"rp-{uid}", task=f"rt-{uid}", recording=recording)
    assert created == {
        "link": {"rel": "self", "href": f"{REPLAYS}/rp-{uid}"},
        "id": f"rp-{uid}",
        "task": f"rt-{uid}",
        "recording": recording,
        "recording-time": False,
        "clock": "fast",
        "date": created["date"],
        "error": "",
        "status": "running",
        "progress": 0,
        "stats": {},
    }
    assert RFC3339NANO.match(str(created["date"]))
    done = ended(api, f"{REPLAYS}/rp-{uid}", wait_for)
    assert (done["status"], done["error"], done["progress"]) == ("finished", "", 1)
    assert done["stats"]["task-stats"] == {"throughput": 0}
    nodes = done["stats"]["node-stats"]
    assert sorted(nodes) == ["from1", "stream0"]
    assert all(set(node) == NODE_STATS for node in nodes.values())
    # The task itself is untouched (still disabled, not executing).
    assert api.get(f"/kapacitor/v1/tasks/rt-{uid}").json()["executing"] is False


def test_real_clock_replay_takes_the_recorded_span(
    api: httpx.Client, uid: str, wait_for: Wait
) -> None:
    recording = recorded(api, uid, wait_for, f"m{uid} v=1 0\nm{uid} v=2 1500")
    started = time.monotonic()
    body = {"id": f"rp-{uid}", "task": f"rt-{uid}", "recording": recording, "clock": "real"}
    assert _replay(api, **body, **{"recording-time": True})["clock"] == "real"
    time.sleep(0.3)
    running = api.get(f"{REPLAYS}/rp-{uid}")
    assert running.status_code == 202
    assert running.json()["status"] == "running"
    done = ended(api, f"{REPLAYS}/rp-{uid}", wait_for)
    assert done["status"] == "finished"
    assert done["recording-time"] is True
    assert time.monotonic() - started >= 1.4


def test_replay_errors(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    recording = recorded(api, uid, wait_for, f"m{uid} v=1 0")
    body = {"task": f"rt-{uid}", "recording": recording}
    missing = api.post(REPLAYS, json={**body, "recording": f"no-{uid}"})
    assert_native_error(missing, 404, "recording not found: no recording exists")
    no_task = api.post(REPLAYS, json={**body, "task": f"no-{uid}"})
    assert_native_error(no_task, 404, "task load: no task exists")
    assert_native_error(
        api.post(REPLAYS, json={**body, "clock": "slow"}), 400, "unknown Clock slow"
    )
    assert_native_error(api.post(REPLAYS, json={**body, "clock": ""}), 400, "unknown Clock ")
    bad_id = api.post(REPLAYS, json={**body, "id": "a b"})
    message = "replay ID must contain only letters, numbers, '-', '.' and '_'. \"a b\""
    assert_native_error(bad_id, 400, message)
    typed = api.post(REPLAYS, json={**body, "clock": 1})
    message = (
        "json: cannot unmarshal number into Go struct field CreateReplayOptions.clock "
        "of type client.Clock"
    )
    assert_native_error(typed, 400, message)
    flag = api.post(REPLAYS, json={**body, "recording-time": "yes"})
    message = (
        "json: cannot unmarshal string into Go struct field "
        "CreateReplayOptions.recording-time of type bool"
    )
    assert_native_error(flag, 400, message)


def test_get_and_delete_replays(api: httpx.Client, uid: str) -> None:
    assert_native_error(
        api.get(f"{REPLAYS}/none-{uid}"), 404, "could not find replay: no replay exists"
    )
    assert api.delete(f"{REPLAYS}/none-{uid}").status_code == 204
    assert_native_error(api.get(f"{REPLAYS}/"), 400, "must specify replay id on path")
    assert_native_error(api.delete(f"{REPLAYS}/"), 400, "must specify replay id on path")


def test_replay_list(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    recording = recorded(api, uid, wait_for, f"m{uid} v=1 0")
    for name in ("a", "b"):
        _replay(api, id=f"{name}-{uid}", task=f"rt-{uid}", recording=recording)
    for name in ("a", "b"):
        ended(api, f"{REPLAYS}/{name}-{uid}", wait_for)
    listed = api.get(REPLAYS, params={"pattern": f"?-{uid}"}).json()["replays"]
    assert {r["id"] for r in listed} == {f"a-{uid}", f"b-{uid}"}
    keys = ["clock", "date", "error", "id", "link", "progress", "recording", "recording-time"]
    assert list(listed[0]) == [*keys, "status", "task"]
    assert api.delete(f"{REPLAYS}/a-{uid}").status_code == 204
    fields = api.get(REPLAYS, params={"pattern": f"?-{uid}", "fields": "task"}).json()["replays"]
    assert fields == [
        {
            "id": f"b-{uid}",
            "link": {"rel": "self", "href": f"{REPLAYS}/b-{uid}"},
            "task": f"rt-{uid}",
        }
    ]


def test_replay_against_the_wrong_kind_of_task(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    recording = recorded(api, uid, wait_for, f"m{uid} v=1 0")
    batch_task(api, f"bt-{uid}")
    _replay(api, id=f"x-{uid}", task=f"bt-{uid}", recording=recording)
    done = ended(api, f"{REPLAYS}/x-{uid}", wait_for)
    assert done["status"] == "failed"
    assert done["error"] == "running replay: data source open: zip: not a valid zip file"
    assert done["stats"] == {}
    # A batch recording that failed before writing anything has no file at all.
    body = {"id": f"b-{uid}", "task": f"rt-{uid}", "start": "2020-01-01T00:00:00Z"}
    assert api.post(f"{RECORDINGS}/batch", json=body).status_code == 201
    ended(api, f"{RECORDINGS}/b-{uid}", wait_for)
    _replay(api, id=f"y-{uid}", task=f"rt-{uid}", recording=f"b-{uid}")
    error = ended(api, f"{REPLAYS}/y-{uid}", wait_for)["error"]
    assert error.startswith("running replay: data source open: open ")
    assert error.endswith(f"/b-{uid}.brpl: no such file or directory")


def test_a_second_replay_with_the_same_id(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    # Kapacitor ignores the "already exists" error: both run, and the one that ends last
    # is what GET shows.
    recording = recorded(api, uid, wait_for, f"m{uid} v=1 0\nm{uid} v=2 1500")
    stream_task(api, f"rt2-{uid}", f"m{uid}")
    body = {"id": f"d-{uid}", "recording": recording}
    _replay(api, **body, task=f"rt-{uid}", clock="real")
    second = _replay(api, **body, task=f"rt2-{uid}", clock="fast")
    assert (second["task"], second["status"]) == (f"rt2-{uid}", "running")
    wait_for(lambda: api.get(f"{REPLAYS}/d-{uid}").json()["task"] == f"rt2-{uid}")
    wait_for(lambda: api.get(f"{REPLAYS}/d-{uid}").json()["task"] == f"rt-{uid}")
    assert api.get(f"{REPLAYS}/d-{uid}").json()["status"] == "finished"


def test_replay_batch_and_query_checks(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    stream_task(api, f"rt-{uid}", f"m{uid}")
    batch_task(api, f"bt-{uid}")
    start = "2020-01-01T00:00:00Z"
    on_stream = api.post(f"{REPLAYS}/batch", json={"task": f"rt-{uid}", "start": start})
    message = f"cannot replay batch against stream task: rt-{uid}"
    assert_native_error(on_stream, 400, message)
    bad_id = api.post(f"{REPLAYS}/batch", json={"id": "a b", "task": f"bt-{uid}"})
    assert_native_error(bad_id, 400, 'replay ID must match ^[-\\._\\p{L}0-9]+$ "a b"')
    no_task = api.post(f"{REPLAYS}/batch", json={"task": f"no-{uid}"})
    assert_native_error(no_task, 404, "task load: no task exists")
    no_query = api.post(f"{REPLAYS}/query", json={"task": f"rt-{uid}"})
    assert_native_error(no_query, 400, "must provide query")
    bad_id = api.post(f"{REPLAYS}/query", json={"id": "a b", "task": f"rt-{uid}"})
    assert_native_error(bad_id, 400, 'recording ID must match ^[-\\._\\p{L}0-9]+$ "a b"')
    body = {"id": f"q-{uid}", "task": f"rt-{uid}", "query": "SELECT * FROM cpu"}
    resp = api.post(f"{REPLAYS}/query", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["recording"] == ""
    done = ended(api, f"{REPLAYS}/q-{uid}", wait_for)
    assert done["error"] == (
        "running replay: could not determine database and retention policy. "
        "Is the query fully qualified?"
    )
    dup = api.post(f"{REPLAYS}/query", json=body)
    assert_native_error(dup, 500, "replay already exists")


@pytest.mark.parametrize("path", [REPLAYS, f"{REPLAYS}/batch", f"{REPLAYS}/query"])
def test_replay_bodies_must_be_json(api: httpx.Client, path: str) -> None:
    assert_native_error(api.post(path, content=b""), 400, "EOF")


def test_deleting_a_running_replay(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    # What the operator's cancel and timeout rely on: DELETE of a running replay answers
    # 204, the replay is gone at once, and it does not come back when its span has passed.
    recording = recorded(api, uid, wait_for, f"m{uid} v=1 0\nm{uid} v=2 1000")
    body = {"id": f"rp-{uid}", "task": f"rt-{uid}", "recording": recording, "clock": "real"}
    _replay(api, **body)
    assert api.get(f"{REPLAYS}/rp-{uid}").status_code == 202
    assert api.delete(f"{REPLAYS}/rp-{uid}").status_code == 204
    assert_native_error(
        api.get(f"{REPLAYS}/rp-{uid}"), 404, "could not find replay: no replay exists"
    )
    time.sleep(1.5)
    assert api.get(f"{REPLAYS}/rp-{uid}").status_code == 404
    listed = api.get(REPLAYS, params={"pattern": f"rp-{uid}"}).json()["replays"]
    assert listed == []
