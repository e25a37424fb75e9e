"""``/kapacitor/v1/recordings``: stream, batch and query recordings.

A **stream** recording forks the points written to ``/write`` for the task's dbrps and
``from()`` measurements (all measurements when a ``from()`` names none). It records
points stamped at or before ``stop`` and ends when the first matching point stamped
*after* ``stop`` arrives, so a recording whose window is past only ends with the next
write, and one with no ``stop`` ends (empty) at the first matching point. Batch and
query recordings model a Kapacitor with an InfluxDB that returns no data: they finish
right away, except for the checks the real server makes without one (``wrong task
type`` for a stream task, an unqualified query). Outcomes queued through the control
API can make any of them fail or hang.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.gostruct import ZERO_TIME, Field, GoDecodeError, decode_struct
from kapacitor_emulator.ids import is_valid_tick_id, new_uuid
from kapacitor_emulator.lineproto import Point
from kapacitor_emulator.replay_state import Recording, date_order
from kapacitor_emulator.responses import NativeError, empty, native_json
from kapacitor_emulator.routing import Call
from kapacitor_emulator.state import TickDefinition, TickTask
from kapacitor_emulator.tick_lang import parse_tickscript
from kapacitor_emulator.tick_lexer import Kind, TickSyntaxError, tokenize
from kapacitor_emulator.tick_list import ListParams, glob_regex

RECORDING_FIELDS = ("link", "id", "type", "size", "date", "error", "status", "progress")
QUALIFY_ERROR = "could not determine database and retention policy. Is the query fully qualified?"
_FROM_RE = re.compile(r'\bFROM\s+"?([^".\s]+)"?\."?([^".\s]+)"?\.', re.IGNORECASE)
_QUERY_VERBS = "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL"


def _task_type_text(text: str) -> str:
    if text not in ("stream", "batch", "invalid"):
        raise ValueError(f"unknown TaskType {text}")
    return text


def decode(raw: bytes, struct: str, fields: tuple[Field, ...]) -> dict[str, Any]:
    """Decode an options body; a bad one is 400 with Go's text."""
    try:
        return decode_struct(raw, struct, fields)
    except GoDecodeError as exc:
        raise NativeError(400, str(exc)) from exc


def checked_id(given: str, kind: str, message: str | None = None) -> str:
    """The body's ID or a new UUID; 400 when it breaks the ID rules."""
    item_id = given or new_uuid()
    if not is_valid_tick_id(item_id):
        text = message or f"{kind} ID must contain only letters, numbers, '-', '.' and '_'."
        raise NativeError(400, f'{text} "{item_id}"')
    return item_id


def load_task(emu: Emulator, task_id: str, prefix: str = "") -> TickTask:
    """``TaskStore.Load``: 404 ``no task exists`` when missing."""
    task = emu.state.tasks.get(task_id)
    if task is None:
        raise NativeError(404, prefix + "no task exists")
    return task


def from_measurements(task: TickTask, definition: TickDefinition | None = None) -> list[str]:
    """The measurements of the script's ``from()`` nodes (``""`` for one without)."""
    definition = definition or task.definition
    try:
        tokens = [t for t in tokenize(definition.script) if t.kind is not Kind.COMMENT]
    except TickSyntaxError:
        return [""]
    found: list[str] = []
    for index, token in enumerate(tokens):
        if token.text != "from" or index == 0 or tokens[index - 1].kind is not Kind.PIPE:
            continue
        name = ""
        for pos in range(index + 1, len(tokens) - 3):
            if tokens[pos].kind in (Kind.PIPE, Kind.AT):
                break
            if tokens[pos].kind is Kind.DOT and tokens[pos + 1].text == "measurement":
                arg = tokens[pos + 3]
                if arg.kind is Kind.STRING:
                    name = arg.text.strip("'")
                elif arg.kind is Kind.IDENT and arg.text in definition.vars:
                    name = str(definition.vars[arg.text].value)
        found.append(name)
    return found


def query_error(query: str) -> str | None:
    """What the real server says before it would ask InfluxDB, or None."""
    words = query.split()
    if not words or words[0].upper() not in _QUERY_VERBS.split(", "):
        found = words[0] if words else "EOF"
        return f"found {found}, expected {_QUERY_VERBS} at line 1, char 1"
    if _FROM_RE.search(query) is None:
        return QUALIFY_ERROR
    return None


def finish(emu: Emulator, recording: Recording, error: str = "") -> None:
    """End a recording: status, error, progress 1, size, and the date of the end."""
    if recording.status != "running":
        return
    recording.status = "failed" if error else "finished"
    recording.error = error
    recording.progress = 1.0
    recording.date = emu.clock.now()
    recording.size = recording.data_size()
    recording.done.set()


async def _conclude(emu: Emulator, recording: Recording, error: str = "") -> None:
    """Apply the recording's queued outcome at the moment it would end naturally."""
    outcome = recording.outcome
    if outcome is not None:
        await asyncio.sleep(outcome.delay_ms / 1000)
        if outcome.status == "hang":
            return
        if outcome.status == "failed":
            error = outcome.error or "emulated recording failure"
    finish(emu, recording, error)


