"""KapacitorAlertHandler's kind on the shared driver, through the operator's own client,
against each kind of server (emulator and the real kapacitord): create, then nothing to
do (the fingerprint of the write's answer matches the next GET), an existing handler
adopted without a write, drift repaired, a detached handler attached again, a drift
listing that matches what a reconcile saw, a build error rejected and scrubbed,
deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.topic_handlers import TopicHandlers
from kapacitor_operator.reconcile.alert_handler_drift import HandlerDrift, list_all
from kapacitor_operator.reconcile.alert_handler_mirror import AlertHandlerKind
from kapacitor_operator.reconcile.mirror.driver import MirrorDriver
from kapacitor_operator.reconcile.outcome import Outcome

SECRET = "https://hooks.example/services/T0/B0/integration-secret"
TOPICS = "/kapacitor/v1/alerts/topics"


class Sources:
    """The Secret optionsFrom reads."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, str]] = {"hook": {"url": SECRET}}

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get(name)

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None:
        return None


class Pool:
    def get(self, connection: Any) -> Any:
        return connection


@pytest.fixture
async def handlers(contract_server: str) -> AsyncIterator[TopicHandlers]:
    client = KapacitorClient(httpx.AsyncClient(base_url=contract_server, timeout=10.0))
    try:
        yield TopicHandlers(client)
    finally:
        await client.aclose()


@pytest.fixture
async def plain(contract_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=contract_server, timeout=10.0) as client:
        yield client


def driver(api: TopicHandlers, sources: Sources | None = None) -> MirrorDriver[Any]:
    settings = Settings(kapacitor_url=api.base_url)
    kind = AlertHandlerKind(
        settings, cast(Any, sources or Sources()), cast(Any, Pool()), handlers=lambda _: api
    )
    return MirrorDriver(kind)


def body(topic: str, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    ref = [{"path": "url", "secretKeyRef": {"name": "hook", "key": "url"}}]
    return {
        "metadata": {"namespace": "ns", "name": "hook", "uid": "u1", "generation": 1},
        "spec": {"topic": topic, "kind": "post", "options": {"timeout": 5e9}, "optionsFrom": ref}
        | spec,
        "status": status or {},
    }


async def sync(api: TopicHandlers, obj: dict[str, Any], sources: Sources | None = None) -> Any:
    return await driver(api, sources).reconcile(obj, None)


def after(api: TopicHandlers, obj: dict[str, Any], outcome: Outcome[Any]) -> dict[str, Any]:
    return {**obj, "status": driver(api).status_dict(outcome)}


def reasons(outcome: Outcome[Any]) -> list[str]:
    return [e.reason for e in outcome.events]


def ready(api: TopicHandlers, outcome: Outcome[Any]) -> dict[str, Any]:
    found = {x["type"]: x for x in driver(api).status_dict(outcome)["conditions"]}
    return cast(dict[str, Any], found["Ready"])


async def test_lifecycle(handlers: TopicHandlers, plain: httpx.AsyncClient, uid: str) -> None:
    obj = body(f"s-{uid}")
    path = f"{TOPICS}/s-{uid}/handlers/ns.hook"
    first = await sync(handlers, obj)
    assert reasons(first) == [c.CREATED]
    assert (await plain.get(path)).json()["options"] == {"timeout": 5000000000, "url": SECRET}
    steady = await sync(handlers, after(handlers, obj, first))
    assert steady.writes == 0
    assert reasons(steady) == []
    # What a drift pass lists compares equal to what the reconcile read.
    obj = after(handlers, obj, steady)
    settings = Settings(kapacitor_url=handlers.base_url)
    sources, pool = cast(Any, Sources()), cast(Any, Pool())
    drift = HandlerDrift(settings, sources, pool, handlers=lambda _: handlers)
    assert not await drift.drifted(obj, await list_all(handlers))
    # Changed behind our back.
    await plain.put(path, json={"id": "ns.hook", "kind": "post", "options": {"url": "http://x"}})
    assert await drift.drifted(obj, await list_all(handlers))
    repaired = await sync(handlers, obj)
    assert reasons(repaired) == [c.DRIFT_REPAIRED]
    assert (await plain.get(path)).json()["options"]["url"] == SECRET
    # Its topic deleted: detached, then attached again (the topic is back).
    assert (await plain.delete(f"{TOPICS}/s-{uid}")).status_code == 204
    obj = after(handlers, obj, repaired)
    assert await drift.drifted(obj, await list_all(handlers))
    reattached = await sync(handlers, obj)
    assert "detached" in reattached.events[0].message
    assert (await plain.get(f"{TOPICS}/s-{uid}")).status_code == 200
    obj = after(handlers, obj, reattached)
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    deleted = await driver(handlers).finalize(obj, None)
    assert deleted.done
    assert [e.reason for e in deleted.events] == [c.DELETED]
    assert (await plain.get(path)).status_code == 404


async def test_an_identical_handler_is_adopted_without_a_write(
    handlers: TopicHandlers, plain: httpx.AsyncClient, uid: str
) -> None:
    spec = {"id": "ns.hook", "kind": "post", "options": {"timeout": 5e9, "url": SECRET}}
    assert (await plain.post(f"{TOPICS}/a-{uid}/handlers", json=spec)).status_code == 200
    out = await sync(handlers, body(f"a-{uid}"))
    assert out.writes == 0
    assert reasons(out) == [c.ADOPTED]


async def test_a_build_error_is_rejected_and_scrubbed(handlers: TopicHandlers, uid: str) -> None:
    obj = body(f"r-{uid}", kind="slack", options={"channel": "#x"})
    out = await sync(handlers, obj)  # slack has no `url` option: Kapacitor cannot build it
    assert out.retry == "permanent"
    assert ready(handlers, out)["reason"] == c.REJECTED
    assert "invalid keys: url" in ready(handlers, out)["message"]
    value = "not-a-duration-value"
    sources = Sources()
    sources.secrets["hook"] = {"url": value}
    ref = [{"path": "timeout", "secretKeyRef": {"name": "hook", "key": "url"}}]
    obj = body(f"r-{uid}", options={"url": "http://x"}, optionsFrom=ref)
    out = await sync(handlers, obj, sources)
    message = ready(handlers, out)["message"]
    assert "time.Duration" in message
    assert value not in message
    assert value not in repr(out.events)
