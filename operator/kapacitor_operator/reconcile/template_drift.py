"""KapacitorTemplate's side of drift detection by server (sync/drift.py): list every
template of a server in pages (type and script only), and the template of every
TICKscript task, and compare each template with what its resource's status says: the
hash of its definition and the tasks made from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.reconcile.kapacitor_ref import connection_of
from kapacitor_operator.reconcile.mirror.listing import first_client, server_of
from kapacitor_operator.reconcile.template_decide import tasks_using, template_hash
from kapacitor_operator.reconcile.template_mirror import API, claim_key, parse_template

PAGE = 500
"""Templates per list request."""


@dataclass
class TemplateListing:
    """Every template of one server (ID -> hash of type and script), and every
    TICKscript task's template ID."""

    templates: dict[str, str] = field(default_factory=dict)
    linked: dict[str, str] = field(default_factory=dict)


async def list_all(client: KapacitorClient) -> TemplateListing:
    """Paged lists of templates and of the tasks' template IDs.

    Raises:
        KapacitorError: any failure.
    """
    listing = TemplateListing()
    offset = 0
    while True:
        page = await client.list_templates(fields=["type", "script"], offset=offset, limit=PAGE)
        listing.templates.update((t.id, template_hash(t.type, t.script)) for t in page)
        if len(page) < PAGE:
            break
        offset += PAGE
    listing.linked = await client.list_task_templates(page=PAGE)
    return listing


def drifted_from(
    definition_hash: str | None, shown_tasks: list[str] | None, template_id: str, listing: Any
) -> bool:
    """Whether the listed template (or the tasks made from it) differs from the status."""
    assert isinstance(listing, TemplateListing)
    listed = listing.templates.get(template_id)
    return (
        listed is None
        or listed != definition_hash
        or (tasks_using(listing.linked, template_id) != (shown_tasks or []))
    )


@dataclass
class TemplateDrift:
    """KapacitorTemplate's `DriftKind`."""

    settings: Settings
    kube: KubeAPI
    pool: ClientPool
    kind: str = "KapacitorTemplate"

    def server(self, body: Mapping[str, Any]) -> str | None:
        return server_of(body, claim_key, self.settings.kapacitor_url)

    async def list_server(self, server: str, bodies: list[Mapping[str, Any]]) -> TemplateListing:
        """Lists with the connection of the first object whose connection resolves."""
        return await list_all(await first_client(server, bodies, self._client))

    async def _client(self, body: Mapping[str, Any]) -> KapacitorClient:
        tpl = parse_template(body)
        connection = await connection_of(tpl, self.settings, self.kube)
        return self.pool.get(connection)

    async def drifted(self, body: Mapping[str, Any], listing: Any) -> bool:
        tpl = parse_template(body)
        st = tpl.status
        if tpl.spec.scriptFrom is not None:
            # The script lives in a ConfigMap: a change there is a change of the spec.
            cm = tpl.spec.scriptFrom.configMapKeyRef
            script = await self.kube.configmap_key(tpl.namespace, cm.name, cm.key)
            if script is None or template_hash(tpl.spec.type, script) != st.definitionHash:
                return True
        return drifted_from(st.definitionHash, st.tasks, st.templateID or "", listing)

    def unmanaged(self, listing: Any, claimed: set[tuple[str, str]]) -> dict[str, int]:
        assert isinstance(listing, TemplateListing)
        return {API: sum(1 for ident in listing.templates if (API, ident) not in claimed)}
