"""sync_alert_handler through the operator's own client against each kind of server
(emulator and the real kapacitord): create, then nothing to do (the fingerprint of the
write's answer matches the next GET), an existing handler adopted without a write,
drift repaired, a detached handler attached again, a build error rejected and scrubbed,
deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.topic_handlers import TopicHandlers
from kapacitor_operator.models.resources import KapacitorAlertHandler, parse_alerthandler
from kapacitor_operator.reconcile.alert_handler_desired import build_desired
from kapacitor_operator.reconcile.alert_handler_sync import (
    delete_alert_handler,
    sync_alert_handler,
)
from kapacitor_operator.reconcile.outcome import Outcome

SECRET = "https://hooks.example/services/T0/B0/integration-secret"
TOPICS = "/kapacitor/v1/alerts/topics"


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


def resource(
    topic: str, status: dict[str, Any] | None = None, **spec: Any
) -> KapacitorAlertHandler:
    body = {"topic": topic, "kind": "post", "options": {"timeout": 5e9}, **spec}
    meta = {"namespace": "ns", "name": "hook", "uid": "u1", "generation": 1}
    return parse_alerthandler({"metadata": meta, "spec": body, "status": status or {}})


async def sync(api: TopicHandlers, res: KapacitorAlertHandler, value: str = SECRET) -> Outcome[Any]:
    desired = build_desired(res.spec, namespace="ns", name="hook", uid="u1", values={"url": value})
    return await sync_alert_handler(res, desired, api, now="2026-01-01T00:00:00Z")


def after(res: KapacitorAlertHandler, outcome: Outcome[Any]) -> KapacitorAlertHandler:
    status = outcome.status.model_dump(by_alias=True, exclude_none=True)
    spec = {k: v for k, v in res.spec.dump().items() if k != "topic"}
    return resource(res.spec.topic, status, **spec)


def reasons(outcome: Outcome[Any]) -> list[str]:
    return [e.reason for e in outcome.events]


async def test_lifecycle(handlers: TopicHandlers, plain: httpx.AsyncClient, uid: str) -> None:
    res = resource(f"s-{uid}")
    path = f"{TOPICS}/s-{uid}/handlers/ns.hook"
    first = await sync(handlers, res)
    assert reasons(first) == [c.CREATED]
    assert (await plain.get(path)).json()["options"] == {"timeout": 5000000000, "url": SECRET}
    steady = await sync(handlers, after(res, first))
    assert steady.writes == 0
    assert reasons(steady) == []
    # Changed behind our back.
    await plain.put(path, json={"id": "ns.hook", "kind": "post", "options": {"url": "http://x"}})
    repaired = await sync(handlers, after(res, steady))
    assert reasons(repaired) == [c.DRIFT_REPAIRED]
    assert (await plain.get(path)).json()["options"]["url"] == SECRET
    # Its topic deleted: detached, then attached again (the topic is back).
    assert (await plain.delete(f"{TOPICS}/s-{uid}")).status_code == 204
    reattached = await sync(handlers, after(res, repaired))
    assert "detached" in reattached.events[0].message
    assert (await plain.get(f"{TOPICS}/s-{uid}")).status_code == 200
    deleted = await delete_alert_handler(after(res, reattached), handlers)
    assert deleted.deleted
    assert (await plain.get(path)).status_code == 404


async def test_an_identical_handler_is_adopted_without_a_write(
    handlers: TopicHandlers, plain: httpx.AsyncClient, uid: str
) -> None:
    body = {"id": "ns.hook", "kind": "post", "options": {"timeout": 5e9, "url": SECRET}}
    assert (await plain.post(f"{TOPICS}/a-{uid}/handlers", json=body)).status_code == 200
    out = await sync(handlers, resource(f"a-{uid}"))
    assert out.writes == 0
    assert reasons(out) == [c.ADOPTED]


async def test_a_build_error_is_rejected_and_scrubbed(handlers: TopicHandlers, uid: str) -> None:
    res = resource(f"r-{uid}", kind="slack", options={"channel": "#x"})
    out = await sync(handlers, res)  # slack has no `url` option: Kapacitor cannot build it
    assert out.retry == "permanent"
    ready = c.get_condition(out.status.conditions, c.READY)
    assert ready is not None
    assert ready.reason == c.REJECTED
    assert "invalid keys: url" in ready.message
    value = "not-a-duration-value"
    res = resource(f"r-{uid}", options={"url": "http://x"})
    desired = build_desired(
        res.spec, namespace="ns", name="hook", uid="u1", values={"timeout": value}
    )
    out = await sync_alert_handler(res, desired, handlers, now="2026-01-01T00:00:00Z")
    ready = c.get_condition(out.status.conditions, c.READY)
    assert ready is not None
    assert "time.Duration" in ready.message
    assert value not in ready.message
    assert value not in repr(out.events)
