"""Routes of the alert, write, recording and replay APIs (Go ``ServeMux`` patterns).

An exact pattern (``/recordings/stream``) wins over a prefix (``/recordings/``), a prefix
takes everything below it, and a method with no pattern falls to the native 404. So
``GET /recordings/stream`` asks for the recording ``stream`` and ``POST /recordings`` is
a 404.
"""

from __future__ import annotations

import logging

from aiohttp import web

from kapacitor_emulator import alerts, recordings, replays, write
from kapacitor_emulator.core import Emulator
from kapacitor_emulator.routing import Call, Handler

log = logging.getLogger(__name__)

BASE = "/kapacitor/v1"
_EXACT: dict[tuple[str, str], Handler] = {
    ("GET", f"{BASE}/alerts/topics"): alerts.list_topics,
    ("POST", f"{BASE}/write"): write.write,
    ("POST", "/write"): write.write,
    ("GET", f"{BASE}/recordings"): recordings.list_recordings,
    ("POST", f"{BASE}/recordings/stream"): recordings.record_stream,
    ("POST", f"{BASE}/recordings/batch"): recordings.record_batch,
    ("POST", f"{BASE}/recordings/query"): recordings.record_query,
    ("GET", f"{BASE}/replays"): replays.list_replays,
    ("POST", f"{BASE}/replays"): replays.create_replay,
    ("POST", f"{BASE}/replays/batch"): replays.replay_batch,
    ("POST", f"{BASE}/replays/query"): replays.replay_query,
}
_PREFIX: dict[tuple[str, str], Handler] = {
    ("GET", f"{BASE}/recordings/"): recordings.get_recording,
    ("DELETE", f"{BASE}/recordings/"): recordings.delete_recording,
    ("GET", f"{BASE}/replays/"): replays.get_replay,
    ("DELETE", f"{BASE}/replays/"): replays.delete_replay,
}
_TOPICS = f"{BASE}/alerts/topics/"


async def route(emu: Emulator, call: Call) -> web.StreamResponse | None:
    """Serve the request if one of these APIs owns it; None otherwise."""
    path, method = call.path, call.method
    handler = _EXACT.get((method, path))
    if handler is None and path.startswith(_TOPICS) and method in alerts.METHODS:
        call.params = {"rest": path[len(_TOPICS) :]}
        handler = alerts.route
    for (verb, prefix), candidate in _PREFIX.items():
        if handler is None and verb == method and path.startswith(prefix):
            call.params = {"id": path[len(prefix) :]}
            handler = candidate
    if handler is None:
        return None
    try:
        return await handler(emu, call)
    except alerts.DropConnection as exc:
        log.warning("a real kapacitord crashes here (%s): dropping the connection", exc)
        if call.request.transport is not None:
            call.request.transport.close()
        return web.Response(status=500)
