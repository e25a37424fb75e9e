"""Contract: recordings (``/kapacitor/v1/recordings``), stream recordings fed by ``/write``.

Every test runs against each kind of server (``api``: emulator and kapacitord). The real
server here has no InfluxDB, so batch and query recordings are only checked up to what
happens before InfluxDB would be asked.
"""

from __future__ import annotations

import functools
import time

import httpx
import pytest

from tests.integration.contract.helpers import assert_native_error
from tests.integration.contract.replay_helpers import (
    EMPTY_GZIP,
    RECORDINGS,
    Wait,
    assert_recording,
    batch_task,
    ended,
    record,
    stream_task,
    write,
)


def test_stream_recording_captures_matching_writes(
    api: httpx.Client, uid: str, wait_for: Wait
) -> None:
    stream_task(api, f"rt-{uid}", f"m{uid}")
    created = record(api, f"rec-{uid}", f"rt-{uid}")
    assert_recording(created, f"rec-{uid}", "stream", "running")
    assert (created["size"], created["error"], created["progress"]) == (0, "", 0)
    resp = api.get(f"{RECORDINGS}/rec-{uid}")
    assert resp.status_code == 202
    write(api, f"m{uid} v=1 0\nm{uid},host=a v=2 1\nother{uid} v=3 2")
    write(api, f"m{uid} v=4 3", rp="other")
    time.sleep(0.2)
    assert api.get(f"{RECORDINGS}/rec-{uid}").status_code == 202  # all stamped before stop
    # the first matching point after stop ends it
    done = ended(
        api, f"{RECORDINGS}/rec-{uid}", wait_for, poke=lambda: write(api, f"m{uid} v=5 11")
    )
    assert_recording(done, f"rec-{uid}", "stream", "finished")
    assert (done["error"], done["progress"]) == ("", 1)
    assert done["size"] > EMPTY_GZIP
    assert api.get(f"{RECORDINGS}/rec-{uid}").status_code == 200


def test_only_a_matching_point_ends_a_recording(
    api: httpx.Client, uid: str, wait_for: Wait
) -> None:
    stream_task(api, f"rt-{uid}", f"m{uid}")
    record(api, f"rec-{uid}", f"rt-{uid}")
    write(api, f"other{uid} v=1 11")
    write(api, f"m{uid} v=1 11", rp="other")
    time.sleep(0.2)
    assert api.get(f"{RECORDINGS}/rec-{uid}").status_code == 202
    poke = functools.partial(write, api, f"m{uid} v=1 11")
    assert ended(api, f"{RECORDINGS}/rec-{uid}", wait_for, poke=poke)["size"] == EMPTY_GZIP


def test_a_recording_without_stop_ends_at_the_first_point(
    api: httpx.Client, uid: str, wait_for: Wait
) -> None:
    stream_task(api, f"rt-{uid}", f"m{uid}")
    record(api, f"rec-{uid}", f"rt-{uid}", stop=None)
    poke = functools.partial(write, api, f"m{uid} v=1", precision="n")
    done = ended(api, f"{RECORDINGS}/rec-{uid}", wait_for, poke=poke)
    assert (done["status"], done["size"]) == ("finished", EMPTY_GZIP)


def test_recording_ids_and_tasks(api: httpx.Client, uid: str) -> None:
    stream_task(api, f"rt-{uid}", f"m{uid}")
    record(api, f"rec-{uid}", f"rt-{uid}")
    dup = api.post(f"{RECORDINGS}/stream", json={"id": f"rec-{uid}", "task": f"rt-{uid}"})
    assert_native_error(dup, 500, "recording already exists")
    bad = api.post(f"{RECORDINGS}/stream", json={"id": "a b", "task": f"rt-{uid}"})
    message = "recording ID must contain only letters, numbers, '-', '.' and '_'. \"a b\""
    assert_native_error(bad, 400, message)
    missing = api.post(f"{RECORDINGS}/stream", json={"id": f"x-{uid}", "task": f"no-{uid}"})
    assert_native_error(missing, 404, "no task exists")
    generated = api.post(
        f"{RECORDINGS}/stream", json={"task": f"rt-{uid}", "stop": "2100-01-01T00:00:00Z"}
    )
    assert generated.status_code == 201
    assert len(generated.json()["id"]) == 36  # a UUID


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (b'{"task":"x",}', "invalid character '}' looking for beginning of object key string"),
        (b'{"task":tru}', "invalid character '}' in literal true (expecting 'e')"),
        (
            b'{"task":5}',
            "json: cannot unmarshal number into Go struct field "
            "RecordStreamOptions.task of type string",
        ),
        (b"[1]", "json: cannot unmarshal array into Go value of type client.RecordStreamOptions"),
        (b'{"stop":5}', "Time.UnmarshalJSON: input is not a JSON string"),
        (
            b'{"stop":"yesterday"}',
            'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": '
            'cannot parse "yesterday" as "2006"',
        ),
        (
            b'{"stop":"2020-01-01"}',
            'parsing time "2020-01-01" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T"',
        ),
    ],
)
def test_bad_recording_bodies(api: httpx.Client, body: bytes, message: str) -> None:
    assert_native_error(api.post(f"{RECORDINGS}/stream", content=body), 400, message)


