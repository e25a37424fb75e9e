"""Bodies as a controller holds them: small, and shared where they repeat.

A controller holds every object of its kind (about 7 KiB of Python objects for a synced
KapacitorTask). Most of its strings repeat from object to object: keys, kinds, condition
types, reasons and statuses, namespaces, URLs. Each parsed response has its own copies;
`compact` makes them one (interned), which halves a held body. `metadata.managedFields`,
which nothing here reads and which is about half of a body as listed, is dropped.
"""

from __future__ import annotations

import sys
from typing import Any

SHARED_LEN = 64
"""Strings up to this length are interned; longer ones (scripts, messages) rarely repeat."""


def _shared(value: Any) -> Any:
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= SHARED_LEN else value
    if isinstance(value, dict):
        return {sys.intern(k): _shared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared(v) for v in value]
    return value


def compact(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of `body` without `metadata.managedFields`, its short strings interned. No
    container is shared with `body`, so neither changes the other."""
    meta = body.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        body = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    shared: dict[str, Any] = _shared(body)
    return shared
