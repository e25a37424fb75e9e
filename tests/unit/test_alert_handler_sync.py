"""sync_alert_handler against an in-memory Kapacitor: create, no-op, update, drift (a
handler gone with its topic), conflict, errors; no option value from a Secret in status,
Events or messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.errors import KapacitorRejected, KapacitorUnavailable
from kapacitor_operator.kapacitor.topic_handlers import HandlerExists, TopicHandler, TopicHandlers
from kapacitor_operator.models.resources import KapacitorAlertHandler, parse_alerthandler
from kapacitor_operator.reconcile.alert_handler_desired import build_desired
from kapacitor_operator.reconcile.alert_handler_status import status_deleting
from kapacitor_operator.reconcile.alert_handler_sync import (
    delete_alert_handler,
    sync_alert_handler,
)
from kapacitor_operator.reconcile.outcome import Outcome

SECRET = "https://hooks.example/services/T0/B0/very-secret-value"
NOW = "2026-01-01T00:00:00Z"


class FakeHandlers(TopicHandlers):
    """Topics of handlers, held as Kapacitor does: options echoed verbatim."""

    def __init__(self) -> None:
        self.topics: dict[str, dict[str, dict[str, Any]]] = {}
        self.collected: dict[str, int] = {}  # topics that exist, and their counts
        self.calls: list[tuple[str, str]] = []
        self.fail: Exception | None = None

    @property
    def base_url(self) -> str:
        return "http://kapacitor.test:9092"

    def _check(self, call: str, key: str) -> None:
        self.calls.append((call, key))
        if self.fail is not None:
            raise self.fail

    async def get(self, topic: str, handler_id: str) -> TopicHandler | None:
        self._check("get", handler_id)
        spec = self.topics.get(topic, {}).get(handler_id)
        return None if spec is None else TopicHandler.model_validate(spec)

    async def topic_collected(self, topic: str) -> int | None:
        self._check("topic", topic)
        return self.collected.get(topic)

    def delete_topic(self, topic: str) -> None:
        """As Kapacitor: the topic goes, its handlers stay listed (detached)."""
        self.collected.pop(topic, None)

    async def create(self, topic: str, definition: dict[str, Any]) -> TopicHandler:
        self._check("create", definition["id"])
        self.collected.setdefault(topic, 0)
        handlers = self.topics.setdefault(topic, {})
        if definition["id"] in handlers:
            raise HandlerExists("failed to create handler: already exists", status=500)
        handlers[definition["id"]] = {
            "match": "",
            "options": None,
            **json.loads(json.dumps(definition)),
        }
        return TopicHandler.model_validate(handlers[definition["id"]])

    async def replace(self, topic: str, definition: dict[str, Any]) -> TopicHandler:
        self._check("replace", definition["id"])
        self.collected.setdefault(topic, 0)
        handlers = self.topics.get(topic, {})
        handlers[definition["id"]] = {
            "match": "",
            "options": None,
            **json.loads(json.dumps(definition)),
        }
        return TopicHandler.model_validate(handlers[definition["id"]])

    async def delete(self, topic: str, handler_id: str) -> None:
        self._check("delete", handler_id)
        self.topics.get(topic, {}).pop(handler_id, None)

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] not in {"get", "topic"}]


def resource(
    status: dict[str, Any] | None = None, generation: int = 1, **spec: Any
) -> KapacitorAlertHandler:
    return parse_alerthandler(
        {
            "metadata": {"namespace": "ns", "name": "hook", "uid": "u1", "generation": generation},
            "spec": {"topic": "ops", "kind": "post", "options": {"timeout": 1e9}, **spec},
            "status": status or {},
        }
    )


async def sync(
    fake: FakeHandlers,
    res: KapacitorAlertHandler,
    values: dict[str, str] | None = None,
    claimed_by: str | None = None,
) -> Outcome[Any]:
    desired = build_desired(
        res.spec, namespace="ns", name="hook", uid="u1", values=values or {"url": SECRET}
    )
    return await sync_alert_handler(res, desired, fake, now=NOW, claimed_by=claimed_by)


def again(res: KapacitorAlertHandler, outcome: Outcome[Any], **spec: Any) -> KapacitorAlertHandler:
    """The resource with the outcome's status written back (and optionally a new spec)."""
    merged = {**res.spec.dump(), **spec}
    return resource(
        outcome.status.model_dump(by_alias=True, exclude_none=True),
        generation=res.generation + bool(spec),
        **merged,
    )


