"""KapacitorAlertHandler as a mirrored kind: its claim, target (connection, optionsFrom
values, desired handler), observe / decide / act, status and deletion, for the shared
driver (reconcile/mirror/driver.py). Conditions, failure reasons, drift Events, claims,
the finalizer and deletionPolicy are the driver's and the controller's.

Kapacitor's error texts may quote option values (a value of the wrong type is echoed in
the decode error), so every Kapacitor error raised while reading or writing a handler is
scrubbed of the values read from optionsFrom before the driver turns it into a
condition or an Event.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kapacitor_operator import GROUP
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import KapacitorError, KapacitorNotFound
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.kapacitor.scrub import Scrubber
from kapacitor_operator.kapacitor.topic_handlers import HandlerExists, TopicHandler, TopicHandlers
from kapacitor_operator.models.alerthandler import KapacitorAlertHandlerStatus
from kapacitor_operator.models.resources import KapacitorAlertHandler, parse_alerthandler
from kapacitor_operator.reconcile.alert_handler_decide import (
    Adopted,
    LastWrite,
    Observed,
    Replace,
    decide,
)
from kapacitor_operator.reconcile.alert_handler_desired import (
    DesiredHandler,
    build_desired,
    default_handler_id,
)
from kapacitor_operator.reconcile.alert_handler_refs import read_option_values
from kapacitor_operator.reconcile.kapacitor_ref import connection_of, server_url
from kapacitor_operator.reconcile.mirror.driver import Acted, Deletion, Observation, Target
from kapacitor_operator.reconcile.mirror.listing import claim_of
from kapacitor_operator.reconcile.mirror.plan import Create, Plan, Update
from kapacitor_operator.reconcile.mirror.status import MirrorStatus, mark_synced
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.sync.claims import ClaimKey
from kapacitor_operator.urls import redact_url

FINALIZER = f"{GROUP}/finalizer"
"""The finalizer every mirrored kind carries (sync/controller.py manages it)."""


def claim_key(spec: Mapping[str, Any], namespace: str, name: str, default_url: str) -> ClaimKey:
    """(server URL, topic, handler ID): two resources with one key claim one handler (the
    topic stands in the API's place of other kinds' claims)."""
    url = ((spec.get("kapacitor") or {}).get("url") or default_url).rstrip("/")
    ref = (spec.get("kapacitorRef") or {}).get("name")
    if ref:
        url = f"ref:{namespace}/{ref}"  # a Kapacitor object's URL is not in this spec
    handler_id = spec.get("id") or default_handler_id(namespace, name)
    return url, str(spec.get("topic", "")), str(handler_id)


def handler_identity(res: KapacitorAlertHandler) -> tuple[str, str]:
    """(topic, handler ID) the resource manages."""
    return res.spec.topic, res.spec.id or default_handler_id(res.namespace, res.name)


def last_write(st: KapacitorAlertHandlerStatus) -> LastWrite:
    """What the status remembers of the operator's last write."""
    return LastWrite(st.definitionHash, st.serverHash, st.kapacitorURL, st.topicCollected)


def scrubbed(exc: KapacitorError, scrub: Scrubber) -> KapacitorError:
    """The same error (class, status, flags) with its message scrubbed."""
    clean = copy.copy(exc)
    clean.message = scrub(exc.message)
    clean.args = (clean.message,)
    return clean


@dataclass(frozen=True)
class Wanted:
    """A target's desired state: the handler, and the server's redacted URL (a status
    written for another server does not make the handler ours)."""

    handler: DesiredHandler
    url: str

    @property
    def what(self) -> str:
        return f"Handler {self.handler.handler_id} on topic {self.handler.topic}"


async def write(api: TopicHandlers, plan: Plan, desired: DesiredHandler) -> TopicHandler | None:
    """Perform a plan's write; the handler as Kapacitor answered, or None if none was made.

    Raises:
        KapacitorError: the write failed.
    """
    if isinstance(plan, Create):
        try:
            return await api.create(desired.topic, desired.body())
        except HandlerExists:  # made by someone else since we looked: replace it
            return await api.replace(desired.topic, desired.body())
    if isinstance(plan, Update):
        try:
            return await api.replace(desired.topic, desired.body())
        except KapacitorNotFound:  # gone since we looked (its topic deleted, say)
            return await api.create(desired.topic, desired.body())
    return None


def plan_notes(plan: Plan, wanted: Wanted) -> tuple[EventNote, ...]:
    """The Events a plan's success is worth, besides the driver's `DriftRepaired` (for a
    plan with a `drift` text)."""
    what = wanted.what
    lower = f"{what[0].lower()}{what[1:]}"
    if isinstance(plan, Create) and not plan.drift:
        return (EventNote("Normal", c.CREATED, f"Created {lower}."),)
    if isinstance(plan, Replace) and plan.why == "adopt":
        message = f"{what} existed in Kapacitor with another definition; replaced by the spec."
        return (EventNote("Normal", c.ADOPTED, message),)
    if isinstance(plan, Replace) and plan.why == "spec":
        return (EventNote("Normal", c.UPDATED, f"Updated {lower}."),)
    if isinstance(plan, Adopted):
        message = f"{what} already existed in Kapacitor as declared; now managed."
        return (EventNote("Normal", c.ADOPTED, message),)
    return ()


