"""KapacitorAlertHandler's side of drift detection by server (sync/drift.py): list every
topic of a server (with its `collected` count) and the handlers of each, and compare each
listed handler with what its resource's status says Kapacitor held after the operator's
last write.

The comparison hashes the listed handler the way a reconcile hashes a GET (the same salt
and option paths, taken from the status), so no Secret has to be read to notice a
handler changed in Kapacitor, and options Kapacitor redacts compare equal to what it
answered the last write. A resource with `optionsFrom` reads its Secrets and ConfigMaps
(after the URL policy allowed its server), so a rotated value is written at the next
pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.kapacitor.topic_handlers import TopicHandler, TopicHandlers
from kapacitor_operator.models.resources import KapacitorAlertHandler, parse_alerthandler
from kapacitor_operator.reconcile.alert_handler_desired import build_desired, fingerprint, salt_for
from kapacitor_operator.reconcile.alert_handler_mirror import claim_key, handler_identity
from kapacitor_operator.reconcile.alert_handler_refs import read_option_values
from kapacitor_operator.reconcile.connection import ReferenceProblem, check_url
from kapacitor_operator.reconcile.desired import DesiredStateError
from kapacitor_operator.reconcile.kapacitor_ref import connection_of
from kapacitor_operator.reconcile.mirror.listing import first_client, server_of


@dataclass
class Listing:
    """Every topic of one server and its handlers."""

    collected: dict[str, int] = field(default_factory=dict)
    """Topic -> how many alert events it collected."""
    handlers: dict[str, dict[str, TopicHandler]] = field(default_factory=dict)
    """Topic -> handler ID -> handler."""


async def list_all(api: TopicHandlers) -> Listing:
    """The topics, then each topic's handlers (one request per topic; Kapacitor pages
    neither).

    Raises:
        KapacitorError: any failure.
    """
    listing = Listing(collected=await api.list_topics())
    for topic in listing.collected:
        listing.handlers[topic] = {h.id: h for h in await api.list_handlers(topic)}
    return listing


def listed_hash(res: KapacitorAlertHandler, held: TopicHandler) -> str:
    """The listed handler's fingerprint, masked as the resource's reconcile masks a GET."""
    paths = tuple(res.status.optionsFromPaths or ())
    return fingerprint(held.kind, held.match, held.options, paths, salt_for(res.uid))


def differs(res: KapacitorAlertHandler, listing: Listing) -> bool:
    """Whether the listing differs from what the status says Kapacitor held: the handler
    or its topic is gone (deleted, or detached by a topic deletion), the handler changed,
    or the topic's count moved (the status keeps it current: a drop is how a recreated
    topic, which detaches its handlers, is recognised)."""
    topic, handler_id = handler_identity(res)
    collected = listing.collected.get(topic)
    if collected is None or collected != res.status.topicCollected:
        return True
    held = listing.handlers.get(topic, {}).get(handler_id)
    return held is None or listed_hash(res, held) != res.status.serverHash


@dataclass
class HandlerDrift:
    """KapacitorAlertHandler's `DriftKind`."""

    settings: Settings
    kube: KubeAPI
    pool: ClientPool
    kind: str = "KapacitorAlertHandler"
    handlers: Callable[[KapacitorClient], TopicHandlers] = TopicHandlers

    def server(self, body: Mapping[str, Any]) -> str | None:
        return server_of(body, claim_key, self.settings.kapacitor_url)

    async def list_server(self, server: str, bodies: list[Mapping[str, Any]]) -> Listing:
        """Lists with the connection of the first object whose connection resolves."""
        return await list_all(await first_client(server, bodies, self._api))

    async def _api(self, body: Mapping[str, Any]) -> TopicHandlers:
        res = parse_alerthandler(body)
        connection = await connection_of(res, self.settings, self.kube)
        return self.handlers(self.pool.get(connection))

    async def drifted(self, body: Mapping[str, Any], listing: Listing) -> bool:
        res = parse_alerthandler(body)
        if res.spec.optionsFrom:
            # The values live in Secrets and ConfigMaps: a change there is a change of the
            # spec. Read only for a server the URL policy allows (issue 12).
            try:
                check_url(res.spec.kapacitor, self.settings)
                values = await read_option_values(res.spec.optionsFrom, res.namespace, self.kube)
                desired = build_desired(
                    res.spec, namespace=res.namespace, name=res.name, uid=res.uid, values=values
                )
            except (ReferenceProblem, DesiredStateError):
                return True  # its reconcile says what is wrong
            if desired.definition_hash != res.status.definitionHash:
                return True
        return differs(res, listing)

    def unmanaged(self, listing: Listing, claimed: set[tuple[str, str]]) -> dict[str, int]:
        count = sum(
            1
            for topic, handlers in listing.handlers.items()
            for handler_id in handlers
            if (topic, handler_id) not in claimed
        )
        return {"handler": count}