def cond(outcome: Outcome[Any], type: str) -> Any:
    return c.get_condition(outcome.status.conditions, type)


def no_secret(outcome: Outcome[Any]) -> None:
    text = (
        json.dumps(outcome.status.model_dump(mode="json")) + repr(outcome.events) + outcome.message
    )
    assert SECRET not in text


async def test_create_then_nothing_to_do() -> None:
    fake = FakeHandlers()
    res = resource()
    first = await sync(fake, res)
    assert fake.writes() == [("create", "ns.hook")]
    assert fake.topics["ops"]["ns.hook"]["options"] == {"timeout": 1e9, "url": SECRET}
    assert cond(first, c.READY).status == "True"
    assert cond(first, c.READY).reason == c.HANDLER_DEFINED
    assert cond(first, c.SYNCED).status == "True"
    assert first.status.handlerID == "ns.hook"
    assert first.status.optionsFromPaths == ["url"]
    assert [e.reason for e in first.events] == [c.CREATED]
    no_secret(first)
    fake.calls.clear()
    second = await sync(fake, again(res, first))
    assert fake.writes() == []
    assert second.events == []
    assert second.writes == 0


async def test_spec_change_is_a_put() -> None:
    fake = FakeHandlers()
    res = resource()
    first = await sync(fake, res)
    fake.calls.clear()
    changed = again(res, first, match="changed()")
    out = await sync(fake, changed)
    assert fake.writes() == [("replace", "ns.hook")]
    assert fake.topics["ops"]["ns.hook"]["match"] == "changed()"
    assert [e.reason for e in out.events] == [c.UPDATED]


async def test_secret_rotation_is_a_put() -> None:
    fake = FakeHandlers()
    res = resource()
    first = await sync(fake, res)
    fake.calls.clear()
    out = await sync(fake, again(res, first), values={"url": SECRET + "-rotated"})
    assert fake.writes() == [("replace", "ns.hook")]
    assert fake.topics["ops"]["ns.hook"]["options"]["url"] == SECRET + "-rotated"
    assert out.status.definitionHash != first.status.definitionHash


async def test_deleted_handler_is_recreated_as_drift() -> None:
    fake = FakeHandlers()
    res = resource()
    first = await sync(fake, res)
    fake.topics["ops"].pop("ns.hook")
    fake.calls.clear()
    out = await sync(fake, again(res, first))
    assert fake.writes() == [("create", "ns.hook")]
    assert [(e.type, e.reason) for e in out.events] == [("Warning", c.DRIFT_REPAIRED)]
    assert "re-created" in out.events[0].message
    no_secret(out)


async def test_handler_detached_by_a_topic_deletion_is_attached_again() -> None:
    fake = FakeHandlers()
    res = resource()
    first = await sync(fake, res)
    fake.delete_topic("ops")
    fake.calls.clear()
    out = await sync(fake, again(res, first))
    assert fake.writes() == [("replace", "ns.hook")]
    assert [(e.type, e.reason) for e in out.events] == [("Warning", c.DRIFT_REPAIRED)]
    assert "detached" in out.events[0].message
    assert fake.collected["ops"] == 0
    no_secret(out)


async def test_a_recreated_topic_is_noticed_by_its_count() -> None:
    fake = FakeHandlers()
    res = resource()
    first = await sync(fake, res)
    fake.collected["ops"] = 4  # alerts flowed
    seen = await sync(fake, again(res, first))
    assert seen.status.topicCollected == 4
    assert seen.events == []
    fake.delete_topic("ops")
    fake.collected["ops"] = 1  # an alert recreated the topic; it reached no handler
    fake.calls.clear()
    out = await sync(fake, again(res, seen))
    assert fake.writes() == [("replace", "ns.hook")]
    assert "detached" in out.events[0].message
    assert out.status.topicCollected == 1
    fake.calls.clear()
    steady = await sync(fake, again(res, out))
    assert fake.writes() == []
    assert steady.events == []


