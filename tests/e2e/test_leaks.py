"""Looking for credentials the way an attacker would (issue 12).

Distinctive credentials (a basic-auth user and password, a wrong password, a bearer
token and the secret that signs it, URL userinfo tried in a resource and in the
operator's configuration, a CA bundle and a broken one) go through the operator in
every way it can succeed or fail: basic, bearer and TLS connections that work, wrong
credentials, a bad CA, an unverifiable server, Secrets with the wrong keys or a value
with a line break, a URL outside the allow-list (whose server must see no connection at
all), a Kapacitor that is down, a Flux task run. Then everything the operator wrote or
said is searched: every log line (text and JSON), every Event, every object in the
namespace with its status (dumped as admin through the API), the /metrics output, and
what the refused configuration printed. The credentials must appear nowhere, as given
nor base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kapacitor_emulator.process import running_emulator
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.processes import free_port
from tests.e2e.kube import Kube, condition
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.peers import Recorder, make_tls, recorder, tls_front

API = "kapacitor.operator.dev/v1alpha1"
SCRIPT = "stream\n    |from()\n        .measurement('cpu')\n    |log()\n"
FLUX = 'from(bucket: "telegraf")\n    |> range(start: -1h)\n'


def _canary(kind: str) -> str:
    return f"{kind}{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Canaries:
    """Every credential of the test; none may be found in anything the operator wrote."""

    user: str = _canary("leakuser")
    password: str = _canary("leakpw")
    wrong_password: str = _canary("leakwrongpw")
    shared_secret: str = _canary("leakjwtkey")
    url_user: str = _canary("leakurluser")
    url_password: str = _canary("leakurlpw")
    bad_ca_marker: str = _canary("leakbadca")

    def token(self) -> str:
        """An HS256 JWT Kapacitor (here, the emulator) accepts with `shared_secret`."""

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = b64(json.dumps({"username": self.user, "exp": int(time.time()) + 3600}).encode())
        signing = f"{header}.{claims}".encode()
        digest = hmac.new(self.shared_secret.encode(), signing, hashlib.sha256).digest()
        return f"{header}.{claims}.{b64(digest)}"

    def bad_ca(self) -> str:
        body = base64.b64encode(f"not a certificate {self.bad_ca_marker}".encode()).decode()
        return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def forms(value: str) -> set[str]:
    """How a value may travel: as is, and base64 (standard and URL-safe, unpadded)."""
    encoded = base64.b64encode(value.encode()).decode()
    return {
        value,
        encoded.rstrip("="),
        base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
    }


def searched_for(canaries: Canaries, token: str, ca_pem: str) -> dict[str, set[str]]:
    """Name -> every string whose presence is a leak."""
    basic = f"{canaries.user}:{canaries.password}"
    wrong = f"{canaries.user}:{canaries.wrong_password}"
    url = f"{canaries.url_user}:{canaries.url_password}"
    pem_lines = {line for line in ca_pem.splitlines() if len(line) >= 32 and "-----" not in line}
    return {
        "basic user": forms(canaries.user),
        "basic password": forms(canaries.password),
        "wrong password": forms(canaries.wrong_password),
        "basic header": forms(basic) | forms(wrong),
        "bearer token": forms(token) | set(token.split(".")[1:]),
        "JWT signing secret": forms(canaries.shared_secret),
        "URL userinfo": forms(canaries.url_user) | forms(canaries.url_password) | forms(url),
        "CA bundle": pem_lines | forms(ca_pem),
        "bad CA bundle": forms(canaries.bad_ca_marker) | {canaries.bad_ca().splitlines()[1]},
    }


def leaks(texts: dict[str, str], wanted: dict[str, set[str]]) -> list[str]:
    found = []
    for where, text in texts.items():
        for name, values in wanted.items():
            hits = [v for v in values if v and v in text]
            if hits:
                at = text.index(hits[0])
                found.append(f"{name} in {where}: ...{text[max(0, at - 120) : at + 60]!r}...")
    return found


# --- manifests ----------------------------------------------------------------------------


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def stream_task(name: str, task_id: str, kapacitor: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "stream",
        "taskID": task_id,
        "dbrps": [{"db": "telegraf", "rp": "autogen"}],
        "script": SCRIPT,
    }
    if kapacitor is not None:
        spec["kapacitor"] = kapacitor
    return {"apiVersion": API, "kind": "KapacitorTask", "metadata": {"name": name}, "spec": spec}


@dataclass(frozen=True)
class Case:
    name: str
    kapacitor: dict[str, Any] | None
    condition: str
    status: str
    reason: str


@dataclass(frozen=True)
class World:
    """The servers of one test: emulators (basic auth, JWT), a TLS front, a recorder."""

    basic_url: str
    jwt_url: str
    tls_url: str
    down_url: str
    attacker: Recorder
    ca_pem: str
    token: str


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    c = CANARIES
    basic_auth = ["--username", c.user, "--password", c.password]
    with (
        running_emulator("memory", basic_auth) as basic,
        running_emulator("memory", ["--shared-secret", c.shared_secret]) as jwt,
        recorder() as attacker,
    ):
        tls = make_tls(tmp_path / "tls")
        host, port = basic.base_url.removeprefix("http://").rsplit(":", 1)
        with tls_front(host, int(port), tls) as tls_url:
            yield World(
                basic_url=basic.base_url,
                jwt_url=jwt.base_url,
                tls_url=tls_url,
                down_url=f"http://127.0.0.1:{free_port()}",
                attacker=attacker,
                ca_pem=tls.ca_pem,
                token=c.token(),
            )


CANARIES = Canaries()


def cases(w: World) -> list[Case]:
    def conn(url: str, creds: str | None = None, ca: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"url": url}
        if creds is not None:
            out["credentialsSecretRef"] = {"name": creds}
        if ca is not None:
            out["tls"] = {"caSecretRef": {"name": ca, "key": "ca.crt"}}
        return out

    return [
        Case("ok-default", None, "Ready", "True", "Executing"),
        Case("ok-basic", conn(w.basic_url, "basic"), "Ready", "True", "Executing"),
        Case("ok-token", conn(w.jwt_url, "token"), "Ready", "True", "Executing"),
        Case("ok-tls", conn(w.tls_url, "basic", "ca-good"), "Ready", "True", "Executing"),
        Case("bad-creds", conn(w.basic_url, "wrong"), "Synced", "False", "Unauthorized"),
        Case("bad-ca", conn(w.tls_url, "basic", "ca-bad"), "Ready", "False", "InvalidCA"),
        Case("tls-unverified", conn(w.tls_url, "basic"), "Synced", "False", "KapacitorUnavailable"),
        Case("wrong-keys", conn(w.basic_url, "wrong-keys"), "Ready", "False", "SecretKeyMissing"),
        Case("newline", conn(w.jwt_url, "newline"), "Ready", "False", "InvalidSecret"),
        Case(
            "not-allowed",
            conn(w.attacker.url, "basic", "ca-good"),
            "Ready",
            "False",
            "KapacitorURLNotAllowed",
        ),
        Case("down", conn(w.down_url, "basic"), "Synced", "False", "KapacitorUnreachable"),
        Case("gone", conn(w.basic_url, "no-such-secret"), "Ready", "False", "SecretNotFound"),
    ]


def refused_configuration(env: dict[str, str]) -> str:
    """What `kapacitor-operator run` prints when its configuration carries credentials."""
    result = subprocess.run(
        [sys.executable, "-m", "kapacitor_operator", "run"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert "KAPACITOR_URL" in result.stderr
    assert "must not contain credentials" in result.stderr
    return result.stdout + result.stderr


def dump_namespace(cp: ControlPlane, ns: str) -> dict[str, str]:
    """Every namespaced object there, as admin: Secrets apart (the test wrote those)."""
    names = cp.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout
    out: dict[str, str] = {}
    for resource in names.split():
        if resource == "secrets":
            continue
        result = cp.kubectl("get", resource, "-n", ns, "-o", "json", check=False)
        if result.returncode == 0 and json.loads(result.stdout).get("items"):
            out[f"objects {resource}"] = result.stdout
    return out


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_credential_is_found_anywhere(
    control_plane: ControlPlane, kube: Kube, world: World, tmp_path: Path, log_format: str
) -> None:
    c, w = CANARIES, world
    texts: dict[str, str] = {}
    # The operator's own configuration: credentials in KAPACITOR_URL are refused.
    texts["refused configuration"] = refused_configuration(
        {
            "KUBECONFIG": str(control_plane.kubeconfig_path),
            "KAPACITOR_URL": f"http://{c.url_user}:{c.url_password}@127.0.0.1:1",
            "OPERATOR_LOG_FORMAT": log_format,
        }
    )
    for manifest in [
        secret("basic", {"username": c.user, "password": c.password}),
        secret("wrong", {"username": c.user, "password": c.wrong_password}),
        secret("token", {"token": w.token}),
        secret("wrong-keys", {"user": c.user, "pass": c.password, "jwt": w.token}),
        secret("newline", {"token": w.token + "\n"}),
        secret("ca-good", {"ca.crt": w.ca_pem}),
        secret("ca-bad", {"ca.crt": c.bad_ca()}),
    ]:
        kube.apply(yaml.safe_dump(manifest))
    # A URL with credentials in a resource: refused at admission, nothing stored.
    userinfo = f"http://{c.url_user}:{c.url_password}@127.0.0.1:9092"
    result = kube.apply(
        yaml.safe_dump(stream_task("userinfo", "userinfo", {"url": userinfo})), check=False
    )
    assert result.returncode != 0
    assert "must not contain credentials" in result.stderr
    assert kube.get("kapacitortask", "userinfo") is None

    # The basic-auth emulator is the default connection (always allowed); the attacker's
    # listener is not on the list.
    allowed = ",".join((w.jwt_url, w.tls_url, w.down_url))
    with make_operator(
        control_plane,
        kube.ns,
        w.basic_url,
        tmp_path / "op",
        KAPACITOR_USERNAME=c.user,
        KAPACITOR_PASSWORD=c.password,
        OPERATOR_ALLOWED_KAPACITOR_URLS=allowed,
        OPERATOR_LOG_FORMAT=log_format,
        OPERATOR_LOG_LEVEL="DEBUG",
        OPERATOR_DRIFT_INTERVAL="3600",
    ) as op:
        all_cases = cases(w)
        for i, case in enumerate(all_cases):
            kube.apply(yaml.safe_dump(stream_task(case.name, f"{kube.ns}.leak{i}", case.kapacitor)))
        flux = {
            "apiVersion": API,
            "kind": "KapacitorTask",
            "metadata": {"name": "flux-token"},
            "spec": {
                "type": "flux",
                "taskID": f"{kube.ns}-flux",
                "flux": FLUX,
                "every": "1h",
                "kapacitor": {"url": w.jwt_url, "credentialsSecretRef": {"name": "token"}},
            },
        }
        kube.apply(yaml.safe_dump(flux))
        for case in all_cases:
            obj = kube.wait_condition(
                "kapacitortask", case.name, case.condition, case.status, reason=case.reason
            )
            if case.status == "False":
                kube.wait_event(case.name, case.reason)
                assert condition(obj, case.condition) is not None
        kube.wait_condition("kapacitortask", "flux-token", "Ready", "True")
        run = {
            "apiVersion": API,
            "kind": "TaskRun",
            "metadata": {"name": "flux-token-now"},
            "spec": {"taskRef": {"name": "flux-token"}},
        }
        kube.apply(yaml.safe_dump(run))
        kube.wait_condition("taskrun", "flux-token-now", "Succeeded", "True", timeout=60)
        # The server outside the allow-list saw nothing, credentials least of all.
        assert (w.attacker.connections, bytes(w.attacker.received)) == (0, b"")
        texts["metrics"] = op.metrics()
    texts["operator log"] = op.log_text()
    if log_format == "json":
        lines = [line for line in texts["operator log"].splitlines() if line.startswith("{")]
        records = [json.loads(line) for line in lines]
        assert len(records) > 20, "no JSON log records"
        texts["operator log, decoded"] = "\n".join(
            json.dumps(r, ensure_ascii=False) for r in records
        )
    texts["events"] = kube.kubectl("get", "events", "-o", "json").stdout
    texts.update(dump_namespace(control_plane, kube.ns))
    created = json.loads(kube.kubectl("get", "secrets", "-o", "json").stdout)["items"]
    assert {s["metadata"]["name"] for s in created} == {
        "basic", "wrong", "token", "wrong-keys", "newline", "ca-good", "ca-bad"
    }, "the operator writes no Secret"  # fmt: skip
    wanted = searched_for(c, w.token, w.ca_pem)
    assert leaks(texts, wanted) == []
    # The search itself works: it finds every canary in the Secrets that hold them.
    values = [base64.b64decode(v).decode() for s in created for v in s["data"].values()]
    stored = ("basic user", "basic password", "wrong password", "bearer token", "CA bundle")
    for name in (*stored, "bad CA bundle"):
        assert leaks({"secrets": "\n".join(values)}, {name: wanted[name]}), name
