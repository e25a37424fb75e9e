"""Shared steps of the recording and replay contract tests."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.contract.helpers import DBRPS, RFC3339NANO

RECORDINGS = "/kapacitor/v1/recordings"
REPLAYS = "/kapacitor/v1/replays"
PAST = "1970-01-01T00:00:10Z"
"""A recording window that is over: only a point stamped after it ends the recording."""
EMPTY_GZIP = 23
"""Size of the file of a stream recording that captured nothing (Go's gzip framing)."""
Wait = Callable[..., Any]


def stream_task(api: httpx.Client, task_id: str, measurement: str, **extra: Any) -> None:
    script = f"stream|from().measurement('{measurement}')"
    resp = api.post(
        "/kapacitor/v1/tasks", json={"id": task_id, "dbrps": DBRPS, "script": script, **extra}
    )
    assert resp.status_code == 200, resp.text


def batch_task(api: httpx.Client, task_id: str) -> None:
    query = 'SELECT mean(v) FROM "telegraf"."autogen".cpu'
    script = f"batch|query('{query}').period(1m).every(1m)"
    resp = api.post("/kapacitor/v1/tasks", json={"id": task_id, "dbrps": DBRPS, "script": script})
    assert resp.status_code == 200, resp.text


def write(api: httpx.Client, lines: str, precision: str = "s", rp: str = "autogen") -> None:
    params = {"db": "telegraf", "rp": rp, "precision": precision}
    resp = api.post("/kapacitor/v1/write", params=params, content=lines)
    assert resp.status_code == 204, resp.text


def record(api: httpx.Client, recording_id: str, task_id: str, stop: str | None = PAST) -> Any:
    body: dict[str, Any] = {"id": recording_id, "task": task_id}
    if stop is not None:
        body["stop"] = stop
    resp = api.post(f"{RECORDINGS}/stream", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def ended(
    api: httpx.Client,
    path: str,
    wait_for: Wait,
    timeout: float = 10.0,
    poke: Callable[[], None] | None = None,
) -> Any:
    """Poll a recording or replay until it is no longer running; returns it.

    ``poke`` runs before each look: a stream recording subscribes to the stream in the
    background after its POST has answered, so a point that should end it is written
    until it does (a point after the stop time is never captured, so repeating it adds
    nothing to the recording).
    """

    def done() -> Any:
        if poke is not None:
            poke()
        resp = api.get(path)
        assert resp.status_code in (200, 202), resp.text
        return resp.json() if resp.status_code == 200 else None

    result = wait_for(done, timeout=timeout)
    assert result["status"] != "running"
    return result


def recorded(api: httpx.Client, uid: str, wait_for: Wait, points: str) -> str:
    """A finished stream recording of ``points`` (measurement ``m<uid>``, milliseconds)."""
    stream_task(api, f"rt-{uid}", f"m{uid}")
    record(api, f"rec-{uid}", f"rt-{uid}")
    # Written until the recording ends: the write that ends it is the one it captured
    # (the points and the point after stop go in one write, so no copy is captured twice).
    poke = functools.partial(write, api, points + f"\nm{uid} v=99 11000", precision="ms")
    recording = ended(api, f"{RECORDINGS}/rec-{uid}", wait_for, poke=poke)
    assert recording["status"] == "finished", recording
    return f"rec-{uid}"


def assert_recording(body: Any, recording_id: str, rtype: str, status: str) -> None:
    assert body["link"] == {"rel": "self", "href": f"{RECORDINGS}/{recording_id}"}
    assert body["id"] == recording_id
    assert body["type"] == rtype
    assert body["status"] == status
    assert RFC3339NANO.match(body["date"])
    assert list(body) == ["link", "id", "type", "size", "date", "error", "status", "progress"]
