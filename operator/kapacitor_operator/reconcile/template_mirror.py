"""KapacitorTemplate as a mirrored kind: its claim, target, observe / decide (in
template_decide.py) / act, status and deletion, for the shared driver
(reconcile/mirror/driver.py).

Two things are the template's own. Kapacitor reloads the tasks made from a template when
the template is PATCHed: once the new status is written, the KapacitorTasks that name the
template (`templateRef`) are nudged so they read their state again. And a template that
Kapacitor tasks still use is not deleted: `delete` answers "not yet" (DeletionWaits,
Ready=False InUse naming the tasks) until they are gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from kapacitor_operator import GROUP
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import KapacitorUnavailable
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.models.kapacitortemplate import (
    KapacitorTemplateSpec,
    KapacitorTemplateStatus,
    TemplateVar,
)
from kapacitor_operator.models.resources import KapacitorTemplate, parse_resource
from kapacitor_operator.reconcile.kapacitor_ref import connection_of, server_url
from kapacitor_operator.reconcile.mirror.driver import (
    Acted,
    Deletion,
    DeletionWaits,
    Observation,
    Target,
)
from kapacitor_operator.reconcile.mirror.listing import claim_of
from kapacitor_operator.reconcile.mirror.plan import Create, Nothing, Plan, Update
from kapacitor_operator.reconcile.mirror.status import MirrorStatus, mark_synced
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.task_mirror import ScriptNotFound
from kapacitor_operator.reconcile.template_decide import (
    DesiredTemplate,
    decide,
    default_template_id,
    tasks_using,
)
from kapacitor_operator.reconcile.template_users import nudge
from kapacitor_operator.sync.claims import ClaimKey
from kapacitor_operator.urls import redact_url

FINALIZER = f"{GROUP}/finalizer"
API = "template"
"""The claim's API: templates have their own ID space on a server."""
IN_USE_RETRY = 10.0
"""Seconds between looks at a deletion waiting for the tasks made from the template (a
task's own deletion also nudges the template at once)."""

Users = Callable[[str, str], Awaitable[list[str]]]
"""(namespace, template name) -> names of the KapacitorTasks whose templateRef names it."""


def claim_key(spec: Mapping[str, Any], namespace: str, name: str, default_url: str) -> ClaimKey:
    """(server URL, "template", template ID): two resources with one key claim one
    template."""
    url = ((spec.get("kapacitor") or {}).get("url") or default_url).rstrip("/")
    ref = (spec.get("kapacitorRef") or {}).get("name")
    if ref:
        url = f"ref:{namespace}/{ref}"  # a Kapacitor object's URL is not in this spec
    return url, API, str(spec.get("templateID") or default_template_id(namespace, name))


def parse_template(body: Mapping[str, Any]) -> KapacitorTemplate:
    """Raises pydantic.ValidationError: the spec is invalid."""
    return parse_resource(body, KapacitorTemplateSpec, KapacitorTemplateStatus)


@dataclass(frozen=True)
class Seen:
    """What Kapacitor holds: the template (None: absent) and the IDs of the tasks made
    from it."""

    template: TickTemplate | None
    tasks: list[str]


def nudge_token(status: KapacitorTemplateStatus) -> str:
    """What tasks made from the template care about: its definition and readiness."""
    ready = c.get_condition(status.conditions, c.READY)
    return f"{status.definitionHash}:{status.templateID}:{ready.status if ready else 'Unknown'}"


def status_defined(
    tpl: KapacitorTemplate,
    desired: DesiredTemplate,
    seen: Seen,
    *,
    url: str,
    now: str,
) -> KapacitorTemplateStatus:
    """Status once Kapacitor holds the template as declared (pure)."""
    server = seen.template
    assert server is not None
    used = f"; used by {len(seen.tasks)} task(s)" if seen.tasks else "; no task uses it yet"
    message = f"Template {desired.template_id} is defined in Kapacitor at {url}{used}."
    st = tpl.status.model_copy(deep=True)
    st.observedGeneration = tpl.generation
    st.templateID = desired.template_id
    st.kapacitorURL = url
    st.definitionHash = desired.definition_hash
    st.vars = {name: TemplateVar.model_validate(var) for name, var in server.vars.items()}
    st.tasks = list(seen.tasks)
    st.created = server.created or None
    st.modified = server.modified or None
    st.lastSyncedAt = now
    return mark_synced(
        st, generation=tpl.generation, url=url, now=now, ready=(True, c.DEFINED, message)
    )


async def write(
    client: KapacitorClient, desired: DesiredTemplate, plan: Plan, observed: TickTemplate | None
) -> tuple[TickTemplate, str]:
    """Write what the plan says; (the template as Kapacitor now holds it, reload error).

    Kapacitor saves a PATCHed template, then restarts its enabled tasks; when one fails
    to restart the answer is a 500 although the template was saved: read it back, and
    report the restart failure instead of retrying a write that already happened.

    Raises:
        KapacitorError: the write failed.
    """
    if isinstance(plan, Nothing):
        assert observed is not None
        return observed, ""
    if isinstance(plan, Create):
        return await client.create_template(desired.create_body()), ""
    assert isinstance(plan, Update)
    try:
        return await client.patch_template(desired.template_id, plan.changes), ""
    except KapacitorUnavailable as exc:
        if exc.status != 500:
            raise
        stored = await client.get_template(desired.template_id)
        if stored is None or stored.script != desired.script or stored.type != desired.type:
            raise
        return stored, exc.message


