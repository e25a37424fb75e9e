"""API paths of the resources the operator touches, and the two answers that are not errors.

Paths are built in one place so every name is URL-quoted the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import quote

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.k8s.errors import KubeConflict, KubeNotFound

T = TypeVar("T")


def namespaced(prefix: str, namespace: str, resource: str, name: str = "") -> str:
    path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{resource}"
    return f"{path}/{quote(name, safe='')}" if name else path


def core_path(namespace: str, resource: str, name: str = "") -> str:
    return namespaced("/api/v1", namespace, resource, name)


def jobs_path(namespace: str, name: str = "") -> str:
    return namespaced("/apis/batch/v1", namespace, "jobs", name)


def custom_path(namespace: str, plural: str, name: str = "") -> str:
    return namespaced(f"/apis/{GROUP}/{VERSION}", namespace, plural, name)


def leases_path(namespace: str, name: str = "") -> str:
    return namespaced("/apis/coordination.k8s.io/v1", namespace, "leases", name)


async def or_none(call: Awaitable[T]) -> T | None:
    """The call's answer; None when the object is absent (404)."""
    try:
        return await call
    except KubeNotFound:
        return None


async def unless_exists(call: Awaitable[T]) -> T | None:
    """The create's answer; None when an object of that name exists already."""
    try:
        return await call
    except KubeConflict as exc:
        if exc.already_exists:
            return None
        raise
