"""KapacitorTask reconcile when its connection or references cannot be used (issue 12):
one condition reason each, a Warning Event, no crash, no retry storm, and nothing read
or sent for a URL outside the operator's allow-list."""

from __future__ import annotations

from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.models.resources import parse_kapacitortask
from kapacitor_operator.reconcile.connection import FORBIDDEN_RETRY, REFERENCE_RETRY
from kapacitor_operator.reconcile.mirror.driver import MirrorDriver
from kapacitor_operator.reconcile.task_mirror import TaskMirror

SETTINGS = Settings(kapacitor_url="http://kapacitor.monitoring:9092")
PEM = "-----BEGIN CERTIFICATE-----\nY2FuYXJ5LWNh\n-----END CERTIFICATE-----\n"


class Kube:
    def __init__(self, secrets: dict[str, dict[str, str]], *, forbid_configmaps: bool = False):
        self.secrets = secrets
        self.forbid_configmaps = forbid_configmaps
        self.calls: list[str] = []

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        self.calls.append(f"secret {name}")
        return self.secrets.get(name)

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None:
        self.calls.append(f"configmap {name}")
        if self.forbid_configmaps:
            raise KubeForbidden(
                f'configmaps "{name}" is forbidden: User "op" cannot get resource "configmaps"',
                status=403,
            )
        return None


class Pool:
    def __init__(self) -> None:
        self.gets = 0

    def get(self, connection: Any) -> Any:
        self.gets += 1
        raise AssertionError("no Kapacitor client may be made for this resource")


def task(kapacitor: dict[str, Any] | None = None, **spec: Any) -> Any:
    body = {
        "metadata": {"name": "t", "namespace": "team-a", "uid": "u1", "generation": 2},
        "spec": {"type": "stream", **(spec or {"script": "stream|from()"})},
    }
    if kapacitor is not None:
        body["spec"]["kapacitor"] = kapacitor
    parse_kapacitortask(body)  # valid
    return body


async def run(resource: Any, kube: Kube, pool: Pool | None = None) -> Any:
    driver = MirrorDriver(TaskMirror(SETTINGS, kube, pool or Pool()))  # type: ignore[arg-type]
    return await driver.reconcile(resource, None)


def conditions(outcome: Any) -> dict[str, tuple[str, str]]:
    return {x.type: (x.status, x.reason) for x in outcome.status.conditions}


async def test_a_url_outside_the_policy_stalls_and_reads_nothing() -> None:
    kube, pool = Kube({"creds": {"token": "t0k3n-value"}}), Pool()
    resource = task(
        {"url": "http://attacker.example:9092", "credentialsSecretRef": {"name": "creds"}},
        scriptFrom={"configMapKeyRef": {"name": "cm", "key": "k"}},
    )
    outcome = await run(resource, kube, pool)
    assert (kube.calls, pool.gets) == ([], 0)
    assert outcome.retry == "permanent"
    found = conditions(outcome)
    assert found[c.READY] == ("False", c.KAPACITOR_URL_NOT_ALLOWED)
    assert found[c.STALLED] == ("True", c.KAPACITOR_URL_NOT_ALLOWED)
    assert [(e.type, e.reason) for e in outcome.events] == [
        ("Warning", c.KAPACITOR_URL_NOT_ALLOWED)
    ]
    assert "http://attacker.example:9092" in outcome.message


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        ({}, c.SECRET_NOT_FOUND),
        ({"creds": {"user": "x"}}, c.SECRET_KEY_MISSING),
        ({"creds": {"token": "abc\n"}}, c.INVALID_SECRET),
    ],
)
async def test_credentials_problems(secrets: dict[str, dict[str, str]], reason: str) -> None:
    resource = task({"url": SETTINGS.kapacitor_url, "credentialsSecretRef": {"name": "creds"}})
    outcome = await run(resource, Kube(secrets))
    assert (outcome.retry, outcome.delay) == ("temporary", REFERENCE_RETRY)
    found = conditions(outcome)
    assert found[c.READY] == ("False", reason)
    assert found[c.RECONCILING] == ("True", reason)
    assert c.STALLED not in found
    assert [(e.type, e.reason) for e in outcome.events] == [("Warning", reason)]
    assert "team-a/creds" in outcome.message


async def test_a_bad_ca() -> None:
    tls = {"caSecretRef": {"name": "ca", "key": "ca.crt"}}
    resource = task({"url": SETTINGS.kapacitor_url, "tls": tls})
    outcome = await run(resource, Kube({"ca": {"ca.crt": PEM}}))
    assert conditions(outcome)[c.READY] == ("False", c.INVALID_CA)
    assert "team-a/ca key 'ca.crt'" in outcome.message
    assert "Y2FuYXJ5LWNh" not in outcome.message


async def test_a_forbidden_configmap() -> None:
    resource = task(scriptFrom={"configMapKeyRef": {"name": "cm", "key": "k"}})
    outcome = await run(resource, Kube({}, forbid_configmaps=True))
    assert (outcome.retry, outcome.delay) == ("temporary", FORBIDDEN_RETRY)
    assert conditions(outcome)[c.READY] == ("False", c.FORBIDDEN)
    assert 'cannot get resource "configmaps"' in outcome.message
