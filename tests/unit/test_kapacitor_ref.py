"""kapacitorRef and templateRef resolution: each way a name can fail has its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.models.common import KapacitorConnection, LocalObjectRef
from kapacitor_operator.reconcile.connection import ReferenceProblem
from kapacitor_operator.reconcile.kapacitor_ref import (
    connection_spec,
    resolve_with_ref,
    server_url,
    template_id_for,
)

URL = "http://kapacitor.other:9092"
READY = {"conditions": [{"type": "Ready", "status": "True", "reason": "Reachable"}]}
DOWN = {
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Unreachable",
            "message": "connection refused",
        }
    ]
}


class FakeKube:
    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.objects = objects
        self.secrets: dict[str, dict[str, str]] = {}

    async def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, name))

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get(name)


def kap(status: dict[str, Any] | None, **spec: Any) -> dict[str, Any]:
    return {"spec": {"url": URL, **spec}, "status": status or {}}


REF = LocalObjectRef(name="shared")


async def test_no_ref_is_the_inline_block() -> None:
    inline = KapacitorConnection(url=URL)
    assert await connection_spec(inline, None, "ns", FakeKube({})) is inline
    assert await connection_spec(None, None, "ns", FakeKube({})) is None


@pytest.mark.parametrize(
    ("objects", "require_ready", "reason"),
    [
        ({}, True, c.KAPACITOR_NOT_FOUND),
        ({}, False, c.KAPACITOR_NOT_FOUND),
        ({("kapacitors", "shared"): kap(None)}, True, c.KAPACITOR_NOT_READY),
        ({("kapacitors", "shared"): kap(DOWN)}, True, c.KAPACITOR_NOT_READY),
        ({("kapacitors", "shared"): {"spec": {"url": 5}}}, False, c.KAPACITOR_NOT_READY),
    ],
)
async def test_kapacitor_ref_problems(
    objects: dict[tuple[str, str], dict[str, Any]], require_ready: bool, reason: str
) -> None:
    with pytest.raises(ReferenceProblem) as info:
        await connection_spec(None, REF, "ns", FakeKube(objects), require_ready=require_ready)
    assert info.value.reason == reason
    assert "ns/shared" in info.value.message


async def test_a_ready_kapacitor_lends_its_connection_and_deletion_needs_no_readiness() -> None:
    kube = FakeKube({("kapacitors", "shared"): kap(READY)})
    spec = await connection_spec(None, REF, "ns", kube)
    assert spec == KapacitorConnection(url=URL)
    kube.objects[("kapacitors", "shared")] = kap(DOWN)
    assert await connection_spec(None, REF, "ns", kube, require_ready=False) == spec
    with pytest.raises(ReferenceProblem) as info:
        await connection_spec(None, REF, "ns", kube)
    assert "connection refused" in info.value.message


async def test_the_allow_list_applies_to_the_kapacitor_objects_url() -> None:
    kube = FakeKube({("kapacitors", "shared"): kap(READY)})
    settings = Settings(kapacitor_url="http://kapacitor:9092")
    with pytest.raises(ReferenceProblem) as info:
        await resolve_with_ref(None, REF, "ns", settings, kube)
    assert info.value.reason == c.KAPACITOR_URL_NOT_ALLOWED
    allowed = Settings(kapacitor_url="http://kapacitor:9092", allowed_kapacitor_urls=(URL,))
    connection = await resolve_with_ref(None, REF, "ns", allowed, kube)
    assert connection.url == URL


def template(status: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"type": "stream", "script": "x"}, "status": status}


@pytest.mark.parametrize(
    ("status", "reason", "text"),
    [
        (None, c.TEMPLATE_NOT_FOUND, "not found"),
        ({}, c.TEMPLATE_NOT_READY, "not Ready"),
        ({**DOWN, "templateID": "ns.t", "kapacitorURL": URL}, c.TEMPLATE_NOT_READY, "refused"),
        (
            {**READY, "templateID": "ns.t", "kapacitorURL": "http://a:1"},
            c.TEMPLATE_NOT_READY,
            "its own server",
        ),
    ],
)
async def test_template_ref_problems(status: dict[str, Any] | None, reason: str, text: str) -> None:
    objects = {} if status is None else {("kapacitortemplates", "t"): template(status)}
    with pytest.raises(ReferenceProblem) as info:
        await template_id_for(LocalObjectRef(name="t"), "ns", FakeKube(objects), url=URL)
    assert info.value.reason == reason
    assert text in info.value.message or reason == c.TEMPLATE_NOT_READY


async def test_template_ref_gives_the_template_id() -> None:
    objects = {
        ("kapacitortemplates", "t"): template(
            {**READY, "templateID": "ns.t", "kapacitorURL": URL, "tasks": ["ns.a"]}
        )
    }
    assert await template_id_for(LocalObjectRef(name="t"), "ns", FakeKube(objects), url=URL) == (
        "ns.t",
        ["ns.a"],
    )


async def test_waiting_for_a_named_object_needs_the_user_and_no_timer() -> None:
    """A missing Kapacitor object: Ready False with its own reason; no retry delay of its
    own (the controller backs off, and the named object's nudge brings the task back)."""
    from kapacitor_operator.reconcile.mirror.failures import classify

    with pytest.raises(ReferenceProblem) as info:
        await connection_spec(None, REF, "ns", FakeKube({}))
    assert info.value.retry_after is None
    assert not info.value.permanent
    failure = classify(info.value, url="ref:ns/shared", what="spec")
    assert (failure.reason, failure.retry, failure.delay) == (
        c.KAPACITOR_NOT_FOUND,
        "temporary",
        None,
    )
    assert failure.needs_user
    assert not failure.stalled


@dataclass
class Named:
    """A resource that names its server: inline, by `kapacitorRef`, or not at all."""

    kapacitor: KapacitorConnection | None = None
    kapacitorRef: LocalObjectRef | None = None
    namespace: str = "ns"

    @property
    def spec(self) -> Named:
        return self


@pytest.mark.parametrize(
    ("resource", "objects", "url"),
    [
        (Named(), {}, "http://kapacitor:9092"),
        (Named(kapacitor=KapacitorConnection(url=URL + "/")), {}, URL),
        (Named(kapacitorRef=REF), {("kapacitors", "shared"): kap(DOWN)}, URL),  # not Ready
        (Named(kapacitorRef=REF), {}, "the server of Kapacitor ns/shared"),
    ],
    ids=["default", "inline", "named", "named-but-missing"],
)
async def test_messages_name_the_server_a_resource_works_on(
    resource: Named, objects: dict[tuple[str, str], dict[str, Any]], url: str
) -> None:
    """What failure messages ("Kapacitor at ... is unreachable") say: for a resource
    that names a `Kapacitor` object, that object's URL, not the operator's default."""
    settings = Settings(kapacitor_url="http://kapacitor:9092")
    kube = FakeKube(objects)
    assert await server_url(resource, settings, kube) == url
