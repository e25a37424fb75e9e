"""Admin kubeconfig for the test control plane, and pointing clients at it.

The kubeconfig embeds the certificate data so it stays valid if copied elsewhere (a CI
artifact, a debugging shell). ``setup_kube_env`` exists because of an import-time trap:
``kubernetes.config.kube_config`` reads ``$KUBECONFIG`` once, when first imported, and
kopf's ``login_via_client`` uses that cached default; setting the variable later is not
enough (see docs/control-plane.md).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CLUSTER_NAME = "kapacitor-operator-test"
USER_NAME = "admin"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def build_kubeconfig(
    server_url: str, ca_path: Path, cert_path: Path, key_path: Path
) -> dict[str, Any]:
    """Kubeconfig document with one cluster, one user and one current context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": _b64(ca_path),
                },
            }
        ],
        "users": [
            {
                "name": USER_NAME,
                "user": {
                    "client-certificate-data": _b64(cert_path),
                    "client-key-data": _b64(key_path),
                },
            }
        ],
        "contexts": [
            {
                "name": CLUSTER_NAME,
                "context": {"cluster": CLUSTER_NAME, "user": USER_NAME, "namespace": "default"},
            }
        ],
        "current-context": CLUSTER_NAME,
    }


def write_kubeconfig(
    path: Path, server_url: str, ca_path: Path, cert_path: Path, key_path: Path
) -> Path:
    """Write the admin kubeconfig to ``path`` (mode 0600) and return the path."""
    doc = build_kubeconfig(server_url, ca_path, cert_path, key_path)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class KubeEnvSnapshot:
    """What :func:`setup_kube_env` replaced, so :func:`restore_kube_env` can put it back."""

    kubeconfig_env: str | None
    default_location: str


def setup_kube_env(kubeconfig_path: Path | str) -> KubeEnvSnapshot:
    """Make every Kubernetes client in this process use ``kubeconfig_path``.

    Sets ``$KUBECONFIG`` (for subprocesses such as kubectl/helm and for code that reads the
    variable) and patches ``kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION``,
    which the kubernetes package froze at import time and kopf relies on.
    """
    from kubernetes.config import kube_config  # local: only e2e tests need the package

    path = str(kubeconfig_path)
    snapshot = KubeEnvSnapshot(
        kubeconfig_env=os.environ.get("KUBECONFIG"),
        default_location=str(kube_config.KUBE_CONFIG_DEFAULT_LOCATION),
    )
    os.environ["KUBECONFIG"] = path
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = path
    return snapshot


def restore_kube_env(snapshot: KubeEnvSnapshot) -> None:
    """Undo :func:`setup_kube_env`."""
    from kubernetes.config import kube_config

    if snapshot.kubeconfig_env is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = snapshot.kubeconfig_env
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = snapshot.default_location
