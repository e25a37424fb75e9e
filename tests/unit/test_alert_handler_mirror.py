"""KapacitorAlertHandler on the shared driver, against an in-memory Kapacitor: create,
no-op, update, drift (a handler gone with its topic), claims, failures and their
reasons, deletion per policy and a deletion that waits; no option value from a Secret in
status, Events or messages."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.topic_handlers import HandlerExists, TopicHandler, TopicHandlers
from kapacitor_operator.reconcile.alert_handler_mirror import AlertHandlerKind, claim_key
from kapacitor_operator.reconcile.mirror.driver import MirrorDriver
from kapacitor_operator.reconcile.outcome import Outcome

SECRET = "https://hooks.example/services/T0/B0/very-secret-value"
SETTINGS = Settings(kapacitor_url="http://kapacitor.test:9092")
FROM_SECRET = [{"path": "url", "secretKeyRef": {"name": "hook", "key": "url"}}]


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
        return self._store(handlers, definition)

    async def replace(self, topic: str, definition: dict[str, Any]) -> TopicHandler:
        self._check("replace", definition["id"])
        self.collected.setdefault(topic, 0)
        return self._store(self.topics.setdefault(topic, {}), definition)

    def _store(self, handlers: dict[str, Any], definition: dict[str, Any]) -> TopicHandler:
        stored = {"match": "", "options": None, **json.loads(json.dumps(definition))}
        handlers[definition["id"]] = stored
        return TopicHandler.model_validate(stored)

    async def delete(self, topic: str, handler_id: str) -> None:
        self._check("delete", handler_id)
        self.topics.get(topic, {}).pop(handler_id, None)

    async def list_topics(self) -> dict[str, int]:
        self._check("list", "topics")
        return dict(self.collected)

    async def list_handlers(self, topic: str) -> list[TopicHandler]:
        self._check("list", topic)
        return [TopicHandler.model_validate(h) for h in self.topics.get(topic, {}).values()]

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] not in {"get", "topic", "list"}]


class Sources:
    """The Secrets and ConfigMaps optionsFrom reads."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, str]] = {"hook": {"url": SECRET}}
        self.configmaps: dict[str, dict[str, str]] = {}

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get(name)

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None:
        return self.configmaps.get(name, {}).get(key)


class Pool:
    def get(self, connection: Any) -> Any:
        return connection


def kind(fake: FakeHandlers, sources: Sources | None = None) -> AlertHandlerKind:
    return AlertHandlerKind(
        SETTINGS, cast(Any, sources or Sources()), cast(Any, Pool()), handlers=lambda _: fake
    )


def driver(fake: FakeHandlers, sources: Sources | None = None) -> MirrorDriver[Any]:
    return MirrorDriver(kind(fake, sources))


def body(status: dict[str, Any] | None = None, generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "KapacitorAlertHandler",
        "metadata": {"namespace": "ns", "name": "hook", "uid": "u1", "generation": generation},
        "spec": {
            "topic": "ops",
            "kind": "post",
            "options": {"timeout": 1e9},
            "optionsFrom": FROM_SECRET,
            **spec,
        },
        "status": status or {},
    }


async def sync(
    fake: FakeHandlers,
    obj: dict[str, Any],
    sources: Sources | None = None,
    holder: tuple[str, str] | None = None,
) -> Outcome[Any]:
    return await driver(fake, sources).reconcile(obj, holder)


def status(outcome: Outcome[Any]) -> dict[str, Any]:
    return MirrorDriver(kind(FakeHandlers())).status_dict(outcome)


def again(obj: dict[str, Any], outcome: Outcome[Any], **spec: Any) -> dict[str, Any]:
    """The object with the outcome's status written back (and optionally a new spec)."""
    generation = obj["metadata"]["generation"] + bool(spec)
    return body(status(outcome), generation, **{**obj["spec"], **spec})


def cond(outcome: Outcome[Any], type: str) -> tuple[str, str, str]:
    found = {x["type"]: x for x in status(outcome).get("conditions") or []}
    x = found.get(type)
    return (x["status"], x["reason"], x.get("message", "")) if x else ("", "", "")


def reasons(outcome: Outcome[Any]) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in outcome.events]


def no_secret(outcome: Outcome[Any], secret: str = SECRET) -> None:
    text = json.dumps(status(outcome)) + repr(outcome.events) + outcome.message
    assert secret not in text