@dataclass
class TemplateMirror:
    """KapacitorTemplate's `MirrorKind`."""

    settings: Settings
    kube: KubeAPI
    pool: ClientPool
    users: Users | None = None
    """Who names a template (for the nudge); None: nobody is nudged."""
    kind: str = "KapacitorTemplate"
    plural: str = "kapacitortemplates"
    finalizer: str = FINALIZER
    noun: str = "template"

    def parse(self, body: Mapping[str, Any]) -> KapacitorTemplate:
        return parse_template(body)

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        return claim_of(body, claim_key, self.settings.kapacitor_url)

    def status(self, resource: KapacitorTemplate) -> KapacitorTemplateStatus:
        return resource.status.model_copy(deep=True)

    def generation(self, resource: KapacitorTemplate) -> int:
        return resource.generation

    def identity(self, resource: KapacitorTemplate) -> str:
        return resource.spec.templateID or default_template_id(resource.namespace, resource.name)

    async def url(self, resource: KapacitorTemplate) -> str:
        return await server_url(resource, self.settings, self.kube)

    def orphans(self, resource: KapacitorTemplate) -> bool:
        return resource.spec.deletionPolicy == "Orphan"

    def metric_label(self, resource: KapacitorTemplate) -> str:
        return "template"

    async def target(self, resource: KapacitorTemplate) -> Target:
        # The URL policy first: a resource outside it never makes the operator read a
        # ConfigMap, nor send anything.
        connection = await connection_of(resource, self.settings, self.kube)
        script = resource.spec.script
        if resource.spec.scriptFrom is not None:
            cm = resource.spec.scriptFrom.configMapKeyRef
            script = await self.kube.configmap_key(resource.namespace, cm.name, cm.key)
            if script is None:
                raise ScriptNotFound(
                    f"ConfigMap key {resource.namespace}/{cm.name}[{cm.key}] not found"
                )
        desired = DesiredTemplate(self.identity(resource), resource.spec.type, script or "")
        client = self.pool.get(connection)
        return Target(desired, client, redact_url(client.base_url), desired.definition_hash)

    async def observe(
        self, resource: KapacitorTemplate, target: Target, *, fresh: bool
    ) -> Observation:
        client: KapacitorClient = target.client
        template_id = target.desired.template_id
        template = await client.get_template(template_id)
        linked = await client.list_task_templates()
        return Observation(Seen(template, tasks_using(linked, template_id)))

    def decide(self, resource: KapacitorTemplate, desired: Any, observed: Any) -> Plan:
        assert isinstance(observed, Seen)
        return decide(desired, observed.template, last_hash=resource.status.definitionHash)

    async def act(
        self, resource: KapacitorTemplate, target: Target, plan: Plan, observed: Any, *, now: str
    ) -> Acted:
        assert isinstance(observed, Seen)
        desired: DesiredTemplate = target.desired
        server, reload_error = await write(target.client, desired, plan, observed.template)
        writes = 0 if isinstance(plan, Nothing) else 1
        notes: tuple[EventNote, ...] = ()
        if reload_error:
            text = (
                "Template saved, but Kapacitor could not restart a task made from it: "
                f"{reload_error}"
            )
            notes = (EventNote("Warning", c.TASK_RELOAD_FAILED, text),)
        # Status once synced: this definition, Ready=True. Tasks made from the template
        # read it again when it changed (Kapacitor reloaded them) or became usable.
        after = f"{desired.definition_hash}:{desired.template_id}:True"
        then = None
        if writes or nudge_token(resource.status) != after:
            token = f"KapacitorTemplate/{resource.name}@{after}:{now}"
            then = self._nudger(resource.namespace, resource.name, token)
        return Acted(Seen(server, observed.tasks), writes, notes, then)

    def _nudger(
        self, namespace: str, name: str, token: str
    ) -> Callable[[], Coroutine[Any, Any, None]] | None:
        users = self.users
        if users is None:
            return None

        async def nudge_users() -> None:
            names = await users(namespace, name)
            if names:
                await nudge(self.kube, "kapacitortasks", namespace, names, token)

        return nudge_users

    def synced(
        self, resource: KapacitorTemplate, target: Target, server: Any, now: str
    ) -> KapacitorTemplateStatus:
        assert isinstance(server, Seen)
        return status_defined(resource, target.desired, server, url=target.url, now=now)

    async def delete(self, resource: KapacitorTemplate) -> Deletion:
        template_id = resource.status.templateID
        if template_id is None:
            note = EventNote(
                "Normal",
                c.DELETED,
                "The template was never defined by this resource; nothing to delete.",
            )
            return Deletion([], note)
        connection = await connection_of(resource, self.settings, self.kube, require_ready=False)
        client = self.pool.get(connection)
        holders = tasks_using(await client.list_task_templates(), template_id)
        if holders:
            message = (
                f"template {template_id} is still used by Kapacitor task(s) "
                f"{', '.join(holders)}; it is deleted from {redact_url(client.base_url)} "
                "once they are gone"
            )
            raise DeletionWaits(c.IN_USE, message, IN_USE_RETRY)
        await client.delete_template(template_id)
        note = EventNote("Normal", c.DELETED, f"Template {template_id} removed from Kapacitor.")
        return Deletion([template_id], note)

    def dump(self, status: MirrorStatus) -> dict[str, Any]:
        assert isinstance(status, KapacitorTemplateStatus)
        data: dict[str, Any] = status.model_dump(
            by_alias=True, exclude_none=True, exclude={"kopf"}, mode="json"
        )
        return data