def test_get_and_delete(api: httpx.Client, uid: str) -> None:
    missing = api.get(f"{RECORDINGS}/none-{uid}")
    assert_native_error(missing, 500, "error finding recording: no recording exists")
    assert api.delete(f"{RECORDINGS}/none-{uid}").status_code == 204
    for method in ("GET", "DELETE"):
        resp = api.request(method, f"{RECORDINGS}/")
        assert_native_error(resp, 400, "must specify recording id on path")
    stream_task(api, f"rt-{uid}", f"m{uid}")
    record(api, f"rec-{uid}", f"rt-{uid}")
    assert api.delete(f"{RECORDINGS}/rec-{uid}").status_code == 204
    assert api.get(f"{RECORDINGS}/rec-{uid}").status_code == 500
    # Exact routes: POST /recordings is a 404, GET /recordings/stream names a recording.
    assert_native_error(api.post(RECORDINGS, json={}), 404, "Not Found")
    assert api.get(f"{RECORDINGS}/stream").status_code == 500


def test_list_recordings_newest_first(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    stream_task(api, f"rt-{uid}", f"m{uid}")
    record(api, f"a-{uid}", f"rt-{uid}")
    record(api, f"b-{uid}", f"rt-{uid}")
    listed = api.get(RECORDINGS, params={"pattern": f"*-{uid}"}).json()["recordings"]
    assert [r["id"] for r in listed] == [f"b-{uid}", f"a-{uid}"]  # same second: higher ID
    assert list(listed[0]) == sorted(listed[0])  # Go maps: sorted keys
    time.sleep(1.1)
    write(api, f"m{uid} v=1 11")  # both end now: dated by their end, in one second
    for name in ("a", "b"):
        ended(api, f"{RECORDINGS}/{name}-{uid}", wait_for)
    params = {"pattern": f"*-{uid}", "fields": "status"}
    listed = api.get(RECORDINGS, params=params).json()["recordings"]
    assert [sorted(r) for r in listed] == [["id", "link", "status"]] * 2
    assert {r["status"] for r in listed} == {"finished"}


def test_list_recordings_errors(api: httpx.Client) -> None:
    assert_native_error(
        api.get(RECORDINGS, params={"fields": "nope"}), 400, 'unsupported field "nope"'
    )
    message = (
        'invalid limit parameter "x" must be an integer: '
        'strconv.ParseInt: parsing "x": invalid syntax'
    )
    assert_native_error(api.get(RECORDINGS, params={"limit": "x"}), 400, message)


def test_batch_recording(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    batch_task(api, f"bt-{uid}")
    stream_task(api, f"rt-{uid}", f"m{uid}")
    start = "2020-01-01T00:00:00Z"
    no_start = api.post(f"{RECORDINGS}/batch", json={"id": f"b0-{uid}", "task": f"bt-{uid}"})
    assert_native_error(no_start, 400, "must provide start time")
    missing = api.post(f"{RECORDINGS}/batch", json={"task": f"no-{uid}", "start": start})
    assert_native_error(missing, 404, "no task exists")
    resp = api.post(
        f"{RECORDINGS}/batch", json={"id": f"b1-{uid}", "task": f"bt-{uid}", "start": start}
    )
    assert resp.status_code == 201, resp.text
    assert_recording(resp.json(), f"b1-{uid}", "batch", "running")
    body = {"id": f"b2-{uid}", "task": f"rt-{uid}", "start": start}
    assert api.post(f"{RECORDINGS}/batch", json=body).status_code == 201
    done = ended(api, f"{RECORDINGS}/b2-{uid}", wait_for)
    assert (done["status"], done["error"], done["size"]) == ("failed", "wrong task type", -1)


def test_query_recording(api: httpx.Client, uid: str, wait_for: Wait) -> None:
    empty = api.post(f"{RECORDINGS}/query", json={"query": "", "type": "stream"})
    assert_native_error(empty, 400, "must provide query")
    bad_type = api.post(f"{RECORDINGS}/query", json={"query": "SELECT 1", "type": "foo"})
    assert_native_error(bad_type, 400, "unknown TaskType foo")
    body = {"id": f"q-{uid}", "query": "SELECT * FROM cpu", "type": "batch"}
    resp = api.post(f"{RECORDINGS}/query", json=body)
    assert resp.status_code == 201, resp.text
    assert_recording(resp.json(), f"q-{uid}", "batch", "running")
    done = ended(api, f"{RECORDINGS}/q-{uid}", wait_for)
    assert done["status"] == "failed"
    assert (
        done["error"]
        == "could not determine database and retention policy. Is the query fully qualified?"
    )
