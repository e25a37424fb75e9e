"""Admin kubeconfig for the test control plane, and pointing clients at it.

The kubeconfig embeds the certificate data so it stays valid if copied elsewhere (a CI
artifact, a debugging shell). Every client reads ``$KUBECONFIG`` when it loads its
credentials (the operator's own loader, kubectl, helm), so setting the variable is
enough: the operator no longer uses the ``kubernetes`` package, whose import-time copy
of the variable once made this module patch it too.
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


def setup_kube_env(kubeconfig_path: Path | str) -> KubeEnvSnapshot:
    """Point ``$KUBECONFIG`` (this process and its children) at ``kubeconfig_path``."""
    snapshot = KubeEnvSnapshot(kubeconfig_env=os.environ.get("KUBECONFIG"))
    os.environ["KUBECONFIG"] = str(kubeconfig_path)
    return snapshot


def restore_kube_env(snapshot: KubeEnvSnapshot) -> None:
    """Undo :func:`setup_kube_env`."""
    if snapshot.kubeconfig_env is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = snapshot.kubeconfig_env
