"""read_option_values: each optionsFrom source, and every way one can be unusable, with
messages that name objects and keys, never values."""

from __future__ import annotations

from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.models.alerthandler import OptionFrom
from kapacitor_operator.reconcile.alert_handler_refs import read_option_values
from kapacitor_operator.reconcile.connection import ReferenceProblem

VALUE = "https://hooks.example/very-secret"


class Kube:
    def __init__(self, secrets: dict[str, dict[str, str]], configmaps: dict[str, dict[str, str]]):
        self.secrets, self.configmaps = secrets, configmaps
        self.reads: list[str] = []

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        self.reads.append(f"secret/{name}")
        if name == "forbidden":
            raise KubeForbidden('secrets "forbidden" is forbidden', status=403)
        return self.secrets.get(name)

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None:
        self.reads.append(f"configmap/{name}")
        return self.configmaps.get(name, {}).get(key)


def refs(*items: dict[str, Any]) -> list[OptionFrom]:
    return [OptionFrom.model_validate(i) for i in items]


def secret(path: str, name: str, key: str) -> dict[str, Any]:
    return {"path": path, "secretKeyRef": {"name": name, "key": key}}


async def test_values_by_path_each_secret_read_once() -> None:
    kube = Kube({"hooks": {"url": VALUE, "auth": "Bearer x"}}, {"opts": {"team": "ops"}})
    values = await read_option_values(
        refs(
            secret("url", "hooks", "url"),
            secret("headers.Authorization", "hooks", "auth"),
            {"path": "headers.X-Team", "configMapKeyRef": {"name": "opts", "key": "team"}},
        ),
        "ns",
        kube,
    )
    assert values == {"url": VALUE, "headers.Authorization": "Bearer x", "headers.X-Team": "ops"}
    assert kube.reads == ["secret/hooks", "configmap/opts"]


async def test_none_reads_nothing() -> None:
    kube = Kube({}, {})
    assert await read_option_values(None, "ns", kube) == {}
    assert kube.reads == []


@pytest.mark.parametrize(
    ("ref", "reason", "message"),
    [
        (secret("url", "absent", "url"), c.SECRET_NOT_FOUND, "Secret ns/absent not found"),
        (secret("url", "hooks", "nope"), c.SECRET_KEY_MISSING, "lacks key 'nope'; its keys: 'url'"),
        (secret("url", "binary", "url"), c.INVALID_SECRET, "is not UTF-8 text"),
        (secret("url", "forbidden", "url"), c.FORBIDDEN, "may not read Secret ns/forbidden"),
        (
            {"path": "url", "configMapKeyRef": {"name": "opts", "key": "nope"}},
            c.CONFIGMAP_NOT_FOUND,
            "ConfigMap key ns/opts[nope] (optionsFrom 'url') not found",
        ),
    ],
)
async def test_problems(ref: dict[str, Any], reason: str, message: str) -> None:
    kube = Kube({"hooks": {"url": VALUE}, "binary": {"url": "\ufffd" + VALUE}}, {"opts": {}})
    with pytest.raises(ReferenceProblem) as err:
        await read_option_values(refs(ref), "ns", kube)
    assert err.value.reason == reason
    assert message in err.value.message
    assert VALUE not in err.value.message
