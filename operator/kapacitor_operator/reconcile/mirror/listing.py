"""What every mirrored kind does the same way with a raw body: its claim (`MirrorKind`
claim, drift's server), and, for a drift pass (sync/drift.py `DriftKind`), a connection
to list that server with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

C = TypeVar("C")
ClaimKeyOf = Callable[[Mapping[str, Any], str, str, str], tuple[str, str, str]]
"""A kind's `claim_key(spec, namespace, name, default_url)`: (server URL, API, identity)."""


def claim_of(
    body: Mapping[str, Any], claim_key: ClaimKeyOf, default_url: str
) -> tuple[str, str, str]:
    """An object's claim: (server URL, API, identity), by its kind's `claim_key`."""
    meta = body.get("metadata") or {}
    return claim_key(
        body.get("spec") or {},
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
        default_url,
    )


def server_of(body: Mapping[str, Any], claim_key: ClaimKeyOf, default_url: str) -> str:
    """The server URL an object's claim names."""
    return claim_of(body, claim_key, default_url)[0]


async def first_client(
    server: str,
    bodies: list[Mapping[str, Any]],
    connect: Callable[[Mapping[str, Any]], Awaitable[C]],
) -> C:
    """The client of the first object whose connection resolves (a missing Secret, say,
    is that object's reconcile's to report, not the pass's).

    Raises:
        Exception: the last object's failure when none resolves.
    """
    problem: Exception | None = None
    for body in bodies:
        try:
            return await connect(body)
        except Exception as exc:  # this object's reconcile reports it
            problem = exc
    raise problem or ValueError(f"no object names {server}")
