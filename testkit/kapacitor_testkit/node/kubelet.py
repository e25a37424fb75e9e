"""The kubelet's configuration and command line, as pure functions.

Kept apart from process handling so every setting can be read (and quoted in
docs/node.md) in one place. Why the non-default ones:

- ``failCgroupV1: false``: this machine kind runs cgroup v1, which 1.35 refuses by default.
- ``cgroupDriver: cgroupfs`` (no systemd) and a ``cgroupRoot`` of our own, so every Pod
  lives under one cgroup that teardown removes.
- image GC off (high threshold 100%): imported images cannot be pulled again, so the
  kubelet must never delete them.
- ``makeIPTablesUtilChains: false``: the kubelet would otherwise add KUBE-* chains and an
  INPUT/OUTPUT jump to the host's iptables, which nothing here needs.
- x509 client authentication (the apiserver's CA) + webhook authorization: the apiserver
  reaches the kubelet for ``kubectl logs`` with a certificate, anything else is refused.
- serving on the node IP with a certificate for it; no read-only port, no healthz port.
- Hard eviction thresholds near zero: a CI disk at 85% must not evict test Pods.
- Every directory the kubelet writes (root dir, Pod logs, volume plugins, certificates)
  under the node's state directories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import layout
from .pki import KubeletCerts


def build_config(certs: KubeletCerts) -> dict[str, Any]:
    """The KubeletConfiguration document."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": layout.CGROUP_ROOT,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        "containerRuntimeEndpoint": f"unix://{layout.CONTAINERD_SOCKET}",
        "imageServiceEndpoint": f"unix://{layout.CONTAINERD_SOCKET}",
        "address": layout.NODE_IP,
        "port": layout.KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzPort": 0,
        "tlsCertFile": str(certs.serving_cert),
        "tlsPrivateKeyFile": str(certs.serving_key),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "30s"},
            "x509": {"clientCAFile": str(certs.client_ca)},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "30s", "cacheUnauthorizedTTL": "5s"},
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "makeIPTablesUtilChains": False,
        "failSwapOn": False,
        # No cluster DNS: Pods reach the API and test servers by IP.
        "resolvConf": "",
        "podLogsDir": str(layout.POD_LOGS_DIR),
        "volumePluginDir": str(layout.STATE_DIR / "volume-plugins"),
        "registerNode": True,
        # Quick status updates: tests poll Pod and Node status.
        "nodeStatusUpdateFrequency": "5s",
        "syncFrequency": "10s",
        "serializeImagePulls": False,
    }


def write_config(path: Path, certs: KubeletCerts) -> Path:
    """Write the KubeletConfiguration to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(build_config(certs), sort_keys=False))
    return path


def kubelet_args(kubelet: Path, config: Path, kubeconfig: Path, cert_dir: Path) -> list[str]:
    """argv of the kubelet (everything else is in its configuration file)."""
    return [
        str(kubelet),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={layout.KUBELET_ROOT}",
        f"--cert-dir={cert_dir}",
        f"--node-ip={layout.NODE_IP}",
        f"--hostname-override={layout.NODE_NAME}",
        "--v=1",
    ]


def scheduler_args(scheduler: Path, kubeconfig: Path, port: int) -> list[str]:
    """argv of kube-scheduler: the admin identity, serving /healthz on a loopback port."""
    return [
        str(scheduler),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
    ]
