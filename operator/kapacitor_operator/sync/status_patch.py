"""The smallest status patch from what an object has to what it should have."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VOLATILE = ("lastSyncedAt",)
"""Written only together with a real change: a reconcile that finds nothing new writes
nothing at all."""


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`: nested keys that
    vanished become null (status writes are merge patches, so a template var that lost
    its default value would otherwise keep the old one); lists are replaced whole."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    out: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        if key not in old:
            out[key] = value
        elif old[key] != value:
            out[key] = merge_patch(old[key], value)
    return out


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch of the status keys that changed (lists whole, removed keys as null);
    empty when nothing but volatile keys would change. Status fields other writers own
    (kopf's bookkeeping of older versions) are left alone."""
    changed = {
        k: merge_patch(current.get(k), v)
        for k, v in desired.items()
        if current.get(k) != v and k not in VOLATILE
    }
    removed = [k for k in current if k not in desired and k != "kopf"]
    if not changed and not removed:
        return {}
    patch: dict[str, Any] = dict(changed)
    for key in VOLATILE:
        if key in desired and current.get(key) != desired[key]:
            patch[key] = desired[key]
    for key in removed:
        patch[key] = None
    return patch
