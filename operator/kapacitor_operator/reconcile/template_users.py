"""The nudge: a resource waiting for, or made from, a `Kapacitor` object or a
KapacitorTemplate is told when that object changes (and a template when its users do),
by a token written into its `REFS_ANNOTATION`. Its controller reconciles it on that
change, so the wait costs no polling and no spec write. No kopf here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.errors import KubeError

REFS_ANNOTATION = "kapacitor.operator.dev/refs-changed"
"""Written by the operator on resources whose kapacitorRef or templateRef target changed."""

log = logging.getLogger(__name__)


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


Bodies = Mapping[tuple[str, str], Mapping[str, Any]]
"""A controller's bodies by (namespace, name): who names whom is read from them, not
from kopf indexes over every object (kopf holds all handlers until such an index is
built, which made a resume at 10,000 tasks quadratic)."""


def naming(bodies: Bodies, field: str, namespace: str, target: str) -> list[str]:
    """Names of the objects in `namespace` whose `spec.<field>.name` is `target`, sorted."""
    found = []
    for (ns, name), body in list(bodies.items()):
        ref = (body.get("spec") or {}).get(field) or {}
        if ns == namespace and isinstance(ref, Mapping) and ref.get("name") == target:
            found.append(name)
    return sorted(found)


def template_users(tasks: Bodies, namespace: str, template: str) -> list[str]:
    """Names of the KapacitorTasks whose templateRef names the KapacitorTemplate
    `namespace/template`, sorted."""
    return naming(tasks, "templateRef", namespace, template)
