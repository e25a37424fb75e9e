"""Kapacitor connection objects: check the server and say what it holds.

observe_server() reads (ping for the version, then paged lists of tasks, templates and
handlers); status_for() is pure and turns an observation, or the error that stopped it,
into the status. `unmanaged` counts objects no resource of this operator claims: the
kind (kapacitor_kind.py) passes the IDs that KapacitorTasks, KapacitorTemplates and
KapacitorAlertHandlers report for the server (`managed_on`, over the controllers' bodies).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import KapacitorNotFound
from kapacitor_operator.kapacitor.topic_handlers import TopicHandlers
from kapacitor_operator.models.kapacitor import KapacitorStatus, ObjectCounts
from kapacitor_operator.models.resources import KapacitorServer

REFRESH_FACTOR = 10
"""lastCheckedAt is rewritten alone once it is this many check intervals old."""


@dataclass(frozen=True)
class ServerObservation:
    """What one check saw."""

    version: str
    tasks: tuple[str, ...]
    flux_tasks: tuple[str, ...] | None  # None: the Flux task API is off
    templates: tuple[str, ...]
    handlers: tuple[tuple[str, str], ...]
    """(topic, handler ID) of every handler of every topic."""


@dataclass(frozen=True)
class Managed:
    """IDs the operator's resources manage on one server."""

    tasks: frozenset[str] = frozenset()
    flux_tasks: frozenset[str] = frozenset()
    templates: frozenset[str] = frozenset()
    handlers: frozenset[tuple[str, str]] = frozenset()
    """(topic, handler ID)."""


def managed_on(
    url: str,
    tasks: Iterable[Mapping[str, Any]],
    templates: Iterable[Mapping[str, Any]],
    handlers: Iterable[Mapping[str, Any]] = (),
) -> Managed:
    """IDs the resources (KapacitorTask, KapacitorTemplate and KapacitorAlertHandler
    bodies) report, in their status, as theirs on the server at `url` (its redacted
    form)."""
    tick: set[str] = set()
    flux: set[str] = set()
    for body in tasks:
        status = body.get("status") or {}
        if status.get("kapacitorURL") == url and status.get("taskID"):
            is_flux = (body.get("spec") or {}).get("type") == "flux"
            (flux if is_flux else tick).add(str(status["taskID"]))
    held = {
        str(status["templateID"])
        for status in ((b.get("status") or {}) for b in templates)
        if status.get("kapacitorURL") == url and status.get("templateID")
    }
    topic_handlers = {
        (str(status["topic"]), str(status["handlerID"]))
        for status in ((b.get("status") or {}) for b in handlers)
        if status.get("kapacitorURL") == url and status.get("topic") and status.get("handlerID")
    }
    return Managed(
        tasks=frozenset(tick),
        flux_tasks=frozenset(flux),
        templates=frozenset(held),
        handlers=frozenset(topic_handlers),
    )


async def observe_server(client: KapacitorClient) -> ServerObservation:
    """Ping, then count.

    Raises:
        KapacitorError: unreachable, credentials refused, or a list failed.
    """
    version = await client.ping()
    tasks = await client.list_task_templates()
    templates = await client.list_template_ids()
    flux: list[str] | None = []
    try:
        after: str | None = None
        while True:
            page = await client.list_flux_tasks(after=after, limit=500)
            flux.extend(t.id for t in page.tasks)  # type: ignore[union-attr]
            if page.next_after is None:
                break
            after = page.next_after
    except KapacitorNotFound:
        flux = None
    topics = TopicHandlers(client)
    handlers = [
        (topic, handler.id)
        for topic in sorted(await topics.list_topics())
        for handler in await topics.list_handlers(topic)
    ]
    return ServerObservation(
        version=version,
        tasks=tuple(tasks),
        flux_tasks=tuple(flux) if flux is not None else None,
        templates=tuple(templates),
        handlers=tuple(handlers),
    )


def _counts(ids: Collection[Hashable], managed: Collection[Hashable]) -> ObjectCounts:
    return ObjectCounts(total=len(ids), unmanaged=sum(1 for i in ids if i not in managed))


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def status_for(
    server: KapacitorServer,
    seen: ServerObservation | None,
    *,
    url: str,
    now: str,
    interval: float,
    managed: Managed = Managed(),
    problem: tuple[str, str] | None = None,
) -> KapacitorStatus:
    """The status after one check (pure). `problem` is (reason, message) when the check
    failed; then the counts of the last good check stay, and `reachable` is False.

    lastCheckedAt moves only with another change, or once it is REFRESH_FACTOR intervals
    old, so a steady server costs no status writes.
    """
    st = server.status.model_copy(deep=True)
    st.kapacitorURL = url
    if seen is not None and problem is None:
        st.reachable = True
        st.version = seen.version
        st.tasks = _counts(seen.tasks, managed.tasks)
        st.fluxTasks = (
            _counts(seen.flux_tasks, managed.flux_tasks) if seen.flux_tasks is not None else None
        )
        st.templates = _counts(seen.templates, managed.templates)
        st.handlers = _counts(seen.handlers, managed.handlers)
        shown = seen.version or "unknown version"
        reason, status_, message = (
            c.REACHABLE,
            "True",
            f"Kapacitor {shown} at {url} answered; {len(seen.tasks)} TICKscript task(s), "
            f"{len(seen.templates)} template(s), {len(seen.handlers)} handler(s).",
        )
    else:
        reason, message = problem or (c.UNREACHABLE, "not checked")
        st.reachable = False if reason in (c.UNREACHABLE, c.UNAVAILABLE, c.UNAUTHORIZED) else None
        status_ = "False"
        message = message if message.endswith(".") else f"{message}."
    st.conditions = c.set_condition(
        st.conditions,
        type=c.READY,
        status=status_,  # type: ignore[arg-type]
        reason=reason,
        message=message,
        now=now,
        generation=server.generation,
    )
    st.observedGeneration = server.generation
    previous = server.status.model_copy(update={"lastCheckedAt": None})
    unchanged = st.model_copy(update={"lastCheckedAt": None}) == previous
    last = _parse(server.status.lastCheckedAt)
    stale = last is None or (_parse(now) or last) - last >= timedelta(
        seconds=interval * REFRESH_FACTOR
    )
    if not unchanged or stale:
        st.lastCheckedAt = now
    return st
