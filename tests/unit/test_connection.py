"""Resolving a resource's Kapacitor connection (issue 12): the URL policy before any
Secret is read, and one reason per way a Secret or CA can be wrong, with messages that
name the Secret and keys, never their values."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.models.common import KapacitorConnection
from kapacitor_operator.reconcile.connection import (
    InvalidCA,
    InvalidSecret,
    MissingReference,
    ReferenceForbidden,
    ReferenceProblem,
    SecretKeyMissing,
    UrlNotAllowed,
    resolve_connection,
)

NS = "team-a"
ALLOWED = "http://kapacitor.monitoring:9092"
PASSWORD = "pw-Kd93jQ"
TOKEN = "tok-Zx81pL"
SETTINGS = Settings(kapacitor_url=ALLOWED)


def make_ca_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


BAD_PEM = (
    "-----BEGIN CERTIFICATE-----\nbm90LWEtY2VydGlmaWNhdGUtY2FuYXJ5\n-----END CERTIFICATE-----\n"
)


class Secrets:
    """secret_data() over a dict; records every read; may refuse like RBAC."""

    def __init__(self, secrets: dict[str, dict[str, str]], *, forbidden: bool = False) -> None:
        self.secrets = secrets
        self.forbidden = forbidden
        self.reads: list[str] = []

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        self.reads.append(name)
        if self.forbidden:
            raise KubeForbidden(
                f'secrets "{name}" is forbidden: User "system:serviceaccount:ops:op" cannot '
                f'get resource "secrets" in API group "" in the namespace "{namespace}"',
                status=403,
                reason="Forbidden",
            )
        return self.secrets.get(name)


def spec(url: str = ALLOWED, **extra: object) -> KapacitorConnection:
    return KapacitorConnection.model_validate({"url": url, **extra})


async def problem(
    conn: KapacitorConnection, secrets: Secrets, settings: Settings = SETTINGS
) -> ReferenceProblem:
    with pytest.raises(ReferenceProblem) as excinfo:
        await resolve_connection(conn, NS, settings, secrets)
    text = str(excinfo.value)
    for value in (PASSWORD, TOKEN, "bm90LWEtY2VydGlmaWNhdGUtY2FuYXJ5"):
        assert value not in text
    return excinfo.value


async def test_the_default_connection_reads_nothing() -> None:
    secrets = Secrets({})
    connection = await resolve_connection(None, NS, SETTINGS, secrets)
    assert connection.url == ALLOWED
    assert secrets.reads == []


async def test_a_url_outside_the_policy_reads_no_secret() -> None:
    secrets = Secrets({"creds": {"username": "u", "password": PASSWORD}})
    conn = spec(
        "http://attacker.example:80",
        credentialsSecretRef={"name": "creds"},
        tls={"caSecretRef": {"name": "creds", "key": "ca"}},
    )
    found = await problem(conn, secrets)
    assert isinstance(found, UrlNotAllowed)
    assert (found.reason, found.permanent) == (c.KAPACITOR_URL_NOT_ALLOWED, True)
    assert "http://attacker.example" in found.message
    assert secrets.reads == [], "a forbidden URL must not make the operator read a Secret"


async def test_an_allowed_url_reads_its_secret() -> None:
    settings = Settings(kapacitor_url=ALLOWED, allowed_kapacitor_urls=("http://*.team-a:9092",))
    secrets = Secrets({"creds": {"username": "alice", "password": PASSWORD}})
    conn = spec("http://kapacitor.team-a:9092", credentialsSecretRef={"name": "creds"})
    connection = await resolve_connection(conn, NS, settings, secrets)
    assert (connection.username, connection.password) == ("alice", PASSWORD)
    assert PASSWORD not in repr(connection)


async def test_https_required() -> None:
    settings = Settings(
        kapacitor_url="https://k:9092", allowed_kapacitor_urls=("*",), require_https=True
    )
    found = await problem(spec("http://k:9092"), Secrets({}), settings)
    assert isinstance(found, UrlNotAllowed)
    assert "OPERATOR_REQUIRE_HTTPS" in found.message


async def test_a_missing_secret() -> None:
    found = await problem(spec(credentialsSecretRef={"name": "gone"}), Secrets({}))
    assert isinstance(found, MissingReference)
    assert (found.reason, found.permanent) == (c.SECRET_NOT_FOUND, False)
    assert "Secret team-a/gone not found" in found.message


async def test_a_forbidden_secret_carries_the_api_servers_message() -> None:
    found = await problem(spec(credentialsSecretRef={"name": "creds"}), Secrets({}, forbidden=True))
    assert isinstance(found, ReferenceForbidden)
    assert found.reason == c.FORBIDDEN
    assert 'cannot get resource "secrets"' in found.message
    assert "team-a/creds" in found.message


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"user": "alice", "pass": PASSWORD}, ["'token'", "'username'", "'password'"]),
        ({"username": "alice"}, ["'password'"]),
        ({}, ["'token'", "'username'", "'password'", "none"]),
    ],
)
async def test_a_secret_without_the_expected_keys(data: dict[str, str], named: list[str]) -> None:
    found = await problem(spec(credentialsSecretRef={"name": "creds"}), Secrets({"creds": data}))
    assert isinstance(found, SecretKeyMissing)
    assert found.reason == c.SECRET_KEY_MISSING
    for key in named:
        assert key in found.message


async def test_custom_key_names_are_the_ones_named() -> None:
    conn = spec(credentialsSecretRef={"name": "creds", "tokenKey": "jwt", "usernameKey": "u"})
    found = await problem(conn, Secrets({"creds": {"password": PASSWORD}}))
    assert "'jwt'" in found.message
    assert "'u'" in found.message


async def test_a_token_wins_over_basic_auth() -> None:
    data = {"token": TOKEN, "username": "alice", "password": PASSWORD}
    conn = spec(credentialsSecretRef={"name": "creds"})
    connection = await resolve_connection(conn, NS, SETTINGS, Secrets({"creds": data}))
    assert (connection.token, connection.username) == (TOKEN, "")


@pytest.mark.parametrize("token", [TOKEN + "\n", TOKEN + "\ufffd", "a\r\nX-Evil: 1"])
async def test_a_credential_that_cannot_be_sent(token: str) -> None:
    found = await problem(
        spec(credentialsSecretRef={"name": "creds"}), Secrets({"creds": {"token": token}})
    )
    assert isinstance(found, InvalidSecret)
    assert found.reason == c.INVALID_SECRET
    assert "key 'token'" in found.message


@pytest.mark.parametrize("pem", [BAD_PEM, "garbage", "   "])
async def test_a_bad_ca_names_the_secret_and_key_not_the_content(pem: str) -> None:
    conn = spec(tls={"caSecretRef": {"name": "ca", "key": "ca.crt"}})
    found = await problem(conn, Secrets({"ca": {"ca.crt": pem}}))
    assert isinstance(found, InvalidCA)
    assert found.reason == c.INVALID_CA
    assert "CA Secret team-a/ca key 'ca.crt'" in found.message
    assert "BEGIN CERTIFICATE" not in found.message


async def test_a_ca_secret_without_its_key() -> None:
    conn = spec(tls={"caSecretRef": {"name": "ca", "key": "ca.crt"}})
    found = await problem(conn, Secrets({"ca": {"tls.crt": "x"}}))
    assert isinstance(found, SecretKeyMissing)
    assert "lacks key 'ca.crt'" in found.message
    assert "'tls.crt'" in found.message


async def test_a_good_ca_is_used() -> None:
    pem = make_ca_pem()
    conn = spec(
        "https://kapacitor.monitoring:9092", tls={"caSecretRef": {"name": "ca", "key": "c"}}
    )
    settings = Settings(
        kapacitor_url=ALLOWED, allowed_kapacitor_urls=("https://kapacitor.monitoring:9092",)
    )
    connection = await resolve_connection(conn, NS, settings, Secrets({"ca": {"c": pem}}))
    assert connection.ca_pem == pem
    assert connection.verify() is not True


async def test_a_bad_default_ca_file(tmp_path: Path) -> None:
    path = tmp_path / "ca.crt"
    path.write_text(BAD_PEM)
    settings = Settings(kapacitor_url=ALLOWED, kapacitor_ca_file=str(path))
    with pytest.raises(InvalidCA, match="KAPACITOR_CA_FILE") as excinfo:
        await resolve_connection(None, NS, settings, Secrets({}))
    assert "bm90" not in str(excinfo.value)
    path.write_text(make_ca_pem())  # fixed in place, as a remounted Secret would be
    connection = await resolve_connection(None, NS, settings, Secrets({}))
    assert connection.ca_file == str(path)


async def test_a_missing_default_ca_file(tmp_path: Path) -> None:
    settings = Settings(kapacitor_url=ALLOWED, kapacitor_ca_file=str(tmp_path / "none"))
    with pytest.raises(InvalidCA, match="cannot be read"):
        await resolve_connection(None, NS, settings, Secrets({}))