async def test_changed_behind_our_back_is_restored() -> None:
    fake = FakeHandlers()
    res = resource()
    first = await sync(fake, res)
    fake.topics["ops"]["ns.hook"]["options"]["url"] = "http://attacker"
    out = await sync(fake, again(res, first))
    assert fake.topics["ops"]["ns.hook"]["options"]["url"] == SECRET
    assert [e.reason for e in out.events] == [c.DRIFT_REPAIRED]


async def test_existing_handler_is_adopted() -> None:
    fake = FakeHandlers()
    fake.topics["ops"] = {
        "ns.hook": {
            "id": "ns.hook",
            "kind": "post",
            "match": "",
            "options": {"timeout": 1000000000, "url": SECRET},
        }
    }
    fake.collected["ops"] = 3
    out = await sync(fake, resource())
    assert fake.writes() == []
    assert [e.reason for e in out.events] == [c.ADOPTED]
    fake.topics["ops"]["ns.hook"]["kind"] = "tcp"
    fake.calls.clear()
    out = await sync(fake, resource())
    assert fake.writes() == [("replace", "ns.hook")]


async def test_conflict_touches_nothing() -> None:
    fake = FakeHandlers()
    out = await sync(fake, resource(), claimed_by="ns/first")
    assert fake.calls == []
    assert cond(out, c.READY).reason == c.CONFLICT
    assert out.retry == "permanent"
    assert "ns/first" in cond(out, c.READY).message


async def test_rejection_is_permanent_and_scrubbed() -> None:
    fake = FakeHandlers()
    fake.fail = KapacitorRejected(
        f"failed to create handler: 'url' expected a map, got '{SECRET}'", status=500
    )
    out = await sync(fake, resource())
    assert cond(out, c.READY).status == "False"
    assert cond(out, c.READY).reason == c.REJECTED
    assert cond(out, c.STALLED).status == "True"
    assert out.retry == "permanent"
    assert "***" in cond(out, c.READY).message
    no_secret(out)


async def test_unavailable_keeps_ready_while_it_described_this_generation() -> None:
    fake = FakeHandlers()
    res = resource()
    first = await sync(fake, res)
    fake.fail = KapacitorUnavailable("cannot reach Kapacitor: ConnectError")
    out = await sync(fake, again(res, first))
    assert out.retry == "temporary"
    assert cond(out, c.READY).status == "True"
    assert cond(out, c.SYNCED).status == "False"
    assert cond(out, c.SYNCED).reason == c.UNAVAILABLE
    fresh = await sync(fake, resource())
    assert cond(fresh, c.READY).status == "Unknown"
    assert cond(fresh, c.RECONCILING).status == "True"


@pytest.mark.parametrize("policy", ["Delete", "Orphan"])
async def test_delete(policy: str) -> None:
    fake = FakeHandlers()
    res = resource(deletionPolicy=policy)
    await sync(fake, res)
    result = await delete_alert_handler(res, fake)
    assert result.deleted is (policy == "Delete")
    assert ("ns.hook" in fake.topics["ops"]) is (policy == "Orphan")
    await delete_alert_handler(res, fake)  # idempotent


def test_a_waiting_deletion_is_told_in_status() -> None:
    res = resource(
        {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Defined", "observedGeneration": 1},
                {"type": "Synced", "status": "True", "reason": "Synced", "observedGeneration": 1},
            ],
        }
    )
    st = status_deleting(
        res, reason=c.UNAVAILABLE, message="Kapacitor at http://k is unavailable.", now=NOW
    )
    ready = c.get_condition(st.conditions, c.READY)
    synced = c.get_condition(st.conditions, c.SYNCED)
    assert ready is not None
    assert synced is not None
    assert (ready.status, ready.reason) == ("False", c.DELETING)
    assert ready.message == "Deletion waits: Kapacitor at http://k is unavailable."
    assert (synced.status, synced.reason) == ("False", c.UNAVAILABLE)
