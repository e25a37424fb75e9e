"""Read the option values a KapacitorAlertHandler takes from Secrets and ConfigMaps.

Called only after the resource's Kapacitor URL passed the allow-list (issue 12): a
resource outside it never makes the operator read anything. Problems are the
connection's `ReferenceProblem`s, with messages that name objects and keys, never values.
"""

from __future__ import annotations

from typing import Protocol

from kapacitor_operator import conditions as c
from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.models.alerthandler import OptionFrom
from kapacitor_operator.reconcile.connection import (
    InvalidSecret,
    MissingReference,
    ReferenceForbidden,
    SecretKeyMissing,
)


class OptionSourceReader(Protocol):
    """The Kubernetes reads option values need (k8s/api.py)."""

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None: ...

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None: ...


class ConfigMapKeyNotFound(MissingReference):
    """The ConfigMap named by an optionsFrom entry, or its key, does not exist."""

    reason = c.CONFIGMAP_NOT_FOUND


async def read_option_values(
    refs: list[OptionFrom] | None, namespace: str, kube: OptionSourceReader
) -> dict[str, str]:
    """Option path -> value for every optionsFrom entry (each Secret read once).

    Raises:
        ReferenceProblem: a Secret or ConfigMap (or key) is missing, forbidden, or a
            Secret value is not UTF-8 text.
        KubeError: the API server failed otherwise.
    """
    values: dict[str, str] = {}
    secrets: dict[str, dict[str, str]] = {}
    for ref in refs or []:
        if ref.secretKeyRef is not None:
            name, key = ref.secretKeyRef.name, ref.secretKeyRef.key
            if name not in secrets:
                secrets[name] = await _secret(kube, namespace, name)
            data = secrets[name]
            if key not in data:
                raise SecretKeyMissing(
                    f"Secret {namespace}/{name} (optionsFrom {ref.path!r}) lacks key {key!r}; "
                    f"its keys: {', '.join(repr(k) for k in sorted(data)) or 'none'}"
                )
            if "\ufffd" in data[key]:
                raise InvalidSecret(
                    f"Secret {namespace}/{name} key {key!r} (optionsFrom {ref.path!r}) is not "
                    "UTF-8 text"
                )
            values[ref.path] = data[key]
        elif ref.configMapKeyRef is not None:
            name, key = ref.configMapKeyRef.name, ref.configMapKeyRef.key
            try:
                value = await kube.configmap_key(namespace, name, key)
            except KubeForbidden as exc:
                raise ReferenceForbidden(
                    f"The operator may not read ConfigMap {namespace}/{name}: {exc.message}"
                ) from exc
            if value is None:
                raise ConfigMapKeyNotFound(
                    f"ConfigMap key {namespace}/{name}[{key}] (optionsFrom {ref.path!r}) not found"
                )
            values[ref.path] = value
    return values


async def _secret(kube: OptionSourceReader, namespace: str, name: str) -> dict[str, str]:
    try:
        data = await kube.secret_data(namespace, name)
    except KubeForbidden as exc:
        raise ReferenceForbidden(
            f"The operator may not read Secret {namespace}/{name}: {exc.message}"
        ) from exc
    if data is None:
        raise MissingReference(f"Secret {namespace}/{name} not found")
    return data
