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
class CertPaths:
    """Where the PEM files were written."""

    serving_ca: Path
    serving_cert: Path
    serving_key: Path
    client_ca: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path


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


def generate_certs(directory: Path) -> CertPaths:
    """Write the serving, client and ServiceAccount key material into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(
        serving_ca=directory / "serving-ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        client_ca=directory / "client-ca.crt",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "sa.key",
    )

    serving_ca, serving_ca_key = _make_ca("kapacitor-operator-test-serving-ca")
    serving, serving_key = _make_leaf(
        serving_ca,
        serving_ca_key,
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
        ],
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
    return paths