@dataclass
class AlertHandlerKind:
    """KapacitorAlertHandler's `MirrorKind`."""

    settings: Settings
    kube: KubeAPI
    pool: ClientPool
    kind: str = "KapacitorAlertHandler"
    plural: str = "kapacitoralerthandlers"
    finalizer: str = FINALIZER
    noun: str = "handler"
    handlers: Callable[[KapacitorClient], TopicHandlers] = TopicHandlers
    """The topic-handler calls over a server's client (a fake in unit tests)."""

    def parse(self, body: Mapping[str, Any]) -> KapacitorAlertHandler:
        return parse_alerthandler(body)

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        return claim_of(body, claim_key, self.settings.kapacitor_url)

    def status(self, resource: KapacitorAlertHandler) -> KapacitorAlertHandlerStatus:
        return resource.status.model_copy(deep=True)

    def generation(self, resource: KapacitorAlertHandler) -> int:
        return resource.generation

    def identity(self, resource: KapacitorAlertHandler) -> str:
        topic, handler_id = handler_identity(resource)
        return f"{handler_id} (topic {topic})"

    async def url(self, resource: KapacitorAlertHandler) -> str:
        return await server_url(resource, self.settings, self.kube)

    def orphans(self, resource: KapacitorAlertHandler) -> bool:
        return resource.spec.deletionPolicy == "Orphan"

    def metric_label(self, resource: KapacitorAlertHandler) -> str:
        return "alerthandler"

    async def target(self, resource: KapacitorAlertHandler) -> Target:
        # The URL policy first: outside it, no Secret is read and nothing sent (issue 12).
        connection = await connection_of(resource, self.settings, self.kube)
        values = await read_option_values(resource.spec.optionsFrom, resource.namespace, self.kube)
        desired = build_desired(
            resource.spec,
            namespace=resource.namespace,
            name=resource.name,
            uid=resource.uid,
            values=values,
        )
        api = self.handlers(self.pool.get(connection))
        url = redact_url(api.base_url)
        return Target(Wanted(desired, url), api, url, desired.definition_hash)

    async def observe(
        self, resource: KapacitorAlertHandler, target: Target, *, fresh: bool
    ) -> Observation:
        """The handler and its topic's count (two reads); None when the handler (or its
        topic, with it) does not exist."""
        desired: DesiredHandler = target.desired.handler
        api: TopicHandlers = target.client
        try:
            server = await api.get(desired.topic, desired.handler_id)
            if server is None:
                return Observation(None)
            collected = await api.topic_collected(desired.topic)
        except KapacitorError as exc:
            raise scrubbed(exc, desired.scrubber()) from None
        held = desired.fingerprint_of(server.kind, server.match, server.options)
        return Observation(Observed(held, collected))

    def decide(self, resource: KapacitorAlertHandler, desired: Any, observed: Any) -> Plan:
        wanted: Wanted = desired
        return decide(
            desired_hash=wanted.handler.definition_hash,
            url=wanted.url,
            observed=observed,
            last=last_write(resource.status),
            what=wanted.what,
        )

    async def act(
        self,
        resource: KapacitorAlertHandler,
        target: Target,
        plan: Plan,
        observed: Any,
        *,
        now: str,
    ) -> Acted:
        wanted: Wanted = target.desired
        desired = wanted.handler
        try:
            written = await write(target.client, plan, desired)
        except KapacitorError as exc:
            raise scrubbed(exc, desired.scrubber()) from None
        if written is None:
            assert isinstance(observed, Observed)  # Nothing is decided only about a handler seen
            return Acted(observed, 0, plan_notes(plan, wanted))
        # A PUT that recreated the topic leaves it at 0; a POST's topic is read next time.
        collected = (observed.topic_collected or 0) if isinstance(observed, Observed) else None
        held = Observed(
            desired.fingerprint_of(written.kind, written.match, written.options), collected
        )
        return Acted(held, 1, plan_notes(plan, wanted))

    def synced(
        self, resource: KapacitorAlertHandler, target: Target, server: Any, now: str
    ) -> KapacitorAlertHandlerStatus:
        """Status once Kapacitor holds the handler as declared. Holds option paths and
        fingerprints, never option values."""
        desired: DesiredHandler = target.desired.handler
        held: Observed = server
        st = self.status(resource)
        st.observedGeneration = resource.generation
        st.topic = desired.topic
        st.handlerID = desired.handler_id
        st.kapacitorURL = target.url
        st.lastSyncedAt = now
        st.definitionHash = desired.definition_hash
        st.serverHash = held.fingerprint
        st.topicCollected = held.topic_collected
        st.optionsFromPaths = list(desired.secret_paths) or None
        message = (
            f"Handler {desired.handler_id} ({desired.kind}) is defined on topic {desired.topic}."
        )
        return mark_synced(
            st,
            generation=resource.generation,
            url=target.url,
            now=now,
            ready=(True, c.HANDLER_DEFINED, message),
        )

    async def delete(self, resource: KapacitorAlertHandler) -> Deletion:
        # Deleting needs the connection only: no option value is read.
        # Deleting needs the named object only, not that it is Ready (as for tasks).
        connection = await connection_of(resource, self.settings, self.kube, require_ready=False)
        topic, handler_id = handler_identity(resource)
        await self.handlers(self.pool.get(connection)).delete(topic, handler_id)
        message = f"Deleted handler {handler_id} from topic {topic} in Kapacitor."
        return Deletion([f"{topic}/{handler_id}"], EventNote("Normal", c.DELETED, message))

    def dump(self, status: MirrorStatus) -> dict[str, Any]:
        assert isinstance(status, KapacitorAlertHandlerStatus)
        data: dict[str, Any] = status.model_dump(
            by_alias=True, exclude_none=True, exclude={"kopf"}, mode="json"
        )
        return data
