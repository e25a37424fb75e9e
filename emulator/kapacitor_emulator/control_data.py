"""Control-API knobs for recordings, replays and alerts (under ``/emulator/v1``).

- ``/recordings/outcomes`` and ``/replays/outcomes`` (GET, PUT replaces, POST appends,
  DELETE clears): ``{"outcomes": [{"status": "finished"|"failed"|"hang", "error": "...",
  "delayMs": 0}]}``, consumed in order by the next recordings/replays created.
- ``PUT /recordings/{id}/outcome`` and ``PUT /replays/{id}/outcome``: the outcome for the
  recording/replay created later with that ID (wins over the queue).
- ``POST /recordings/{id}/finish`` and ``POST /replays/{id}/finish``
  (``{"status": "finished"|"failed", "error": "..."}``): end a running one now, e.g. one
  that hangs.
- ``POST /alerts/topics/{topic}/events``: collect an alert event as an alert node would
  (``{"id", "level", "message", "details", "time", "durationMs"}``); answers how many
  attached handlers it reached.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from kapacitor_emulator import recordings, replays
from kapacitor_emulator.alert_state import EventState, parse_level
from kapacitor_emulator.core import Emulator
from kapacitor_emulator.gojson import parse_rfc3339
from kapacitor_emulator.replay_state import Outcome
from kapacitor_emulator.tick_body import BodyError, parse_json_object

_ENDINGS = ("finished", "failed", "hang")


class ControlDataError(Exception):
    """A 4xx answer of these control routes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: web.BaseRequest) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return parse_json_object(raw)
    except BodyError as exc:
        raise ControlDataError(400, f"invalid JSON: {exc}") from exc


def _outcome(raw: Any, allowed: tuple[str, ...] = _ENDINGS) -> Outcome:
    if not isinstance(raw, dict):
        raise ControlDataError(400, "an outcome must be an object")
    status, error, delay = (
        raw.get("status", "finished"),
        raw.get("error", ""),
        raw.get("delayMs", 0),
    )
    if status not in allowed:
        raise ControlDataError(400, f"status must be one of {', '.join(allowed)}")
    if not isinstance(error, str):
        raise ControlDataError(400, "error must be a string")
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise ControlDataError(400, "delayMs must be a non-negative integer")
    return Outcome(status, error, delay)


async def _queue(emu: Emulator, kind: str, method: str, request: web.BaseRequest) -> Any:
    store = emu.state.replay
    queue = store.recording_outcomes if kind == "recordings" else store.replay_outcomes
    if method in ("PUT", "POST"):
        raw = (await _body(request)).get("outcomes", [])
        if not isinstance(raw, list):
            raise ControlDataError(400, "outcomes must be a list")
        new = [_outcome(o) for o in raw]
        queue[:] = new if method == "PUT" else [*queue, *new]
    elif method == "DELETE":
        queue.clear()
    return {"outcomes": [o.to_json() for o in queue]}


async def _finish(emu: Emulator, kind: str, item_id: str, request: web.BaseRequest) -> Any:
    outcome = _outcome(await _body(request), ("finished", "failed"))
    error = (outcome.error or f"emulated {kind[:-1]} failure") if outcome.status == "failed" else ""
    if kind == "recordings":
        recording = emu.state.replay.recordings.get(item_id)
        if recording is None or recording.status != "running":
            raise ControlDataError(404, f"no running recording {item_id}")
        recording.stop_ns = None
        recordings.finish(emu, recording, error)
        return recording.to_json()
    replay = emu.state.replay.replays.get(item_id)
    if replay is None or replay.status != "running":
        raise ControlDataError(404, f"no running replay {item_id}")
    replays.conclude(emu, replay, error, {} if error else {"task-stats": {"throughput": 0}})
    return replay.to_json()


async def _event(emu: Emulator, topic: str, request: web.BaseRequest) -> Any:
    body = await _body(request)
    try:
        level = parse_level(str(body.get("level", "CRITICAL")))
        when = body.get("time")
        moment = parse_rfc3339(when) if isinstance(when, str) else emu.clock.now()
    except ValueError as exc:
        raise ControlDataError(400, str(exc)) from exc
    duration = body.get("durationMs", 0)
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise ControlDataError(400, "durationMs must be an integer")
    event = EventState(
        id=str(body.get("id", "event")),
        message=str(body.get("message", "")),
        details=str(body.get("details", "")),
        time=moment,
        duration_ns=int(timedelta(milliseconds=duration) / timedelta(microseconds=1)) * 1000,
        level=level,
    )
    return {"topic": topic, "reached": emu.state.alerts.collect(topic, event)}


async def dispatch(
    emu: Emulator, method: str, parts: list[str], request: web.BaseRequest
) -> Any | None:
    """Serve one of these routes; None when the path is not one of them."""
    kind = parts[0]
    queue = len(parts) == 2 and kind in ("recordings", "replays") and parts[1] == "outcomes"
    if queue and method in ("GET", "PUT", "POST", "DELETE"):
        return await _queue(emu, kind, method, request)
    if len(parts) == 3 and parts[0] in ("recordings", "replays"):
        if parts[2] == "outcome" and method == "PUT":
            outcome = _outcome(await _body(request))
            emu.state.replay.outcomes_by_id[f"{parts[0]}/{parts[1]}"] = outcome
            return outcome.to_json()
        if parts[2] == "finish" and method == "POST":
            return await _finish(emu, parts[0], parts[1], request)
    events = parts[:2] == ["alerts", "topics"] and len(parts) == 4 and parts[3] == "events"
    if events and method == "POST":
        return await _event(emu, parts[2], request)
    return None
