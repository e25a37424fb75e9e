"""``/kapacitor/v1/replays``: replay a recording (or live batch/query data) against a task.

A replay runs a copy of the task in an isolated task master; the task itself (enabled or
not) is untouched. With the ``fast`` clock a recording replays at once; with ``real`` it
takes as long as its points' timestamps span (the first point is sent at once, each
later one that much later). The replay is ``running`` (GET answers 202) until then, and
``finished`` with ``stats`` or ``failed`` with the error afterwards. Errors follow the
real server: a stream recording against a batch task fails with ``zip: not a valid zip
file``, a batch recording against a stream task with ``gzip: invalid header``, a task
that cannot start with ``task start: <why>``. The emulator does not run TICKscript: the
stats count the replayed points as :mod:`task_stats` describes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.gostruct import Field
from kapacitor_emulator.recordings import (
    checked_id,
    decode,
    list_items,
    load_task,
    query_error,
)
from kapacitor_emulator.replay_state import Recording, Replay
from kapacitor_emulator.responses import NativeError, empty, native_json
from kapacitor_emulator.routing import Call
from kapacitor_emulator.state import TickTask
from kapacitor_emulator.task_stats import node_stats, script_nodes
from kapacitor_emulator.tick_common import start_error
from kapacitor_emulator.tick_lang import parse_tickscript
from kapacitor_emulator.tick_lexer import TickSyntaxError

REPLAY_FIELDS = (
    "link",
    "id",
    "recording",
    "task",
    "recording-time",
    "clock",
    "date",
    "error",
    "status",
    "progress",
)
REPLAY_DIR = "/var/lib/kapacitor/replay"
_ID_REGEX = "^[-\\._\\p{L}0-9]+$"
_FIELDS = (
    Field("id", "string", "string"),
    Field("task", "string", "string"),
    Field("recording-time", "bool", "bool"),
)


def _clock(text: str) -> str:
    if text not in ("fast", "real"):
        raise ValueError(f"unknown Clock {text}")
    return text


_CLOCK = Field("clock", "client.Clock", "text", _clock)


def _source_error(task: TickTask, recording: Recording) -> str:
    """Opening the recording's file as the task's type expects (the file first)."""
    if not recording.file or recording.size < 0:
        ext = ".srpl" if recording.type == "stream" else ".brpl"
        where = f"{REPLAY_DIR}/{recording.id}{ext}"
        return f"running replay: data source open: open {where}: no such file or directory"
    if recording.type == "stream" and task.type == "batch":
        return "running replay: data source open: zip: not a valid zip file"
    if recording.type == "batch" and task.type == "stream":
        return "running replay: data source open: gzip: invalid header"
    return ""


def _span_seconds(recording: Recording | None, clock: str) -> float:
    if recording is None or clock != "real" or not recording.points:
        return 0.0
    first = recording.points[0][2].time_ns
    latest = max(p.time_ns for _, _, p in recording.points)
    return max(0, latest - first) / 1e9


async def _run(
    emu: Emulator, replay: Replay, task: TickTask, error: str, recording: Recording | None
) -> None:
    """Play the replay out, then record how it ended (replacing an older one with its ID)."""
    if not error:
        await asyncio.sleep(_span_seconds(recording, replay.clock))
    outcome = replay.outcome
    if outcome is not None:
        await asyncio.sleep(outcome.delay_ms / 1000)
        if outcome.status == "hang":
            return
        if outcome.status == "failed":
            error = outcome.error or "emulated replay failure"
    points = len(recording.points) if recording is not None else 0
    conclude(emu, replay, error, node_stats(script_nodes(task.definition.script), points))


def conclude(emu: Emulator, replay: Replay, error: str, stats: dict[str, Any]) -> None:
    """End a replay (also used by the control API to release a hanging one)."""
    if replay.status != "running":
        return
    replay.status = "failed" if error else "finished"
    replay.error = error
    replay.progress = 1.0
    replay.date = emu.clock.now()
    replay.stats = stats if not error else {}
    replay.done.set()
    store = emu.state.replay.replays
    if store.get(replay.id) is not replay and replay.id in store:
        store[replay.id] = replay  # the stored replay with this ID is replaced at the end


def _start_error(task: TickTask) -> str:
    try:
        info = parse_tickscript(task.definition.script)
    except TickSyntaxError as exc:
        return f"task start: {exc}"
    error = start_error(info, task.definition.dbrps)
    return f"task start: {error}" if error else ""


def _launch(
    emu: Emulator, replay: Replay, task: TickTask, error: str, recording: Recording | None
) -> web.StreamResponse:
    replay.outcome = emu.state.replay.next_outcome("replays", replay.id)
    emu.spawn(_run(emu, replay, task, error, recording))
    return native_json(replay.to_json(), status=201)


async def create_replay(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /replays ``{id, task, recording, recording-time, clock}``."""
    fields = (*_FIELDS, Field("recording", "string", "string"), _CLOCK)
    body = decode(await call.body(), "client.CreateReplayOptions", fields)
    replay_id = checked_id(body["id"], "replay")
    task = load_task(emu, body["task"], "task load: ")
    recording = emu.state.replay.recordings.get(body["recording"])
    if recording is None:
        raise NativeError(404, "recording not found: no recording exists")
    clock = body["clock"] or "fast"
    replay = Replay(
        replay_id, task.id, recording.id, body["recording-time"], clock, emu.clock.now()
    )
    emu.state.replay.replays.setdefault(replay_id, replay)  # Create's error is ignored
    error = _start_error(task) or _source_error(task, recording)
    return _launch(emu, replay, task, error, recording)


