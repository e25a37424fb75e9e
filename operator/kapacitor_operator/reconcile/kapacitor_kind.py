"""The `Kapacitor` connection kind on the work-queue controller (sync/controller.py).

A `Kapacitor` object mirrors no Kapacitor object, so it is a small `SyncKind`, not a
`MirrorKind`: it claims nothing. Its reconcile observes the server
(kapacitor_check.observe_server), turns what it saw into the status (the pure
`status_for`), tells of a changed Ready reason with an Event, and, once that status is
written (`Outcome.then`), nudges the KapacitorTasks and KapacitorTemplates that name the
object when what they read of it (generation, Ready) changed. The controller checks
every object again each `kapacitor_check_interval` (±10 %), settled or not; a check that
finds nothing new writes nothing (`kapacitor_check.REFRESH_FACTOR`).

Deletion waits (Ready=False `InUse`, naming them) while tasks or templates name the
object with `kapacitorRef`: their own deletion needs the connection.

Who names a connection, and what is managed on a server, are read from the task and
template controllers' bodies once both have listed their objects (no kopf index).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from kapacitor_operator import GROUP
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.pool import ClientPool, InvalidCABundle
from kapacitor_operator.models.kapacitor import KapacitorSpec, KapacitorStatus
from kapacitor_operator.models.resources import KapacitorServer, parse_resource
from kapacitor_operator.reconcile.connection import ReferenceProblem, resolve_connection
from kapacitor_operator.reconcile.kapacitor_check import (
    Managed,
    ServerObservation,
    managed_on,
    observe_server,
    status_for,
)
from kapacitor_operator.reconcile.outcome import EventNote, Outcome
from kapacitor_operator.reconcile.template_users import Bodies, naming, nudge
from kapacitor_operator.sync.claims import ClaimKey
from kapacitor_operator.sync.controller import Finalized, jittered
from kapacitor_operator.timeutil import utcnow
from kapacitor_operator.urls import redact_url

FINALIZER = f"{GROUP}/finalizer"
IN_USE_RETRY = 10.0
"""Seconds between looks at a deletion waiting for its dependents."""
USER_KINDS = {
    "kapacitortasks": "KapacitorTask",
    "kapacitortemplates": "KapacitorTemplate",
    "kapacitoralerthandlers": "KapacitorAlertHandler",
}
"""The kinds whose `kapacitorRef` may name a `Kapacitor` object, by plural."""

Users = dict[str, list[str]]
"""Names of the resources that name a `Kapacitor` object, by plural."""


class Listed(Protocol):
    """A controller's view of its objects (sync/controller.py): listed once `primed`."""

    @property
    def primed(self) -> asyncio.Event: ...

    @property
    def bodies(self) -> Bodies: ...


@dataclass(frozen=True)
class Dependents:
    """The KapacitorTasks, KapacitorTemplates and KapacitorAlertHandlers, as their
    controllers hold them."""

    tasks: Listed
    templates: Listed
    handlers: Listed

    async def known(self) -> None:
        """Wait until the controllers have listed their objects."""
        for listed in (self.tasks, self.templates, self.handlers):
            await listed.primed.wait()

    async def users(self, namespace: str, name: str) -> Users:
        """Who names the `Kapacitor` namespace/name with kapacitorRef."""
        await self.known()
        return {
            "kapacitortasks": naming(self.tasks.bodies, "kapacitorRef", namespace, name),
            "kapacitortemplates": naming(self.templates.bodies, "kapacitorRef", namespace, name),
            "kapacitoralerthandlers": naming(self.handlers.bodies, "kapacitorRef", namespace, name),
        }

    async def managed(self, url: str) -> Managed:
        """The IDs tasks, templates and handlers report as theirs on the server at `url`."""
        await self.known()
        return managed_on(
            url,
            list(self.tasks.bodies.values()),
            list(self.templates.bodies.values()),
            list(self.handlers.bodies.values()),
        )


# --- pure ------------------------------------------------------------------------------


