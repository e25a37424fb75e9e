"""Status writes of the `Kapacitor` kind (still on kopf handlers): only our keys that
changed, and a write made at once when dependents are nudged next, so they read it.

Who names a `Kapacitor` object (`kapacitorRef`) or a KapacitorTemplate (`templateRef`)
is read from the task and template controllers' bodies (reconcile/template_users.py),
not from kopf indexes: kopf holds every handler until an index over all objects is
built, which made a resume at 10,000 tasks quadratic.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.sync.status_patch import merge_patch

log = logging.getLogger(__name__)


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
