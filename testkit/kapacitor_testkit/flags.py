"""Command lines of the control-plane components, as pure functions.

Kept apart from the process handling so the exact flags are easy to review and to quote
in docs/control-plane.md. The apiserver set is controller-runtime envtest's (≥1.24) plus
``--advertise-address=127.0.0.1 --endpoint-reconciler-type=none``; unlike envtest we keep
the ServiceAccount admission plugin, because kube-controller-manager runs and creates the
``default`` ServiceAccount in every namespace, as in a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .audit import AuditFiles
from .certs import CertPaths

#: Fixed rather than derived from the port, so tokens stay comparable across runs.
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: Only used to allocate ClusterIPs; nothing ever dials into it (no kube-proxy).
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
CLUSTER_NAME = "kapacitor-operator-test"
#: What serves MutatingAdmissionPolicy on a 1.34 or 1.35 kube-apiserver.
MAP_FEATURE_GATE = "MutatingAdmissionPolicy"
MAP_RUNTIME_CONFIG = "admissionregistration.k8s.io/v1beta1"


@dataclass(frozen=True)
class EtcdPorts:
    """Loopback ports of one etcd attempt."""

    client: int
    peer: int

    @property
    def client_url(self) -> str:
        """URL for --etcd-servers and the /health probe."""
        return f"http://127.0.0.1:{self.client}"

    @property
    def peer_url(self) -> str:
        """Peer URL: a single-member cluster still needs one."""
        return f"http://127.0.0.1:{self.peer}"


def etcd_args(etcd: Path, data_dir: Path, ports: EtcdPorts, *, no_fsync: bool) -> list[str]:
    """argv for a single-member, loopback-only etcd."""
    args = [
        str(etcd),
        "--name=kapacitor-operator-test",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={ports.client_url}",
        f"--advertise-client-urls={ports.client_url}",
        f"--listen-peer-urls={ports.peer_url}",
        f"--initial-advertise-peer-urls={ports.peer_url}",
        f"--initial-cluster=kapacitor-operator-test={ports.peer_url}",
        "--logger=zap",
        "--log-level=warn",
    ]
    if no_fsync:
        # Test data is disposable; fsync dominates etcd latency on CI disks.
        args.append("--unsafe-no-fsync=true")
    return args


@dataclass(frozen=True)
class ApiserverEndpoint:
    """Where the apiserver listens, and the Service CIDR whose first address is its
    ClusterIP."""

    address: str
    port: int
    service_cidr: str


def loopback_endpoint(port: int) -> ApiserverEndpoint:
    """The plain mode: a random loopback port; nothing ever dials the Service CIDR."""
    return ApiserverEndpoint("127.0.0.1", port, SERVICE_CLUSTER_IP_RANGE)


def apiserver_args(
    apiserver: Path,
    certs: CertPaths,
    etcd_url: str,
    endpoint: ApiserverEndpoint,
    audit: AuditFiles | None = None,
) -> list[str]:
    """argv for kube-apiserver serving TLS on ``endpoint``.

    With node material in ``certs`` (node mode) the apiserver also authorizes kubelets
    (the Node authorizer before RBAC, the NodeRestriction admission plugin) and reaches
    them for logs with a client certificate, verifying their serving certificates.
    """
    args = [
        str(apiserver),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={endpoint.address}",
        f"--secure-port={endpoint.port}",
        # Without these two the apiserver guesses a host interface and reconciles the
        # `kubernetes` Endpoints to it; our own address + none keeps all traffic local and
        # quiet (Pods need only the Service's ClusterIP, which in node mode is this address).
        f"--advertise-address={endpoint.address}",
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={certs.serving_cert}",
        f"--tls-private-key-file={certs.serving_key}",
        f"--client-ca-file={certs.client_ca}",
        "--allow-privileged=true",
        f"--service-cluster-ip-range={endpoint.service_cidr}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        # One RSA private-key PEM is both the verifying and the signing key.
        f"--service-account-key-file={certs.service_account_key}",
        f"--service-account-signing-key-file={certs.service_account_key}",
        # MutatingAdmissionPolicy is beta (off by default) until Kubernetes 1.36; the
        # chart installs one where the cluster serves it, to put the operator's
        # finalizer on at creation (docs/helm.md). Serving it here tests that path.
        f"--feature-gates={MAP_FEATURE_GATE}=true",
        f"--runtime-config={MAP_RUNTIME_CONFIG}=true",
    ]
    if audit is not None:
        args += [f"--audit-policy-file={audit.policy}", f"--audit-log-path={audit.log}"]
    if certs.node is None:
        # The default is AlwaysAllow; RBAC makes permission bugs visible in tests.
        return [*args, "--authorization-mode=RBAC"]
    return [
        *args,
        "--authorization-mode=Node,RBAC",
        # PodNodeSelector: a namespace annotation can keep its Pods off the node, for
        # tests that still play the kubelet themselves (tests/e2e/conftest.py).
        "--enable-admission-plugins=NodeRestriction,PodNodeSelector",
        f"--kubelet-client-certificate={certs.node.kubelet_client_cert}",
        f"--kubelet-client-key={certs.node.kubelet_client_key}",
        f"--kubelet-certificate-authority={certs.node.kubelet_ca}",
        # The node has no DNS name anyone resolves: dial its InternalIP.
        "--kubelet-preferred-address-types=InternalIP",
    ]


def controller_manager_args(
    controller_manager: Path, certs: CertPaths, kubeconfig: Path
) -> list[str]:
    """argv for kube-controller-manager talking to the apiserver as ``admin``."""
    return [
        str(controller_manager),
        f"--kubeconfig={kubeconfig}",
        # No serving port: nothing scrapes it, and it would be one more port to race for.
        # Readiness is judged from its effects (the `default` ServiceAccount) instead.
        "--secure-port=0",
        "--leader-elect=false",
        # Every default-on controller: job, garbage-collector, namespace, serviceaccount,
        # serviceaccount-token, root-ca-certificate-publisher, pod-garbage-collector, ...
        "--controllers=*",
        # Controllers act with the admin identity instead of per-controller SAs: fewer
        # moving parts, and RBAC of the code under test is still enforced.
        "--use-service-account-credentials=false",
        # serviceaccount-token controller (legacy token Secrets) and the
        # kube-root-ca.crt ConfigMap published into every namespace.
        f"--service-account-private-key-file={certs.service_account_key}",
        f"--root-ca-file={certs.serving_ca}",
        f"--cluster-name={CLUSTER_NAME}",
    ]