def dependents_token(status: KapacitorStatus) -> str:
    """What dependents read of the object: the generation checked and whether it is
    Ready. They are nudged when it changes."""
    ready = c.get_condition(status.conditions, c.READY)
    return f"{status.observedGeneration}:{ready.status if ready else 'Unknown'}"


def ready_events(before: KapacitorStatus, after: KapacitorStatus) -> list[EventNote]:
    """An Event when the Ready reason changed (a spec found invalid again, with another
    message, too): a steady state, good or bad, tells nothing new."""
    old = c.get_condition(before.conditions, c.READY)
    new = c.get_condition(after.conditions, c.READY)
    if new is None:
        return []
    if (
        old is not None
        and old.reason == new.reason
        and (new.reason != c.INVALID_SPEC or old.message == new.message)
    ):
        return []
    kind: Literal["Normal", "Warning"] = "Normal" if new.status == "True" else "Warning"
    return [EventNote(kind, new.reason, new.message[:1024])]


def _not_ready(
    previous: KapacitorStatus, reason: str, message: str, *, now: str, generation: int | None
) -> KapacitorStatus:
    """A copy of `previous` with Ready=False for `reason`."""
    st = previous.model_copy(deep=True)
    st.conditions = c.set_condition(
        st.conditions,
        type=c.READY,
        status="False",
        reason=reason,
        message=message,
        now=now,
        generation=generation,
    )
    return st


def invalid_status(
    previous: KapacitorStatus, message: str, *, now: str, generation: int | None
) -> KapacitorStatus:
    """The status of an object whose spec cannot be parsed (Ready=False InvalidSpec)."""
    st = _not_ready(previous, c.INVALID_SPEC, message, now=now, generation=generation)
    st.observedGeneration = generation
    return st


def in_use_message(users: Users) -> str | None:
    """Why a deletion waits, naming the resources that still name the object; None when
    nothing does."""
    named = [f"{USER_KINDS[plural]} {name}" for plural in USER_KINDS for name in users[plural]]
    if not named:
        return None
    return (
        f"Deletion waits: {', '.join(named)} still name this connection (their own "
        "deletion needs it); delete them or point them elsewhere."
    )


def in_use_status(
    previous: KapacitorStatus, message: str, *, now: str, generation: int | None
) -> KapacitorStatus:
    """The status while a deletion waits for the resources that name the object."""
    return _not_ready(previous, c.IN_USE, message, now=now, generation=generation)


def status_dict(status: KapacitorStatus) -> dict[str, Any]:
    """Our status fields (status.kopf, left by older versions, is not ours)."""
    data: dict[str, Any] = status.model_dump(
        by_alias=True, exclude_none=True, exclude={"kopf"}, mode="json"
    )
    return data


def problem_of(exc: Exception, url: str) -> tuple[str, str]:
    """A failed check as (reason, message).

    Raises:
        Exception: `exc` itself, when it is none of the failures a check reports.
    """
    if isinstance(exc, ReferenceProblem):
        return exc.reason, exc.message
    if isinstance(exc, InvalidCABundle):
        return c.INVALID_CA, f"CA bundle: {exc}"
    if isinstance(exc, KubeError):
        return c.KUBERNETES_ERROR, f"Kubernetes API error: {exc}"
    if isinstance(exc, KapacitorAuthError):
        return c.UNAUTHORIZED, f"Kapacitor at {url} refused the credentials: {exc.message}"
    if isinstance(exc, KapacitorUnavailable) and exc.timed_out:
        # It takes connections but does not answer: not the same fix as a server that is down.
        message = f"Kapacitor at {url} took the check but did not answer in time: {exc}"
        return c.KAPACITOR_TIMEOUT, message
    if isinstance(exc, KapacitorError):
        return c.UNREACHABLE, f"Kapacitor at {url} could not be checked: {exc}"
    raise exc


# --- the kind --------------------------------------------------------------------------


