"""Reaching an in-cluster Kapacitor Service from the user's machine through the API
server's service proxy (`/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/...`).

A URL such as `http://kapacitor.monitoring:9092` is what the operator's Pod dials; on a
laptop that name does not resolve. The proxy needs the `services/proxy` right (`get`,
`create`, `delete` and `patch` for the methods used) in the Service's namespace.

It cannot carry Kapacitor credentials: the API server removes the `Authorization` header
once it has authenticated the user, and Kapacitor's only other form (`?u=&p=`) would put
the password in a URL that API server audit logs record. So a Kapacitor with credentials
is reached another way (`kubectl port-forward` + `--kapacitor-url`), and the plugin says so.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from kapacitor_operator.k8s.auth import ssl_context
from kapacitor_operator.k8s.credentials import KubeCredentials
from kapacitor_operator.plugin.errors import PluginError

RESOLVE_TIMEOUT = 3.0


@dataclass(frozen=True)
class ServiceRef:
    """A Kubernetes Service named by a URL's host."""

    scheme: str
    name: str
    namespace: str
    port: int

    def proxy_base(self, server: str) -> str:
        """The API server URL that proxies to this Service's port."""
        scheme = "https:" if self.scheme == "https" else ""
        target = quote(f"{scheme}{self.name}:{self.port}", safe=":")
        ns = quote(self.namespace, safe="")
        return f"{server.rstrip('/')}/api/v1/namespaces/{ns}/services/{target}/proxy"


def service_ref(url: str, default_namespace: str) -> ServiceRef | None:
    """The Service a URL's host names, as cluster DNS would read it, or None.

    `name` (in `default_namespace`), `name.namespace`, `name.namespace.svc` and
    `name.namespace.svc.<cluster domain>` are Services; IP addresses and other dotted
    names are not.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or _is_ip(host):
        return None
    labels = host.rstrip(".").split(".")
    if len(labels) == 1:
        name, namespace = labels[0], default_namespace
    elif len(labels) == 2 or (len(labels) >= 3 and labels[2] == "svc"):
        name, namespace = labels[0], labels[1]
    else:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme or "http"
    return ServiceRef(scheme, name, namespace, port or (443 if scheme == "https" else 80))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolves(host: str) -> bool:
    """Whether this machine can resolve `host` (within RESOLVE_TIMEOUT seconds)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return False
    return True


async def use_proxy(mode: str, url: str, default_namespace: str) -> ServiceRef | None:
    """The Service to proxy to under `--service-proxy=mode`, or None to dial directly.

    Raises:
        PluginError: `always`, but the URL names no Service.
    """
    ref = service_ref(url, default_namespace)
    if mode == "never":
        return None
    if mode == "always":
        if ref is None:
            raise PluginError(
                f"--service-proxy=always: {url} does not name a Service "
                "(use name, name.namespace or name.namespace.svc)"
            )
        return ref
    if ref is None:
        return None
    host = urlsplit(url).hostname or ""
    return None if await resolves(host) else ref


def proxy_client(
    credentials: KubeCredentials,
    ref: ServiceRef,
    headers: list[tuple[str, str]],
    timeout: httpx.Timeout,
) -> httpx.AsyncClient:
    """An httpx client whose relative paths reach the Service through the API server,
    authenticated as the user (token or client certificate, plus impersonation)."""
    all_headers = list(headers)
    if credentials.token:
        all_headers.append(("Authorization", f"Bearer {credentials.token}"))
    https = credentials.server.startswith("https:")
    return httpx.AsyncClient(
        base_url=ref.proxy_base(credentials.server),
        headers=httpx.Headers(all_headers),
        verify=ssl_context(credentials) if https else True,
        timeout=timeout,
        trust_env=False,
    )
