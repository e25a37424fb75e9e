"""The operator's default Kapacitor connection, for resources without `spec.kapacitor`.

The plugin has no configuration of its own to agree with the operator's, so it reads the
operator's Deployment (the Helm chart's labels) the way the operator's Pod gets its
settings: `KAPACITOR_URL` and friends from the container's env, credentials from the
Secret keys that env names, read with the user's rights. `--kapacitor-url` avoids all of
this (the user then needs no right on the operator's namespace).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.k8s.paths import namespaced
from kapacitor_operator.kapacitor.pool import Connection
from kapacitor_operator.plugin.errors import PluginError

OPERATOR_SELECTOR = "app.kubernetes.io/name=kapacitor-operator"
DEFAULT_OPERATOR_NAMESPACE = "kapacitor-operator"
_DEFAULT_URL = Settings().kapacitor_url


@dataclass(frozen=True)
class OperatorDefault:
    """The default connection and the namespace the operator (and its DNS) lives in."""

    connection: Connection
    namespace: str
    deployment: str


async def find_operator(kube: KubeAPI, namespace: str | None) -> dict[str, Any]:
    """The operator's Deployment: in `namespace` if given, else in `kapacitor-operator`,
    else anywhere the user may list.

    Raises:
        PluginError: none found, several found, or listing is forbidden.
    """
    namespaces = [namespace] if namespace else [DEFAULT_OPERATOR_NAMESPACE, None]
    forbidden: list[str] = []
    for ns in namespaces:
        path = namespaced("/apis/apps/v1", ns, "deployments") if ns else "/apis/apps/v1/deployments"
        try:
            found = await kube.client.json("GET", path, params={"labelSelector": OPERATOR_SELECTOR})
        except KubeForbidden as exc:
            forbidden.append(exc.message)
            continue
        items = list(found.get("items") or [])
        if len(items) == 1:
            return dict(items[0])
        if len(items) > 1:
            where = ", ".join(
                f"{i['metadata'].get('namespace')}/{i['metadata'].get('name')}" for i in items
            )
            raise PluginError(
                f"several kapacitor-operator Deployments ({where}): pass --operator-namespace "
                "or --kapacitor-url"
            )
    why = f" ({forbidden[-1]})" if forbidden else ""
    raise PluginError(
        "the resource has no spec.kapacitor and no kapacitor-operator Deployment was found "
        f"to read the default connection from{why}: pass --kapacitor-url (and "
        "--operator-namespace if the operator runs elsewhere)"
    )


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers"
    ) or []
    for container in containers:
        if container.get("name") == "operator":
            return dict(container)
    if not containers:
        raise PluginError("the kapacitor-operator Deployment has no container")
    return dict(containers[0])


async def _env_value(kube: KubeAPI, namespace: str, item: dict[str, Any]) -> str:
    """An env var's value: literal, or from a Secret/ConfigMap key read with the user's rights.

    Raises:
        PluginError: the user may not read the Secret the value comes from.
    """
    if "value" in item:
        return str(item.get("value") or "")
    source = item.get("valueFrom") or {}
    if ref := source.get("secretKeyRef"):
        try:
            data = await kube.secret_data(namespace, str(ref.get("name")))
        except KubeForbidden as exc:
            raise PluginError(
                f"you may not read Secret {namespace}/{ref.get('name')}, which holds the "
                f"operator's default Kapacitor credentials ({exc.message}); kubectl kapacitor "
                "acts with your own rights, never the operator's"
            ) from exc
        return (data or {}).get(str(ref.get("key")), "")
    if ref := source.get("configMapKeyRef"):
        value = await kube.configmap_key(namespace, str(ref.get("name")), str(ref.get("key")))
        return value or ""
    return ""


async def _ca_pem(kube: KubeAPI, namespace: str, pod: dict[str, Any], path: str) -> str:
    """The CA bundle at `path` in the operator's container, from the volume mounted there."""
    directory, key = posixpath.split(path)
    mounts = {m.get("mountPath", "").rstrip("/"): m.get("name") for m in _mounts(pod)}
    volume_name = mounts.get(directory.rstrip("/"))
    for volume in pod.get("volumes") or []:
        if volume.get("name") != volume_name:
            continue
        if secret := volume.get("secret"):
            items = {i.get("path"): i.get("key") for i in secret.get("items") or []}
            data = await kube.secret_data(namespace, str(secret.get("secretName")))
            return (data or {}).get(items.get(key, key), "")
        if config_map := volume.get("configMap"):
            items = {i.get("path"): i.get("key") for i in config_map.get("items") or []}
            name = str(config_map.get("name"))
            return await kube.configmap_key(namespace, name, items.get(key, key)) or ""
    raise PluginError(
        f"cannot tell where the operator's KAPACITOR_CA_FILE ({path}) comes from: pass "
        "--kapacitor-url and reach Kapacitor another way"
    )


def _mounts(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for c in pod.get("containers") or [] for m in c.get("volumeMounts") or []]


async def operator_default(kube: KubeAPI, namespace: str | None) -> OperatorDefault:
    """The operator's default connection, read from its Deployment with the user's rights.

    Raises:
        PluginError: no Deployment, or a Secret the user may not read.
        KubeError: the API server failed.
    """
    deployment = await find_operator(kube, namespace)
    ns = str(deployment["metadata"].get("namespace"))
    container = _container(deployment)
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        env[str(item.get("name"))] = await _env_value(kube, ns, item)
    ca_pem = ""
    if env.get("KAPACITOR_CA_FILE"):
        pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
        try:
            ca_pem = await _ca_pem(kube, ns, pod, env["KAPACITOR_CA_FILE"])
        except KubeForbidden as exc:
            raise PluginError(
                f"you may not read the operator's Kapacitor CA: {exc.message}"
            ) from exc
    connection = Connection(
        url=env.get("KAPACITOR_URL") or _DEFAULT_URL,
        username=env.get("KAPACITOR_USERNAME", ""),
        password=env.get("KAPACITOR_PASSWORD", ""),
        token=env.get("KAPACITOR_TOKEN", ""),
        ca_pem=ca_pem,
        insecure_skip_verify=env.get("KAPACITOR_INSECURE_SKIP_VERIFY", "").lower()
        in {"1", "true", "yes", "on"},
    )
    return OperatorDefault(connection, ns, str(deployment["metadata"].get("name")))