@dataclass
class KapacitorKind:
    """The `Kapacitor` kind's `SyncKind`."""

    settings: Settings
    kube: KubeAPI
    pool: ClientPool
    dependents: Dependents
    kind: str = "Kapacitor"
    plural: str = "kapacitors"
    finalizer: str = FINALIZER

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        return None  # a connection mirrors no Kapacitor object

    def status_dict(self, outcome: Outcome[Any]) -> dict[str, Any]:
        status: KapacitorStatus = outcome.status
        return status_dict(status)

    async def reconcile(
        self, body: Mapping[str, Any], holder: tuple[str, str] | None
    ) -> Outcome[KapacitorStatus]:
        meta = body.get("metadata") or {}
        previous = _previous(body)
        try:
            server = parse_resource(body, KapacitorSpec, KapacitorStatus)
        except ValidationError as exc:
            message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            status = invalid_status(
                previous, message, now=utcnow(), generation=meta.get("generation")
            )
            return Outcome(
                status=status,
                events=ready_events(previous, status),
                retry="permanent",
                message=message,
                then=self._nudger(body, previous, status),
            )
        status = await self.check(server)
        ready = c.get_condition(status.conditions, c.READY)
        healthy = ready is not None and ready.status == "True"
        return Outcome(
            status=status,
            events=ready_events(server.status, status),
            # A server that fails its check is looked at again each interval, as a
            # healthy one is (the controller's recheck), not sooner.
            retry="none" if healthy else "temporary",
            delay=None if healthy else jittered(self.settings.kapacitor_check_interval),
            message="" if ready is None else ready.message,
            then=self._nudger(body, server.status, status),
        )

    async def check(self, server: KapacitorServer) -> KapacitorStatus:
        """One check of the server, as a status (a failed check is a status too)."""
        url = redact_url(server.spec.url.rstrip("/"))
        now = utcnow()
        problem: tuple[str, str] | None = None
        seen: ServerObservation | None = None
        try:
            connection = await resolve_connection(
                server.spec, server.namespace, self.settings, self.kube
            )
            client = self.pool.get(connection)
            url = redact_url(client.base_url)
            seen = await observe_server(client)
        except (ReferenceProblem, InvalidCABundle, KubeError, KapacitorError) as exc:
            problem = problem_of(exc, url)
        return status_for(
            server,
            seen,
            url=url,
            now=now,
            interval=self.settings.kapacitor_check_interval,
            managed=await self.dependents.managed(url),
            problem=problem,
        )

    def _nudger(
        self, body: Mapping[str, Any], before: KapacitorStatus, after: KapacitorStatus
    ) -> Callable[[], Coroutine[Any, Any, None]] | None:
        """Nudge the resources that name the object, once its new status is written,
        when what they read of it changed."""
        token = dependents_token(after)
        if dependents_token(before) == token:
            return None
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))

        async def nudge_users() -> None:
            users = await self.dependents.users(namespace, name)
            for plural, names in users.items():
                if names:
                    await nudge(self.kube, plural, namespace, names, f"Kapacitor/{name}@{token}")

        return nudge_users

    async def finalize(self, body: Mapping[str, Any], holder: tuple[str, str] | None) -> Finalized:
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        message = in_use_message(await self.dependents.users(namespace, name))
        if message is None:
            return Finalized(done=True)
        previous = _previous(body)
        status = in_use_status(previous, message, now=utcnow(), generation=meta.get("generation"))
        old = c.get_condition(previous.conditions, c.READY)
        told = old is not None and (old.reason, old.message) == (c.IN_USE, message)
        events = () if told else (EventNote("Warning", c.IN_USE, message[:1024]),)
        return Finalized(done=False, events=events, status=status_dict(status), delay=IN_USE_RETRY)


def _previous(body: Mapping[str, Any]) -> KapacitorStatus:
    """The object's status as written (an unreadable one counts as empty)."""
    try:
        return KapacitorStatus.model_validate(dict(body.get("status") or {}))
    except ValidationError:
        return KapacitorStatus()
