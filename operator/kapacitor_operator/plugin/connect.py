"""Which Kapacitor a resource targets and how the user's machine reaches it.

The URL is `--kapacitor-url`, else the resource's `spec.kapacitor.url`, else the
operator's default (read from its Deployment). Credentials come from the resource's
`credentialsSecretRef`, read with the user's rights, the same resolution the operator
uses (reconcile/connection.py). A user who may not read that Secret is told so and the
command stops: the plugin never borrows the operator's rights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import TracebackType

import httpx

from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.kapacitor.pool import Connection
from kapacitor_operator.models.common import KapacitorConnection, LocalObjectRef
from kapacitor_operator.plugin.errors import PluginError
from kapacitor_operator.plugin.operator_default import (
    DEFAULT_OPERATOR_NAMESPACE,
    operator_default,
)
from kapacitor_operator.plugin.service_proxy import proxy_client, use_proxy
from kapacitor_operator.plugin.session import USER_AGENT, Session
from kapacitor_operator.reconcile.connection import (
    ReferenceForbidden,
    ReferenceProblem,
    resolve_connection,
)
from kapacitor_operator.reconcile.kapacitor_ref import connection_spec

# The operator's allow-list of Kapacitor URLs guards the operator's rights; the plugin
# sends the user's own Secret with the user's own rights, wherever the resource says.
_USER_SETTINGS = Settings(allowed_kapacitor_urls=("*",))


@dataclass(frozen=True)
class Target:
    """A Kapacitor server for one resource: the connection, and the namespace a
    single-label Service name in its URL lives in (the operator's, whose Pod dials it)."""

    connection: Connection
    service_namespace: str
    source: str  # "spec", "operator" or "flag": where the URL came from


@dataclass
class Reached:
    """An open client and how it gets there."""

    client: KapacitorClient
    url: str
    via: str  # "direct" or "service-proxy <namespace>/<name>:<port>"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Reached:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the client; a Kapacitor failure becomes one error line naming the server."""
        await self.aclose()
        if isinstance(exc, KapacitorError):
            where = self.url if self.via == "direct" else f"{self.url} ({self.via})"
            raise PluginError(f"Kapacitor at {where}: {exc}") from exc


def _forbidden_secret(namespace: str, spec: KapacitorConnection, exc: Exception) -> str:
    refs = [r.name for r in (spec.credentialsSecretRef,) if r is not None]
    if spec.tls is not None and spec.tls.caSecretRef is not None:
        refs.append(spec.tls.caSecretRef.name)
    names = " or ".join(f"{namespace}/{r}" for r in refs) or "a Secret"
    cause = exc.__cause__ if isinstance(exc.__cause__, KubeForbidden) else exc
    message = cause.message if isinstance(cause, KubeForbidden) else str(cause)
    return (
        f"you may not read Secret {names}, which holds this resource's Kapacitor credentials "
        f"({message}); kubectl kapacitor acts with your own rights, never the operator's: "
        "ask for `get` on that Secret"
    )


async def resolve_target(
    session: Session,
    spec: KapacitorConnection | None,
    namespace: str,
    ref: LocalObjectRef | None = None,
) -> Target:
    """The server and credentials a resource in `namespace` with `spec.kapacitor` (or a
    `spec.kapacitorRef` naming a `Kapacitor` object) targets.

    Raises:
        PluginError: a Secret or the named Kapacitor is missing or forbidden, or no
            default connection is known.
        KubeError: the API server failed.
    """
    if ref is not None:
        try:
            spec = await connection_spec(None, ref, namespace, session.kube, require_ready=False)
        except ReferenceProblem as exc:
            raise PluginError(exc.message) from exc
    flag_url = session.options.kapacitor_url
    operator_ns = session.options.operator_namespace or DEFAULT_OPERATOR_NAMESPACE
    if spec is None:
        if flag_url:
            return Target(Connection(url=flag_url), operator_ns, "flag")
        default = await operator_default(session.kube, session.options.operator_namespace)
        return Target(default.connection, default.namespace, "operator")
    try:
        # Settings only serve resources without spec.kapacitor (handled above) and the
        # URL check, which allows any well-formed URL here.
        connection = await resolve_connection(spec, namespace, _USER_SETTINGS, session.kube)
    except (KubeForbidden, ReferenceForbidden) as exc:
        raise PluginError(_forbidden_secret(namespace, spec, exc)) from exc
    except ReferenceProblem as exc:
        raise PluginError(exc.message) from exc
    if flag_url:
        return Target(replace(connection, url=flag_url), operator_ns, "flag")
    return Target(connection, operator_ns, "spec")


def _has_credentials(connection: Connection) -> bool:
    return bool(connection.username or connection.password or connection.token)


async def open_kapacitor(session: Session, target: Target) -> Reached:
    """A client for the target: direct, or through the API server's service proxy.

    Raises:
        PluginError: the proxy is needed but Kapacitor needs credentials (see
            service_proxy.py), or --service-proxy=always names no Service.
    """
    options = session.options
    timeout = httpx.Timeout(options.request_timeout, connect=min(10.0, options.request_timeout))
    url = target.connection.normalized_url
    ref = await use_proxy(options.service_proxy, url, target.service_namespace)
    if ref is None:
        http = httpx.AsyncClient(
            base_url=url,
            auth=target.connection.auth(),
            verify=target.connection.verify(),
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
        )
        return Reached(KapacitorClient(http, quick_retries=1), url, "direct")
    if _has_credentials(target.connection):
        raise PluginError(
            f"{url} is reachable from here only through the API server's service proxy, "
            "which cannot carry Kapacitor credentials (the API server drops the "
            "Authorization header): run `kubectl port-forward -n "
            f"{ref.namespace} svc/{ref.name} {ref.port}` and pass "
            f"--kapacitor-url http://localhost:{ref.port}"
        )
    http = proxy_client(session.credentials, ref, session.headers, timeout)
    via = f"service-proxy {ref.namespace}/{ref.name}:{ref.port}"
    return Reached(KapacitorClient(http, quick_retries=1), url, via)
