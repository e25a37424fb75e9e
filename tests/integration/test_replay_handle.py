"""The replay attempt executor (runs/replay_handle.py) against each kind of server: the
emulator and the real kapacitord, which records a stream offline (the test writes points
to /write while the recording runs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.reconcile.taskrun_model import Ended
from kapacitor_operator.reconcile.taskrun_replay import ReplayPlan
from kapacitor_operator.runs.replay_handle import ReplayHandle
from tests.integration.contract.helpers import DBRPS

BASE = "/kapacitor/v1"


@pytest.fixture
async def client(contract_server: str) -> AsyncIterator[KapacitorClient]:
    http = httpx.AsyncClient(base_url=contract_server, timeout=10.0)
    yield KapacitorClient(http, quick_retries=0)
    await http.aclose()


async def _post(client: KapacitorClient, path: str, **kw: object) -> httpx.Response:
    return await client._http.post(path, **kw)  # type: ignore[arg-type]


async def stream_task(client: KapacitorClient, task_id: str, measurement: str) -> None:
    script = f"stream|from().measurement('{measurement}')|alert().crit(lambda: \"v\" > 1)"
    resp = await _post(
        client, f"{BASE}/tasks", json={"id": task_id, "dbrps": DBRPS, "script": script}
    )
    assert resp.status_code == 200, resp.text


async def write(client: KapacitorClient, lines: str) -> None:
    params = {"db": "telegraf", "rp": "autogen", "precision": "ms"}
    resp = await _post(client, f"{BASE}/write", params=params, content=lines)
    assert resp.status_code == 204, resp.text


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def plan(uid: str, **kw: object) -> ReplayPlan:
    base = ReplayPlan(
        task_id=f"rt-{uid}",
        recording_id=f"rec-{uid}",
        replay_id=f"rp-{uid}",
        record_seconds=1.0,
        clock="fast",
        recording_time=False,
        started_at=datetime.now(UTC),
        timeout=30.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


async def until_done(handle: ReplayHandle, within: float = 20.0) -> Ended:
    deadline = time.monotonic() + within
    while handle.outcome is None:
        assert time.monotonic() < deadline, f"attempt still {handle.observe()}"
        await asyncio.sleep(0.05)
    return handle.outcome


def handle_for(p: ReplayPlan, client: KapacitorClient) -> ReplayHandle:
    return ReplayHandle(p, client, wake=lambda: None, clock=lambda: datetime.now(UTC))


async def feed(client: KapacitorClient, uid: str, p: ReplayPlan) -> None:
    """Points inside the window, then (once it is over) one stamped after it."""
    now = datetime.now(UTC)
    await write(client, f"m{uid} v=1 {ms(now)}\nm{uid} v=2 {ms(now) + 1}\nm{uid} v=3 {ms(now) + 2}")
    stop = p.started_at + timedelta(seconds=p.record_seconds or 0)
    left = (stop + timedelta(milliseconds=100) - datetime.now(UTC)).total_seconds()
    await asyncio.sleep(max(0.0, left))  # the window must be over: wall-clock time, not state
    await write(client, f"m{uid} v=9 {ms(datetime.now(UTC))}")


async def recording_running(client: KapacitorClient, rec_id: str) -> None:
    deadline = time.monotonic() + 10
    while (found := await client.get_recording(rec_id)) is None or found.status != "running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_record_then_replay_reports_counts(client: KapacitorClient, uid: str) -> None:
    await stream_task(client, f"rt-{uid}", f"m{uid}")
    p = plan(uid)
    handle = handle_for(p, client)
    await recording_running(client, p.recording_id)
    await feed(client, uid, p)
    outcome = await until_done(handle)
    result = outcome.result
    assert (result.end_reason, result.external_id, result.message) == ("success", p.replay_id, None)
    assert result.replay is not None
    nodes = dict(result.replay.nodes or ())
    assert {"stream0", "from1", "alert2"} <= set(nodes)
    assert all("collected" in dict(counts) for counts in nodes.values())
    assert (result.replay.recording_size or 0) > 23  # more than an empty recording
    replay = await client.get_replay(p.replay_id)
    assert replay is not None
    assert replay.status == "finished"


async def test_a_second_process_resumes_without_a_second_recording_or_replay(
    client: KapacitorClient, uid: str
) -> None:
    await stream_task(client, f"rt-{uid}", f"m{uid}")
    p = plan(uid)
    first = handle_for(p, client)
    await recording_running(client, p.recording_id)
    assert first.task is not None
    first.task.cancel()  # the operator stopped while recording
    await asyncio.gather(first.task, return_exceptions=True)
    second = handle_for(p, client)
    await feed(client, uid, p)
    assert (await until_done(second)).result.end_reason == "success"
    resp = await client._http.get(f"{BASE}/replays", params={"pattern": f"rp-{uid}"})
    assert [r["id"] for r in resp.json()["replays"]] == [p.replay_id]
    resp = await client._http.get(f"{BASE}/recordings", params={"pattern": f"rec-{uid}"})
    assert [r["id"] for r in resp.json()["recordings"]] == [p.recording_id]


async def test_timeout_while_recording_deletes_the_recording(
    client: KapacitorClient, uid: str
) -> None:
    await stream_task(client, f"rt-{uid}", f"m{uid}")
    p = plan(uid, record_seconds=3600.0, timeout=1.0)
    result = (await until_done(handle_for(p, client))).result
    assert result.end_reason == "timeout"
    assert result.message is not None
    assert "timeout of 1s" in result.message
    assert await client.get_recording(p.recording_id) is None


async def test_cancel_of_a_real_clock_replay_deletes_it(client: KapacitorClient, uid: str) -> None:
    await stream_task(client, f"rt-{uid}", f"m{uid}")
    # An existing recording spanning 60 s of point time: a real-clock replay takes 60 s.
    body = {"id": f"old-{uid}", "task": f"rt-{uid}", "stop": "1970-01-01T00:02:00Z"}
    assert (await _post(client, f"{BASE}/recordings/stream", json=body)).status_code == 201
    await write(client, f"m{uid} v=1 0\nm{uid} v=2 60000\nm{uid} v=3 130000")
    deadline = time.monotonic() + 10
    while (found := await client.get_recording(f"old-{uid}")) is None or found.status == "running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    p = plan(uid, recording_id=f"old-{uid}", record_seconds=None, clock="real")
    handle = handle_for(p, client)
    deadline = time.monotonic() + 10
    while (replay := await client.get_replay(p.replay_id)) is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert replay.status == "running"
    handle.cancel()
    result = (await until_done(handle)).result
    assert (result.end_reason, result.message) == ("stopped", "Replay cancelled by spec.cancel.")
    assert await client.get_replay(p.replay_id) is None
    assert await client.get_recording(f"old-{uid}") is not None  # not ours: kept


async def test_a_missing_recording_fails_without_retry(client: KapacitorClient, uid: str) -> None:
    await stream_task(client, f"rt-{uid}", f"m{uid}")
    p = plan(uid, recording_id=f"none-{uid}", record_seconds=None)
    result = (await until_done(handle_for(p, client))).result
    assert (result.end_reason, result.retryable) == ("failed", False)
