"""Who names whom: kopf indexes over kapacitorRef and the managed IDs, and the status
writes of the `Kapacitor` kind.

A resource waiting for a `Kapacitor` object must be reconciled again when that object
appears or changes. Its handler writes a token into the dependents' `REFS_ANNOTATION`;
their controllers (sync/controller.py, `nudge_annotation`) watch that one annotation, so
the wait costs no polling and no spec write. Who names a KapacitorTemplate
(`templateRef`) is read from the KapacitorTask controller's bodies, not from an index
over every task (runtime.py).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.sync.status_patch import merge_patch

log = logging.getLogger(__name__)


def _ref(spec: Any, field: str) -> str | None:
    value = (spec or {}).get(field) or {}
    name = value.get("name") if isinstance(value, dict) else None
    return str(name) if name else None


def status_patch(
    current: dict[str, Any], desired: dict[str, Any], volatile: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Our status keys that changed, as a merge patch (status.kopf is kopf's). Keys in
    `volatile` (timestamps) are written only together with a real change."""
    current = {k: v for k, v in current.items() if k != "kopf"}
    diff = merge_patch(current, desired)
    if not any(k not in volatile for k in diff):
        return {}
    return dict(diff)


def apply_merged(
    patch: kopf.Patch, body: Any, desired: dict[str, Any], volatile: tuple[str, ...] = ()
) -> bool:
    """Put the status changes into kopf's patch; False when there are none."""
    diff = status_patch(dict(body.get("status") or {}), desired, volatile)
    for key, value in diff.items():
        patch.status[key] = value
    return bool(diff)


async def persist_status(kube: KubeAPI, plural: str, body: Any, desired: dict[str, Any]) -> bool:
    """Write our status keys now (kopf would write them only after the handler returns),
    so a dependent nudged next reads the new state. False if the write failed; the
    caller then leaves the status to kopf's patch and skips the nudge.
    """
    patch = status_patch(dict(body.get("status") or {}), desired)
    meta = body.get("metadata") or {}
    try:
        await kube.patch_status(str(meta.get("namespace")), plural, str(meta.get("name")), patch)
    except KubeError as exc:
        log.info("could not write the status of %s %s: %s", plural, meta.get("name"), exc)
        return False
    return True


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
