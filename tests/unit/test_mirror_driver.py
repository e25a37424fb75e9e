"""The shared driver with KapacitorTask: deletion per policy and a deletion that waits
(status says why), conflicts, and a body that does not parse."""

from __future__ import annotations

from typing import Any, cast

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.errors import KapacitorUnavailable
from kapacitor_operator.reconcile.mirror.driver import MirrorDriver
from kapacitor_operator.reconcile.task_mirror import TaskMirror
from tests.unit.fakes import FakeKapacitor

SETTINGS = Settings(kapacitor_url="http://kapacitor.test:9092")
SCRIPT = "stream|from().measurement('cpu')"


class Pool:
    def __init__(self, fake: FakeKapacitor) -> None:
        self.fake = fake

    def get(self, connection: Any) -> FakeKapacitor:
        return self.fake


def driver(fake: FakeKapacitor) -> MirrorDriver[Any]:
    return MirrorDriver(TaskMirror(SETTINGS, cast(Any, None), cast(Any, Pool(fake))))


def body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "KapacitorTask",
        "metadata": {"namespace": "ns", "name": "t", "uid": "u", "generation": 1},
        "spec": {"type": "stream", "script": SCRIPT, "dbrps": [{"db": "d", "rp": "r"}], **spec},
    }


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {x["type"]: (x["status"], x["reason"]) for x in status.get("conditions") or []}


async def synced_body(fake: FakeKapacitor, **spec: Any) -> dict[str, Any]:
    d = driver(fake)
    obj = body(**spec)
    outcome = await d.reconcile(obj, None)
    obj["status"] = d.status_dict(outcome)
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    obj["metadata"]["generation"] = 2
    return obj


async def test_deletion_deletes_the_task() -> None:
    fake = FakeKapacitor()
    obj = await synced_body(fake)
    result = await driver(fake).finalize(obj, None)
    assert result.done
    assert fake.ticks == {}
    assert [e.reason for e in result.events] == [c.DELETED]


async def test_orphan_sends_nothing() -> None:
    fake = FakeKapacitor()
    obj = await synced_body(fake, deletionPolicy="Orphan")
    fake.calls.clear()
    result = await driver(fake).finalize(obj, None)
    assert result.done
    assert fake.calls == []
    assert [e.reason for e in result.events] == [c.ORPHANED]


async def test_a_deletion_that_waits_says_why_in_ready_and_synced() -> None:
    fake = FakeKapacitor()
    obj = await synced_body(fake)
    assert conds(obj["status"])["Ready"] == ("True", c.EXECUTING)
    fake.fail_with = KapacitorUnavailable("timed out: ReadTimeout", timed_out=True)
    result = await driver(fake).finalize(obj, None)
    assert not result.done
    assert result.status is not None
    found = conds(result.status)
    assert found["Ready"] == ("False", c.DELETING)
    assert found["Synced"] == ("False", c.KAPACITOR_TIMEOUT)
    assert result.status["observedGeneration"] == 2
    assert [e.reason for e in result.events] == [c.KAPACITOR_TIMEOUT]


async def test_a_loser_of_a_claim_neither_writes_nor_deletes() -> None:
    fake = FakeKapacitor()
    outcome = await driver(fake).reconcile(body(), ("ns", "older"))
    assert fake.calls == []
    assert outcome.retry == "permanent"
    assert conds(driver(fake).status_dict(outcome))["Ready"] == ("False", c.CONFLICT)
    assert (await driver(fake).finalize(body(), ("ns", "older"))).done
    assert fake.calls == []


async def test_a_body_that_does_not_parse_is_invalid_spec() -> None:
    fake = FakeKapacitor()
    bad = body(type="nonsense")
    outcome = await driver(fake).reconcile(bad, None)
    assert outcome.retry == "permanent"
    assert conds(driver(fake).status_dict(outcome))["Ready"] == ("False", c.INVALID_SPEC)
    assert fake.calls == []
