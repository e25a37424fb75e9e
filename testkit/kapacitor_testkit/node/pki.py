"""The node's certificates, issued from the control plane's CAs (node mode).

- The kubelet's client certificate: CN ``system:node:<name>``, O ``system:nodes``, which is
  what the Node authorizer and the NodeRestriction admission plugin recognise, so the
  kubelet may only touch its own Node and the Pods bound to it.
- The kubelet's serving certificate for the node IP, from the kubelet CA the apiserver
  verifies it with (``--kubelet-certificate-authority``), so ``kubectl logs`` is TLS
  checked end to end.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..certs import CertPaths, issue_cert, subject
from . import layout


@dataclass(frozen=True)
class KubeletCerts:
    """The kubelet's PEM files."""

    client_cert: Path
    client_key: Path
    serving_cert: Path
    serving_key: Path
    client_ca: Path
    """CA the kubelet accepts client certificates from (the apiserver's)."""
    serving_ca: Path
    """CA of the apiserver's serving certificate (in the kubelet's kubeconfig)."""


class NodeModeRequiredError(RuntimeError):
    """The control plane was not started in node mode (no CA keys for a node)."""


def issue_kubelet_certs(control_plane_certs: CertPaths, directory: Path) -> KubeletCerts:
    """Write the kubelet's client and serving certificates into ``directory``.

    Raises:
        NodeModeRequiredError: the control plane's certificates have no node material.
    """
    node = control_plane_certs.node
    if node is None:
        raise NodeModeRequiredError("a node needs a control plane started with node=True")
    directory.mkdir(parents=True, exist_ok=True)
    certs = KubeletCerts(
        client_cert=directory / "kubelet-client.crt",
        client_key=directory / "kubelet-client.key",
        serving_cert=directory / "kubelet.crt",
        serving_key=directory / "kubelet.key",
        client_ca=control_plane_certs.client_ca,
        serving_ca=control_plane_certs.serving_ca,
    )
    issue_cert(
        control_plane_certs.client_ca,
        node.client_ca_key,
        subject(f"system:node:{layout.NODE_NAME}", "system:nodes"),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        certs.client_cert,
        certs.client_key,
    )
    issue_cert(
        node.kubelet_ca,
        node.kubelet_ca_key,
        subject(f"system:node:{layout.NODE_NAME}", "system:nodes"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        certs.serving_cert,
        certs.serving_key,
        sans=[
            x509.DNSName(layout.NODE_NAME),
            x509.IPAddress(ipaddress.ip_address(layout.NODE_IP)),
        ],
    )
    return certs
