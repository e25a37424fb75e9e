"""`kapacitorRef` and `templateRef`: turn a named object into what the resource needs.

A resource names a `Kapacitor` object (its connection) or a KapacitorTemplate (the ID
to instantiate) in its own namespace. A name that does not resolve yet is a
`WaitingForReference` with its own reason; the named object's kind nudges its
dependents when it appears or changes (reconcile/kapacitor_kind.py), so the wait is
event-driven.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import ValidationError

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.pool import Connection
from kapacitor_operator.models.common import KapacitorConnection, LocalObjectRef
from kapacitor_operator.models.kapacitor import KapacitorSpec
from kapacitor_operator.reconcile.connection import (
    ReferenceProblem,
    SecretReader,
    connection_url,
    resolve_connection,
)

KAPACITORS = "kapacitors"
TEMPLATES = "kapacitortemplates"


class ObjectReader(SecretReader, Protocol):
    """The Kubernetes calls references need (k8s/api.py)."""

    async def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None: ...


class WaitingForReference(ReferenceProblem):
    """The named object is missing or not ready. Its handler nudges this resource when
    that changes, so the wait needs no retry timer: kopf would hold a resource whose
    handler is delayed and miss the nudge until the delay ends."""

    retry_after = None

    @property
    def permanent(self) -> bool:
        return False


class KapacitorRefMissing(WaitingForReference):
    """The named `Kapacitor` object does not exist."""

    reason = c.KAPACITOR_NOT_FOUND


class KapacitorRefNotReady(WaitingForReference):
    """The named `Kapacitor` object exists but is not Ready."""

    reason = c.KAPACITOR_NOT_READY


class TemplateRefMissing(WaitingForReference):
    """The named KapacitorTemplate does not exist."""

    reason = c.TEMPLATE_NOT_FOUND


class TemplateRefNotReady(WaitingForReference):
    """The named KapacitorTemplate is not defined in Kapacitor, or is on another server."""

    reason = c.TEMPLATE_NOT_READY


def _ready(body: dict[str, Any]) -> tuple[bool, str]:
    """(Ready is True, why not) from an object's status conditions."""
    for cond in (body.get("status") or {}).get("conditions") or []:
        if cond.get("type") == c.READY:
            if cond.get("status") == "True":
                return True, ""
            return False, f"{cond.get('reason', '')}: {cond.get('message', '')}"
    return False, "not checked yet"


async def connection_spec(
    inline: KapacitorConnection | None,
    ref: LocalObjectRef | None,
    namespace: str,
    kube: ObjectReader,
    *,
    require_ready: bool = True,
) -> KapacitorConnection | None:
    """The connection block a resource uses: inline, from its `Kapacitor`, or None (the
    operator's default). Deletions pass `require_ready=False`: they need the object only.

    Raises:
        KapacitorRefMissing: the named object does not exist.
        KapacitorRefNotReady: it is not Ready (its reason and message are quoted), or its
            spec is unreadable.
        KubeError: the object could not be read.
    """
    if ref is None:
        return inline
    body = await kube.get_custom(namespace, KAPACITORS, ref.name)
    if body is None:
        raise KapacitorRefMissing(f"Kapacitor {namespace}/{ref.name} not found")
    try:
        spec = KapacitorSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError:
        raise KapacitorRefNotReady(
            f"Kapacitor {namespace}/{ref.name} has an invalid spec"
        ) from None
    if require_ready:
        ready, why = _ready(body)
        if not ready:
            raise KapacitorRefNotReady(f"Kapacitor {namespace}/{ref.name} is not Ready ({why})")
    return KapacitorConnection.model_validate(spec.model_dump())


async def resolve_with_ref(
    inline: KapacitorConnection | None,
    ref: LocalObjectRef | None,
    namespace: str,
    settings: Settings,
    kube: ObjectReader,
    *,
    require_ready: bool = True,
) -> Connection:
    """`resolve_connection` for a resource that may name a `Kapacitor` object.

    Raises:
        ReferenceProblem: see connection_spec() and resolve_connection().
        KubeError: an object or Secret could not be read.
    """
    spec = await connection_spec(inline, ref, namespace, kube, require_ready=require_ready)
    return await resolve_connection(spec, namespace, settings, kube)


class _NamesConnection(Protocol):
    @property
    def kapacitor(self) -> KapacitorConnection | None: ...

    @property
    def kapacitorRef(self) -> LocalObjectRef | None: ...


class NamesKapacitor(Protocol):
    """A resource whose spec has `kapacitor` and `kapacitorRef`."""

    @property
    def namespace(self) -> str: ...

    @property
    def spec(self) -> _NamesConnection: ...


async def connection_of(
    resource: NamesKapacitor, settings: Settings, kube: ObjectReader, *, require_ready: bool = True
) -> Connection:
    """resolve_with_ref() for a resource's own spec."""
    spec = resource.spec
    return await resolve_with_ref(
        spec.kapacitor,
        spec.kapacitorRef,
        resource.namespace,
        settings,
        kube,
        require_ready=require_ready,
    )


async def server_url(resource: NamesKapacitor, settings: Settings, kube: ObjectReader) -> str:
    """The (normalised) URL of the server a resource works on, for messages: its own
    `kapacitor.url`, the URL of the `Kapacitor` object it names, or the default. A named
    object that cannot be read is named instead of a URL. Reads no Secret."""
    spec = resource.spec
    if spec.kapacitorRef is None:
        return connection_url(spec.kapacitor, settings)
    try:
        named = await connection_spec(
            None, spec.kapacitorRef, resource.namespace, kube, require_ready=False
        )
    except Exception:  # for a message only: say which object, not why it is unreadable
        return f"the server of Kapacitor {resource.namespace}/{spec.kapacitorRef.name}"
    return connection_url(named, settings)


async def template_id_for(
    ref: LocalObjectRef, namespace: str, kube: ObjectReader, *, url: str
) -> tuple[str, list[str]]:
    """The Kapacitor template ID a KapacitorTemplate holds on the server at `url`
    (redacted form, as statuses show it), and the task IDs its status lists as made
    from it.

    Raises:
        TemplateRefMissing: the template object does not exist.
        TemplateRefNotReady: it is not Ready, or it lives on another server.
        KubeError: the object could not be read.
    """
    body = await kube.get_custom(namespace, TEMPLATES, ref.name)
    where = f"KapacitorTemplate {namespace}/{ref.name}"
    if body is None:
        raise TemplateRefMissing(f"{where} not found")
    status = body.get("status") or {}
    ready, why = _ready(body)
    template_id = status.get("templateID")
    if not template_id or not ready:
        raise TemplateRefNotReady(f"{where} is not Ready ({why})")
    if status.get("kapacitorURL") != url:
        raise TemplateRefNotReady(
            f"{where} lives on {status.get('kapacitorURL')}, not on {url}: a task can only "
            "use a template on its own server"
        )
    return str(template_id), [str(t) for t in status.get("tasks") or []]