async def test_create_then_nothing_to_do() -> None:
    fake = FakeHandlers()
    obj = body()
    first = await sync(fake, obj)
    assert fake.writes() == [("create", "ns.hook")]
    assert fake.topics["ops"]["ns.hook"]["options"] == {"timeout": 1e9, "url": SECRET}
    assert cond(first, c.READY)[:2] == ("True", c.HANDLER_DEFINED)
    assert cond(first, c.SYNCED)[:2] == ("True", c.SYNCED_OK)
    st = status(first)
    assert (st["handlerID"], st["topic"], st["optionsFromPaths"]) == ("ns.hook", "ops", ["url"])
    assert st["kapacitorURL"] == "http://kapacitor.test:9092"
    assert reasons(first) == [("Normal", c.CREATED)]
    assert first.writes == 1
    no_secret(first)
    fake.calls.clear()
    second = await sync(fake, again(obj, first))
    assert fake.writes() == []
    assert second.events == []
    assert second.writes == 0


async def test_spec_change_is_a_put() -> None:
    fake = FakeHandlers()
    obj = body()
    first = await sync(fake, obj)
    fake.calls.clear()
    out = await sync(fake, again(obj, first, match="changed()"))
    assert fake.writes() == [("replace", "ns.hook")]
    assert fake.topics["ops"]["ns.hook"]["match"] == "changed()"
    assert reasons(out) == [("Normal", c.UPDATED)]


async def test_secret_rotation_is_a_put() -> None:
    fake, sources = FakeHandlers(), Sources()
    obj = body()
    first = await sync(fake, obj, sources)
    fake.calls.clear()
    sources.secrets["hook"]["url"] = SECRET + "-rotated"
    out = await sync(fake, again(obj, first), sources)
    assert fake.writes() == [("replace", "ns.hook")]
    assert fake.topics["ops"]["ns.hook"]["options"]["url"] == SECRET + "-rotated"
    assert status(out)["definitionHash"] != status(first)["definitionHash"]
    no_secret(out, SECRET + "-rotated")


async def test_a_configmap_value_is_an_option_too() -> None:
    fake, sources = FakeHandlers(), Sources()
    sources.configmaps["cm"] = {"channel": "#ops"}
    ref = [{"path": "channel", "configMapKeyRef": {"name": "cm", "key": "channel"}}]
    out = await sync(fake, body(kind="slack", options=None, optionsFrom=ref), sources)
    assert fake.topics["ops"]["ns.hook"]["options"] == {"channel": "#ops"}
    assert cond(out, c.READY)[0] == "True"


async def test_deleted_handler_is_recreated_as_drift() -> None:
    fake = FakeHandlers()
    obj = body()
    first = await sync(fake, obj)
    fake.topics["ops"].pop("ns.hook")
    fake.calls.clear()
    out = await sync(fake, again(obj, first))
    assert fake.writes() == [("create", "ns.hook")]
    assert reasons(out) == [("Warning", c.DRIFT_REPAIRED)]
    assert "re-created" in out.events[0].message
    no_secret(out)


async def test_handler_detached_by_a_topic_deletion_is_attached_again() -> None:
    fake = FakeHandlers()
    obj = body()
    first = await sync(fake, obj)
    fake.delete_topic("ops")
    fake.calls.clear()
    out = await sync(fake, again(obj, first))
    assert fake.writes() == [("replace", "ns.hook")]
    assert reasons(out) == [("Warning", c.DRIFT_REPAIRED)]
    assert "detached" in out.events[0].message
    assert fake.collected["ops"] == 0
    assert status(out)["topicCollected"] == 0
    no_secret(out)


async def test_a_recreated_topic_is_noticed_by_its_count() -> None:
    fake = FakeHandlers()
    obj = body()
    first = await sync(fake, obj)
    fake.collected["ops"] = 4  # alerts flowed
    seen = await sync(fake, again(obj, first))
    assert status(seen)["topicCollected"] == 4
    assert seen.events == []
    fake.delete_topic("ops")
    fake.collected["ops"] = 1  # an alert recreated the topic; it reached no handler
    fake.calls.clear()
    out = await sync(fake, again(obj, seen))
    assert fake.writes() == [("replace", "ns.hook")]
    assert "detached" in out.events[0].message
    assert status(out)["topicCollected"] == 1
    fake.calls.clear()
    steady = await sync(fake, again(obj, out))
    assert fake.writes() == []
    assert steady.events == []