def feed_points(emu: Emulator, db: str, rp: str, points: list[Point]) -> None:
    """Written points reach the running stream recordings whose fork matches them."""
    for recording in list(emu.state.replay.recordings.values()):
        for point in points:
            if not recording.captures(db, rp, point):
                continue
            assert recording.stop_ns is not None
            if point.time_ns > recording.stop_ns:
                recording.stop_ns = None  # closed: later points are dropped
                emu.spawn(_conclude(emu, recording))
                break
            recording.points.append((db, rp, point))


def _store(emu: Emulator, recording: Recording) -> web.StreamResponse:
    store = emu.state.replay
    if recording.id in store.recordings:
        raise NativeError(500, "recording already exists")
    recording.outcome = store.next_outcome("recordings", recording.id)
    store.recordings[recording.id] = recording
    return native_json(recording.to_json(), status=201)


def _ns(moment: datetime) -> int:
    """Nanoseconds since the epoch; Go's zero time sorts before every point."""
    if moment == ZERO_TIME:
        return -(2**63)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


async def record_stream(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /recordings/stream ``{id, task, stop}``."""
    fields = (
        Field("id", "string", "string"),
        Field("task", "string", "string"),
        Field("stop", "time.Time", "time"),
    )
    body = decode(await call.body(), "client.RecordStreamOptions", fields)
    recording_id = checked_id(body["id"], "recording")
    task = load_task(emu, body["task"])
    recording = Recording(recording_id, "stream", emu.clock.now())
    recording.dbrps = list(task.definition.dbrps)
    recording.measurements = from_measurements(task)
    recording.stop_ns = _ns(body["stop"])
    return _store(emu, recording)


async def record_batch(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /recordings/batch ``{id, task, start, stop}``."""
    fields = (Field("id", "string", "string"), Field("task", "string", "string"))
    times = (Field("start", "time.Time", "time"), Field("stop", "time.Time", "time"))
    body = decode(await call.body(), "client.RecordBatchOptions", (*fields, *times))
    recording_id = checked_id(body["id"], "recording")
    if body["start"] == ZERO_TIME:
        raise NativeError(400, "must provide start time")
    task = load_task(emu, body["task"])
    recording = Recording(recording_id, "batch", emu.clock.now())
    response = _store(emu, recording)
    if task.type != "batch":
        recording.file = False
        emu.spawn(_conclude(emu, recording, "wrong task type"))
    else:
        recording.batches = _query_nodes(task)
        emu.spawn(_conclude(emu, recording))
    return response


async def record_query(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /recordings/query ``{id, query, type, cluster}``."""
    fields = (
        Field("id", "string", "string"),
        Field("query", "string", "string"),
        Field("type", "client.TaskType", "text", _task_type_text),
        Field("cluster", "string", "string"),
    )
    body = decode(await call.body(), "client.RecordQueryOptions", fields)
    recording_id = checked_id(body["id"], "recording")
    if not body["query"]:
        raise NativeError(400, "must provide query")
    kind = "batch" if body["type"] == "batch" else "stream"
    recording = Recording(recording_id, kind, emu.clock.now())
    response = _store(emu, recording)
    recording.batches = 1
    error = query_error(body["query"]) or ""
    recording.empty_file = bool(error)  # the file is created, nothing is written to it
    emu.spawn(_conclude(emu, recording, error))
    return response


def _query_nodes(task: TickTask) -> int:
    try:
        return len(parse_tickscript(task.definition.script).query_properties)
    except TickSyntaxError:
        return 0


def _recording_id(call: Call) -> str:
    recording_id = call.params["id"]
    if not recording_id:
        raise NativeError(400, "must specify recording id on path")
    return recording_id


async def get_recording(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /recordings/{id}: 202 while running, 500 when missing."""
    recording = emu.state.replay.recordings.get(_recording_id(call))
    if recording is None:
        raise NativeError(500, "error finding recording: no recording exists")
    return native_json(recording.to_json(), status=202 if recording.status == "running" else 200)


async def delete_recording(emu: Emulator, call: Call) -> web.StreamResponse:
    """DELETE /recordings/{id}: 204 whether or not it exists."""
    recording = emu.state.replay.recordings.pop(_recording_id(call), None)
    if recording is not None:
        recording.stop_ns = None
    return empty(204)


def list_items(call: Call, items: dict[str, Any], all_fields: tuple[str, ...]) -> list[Any]:
    """``pattern``, ``fields``, ``offset``, ``limit`` over a date-indexed store."""
    params = ListParams.parse(call.query)
    ordered = date_order(items)
    if params.limit >= 0:  # storage.DoListFunc: the page size is computed before filtering
        size = min(params.offset + params.limit, len(ordered)) - params.offset
        regex = glob_regex(params.pattern) if params.pattern else None
        if params.pattern:
            ordered = [i for i in ordered if regex is not None and regex.fullmatch(i)]
        start = max(params.offset, 0)
        ordered = ordered[start : start + size] if size > 0 else []
    fields = params.fields
    wanted = [*fields, "id", "link"] if fields else list(all_fields)
    out = []
    for item_id in ordered:
        full = items[item_id].to_json()
        row: dict[str, Any] = {}
        for name in wanted:
            if name not in all_fields:
                raise NativeError(400, f'unsupported field "{name}"')
            row[name] = full[name]
        out.append(dict(sorted(row.items())))
    return out


async def list_recordings(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /recordings."""
    items = list_items(call, emu.state.replay.recordings, RECORDING_FIELDS)
    return native_json({"recordings": items})
