"""Routing for ``/kapacitor/v1/api/v2/``, with httprouter's quirks.

The Flux task API is served by julienschmidt/httprouter inside Kapacitor: an unknown
path is a Flux-format 404 ``url not found``, a known path with the wrong method is a
``text/plain`` 405 and a trailing slash is redirected (301 for GET, 308 otherwise).
(OPTIONS never gets here: Kapacitor's CORS wrapper answers it first.)
"""

from __future__ import annotations

from aiohttp import web

from kapacitor_emulator import flux_patch, flux_runs, flux_tasks
from kapacitor_emulator.core import Emulator
from kapacitor_emulator.responses import redirect, text_plain
from kapacitor_emulator.routing import Call, Handler

PREFIX = "/kapacitor/v1/api/v2"

ROUTES: list[tuple[tuple[str, ...], dict[str, Handler]]] = [
    (("tasks",), {"GET": flux_tasks.list_tasks, "POST": flux_tasks.create_task}),
    (
        ("tasks", ":id"),
        {
            "GET": flux_tasks.get_task,
            "PATCH": flux_patch.patch_task,
            "DELETE": flux_tasks.delete_task,
        },
    ),
    (("tasks", ":id", "runs"), {"GET": flux_runs.list_runs, "POST": flux_runs.force_run}),
    (("tasks", ":id", "runs", ":rid"), {"GET": flux_runs.get_run, "DELETE": flux_runs.cancel}),
    (("tasks", ":id", "runs", ":rid", "retry"), {"POST": flux_runs.retry_run}),
    (("tasks", ":id", "runs", ":rid", "logs"), {"GET": flux_runs.run_logs}),
    (("tasks", ":id", "logs"), {"GET": flux_runs.task_logs}),
]


class FluxNotFound(Exception):
    """No route: the dispatcher answers ``url not found``."""


def match(rest: str) -> tuple[dict[str, Handler], dict[str, str]] | None:
    """The handlers and path parameters for a path below ``/api/v2/``."""
    segments = rest.split("/")
    for pattern, handlers in ROUTES:
        if len(pattern) != len(segments):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, segments, strict=True):
            if want.startswith(":") and got:
                params[want[1:]] = got
            elif want != got:
                break
        else:
            return handlers, params
    return None


def _allow(handlers: dict[str, Handler]) -> str:
    return ", ".join(sorted([*handlers, "OPTIONS"]))


async def route(emu: Emulator, call: Call, query_string: str) -> web.StreamResponse:
    """Serve one request below ``/kapacitor/v1/api/v2/``.

    Raises:
        FluxNotFound: no route matches.
    """
    rest = call.path[len(PREFIX) + 1 :]
    found = match(rest)
    if found is None:
        if rest.endswith("/") and (alt := match(rest.rstrip("/"))) and call.method in alt[0]:
            location = call.path.rstrip("/") + (f"?{query_string}" if query_string else "")
            return redirect(301 if call.method == "GET" else 308, location, call.method)
        raise FluxNotFound()
    handlers, params = found
    handler = handlers.get(call.method)
    if handler is None:
        resp = text_plain(405, "Method Not Allowed")
        resp.headers["Allow"] = _allow(handlers)
        return resp
    call.params = params
    return await handler(emu, call)
