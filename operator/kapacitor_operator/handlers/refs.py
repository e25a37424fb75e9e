"""Who names whom: kopf indexes over kapacitorRef / templateRef, and the nudge.

A resource waiting for a `Kapacitor` object or a KapacitorTemplate must be reconciled
again when that object appears or changes. The named object's handler writes a token
into the dependents' `REFS_ANNOTATION`; their handlers watch that one annotation
(kopf's `field=` filter), so the wait costs no polling and no spec write.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.errors import KubeError

REFS_ANNOTATION = "kapacitor.operator.dev/refs-changed"
"""Written by the operator on resources whose kapacitorRef or templateRef target changed."""
REFS_FIELD = ("metadata", "annotations", REFS_ANNOTATION)

log = logging.getLogger(__name__)


def _ref(spec: Any, field: str) -> str | None:
    value = (spec or {}).get(field) or {}
    name = value.get("name") if isinstance(value, dict) else None
    return str(name) if name else None


async def nudge(kube: KubeAPI, plural: str, namespace: str, names: Any, token: str) -> None:
    """Write `token` into each dependent's REFS_ANNOTATION (best effort: a dependent that
    cannot be nudged still retries on its own schedule)."""
    for name in sorted(set(names)):
        try:
            await kube.patch_metadata(
                namespace, plural, name, {"annotations": {REFS_ANNOTATION: token}}
            )
        except KubeError as exc:
            log.info("could not nudge %s %s/%s: %s", plural, namespace, name, exc)


async def persist_status(kube: KubeAPI, plural: str, body: Any, desired: dict[str, Any]) -> bool:
    """Write our status keys now (kopf would write them only after the handler returns),
    so a dependent nudged next reads the new state. False if the write failed; the
    caller then leaves the status to kopf's patch and skips the nudge.
    """
    current = dict(body.get("status") or {})
    patch: dict[str, Any] = {k: v for k, v in desired.items() if current.get(k) != v}
    patch.update({k: None for k in current if k not in desired and k != "kopf"})
    meta = body.get("metadata") or {}
    try:
        await kube.patch_status(str(meta.get("namespace")), plural, str(meta.get("name")), patch)
    except KubeError as exc:
        log.info("could not write the status of %s %s: %s", plural, meta.get("name"), exc)
        return False
    return True


async def note_template_user(
    kube: KubeAPI, task: Any, listed: list[str], task_id: str | None, *, gone: bool = False
) -> None:
    """Nudge the KapacitorTemplate a task names when the template's list of tasks is
    out of date (a new task made from it, or one deleted), so its status stays true."""
    ref = task.spec.templateRef
    if ref is None or (not gone and (task_id is None or task_id in listed)):
        return
    token = f"KapacitorTask/{task.name}@{task_id or 'deleted'}:{task.uid}"
    await nudge(kube, "kapacitortemplates", task.namespace, [ref.name], token)


def dependents(index: Any, key: tuple[str, str]) -> list[str]:
    """Names stored under `key` in one of the indexes below."""
    return sorted(set(index.get(key, []))) if index is not None else []


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the indexes (they are kwargs of every handler, by id)."""
    del settings

    @kopf.index(GROUP, VERSION, "kapacitortasks", id="kapacitorref_tasks", registry=registry)
    def kapacitorref_tasks(
        *, spec: kopf.Spec, namespace: str | None, name: str, **_: Any
    ) -> dict[tuple[str, str], str] | None:
        ref = _ref(spec, "kapacitorRef")
        return {(namespace or "", ref): name} if ref else None

    @kopf.index(
        GROUP, VERSION, "kapacitortemplates", id="kapacitorref_templates", registry=registry
    )
    def kapacitorref_templates(
        *, spec: kopf.Spec, namespace: str | None, name: str, **_: Any
    ) -> dict[tuple[str, str], str] | None:
        ref = _ref(spec, "kapacitorRef")
        return {(namespace or "", ref): name} if ref else None

    @kopf.index(GROUP, VERSION, "kapacitortasks", id="templateref_tasks", registry=registry)
    def templateref_tasks(
        *, spec: kopf.Spec, namespace: str | None, name: str, **_: Any
    ) -> dict[tuple[str, str], str] | None:
        ref = _ref(spec, "templateRef")
        return {(namespace or "", ref): name} if ref else None

    @kopf.index(GROUP, VERSION, "kapacitortasks", id="managed_tasks", registry=registry)
    def managed_tasks(
        *, spec: kopf.Spec, status: kopf.Status, **_: Any
    ) -> dict[str, tuple[str, str]] | None:
        url, task_id = status.get("kapacitorURL"), status.get("taskID")
        if not (url and task_id):
            return None
        return {str(url): ("flux" if spec.get("type") == "flux" else "tick", str(task_id))}

    @kopf.index(GROUP, VERSION, "kapacitortemplates", id="managed_templates", registry=registry)
    def managed_templates(*, status: kopf.Status, **_: Any) -> dict[str, str] | None:
        url, template_id = status.get("kapacitorURL"), status.get("templateID")
        return {str(url): str(template_id)} if url and template_id else None
