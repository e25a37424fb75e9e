"""Credential loading without the `kubernetes` package: kubeconfig variants, in-cluster,
the TLS context and the rotating token file. No network.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from kapacitor_operator.k8s.auth import TokenSource, ssl_context
from kapacitor_operator.k8s.credentials import (
    CredentialsError,
    KubeCredentials,
    kubeconfig_paths,
    load_credentials,
    load_kubeconfig,
)
from kapacitor_testkit.certs import CertPaths, generate_certs

TOKEN = "tok-Zq8Xw3Rv"
SERVER = "https://kube.test:6443"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return generate_certs(tmp_path_factory.mktemp("pki"))


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig(
    cluster: dict[str, Any],
    user: dict[str, Any] | None = None,
    *,
    namespace: str | None = None,
    current: str = "ctx",
) -> dict[str, Any]:
    context: dict[str, Any] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": [{"name": "ctx", "context": context}],
        "current-context": current,
    }


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


# --- kubeconfig -----------------------------------------------------------------------------


def test_kubeconfig_with_embedded_data(tmp_path: Path, pki: CertPaths) -> None:
    doc = kubeconfig(
        {"server": SERVER + "/", "certificate-authority-data": b64(pki.serving_ca)},
        {"client-certificate-data": b64(pki.admin_cert), "client-key-data": b64(pki.admin_key)},
        namespace="team-a",
    )
    path = write(tmp_path / "config", doc)
    creds = load_credentials(environ={"KUBECONFIG": str(path)})
    assert creds.server == SERVER
    assert creds.namespace == "team-a"
    assert creds.ca_data == pki.serving_ca.read_text()
    assert creds.client_cert_data == pki.admin_cert.read_text()
    assert creds.client_key_data == pki.admin_key.read_text()
    assert (creds.token, creds.token_file, creds.insecure) == (None, None, False)
    assert creds.source == f"kubeconfig {path} (context ctx)"


def test_kubeconfig_file_references_are_relative_to_the_kubeconfig(
    tmp_path: Path, pki: CertPaths
) -> None:
    (tmp_path / "kube" / "pki").mkdir(parents=True)
    for name, src in (("ca.crt", pki.serving_ca), ("me.crt", pki.admin_cert)):
        (tmp_path / "kube" / "pki" / name).write_bytes(src.read_bytes())
    doc = kubeconfig(
        {"server": SERVER, "certificate-authority": "pki/ca.crt"},
        {"client-certificate": "pki/me.crt", "client-key": str(pki.admin_key)},  # absolute
    )
    creds = load_kubeconfig([write(tmp_path / "kube" / "config", doc)])
    assert creds.ca_data == pki.serving_ca.read_text()
    assert creds.client_cert_data == pki.admin_cert.read_text()
    assert creds.client_key_data == pki.admin_key.read_text()
    assert creds.namespace == "default"


def test_token_tls_server_name_and_insecure(tmp_path: Path) -> None:
    doc = kubeconfig(
        {"server": SERVER, "insecure-skip-tls-verify": True, "tls-server-name": "api.internal"},
        {"token": TOKEN},
    )
    creds = load_kubeconfig([write(tmp_path / "config", doc)])
    assert (creds.token, creds.token_file) == (TOKEN, None)
    assert creds.insecure is True
    assert creds.tls_server_name == "api.internal"


def test_token_file_wins_over_token_and_is_kept_for_rereads(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"{TOKEN}\n")
    doc = kubeconfig({"server": SERVER}, {"token": "old", "tokenFile": "token"})
    creds = load_kubeconfig([write(tmp_path / "config", doc)])
    assert creds.token == TOKEN
    assert creds.token_file == str(tmp_path / "token")


def test_kubeconfig_list_merges_first_name_wins(tmp_path: Path) -> None:
    first = {
        "clusters": [{"name": "c", "cluster": {"server": "https://first:6443"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
    }
    second = kubeconfig({"server": "https://second:6443"}, {"token": TOKEN}, current="ctx")
    paths = [write(tmp_path / "a", first), tmp_path / "missing", write(tmp_path / "b", second)]
    environ = {"KUBECONFIG": ":".join(str(p) for p in paths)}
    creds = load_credentials(environ=environ)
    assert creds.server == "https://first:6443"  # cluster from the first file
    assert creds.token == TOKEN  # user and current-context only in the second


def test_default_kubeconfig_is_in_home(tmp_path: Path) -> None:
    assert kubeconfig_paths({}, tmp_path) == [tmp_path / ".kube" / "config"]
    write(tmp_path / ".kube" / "config", kubeconfig({"server": SERVER}, {"token": TOKEN}))
    assert load_credentials(environ={}, home=tmp_path).server == SERVER


@pytest.mark.parametrize(
    ("user", "words"),
    [
        ({"exec": {"command": "aws", "args": ["eks", "get-token"]}}, "exec credential plugin"),
        ({"auth-provider": {"name": "oidc", "config": {"id-token": TOKEN}}}, "auth-provider"),
        ({"username": "admin", "password": TOKEN}, "basic authentication"),
        ({"client-certificate-data": base64.b64encode(b"x").decode()}, "in pairs"),
        ({"client-key-data": "not base64!"}, "client-key-data is not base64"),
    ],
)
def test_unsupported_users_are_refused_clearly(
    tmp_path: Path, user: dict[str, Any], words: str
) -> None:
    path = write(tmp_path / "config", kubeconfig({"server": SERVER}, user))
    with pytest.raises(CredentialsError, match=words) as excinfo:
        load_kubeconfig([path])
    assert TOKEN not in str(excinfo.value)
    assert "context ctx" in str(excinfo.value)


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (kubeconfig({"server": SERVER}, current=""), "no current-context"),
        (kubeconfig({"server": SERVER}, current="other"), "no context named 'other'"),
        (kubeconfig({}), "cluster has no server"),
        (kubeconfig({"server": SERVER, "proxy-url": "http://proxy:3128"}), "proxy-url"),
        (kubeconfig({"server": SERVER}, {"tokenFile": "/nonexistent/token"}), "cannot read"),
    ],
)
def test_broken_kubeconfigs_are_refused_clearly(
    tmp_path: Path, doc: dict[str, Any], words: str
) -> None:
    with pytest.raises(CredentialsError, match=words):
        load_kubeconfig([write(tmp_path / "config", doc)])


def test_no_source_at_all_names_what_was_tried(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"no kubeconfig at .*nowhere"):
        load_credentials(environ={"KUBECONFIG": str(tmp_path / "nowhere")})


# --- in-cluster ---------------------------------------------------------------------------


def service_account(directory: Path, pki: CertPaths, namespace: str | None = "ops") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text(TOKEN)
    (directory / "ca.crt").write_bytes(pki.serving_ca.read_bytes())
    if namespace is not None:
        (directory / "namespace").write_text(namespace)
    return directory


IN_CLUSTER = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def test_in_cluster_service_account(tmp_path: Path, pki: CertPaths) -> None:
    sa = service_account(tmp_path / "sa", pki)
    creds = load_credentials(environ=IN_CLUSTER, service_account_dir=sa)
    assert creds.server == "https://10.0.0.1:443"
    assert creds.source == "in-cluster"
    assert (creds.namespace, creds.token, creds.token_file) == ("ops", TOKEN, str(sa / "token"))
    assert creds.ca_data == pki.serving_ca.read_text()


def test_in_cluster_ipv6_host_and_default_namespace(tmp_path: Path, pki: CertPaths) -> None:
    sa = service_account(tmp_path / "sa", pki, namespace=None)
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    creds = load_credentials(environ=environ, service_account_dir=sa)
    assert creds.server == "https://[fd00::1]:443"
    assert creds.namespace == "default"


def test_without_a_token_file_the_kubeconfig_is_used(tmp_path: Path) -> None:
    path = write(tmp_path / "config", kubeconfig({"server": SERVER}, {"token": TOKEN}))
    environ = {**IN_CLUSTER, "KUBECONFIG": str(path)}
    creds = load_credentials(environ=environ, service_account_dir=tmp_path / "no-sa")
    assert creds.server == SERVER


# --- secrets stay out of reprs --------------------------------------------------------------


def test_repr_holds_no_secret(pki: CertPaths) -> None:
    creds = KubeCredentials(
        server=SERVER,
        source="test",
        ca_data=pki.serving_ca.read_text(),
        token=TOKEN,
        client_cert_data=pki.admin_cert.read_text(),
        client_key_data=pki.admin_key.read_text(),
    )
    text = repr(creds) + str(creds) + repr(TokenSource(TOKEN, None))
    assert TOKEN not in text
    assert "PRIVATE KEY" not in text
    assert "BEGIN" not in text


# --- TLS context ----------------------------------------------------------------------------


def test_ssl_context_from_data_leaves_no_key_on_disk(
    tmp_path: Path, pki: CertPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    creds = KubeCredentials(
        server=SERVER,
        source="test",
        ca_data=pki.serving_ca.read_text(),
        client_cert_data=pki.admin_cert.read_text(),
        client_key_data=pki.admin_key.read_text(),
    )
    context = ssl_context(creds)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert len(context.get_ca_certs()) == 1  # only the kubeconfig's CA, not the system's
    assert list(scratch.iterdir()) == []


def test_insecure_ssl_context_skips_verification() -> None:
    context = ssl_context(KubeCredentials(server=SERVER, source="test", insecure=True))
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)


def test_broken_key_is_refused_without_its_content(pki: CertPaths) -> None:
    secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
    creds = KubeCredentials(
        server=SERVER,
        source="kubeconfig x",
        client_cert_data=pki.admin_cert.read_text(),
        client_key_data=secret,
    )
    with pytest.raises(CredentialsError, match="unusable TLS material") as excinfo:
        ssl_context(creds)
    assert "c2VjcmV0" not in str(excinfo.value)


# --- token rotation -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_file_is_reread_after_max_age(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one")
    clock = Clock()
    source = TokenSource("one", str(path), max_age=60.0, clock=clock)
    path.write_text("two")
    clock.now += 59
    assert source.current() == "one"  # not yet
    clock.now += 1
    assert source.current() == "two"


def test_refresh_reports_a_change_and_keeps_the_token_when_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("one")
    source = TokenSource("one", str(path), clock=Clock())
    assert source.refresh() is False  # same content
    path.write_text("two\n")
    assert source.refresh() is True
    path.unlink()
    assert source.refresh() is False
    assert source.current() == "two"
    assert TokenSource(TOKEN, None).refresh() is False  # a fixed token has nothing to reread


# --- kopf's login -----------------------------------------------------------------------------


def test_kopf_connection_info_matches_the_credentials(pki: CertPaths) -> None:
    from kapacitor_operator.main import connection_info

    creds = KubeCredentials(
        server=SERVER,
        source="test",
        namespace="ops",
        ca_data=pki.serving_ca.read_text(),
        token=TOKEN,
        client_cert_data=pki.admin_cert.read_text(),
        client_key_data=pki.admin_key.read_text(),
    )
    info = connection_info(creds)
    assert (info.server, info.scheme, info.token) == (SERVER, "Bearer", TOKEN)
    assert (info.ca_data, info.insecure, info.default_namespace) == (creds.ca_data, False, "ops")
    assert (info.certificate_data, info.private_key_data) == (
        creds.client_cert_data,
        creds.client_key_data,
    )
    bare = connection_info(KubeCredentials(server=SERVER, source="test", insecure=True))
    assert (bare.scheme, bare.token, bare.insecure) == (None, None, True)