async def test_changed_behind_our_back_is_restored() -> None:
    fake = FakeHandlers()
    obj = body()
    first = await sync(fake, obj)
    fake.topics["ops"]["ns.hook"]["options"]["url"] = "http://attacker"
    out = await sync(fake, again(obj, first))
    assert fake.topics["ops"]["ns.hook"]["options"]["url"] == SECRET
    assert reasons(out) == [("Warning", c.DRIFT_REPAIRED)]
    assert "changed in Kapacitor" in out.events[0].message


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
    out = await sync(fake, body())
    assert fake.writes() == []
    assert reasons(out) == [("Normal", c.ADOPTED)]
    assert "as declared" in out.events[0].message
    fake.topics["ops"]["ns.hook"]["kind"] = "tcp"
    fake.calls.clear()
    out = await sync(fake, body())
    assert fake.writes() == [("replace", "ns.hook")]
    assert reasons(out) == [("Normal", c.ADOPTED)]
    assert "another definition" in out.events[0].message


async def test_a_create_that_finds_the_handler_replaces_it() -> None:
    fake = FakeHandlers()

    async def absent(topic: str, handler_id: str) -> TopicHandler | None:
        return None  # made by someone else between our read and our write

    fake.topics["ops"] = {"ns.hook": {"id": "ns.hook", "kind": "tcp"}}
    fake.get = absent  # type: ignore[method-assign]
    out = await sync(fake, body())
    assert fake.writes() == [("create", "ns.hook"), ("replace", "ns.hook")]
    assert fake.topics["ops"]["ns.hook"]["kind"] == "post"
    assert cond(out, c.READY)[0] == "True"


async def test_conflict_touches_nothing() -> None:
    fake = FakeHandlers()
    out = await sync(fake, body(), holder=("ns", "first"))
    assert fake.calls == []
    ready = cond(out, c.READY)
    assert ready[:2] == ("False", c.CONFLICT)
    assert out.retry == "permanent"
    assert "KapacitorAlertHandler ns/first" in ready[2]
    assert "ns.hook (topic ops)" in ready[2]
    assert (await driver(fake).finalize(body(), ("ns", "first"))).done
    assert fake.calls == []


async def test_rejection_is_permanent_and_scrubbed() -> None:
    fake = FakeHandlers()
    fake.fail = KapacitorRejected(
        f"failed to create handler: 'url' expected a map, got '{SECRET}'", status=500
    )
    out = await sync(fake, body())
    assert cond(out, c.READY)[:2] == ("False", c.REJECTED)
    assert cond(out, c.STALLED)[0] == "True"
    assert out.retry == "permanent"
    assert "***" in cond(out, c.READY)[2]
    no_secret(out)


async def test_an_unavailable_error_quoting_a_value_is_scrubbed_too() -> None:
    fake = FakeHandlers()
    fake.fail = KapacitorUnavailable(f"proxy echoed {SECRET}", status=502)
    out = await sync(fake, body())
    assert cond(out, c.SYNCED)[:2] == ("False", c.UNAVAILABLE)
    assert out.retry == "temporary"
    no_secret(out)


async def test_unavailable_keeps_ready_while_it_described_this_generation() -> None:
    fake = FakeHandlers()
    obj = body()
    first = await sync(fake, obj)
    fake.fail = KapacitorUnavailable("cannot reach Kapacitor: ConnectError")
    out = await sync(fake, again(obj, first))
    assert out.retry == "temporary"
    assert cond(out, c.READY)[0] == "True"
    assert cond(out, c.SYNCED)[:2] == ("False", c.UNAVAILABLE)
    fresh = await sync(fake, body())
    assert cond(fresh, c.READY)[0] == "Unknown"
    assert cond(fresh, c.RECONCILING)[0] == "True"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (KapacitorUnavailable("connection refused", unreachable=True), c.KAPACITOR_UNREACHABLE),
        (KapacitorUnavailable("timed out: ReadTimeout", timed_out=True), c.KAPACITOR_TIMEOUT),
        (KapacitorAuthError("unauthorized", status=401), c.UNAUTHORIZED),
    ],
)
async def test_each_failure_has_its_own_reason(error: Exception, reason: str) -> None:
    fake = FakeHandlers()
    fake.fail = error
    out = await sync(fake, body())
    assert cond(out, c.SYNCED)[:2] == ("False", reason)


