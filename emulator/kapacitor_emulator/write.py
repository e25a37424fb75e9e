"""``POST /kapacitor/v1/write`` (and ``POST /write``): line protocol into Kapacitor.

As ``httpd.serveWrite`` (a ``Content-Encoding: gzip`` body is inflated by the HTTP
server before it gets here): the whole body is
parsed first (one bad line rejects the request with every bad line listed), then the
``db`` query parameter is required; errors are the bare text plus a newline with status
400, success is 204. ``rp`` may be empty (the points then carry the configured default
retention policy, empty here). The points reach the stream recordings that are running;
executing stream tasks count them in their ``stats`` (see :mod:`task_stats`).
"""

from __future__ import annotations

from aiohttp import web

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.lineproto import parse_points
from kapacitor_emulator.recordings import feed_points
from kapacitor_emulator.responses import empty
from kapacitor_emulator.routing import Call
from kapacitor_emulator.task_stats import count_points


def _error(text: str) -> web.Response:
    return web.Response(status=400, body=(text + "\n").encode())


async def write(emu: Emulator, call: Call) -> web.StreamResponse:
    """POST /kapacitor/v1/write?db=&rp=&precision=."""
    text = (await call.body()).decode("utf-8", errors="replace")
    now = emu.clock.now()
    now_ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1_000
    try:
        points = parse_points(text, now_ns, call.query.get("precision", "n"))
    except ValueError as exc:
        return _error(str(exc))
    db = call.query.get("db", "")
    if not db:
        return _error("database is required")
    feed_points(emu, db, call.query.get("rp", ""), points)
    count_points(emu, db, call.query.get("rp", ""), points)
    return empty(204)
