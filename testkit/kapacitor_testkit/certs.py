"""Throw-away PKI for the test control plane.

kube-apiserver needs a serving certificate, a CA to verify client certificates and a key
pair to sign ServiceAccount tokens. We make them per control plane with ``cryptography``
instead of shelling out to openssl/cfssl, so the suite needs no extra tools and no secret
ever outlives the temp directory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Long enough for any test session, short enough to be useless if leaked.
VALIDITY = dt.timedelta(days=7)
#: Tolerate a little clock skew between the test host and the certificates.
BACKDATE = dt.timedelta(hours=1)

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class NodeCertPaths:
    """Node mode: the CA keys a node issues its certificates with, and the apiserver's
    side of ``kubectl logs`` (its client certificate for kubelets, the CA of their
    serving certificates)."""

    client_ca_key: Path
    kubelet_ca: Path
    kubelet_ca_key: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path


@dataclass(frozen=True)
class CertPaths:
    """Where the PEM files were written."""

    serving_ca: Path
    serving_cert: Path
    serving_key: Path
    client_ca: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    #: Node mode only (None otherwise): what a kubelet and the apiserver's calls to it need.
    node: NodeCertPaths | None = None


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _ec_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are generated in microseconds; RSA is only used where k8s expects it.
    return ec.generate_private_key(ec.SECP256R1())


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Digital signature for every cert; CAs also sign certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _ec_key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _ec_key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: _PrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def issue_cert(
    ca_cert_path: Path,
    ca_key_path: Path,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    cert_path: Path,
    key_path: Path,
    sans: list[x509.GeneralName] | None = None,
) -> None:
    """Write a leaf certificate signed by the CA stored at ``ca_cert_path``/``ca_key_path``.

    Raises:
        TypeError: the CA key is not an EC key (ours always are).
    """
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{ca_key_path}: expected an EC private key")
    cert, key = _make_leaf(ca_cert, ca_key, subject, usage, sans)
    _write_cert(cert_path, cert)
    _write_key(key_path, key)


def subject(common_name: str, organization: str | None = None) -> x509.Name:
    """An X.509 name with a CN and, optionally, an O (Kubernetes reads groups from O)."""
    return _name(common_name, organization)


def _ip_sans(addresses: list[str]) -> list[x509.GeneralName]:
    return [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]


#: Names of the `kubernetes` Service, for serving certificates valid inside Pods.
SERVICE_DNS_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def generate_certs(directory: Path, *, cluster_ip: str | None = None) -> CertPaths:
    """Write the serving, client and ServiceAccount key material into ``directory``.

    With ``cluster_ip`` (node mode) the serving certificate is also valid for that address
    and the `kubernetes` Service names, the CA keys are kept for the node to issue its
    certificates, and the apiserver gets a client certificate for kubelets.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(
        serving_ca=directory / "serving-ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        client_ca=directory / "client-ca.crt",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "sa.key",
        node=None
        if cluster_ip is None
        else NodeCertPaths(
            client_ca_key=directory / "client-ca.key",
            kubelet_ca=directory / "kubelet-ca.crt",
            kubelet_ca_key=directory / "kubelet-ca.key",
            kubelet_client_cert=directory / "apiserver-kubelet-client.crt",
            kubelet_client_key=directory / "apiserver-kubelet-client.key",
        ),
    )

    serving_ca, serving_ca_key = _make_ca("kapacitor-operator-test-serving-ca")
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
    ]
    if cluster_ip is not None:
        sans += [x509.DNSName(name) for name in SERVICE_DNS_NAMES] + _ip_sans([cluster_ip])
    serving, serving_key = _make_leaf(
        serving_ca,
        serving_ca_key,
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans=sans,
    )
    client_ca, client_ca_key = _make_ca("kapacitor-operator-test-client-ca")
    # O=system:masters is the group RBAC lets through unconditionally.
    admin, admin_key = _make_leaf(
        client_ca,
        client_ca_key,
        _name("admin", "system:masters"),
        ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    # RSA because that is what hack/local-up-cluster.sh uses for both SA key flags;
    # one private-key PEM serves as verifying and signing key.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    _write_cert(paths.serving_ca, serving_ca)
    _write_cert(paths.serving_cert, serving)
    _write_key(paths.serving_key, serving_key)
    _write_cert(paths.client_ca, client_ca)
    _write_cert(paths.admin_cert, admin)
    _write_key(paths.admin_key, admin_key)
    _write_key(paths.service_account_key, sa_key)
    if paths.node is not None:
        _write_node_mode_certs(paths.node, client_ca, client_ca_key)
    return paths


def _write_node_mode_certs(
    node: NodeCertPaths, client_ca: x509.Certificate, client_ca_key: ec.EllipticCurvePrivateKey
) -> None:
    # The kubelet trusts client certificates from the client CA (x509 authentication)
    # and asks the apiserver to authorize them (webhook); system:masters passes that.
    kubelet_client, kubelet_client_key = _make_leaf(
        client_ca,
        client_ca_key,
        _name("kube-apiserver-kubelet-client", "system:masters"),
        ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    # A CA of its own for kubelet serving certificates, so the apiserver verifies the
    # kubelet it talks to (--kubelet-certificate-authority) instead of skipping TLS checks.
    kubelet_ca, kubelet_ca_key = _make_ca("kapacitor-operator-test-kubelet-ca")
    _write_key(node.client_ca_key, client_ca_key)
    _write_cert(node.kubelet_ca, kubelet_ca)
    _write_key(node.kubelet_ca_key, kubelet_ca_key)
    _write_cert(node.kubelet_client_cert, kubelet_client)
    _write_key(node.kubelet_client_key, kubelet_client_key)
