"""The Kapacitor API front door: request log, faults, path cleaning, auth, routing.

Order per request, as in Kapacitor's httpd (plus the emulator's knobs in front): record
the request for ``/emulator/v1/requests``; apply injected latency and errors; redirect
unclean paths (``//``, ``.``, ``..``) with a bare 301 as its ServeMux does (no version or
request-id header); answer every OPTIONS request with an empty 200 (its CORS wrapper
returns before auth and before the version header); authenticate when auth is on (ping
and the 404 catch-all included); route to the native or the Flux handlers.

The Flux task API is mounted for GET, POST, PUT, PATCH and DELETE on
``/kapacitor/v1/api/v2/tasks`` and below only; anything else is the native catch-all.
Native responses always carry ``Content-Type: application/json; charset=utf-8`` (204s
too) and are gzipped when the request's ``Accept-Encoding`` mentions gzip; Flux
responses never are. Every routed response carries ``X-Kapacitor-Version`` and a
``Request-Id``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from urllib.parse import unquote

from aiohttp import web

from kapacitor_emulator import flux_router, native_routes, tick_tasks, tick_templates, tick_validate
from kapacitor_emulator.auth import authenticate
from kapacitor_emulator.core import ADMIN_USER, Emulator
from kapacitor_emulator.gojson import format_rfc3339nano
from kapacitor_emulator.responses import (
    JSON_CONTENT_TYPE,
    FluxError,
    NativeError,
    empty,
    flux_error,
    native_error,
    redirect,
)
from kapacitor_emulator.routing import RECORD_KEY, Call, Handler
from kapacitor_emulator.state import RequestRecord

log = logging.getLogger(__name__)

BASE = "/kapacitor/v1"
FLUX_TASKS = f"{BASE}/api/v2/tasks"
_FLUX_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_COLLECTIONS: dict[str, tuple[dict[str, Handler], dict[str, Handler]]] = {
    f"{BASE}/tasks": (
        {"GET": tick_tasks.list_tasks, "POST": tick_tasks.create_task},
        {
            "GET": tick_tasks.get_task,
            "PATCH": tick_tasks.patch_task,
            "DELETE": tick_tasks.delete_task,
        },
    ),
    f"{BASE}/templates": (
        {"GET": tick_templates.list_templates, "POST": tick_templates.create_template},
        {
            "GET": tick_templates.get_template,
            "PATCH": tick_templates.patch_template,
            "DELETE": tick_templates.delete_template,
        },
    ),
}


def clean_path(path: str) -> str:
    """Go's ServeMux ``cleanPath``: ``path.Clean`` keeping a trailing slash."""
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    cleaned = "/" + "/".join(parts)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


def is_flux_route(path: str, method: str) -> bool:
    """Whether Kapacitor hands this request to the Flux task API's router."""
    flux_path = path == FLUX_TASKS or path.startswith(FLUX_TASKS + "/")
    return flux_path and method in _FLUX_METHODS


async def _route(emu: Emulator, call: Call, query_string: str) -> web.StreamResponse:
    path, method = call.path, call.method
    if is_flux_route(path, method):
        try:
            return await flux_router.route(emu, call, query_string)
        except flux_router.FluxNotFound:
            url = call.path + (f"?{query_string}" if query_string else "")
            return flux_error("not found", f"url not found: {url}: not found")
    if path == f"{BASE}/ping" and method in ("GET", "HEAD"):
        return empty(204)
    for base, (collection, item) in _COLLECTIONS.items():
        if path == base and method in collection:
            return await collection[method](emu, call)
        if path.startswith(base + "/") and method in item:
            call.params = {"id": path[len(base) + 1 :]}
            return await item[method](emu, call)
    if (resp := await native_routes.route(emu, call)) is not None:
        return resp
    return native_error(404, "Not Found")


def _faulted(emu: Emulator, path: str) -> bool:
    faults = emu.state.faults
    if not path.startswith("/kapacitor"):
        return False
    return faults.paths is None or faults.paths.search(path) is not None


async def _serve(
    emu: Emulator, request: web.BaseRequest, path: str, query: str
) -> web.StreamResponse:
    user = ADMIN_USER
    try:
        if emu.config.auth_enabled:
            user = authenticate(
                emu.config,
                request.headers.get("Authorization", ""),
                request.query.get("u", ""),
                request.query.get("p", ""),
                emu.clock.now(),
            )
        return await _route(emu, Call(request, path, request.query, user), query)
    except NativeError as exc:
        return native_error(exc.status, exc.message, pretty=exc.pretty)
    except FluxError as exc:
        return flux_error(exc.code, exc.message)


def _bare(request: web.BaseRequest, path: str, query: str) -> web.Response | None:
    """Answers given before Kapacitor's route wrappers: redirects and OPTIONS."""
    cleaned = clean_path(path)
    if cleaned != path:
        return redirect(301, cleaned + (f"?{query}" if query else ""), request.method)
    if request.method == "OPTIONS":
        resp = empty(200)
        resp.headers["Request-Id"] = str(uuid.uuid4())
        return resp
    return None


def _gzip(resp: web.StreamResponse) -> None:
    """Go's gzipFilter: the header always; a 204 has no body to compress."""
    if resp.status == 204:
        resp.headers["Content-Encoding"] = "gzip"
    else:
        resp.enable_compression(web.ContentCoding.gzip)


async def handle_api(emu: Emulator, request: web.BaseRequest) -> web.StreamResponse:
    """Serve one ``/kapacitor/...`` (or any non-control) request."""
    raw_path, _, query = request.raw_path.partition("?")
    path = unquote(raw_path)
    record = RequestRecord(request.method, path, query, None, format_rfc3339nano(emu.clock.now()))
    if path.startswith("/kapacitor"):
        emu.state.requests.append(record)
        request[RECORD_KEY] = record
    faults, faulted = emu.state.faults, _faulted(emu, path)
    try:
        if faulted and faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faulted and faults.error_rate > 0 and faults.rng.random() < faults.error_rate:
            resp: web.StreamResponse = native_error(faults.error_status, "emulated fault")
        elif (bare := _bare(request, path, query)) is not None:
            record.status = bare.status
            return bare
        else:
            resp = await _serve(emu, request, path, query)
    except asyncio.CancelledError:
        record.status = 499
        raise
    except Exception as exc:  # a bug in the emulator: say so instead of dropping the connection
        log.exception("emulator error on %s %s", request.method, path)
        resp = native_error(500, f"emulator error: {exc}")
    record.status = resp.status
    if not is_flux_route(path, request.method):
        resp.headers["Content-Type"] = JSON_CONTENT_TYPE
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            _gzip(resp)
    resp.headers["X-Kapacitor-Version"] = emu.config.version
    resp.headers["Request-Id"] = str(uuid.uuid4())
    if tick_validate.is_script_write(request.method, path):
        resp.headers[tick_validate.VALIDATION_HEADER] = tick_validate.VALIDATION_LEVEL
    return resp
