"""Where the Kubernetes API server is and how to prove who we are, without `kubernetes`.

The official client package costs most of the operator's memory (issue 14), and we only
need the two sources it would read: the Pod's ServiceAccount (in-cluster) or a kubeconfig
($KUBECONFIG, else ~/.kube/config). kopf's login and our own client both start from the
one `KubeCredentials` this module returns, so they always talk to the same server as the
same identity. Credential plugins (`exec`, `auth-provider`) are refused: they run
arbitrary programs and the operator is meant to run in-cluster.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class CredentialsError(Exception):
    """No usable credentials. The message says why and never holds a secret."""


@dataclass(frozen=True)
class KubeCredentials:
    """One API server and one identity. Token, key and certificates stay out of repr."""

    server: str
    source: str  # "in-cluster" or "kubeconfig <path> (context <name>)", for log lines
    namespace: str = "default"
    ca_data: str | None = field(default=None, repr=False)  # PEM
    insecure: bool = False
    tls_server_name: str | None = None
    token: str | None = field(default=None, repr=False)
    # The token's file, reread while running: the kubelet rotates ServiceAccount tokens.
    token_file: str | None = None
    client_cert_data: str | None = field(default=None, repr=False)  # PEM
    client_key_data: str | None = field(default=None, repr=False)  # PEM


def load_credentials(
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    home: Path | None = None,
) -> KubeCredentials:
    """In-cluster credentials when running in a Pod with a token, else the kubeconfig.

    Raises:
        CredentialsError: neither source is usable (the message names the files tried).
    """
    env = os.environ if environ is None else environ
    if (
        env.get("KUBERNETES_SERVICE_HOST")
        and env.get("KUBERNETES_SERVICE_PORT")
        and (service_account_dir / "token").is_file()
    ):
        return load_in_cluster(env, service_account_dir)
    return load_kubeconfig(kubeconfig_paths(env, home))


def load_in_cluster(environ: Mapping[str, str], directory: Path) -> KubeCredentials:
    """The Pod's ServiceAccount: token, CA and namespace files plus the service env vars.

    Raises:
        CredentialsError: the token or CA file is unreadable or empty.
    """
    host, port = environ["KUBERNETES_SERVICE_HOST"], environ["KUBERNETES_SERVICE_PORT"]
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    token_file = directory / "token"
    namespace_file = directory / "namespace"
    namespace = read_text(namespace_file).strip() if namespace_file.is_file() else "default"
    return KubeCredentials(
        server=f"https://{host}:{port}",
        source="in-cluster",
        namespace=namespace or "default",
        ca_data=read_text(directory / "ca.crt"),
        token=read_token(str(token_file)),
        token_file=str(token_file),
    )


def kubeconfig_paths(environ: Mapping[str, str], home: Path | None = None) -> list[Path]:
    """$KUBECONFIG (a list, like $PATH), else ~/.kube/config."""
    listed = [Path(p) for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return listed
    return [(home or Path.home()) / ".kube" / "config"]


@dataclass(frozen=True)
class ExecResult:
    """What an `exec` credential plugin returned: a token, or a client certificate."""

    token: str | None = field(default=None, repr=False)
    client_cert_data: str | None = field(default=None, repr=False)
    client_key_data: str | None = field(default=None, repr=False)


# Runs a kubeconfig user's `exec` block (the block, the kubeconfig's directory, the
# cluster entry). Only the kubectl plugin passes one: the operator refuses exec users.
ExecRunner = Callable[[dict[str, Any], Path, dict[str, Any]], ExecResult]


def load_kubeconfig(
    paths: list[Path], *, context: str | None = None, exec_runner: ExecRunner | None = None
) -> KubeCredentials:
    """The current context (or `context`) of the merged kubeconfig files (the first file
    to name an entry wins).

    Relative file references are relative to the file that holds them, as in kubectl.
    `context` is kubectl's `--context` and `exec_runner` runs `exec` credential plugins,
    both for the kubectl plugin; without a runner, `exec` users are refused.

    Raises:
        CredentialsError: no file exists, the context, cluster or user is missing or uses
            an unsupported authentication method, or a referenced file is unreadable.
    """
    merged = _merge([(p, _read_yaml(p)) for p in paths if p.is_file()], paths)
    context_name = context or merged.current_context
    if not context_name:
        raise CredentialsError(f"kubeconfig {merged.describe()} has no current-context")
    chosen, _ = merged.entry("contexts", "context", context_name)
    cluster, cluster_dir = merged.entry("clusters", "cluster", str(chosen.get("cluster", "")))
    user_name = str(chosen.get("user", ""))
    user, user_dir = merged.entry("users", "user", user_name) if user_name else ({}, Path("."))
    where = f"kubeconfig {merged.describe()} (context {context_name})"
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise CredentialsError(f"{where}: cluster has no server")
    if cluster.get("proxy-url"):
        raise CredentialsError(f"{where}: cluster proxy-url is not supported")
    cert = _data_or_file(user, "client-certificate", user_dir, where)
    key = _data_or_file(user, "client-key", user_dir, where)
    if user.get("exec") and exec_runner is not None:
        result = exec_runner(dict(user["exec"]), user_dir, cluster)
        token, token_file = result.token, None
        cert = result.client_cert_data or cert
        key = result.client_key_data or key
    else:
        token, token_file = _user_token(user, user_dir, where)
    if bool(cert) != bool(key):
        raise CredentialsError(f"{where}: client certificate and client key come in pairs")
    return KubeCredentials(
        server=server,
        source=where,
        namespace=str(chosen.get("namespace") or "default"),
        ca_data=_data_or_file(cluster, "certificate-authority", cluster_dir, where),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=str(cluster.get("tls-server-name") or "") or None,
        token=token,
        token_file=token_file,
        client_cert_data=cert,
        client_key_data=key,
    )


def read_text(path: Path) -> str:
    """Raises:
    CredentialsError: the file is unreadable.
    """
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read {path}: {type(exc).__name__}") from exc


def read_token(path: str) -> str:
    """A bearer token file's content, stripped.

    Raises:
        CredentialsError: the file is unreadable or empty.
    """
    token = read_text(Path(path)).strip()
    if not token:
        raise CredentialsError(f"token file {path} is empty")
    return token


# --- kubeconfig internals -------------------------------------------------------------


@dataclass
class _Merged:
    paths: list[Path]
    current_context: str = ""
    # kind -> name -> (entry, directory of the file that defined it)
    named: dict[str, dict[str, tuple[dict[str, Any], Path]]] = field(default_factory=dict)

    def describe(self) -> str:
        return os.pathsep.join(str(p) for p in self.paths)

    def entry(self, kind: str, key: str, name: str) -> tuple[dict[str, Any], Path]:
        found = self.named.get(kind, {}).get(name)
        if found is None:
            raise CredentialsError(f"kubeconfig {self.describe()} has no {key} named {name!r}")
        body, directory = found
        return body.get(key) or {}, directory


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        raise CredentialsError(f"kubeconfig {path} is not valid YAML") from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CredentialsError(f"kubeconfig {path} is not a mapping")
    return doc


def _merge(docs: list[tuple[Path, dict[str, Any]]], paths: list[Path]) -> _Merged:
    if not docs:
        tried = ", ".join(str(p) for p in paths)
        raise CredentialsError(
            f"not running in a Pod with a ServiceAccount token, and no kubeconfig at {tried}"
        )
    merged = _Merged(paths=[p for p, _ in docs])
    for path, doc in docs:
        merged.current_context = merged.current_context or str(doc.get("current-context") or "")
        for kind in ("clusters", "users", "contexts"):
            for item in doc.get(kind) or []:
                if isinstance(item, dict) and item.get("name"):
                    table = merged.named.setdefault(kind, {})
                    table.setdefault(str(item["name"]), (item, path.parent))
    return merged


def _user_token(user: dict[str, Any], directory: Path, where: str) -> tuple[str | None, str | None]:
    if user.get("exec") or user.get("auth-provider"):
        method = "an exec credential plugin" if user.get("exec") else "an auth-provider"
        raise CredentialsError(
            f"{where}: the user authenticates with {method}, which kapacitor-operator does "
            "not run; use a token, a tokenFile or a client certificate (for example from "
            "`kubectl create token`), or run the operator in-cluster"
        )
    token_file = user.get("tokenFile")
    if token_file:
        path = str(directory / str(token_file))
        return read_token(path), path  # as in client-go, the file wins over `token`
    token = user.get("token")
    if token:
        return str(token), None
    has_cert = user.get("client-certificate") or user.get("client-certificate-data")
    if user.get("username") and not has_cert:
        raise CredentialsError(f"{where}: basic authentication (username) is not supported")
    return None, None


def _data_or_file(entry: dict[str, Any], key: str, directory: Path, where: str) -> str | None:
    """`<key>-data` (base64 PEM) or `<key>` (a file), as PEM text."""
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise CredentialsError(f"{where}: {key}-data is not base64 PEM") from exc
    path = entry.get(key)
    return read_text(directory / str(path)) if path else None