async def test_a_missing_secret_needs_the_user_and_calls_no_kapacitor() -> None:
    fake, sources = FakeHandlers(), Sources()
    sources.secrets.clear()
    out = await sync(fake, body(), sources)
    assert fake.calls == []
    ready = cond(out, c.READY)
    assert ready[:2] == ("False", c.SECRET_NOT_FOUND)
    assert "Secret ns/hook not found" in ready[2]
    assert out.retry == "temporary"


async def test_options_that_collide_are_an_invalid_spec() -> None:
    fake = FakeHandlers()
    out = await sync(fake, body(options={"URL": "x"}))
    assert fake.calls == []
    assert cond(out, c.READY)[:2] == ("False", c.INVALID_SPEC)
    assert cond(out, c.STALLED)[0] == "True"
    assert out.retry == "permanent"
    no_secret(out)


async def test_a_body_that_does_not_parse_is_invalid_spec() -> None:
    fake = FakeHandlers()
    out = await sync(fake, body(kind="carrier-pigeon"))
    assert fake.calls == []
    assert out.retry == "permanent"
    assert cond(out, c.READY)[:2] == ("False", c.INVALID_SPEC)


async def deleting(fake: FakeHandlers, **spec: Any) -> dict[str, Any]:
    obj = body(**spec)
    outcome = await sync(fake, obj)
    obj = again(obj, outcome)
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    fake.calls.clear()
    return obj


@pytest.mark.parametrize("policy", ["Delete", "Orphan"])
async def test_delete(policy: str) -> None:
    fake = FakeHandlers()
    obj = await deleting(fake, deletionPolicy=policy)
    result = await driver(fake).finalize(obj, None)
    assert result.done
    assert ("ns.hook" in fake.topics["ops"]) is (policy == "Orphan")
    if policy == "Orphan":
        assert fake.calls == []
        assert [e.reason for e in result.events] == [c.ORPHANED]
    else:
        assert [e.reason for e in result.events] == [c.DELETED]
    assert (await driver(fake).finalize(obj, None)).done  # idempotent


async def test_a_waiting_deletion_is_told_in_status() -> None:
    fake = FakeHandlers()
    obj = await deleting(fake)
    fake.fail = KapacitorUnavailable("connection refused", unreachable=True)
    result = await driver(fake).finalize(obj, None)
    assert not result.done
    assert result.status is not None
    found = {x["type"]: x for x in result.status["conditions"]}
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("False", c.DELETING)
    assert found["Ready"]["message"].startswith(
        "Deleting: handler ns.hook (topic ops) is not yet deleted from Kapacitor (Kapacitor at "
        "http://kapacitor.test:9092 is unreachable"
    )
    assert (found["Synced"]["status"], found["Synced"]["reason"]) == (
        "False",
        c.KAPACITOR_UNREACHABLE,
    )
    assert [e.reason for e in result.events] == [c.KAPACITOR_UNREACHABLE]


async def test_a_deletion_reads_no_option_value() -> None:
    fake, sources = FakeHandlers(), Sources()
    obj = await deleting(fake)
    sources.secrets.clear()  # the Secret went first: the deletion does not need it
    result = await driver(fake, sources).finalize(obj, None)
    assert result.done
    assert fake.writes() == [("delete", "ns.hook")]


DEFAULT = "http://kapacitor:9092"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"topic": "cpu"}, (DEFAULT, "cpu", "ns.h")),
        ({"topic": "cpu", "id": "slack"}, (DEFAULT, "cpu", "slack")),
        (
            {"topic": "cpu", "kapacitor": {"url": "http://k:9092/"}},
            ("http://k:9092", "cpu", "ns.h"),
        ),
        # A Kapacitor object's URL is not in the spec: the claim names the object.
        ({"topic": "cpu", "kapacitorRef": {"name": "prod"}}, ("ref:ns/prod", "cpu", "ns.h")),
    ],
)
def test_claim_key(spec: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert claim_key(spec, "ns", "h", DEFAULT) == expected