async def replay_batch(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /replays/batch ``{id, task, start, stop, recording-time, clock}``."""
    times = (Field("start", "time.Time", "time"), Field("stop", "time.Time", "time"))
    body = decode(await call.body(), "client.ReplayBatchOptions", (*_FIELDS, *times, _CLOCK))
    replay_id = checked_id(body["id"], "replay", f"replay ID must match {_ID_REGEX}")
    task = load_task(emu, body["task"], "task load: ")
    if task.type == "stream":
        raise NativeError(400, f"cannot replay batch against stream task: {task.id}")
    return _store_live(emu, replay_id, task, body, _start_error(task))


async def replay_query(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /replays/query ``{id, task, query, cluster, recording-time, clock}``."""
    extra = (Field("query", "string", "string"), Field("cluster", "string", "string"), _CLOCK)
    body = decode(await call.body(), "client.ReplayQueryOptions", (*_FIELDS, *extra))
    replay_id = checked_id(body["id"], "replay", f"recording ID must match {_ID_REGEX}")
    if not body["query"]:
        raise NativeError(400, "must provide query")
    task = load_task(emu, body["task"], "task load: ")
    error = _start_error(task)
    if not error and (why := query_error(body["query"])):
        error = f"running replay: {why}"
    return _store_live(emu, replay_id, task, body, error)


def _store_live(
    emu: Emulator, replay_id: str, task: TickTask, body: dict[str, Any], error: str
) -> web.StreamResponse:
    store = emu.state.replay.replays
    if replay_id in store:
        raise NativeError(500, "replay already exists")
    clock = body["clock"] or "fast"
    replay = Replay(replay_id, task.id, "", body["recording-time"], clock, emu.clock.now())
    store[replay_id] = replay
    return _launch(emu, replay, task, error, None)


def _replay_id(call: Call) -> str:
    replay_id = call.params["id"]
    if not replay_id:
        raise NativeError(400, "must specify replay id on path")
    return replay_id


async def get_replay(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /replays/{id}: 202 while running, 404 when missing."""
    replay = emu.state.replay.replays.get(_replay_id(call))
    if replay is None:
        raise NativeError(404, "could not find replay: no replay exists")
    return native_json(replay.to_json(), status=202 if replay.status == "running" else 200)


async def delete_replay(emu: Emulator, call: Call) -> web.StreamResponse:
    """DELETE /replays/{id}: 204 whether or not it exists; a running one keeps running
    but is never stored again."""
    emu.state.replay.replays.pop(_replay_id(call), None)
    return empty(204)


async def list_replays(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /replays."""
    return native_json({"replays": list_items(call, emu.state.replay.replays, REPLAY_FIELDS)})
