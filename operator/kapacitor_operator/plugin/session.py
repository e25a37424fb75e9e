"""The user's own Kubernetes identity: kubeconfig (or in-cluster) credentials, namespace
and impersonation, as kubectl would pick them. Everything the plugin asks of the API
server goes through the `Session` made here; it never looks for the operator's rights."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kapacitor_operator import __version__
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.client import KubeClient
from kapacitor_operator.k8s.credentials import (
    SERVICE_ACCOUNT_DIR,
    CredentialsError,
    KubeCredentials,
    kubeconfig_paths,
    load_in_cluster,
    load_kubeconfig,
)
from kapacitor_operator.k8s.errors import KubeForbidden, KubeNotFound
from kapacitor_operator.k8s.paths import custom_path
from kapacitor_operator.models.resources import CRDKind
from kapacitor_operator.plugin.errors import PluginError
from kapacitor_operator.plugin.exec_credentials import run_exec
from kapacitor_operator.plugin.names import qualified
from kapacitor_operator.plugin.options import GlobalOptions

USER_AGENT = f"kubectl-kapacitor/{__version__}"


def load_user_credentials(
    options: GlobalOptions,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> KubeCredentials:
    """--kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the Pod's ServiceAccount
    (kubectl's order).

    Raises:
        PluginError: no usable credentials (the message says why, never a secret).
    """
    env = os.environ if environ is None else environ
    try:
        if options.kubeconfig:
            return load_kubeconfig(
                [Path(options.kubeconfig)], context=options.context, exec_runner=run_exec
            )
        paths = kubeconfig_paths(env)
        if any(p.is_file() for p in paths) or not (
            env.get("KUBERNETES_SERVICE_HOST") and (service_account_dir / "token").is_file()
        ):
            return load_kubeconfig(paths, context=options.context, exec_runner=run_exec)
        return load_in_cluster(env, service_account_dir)
    except CredentialsError as exc:
        raise PluginError(str(exc)) from exc


def impersonation_headers(options: GlobalOptions) -> list[tuple[str, str]]:
    """kubectl's --as / --as-group as Impersonate-* headers.

    Raises:
        PluginError: --as-group without --as (the API server would refuse it too).
    """
    if options.as_groups and not options.as_user:
        raise PluginError("--as-group needs --as")
    headers = [("Impersonate-User", options.as_user)] if options.as_user else []
    headers.extend(("Impersonate-Group", group) for group in options.as_groups)
    return headers


@dataclass
class Session:
    """One API server, one identity, one default namespace."""

    credentials: KubeCredentials
    kube: KubeAPI
    namespace: str
    options: GlobalOptions
    headers: list[tuple[str, str]]

    @classmethod
    def open(cls, options: GlobalOptions) -> Session:
        """Raises:
        PluginError: no usable credentials.
        """
        credentials = load_user_credentials(options)
        headers = [("User-Agent", USER_AGENT), *impersonation_headers(options)]
        timeout = httpx.Timeout(options.request_timeout, connect=min(10.0, options.request_timeout))
        try:
            client = KubeClient(credentials, timeout=timeout, headers=headers)
        except CredentialsError as exc:
            raise PluginError(str(exc)) from exc
        namespace = options.namespace or credentials.namespace or "default"
        return cls(credentials, KubeAPI(client), namespace, options, headers)

    async def aclose(self) -> None:
        await self.kube.aclose()

    async def get_object(self, kind: CRDKind, name: str) -> dict[str, Any]:
        """One of our objects in the session's namespace.

        Raises:
            PluginError: absent or forbidden (the API server's words, as kubectl prints).
            KubeError: any other API failure.
        """
        path = custom_path(self.namespace, kind.plural, name)
        try:
            return await self.kube.client.json("GET", path)
        except KubeNotFound as exc:
            raise PluginError(
                f'{qualified(kind)} "{name}" not found in namespace "{self.namespace}"'
            ) from exc
        except KubeForbidden as exc:
            raise PluginError(exc.message) from exc
