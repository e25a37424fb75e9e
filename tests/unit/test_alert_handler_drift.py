"""KapacitorAlertHandler's drift by server: a listed handler compared with what its
status says Kapacitor held (a table of changes), a rotated Secret, unmanaged handlers,
and the kind on the real controller and drift pass: claims, one list per server, only
what drifted repaired."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any, cast

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.reconcile.alert_handler_drift import HandlerDrift, Listing, list_all
from kapacitor_operator.reconcile.mirror.driver import MirrorDriver
from kapacitor_operator.sync.controller import SyncController
from kapacitor_operator.sync.drift import DriftScanner
from tests.unit.fake_kube import FakeKube
from tests.unit.test_alert_handler_mirror import (
    SECRET,
    SETTINGS,
    FakeHandlers,
    Pool,
    Sources,
    again,
    body,
    kind,
    sync,
)
from tests.unit.test_sync_controller import until

PLURAL = "kapacitoralerthandlers"


def drift(fake: FakeHandlers, sources: Sources | None = None) -> HandlerDrift:
    return HandlerDrift(
        SETTINGS, cast(Any, sources or Sources()), cast(Any, Pool()), handlers=lambda _: fake
    )


async def synced(fake: FakeHandlers, **spec: Any) -> dict[str, Any]:
    """The body of a handler the driver just synced into `fake`, its topic counted."""
    obj = body(**spec)
    first = await sync(fake, obj)
    return again(obj, await sync(fake, again(obj, first)))


def delete_handler(fake: FakeHandlers) -> None:
    fake.topics["ops"].pop("ns.hook")


def change_options(fake: FakeHandlers) -> None:
    fake.topics["ops"]["ns.hook"]["options"]["url"] = "http://elsewhere"


def delete_topic(fake: FakeHandlers) -> None:
    fake.delete_topic("ops")


def recreate_topic(fake: FakeHandlers) -> None:
    fake.collected["ops"] = 0  # deleted, and an alert recreated it


def count_alerts(fake: FakeHandlers) -> None:
    fake.collected["ops"] = 3


def renumber(fake: FakeHandlers) -> None:
    # Kapacitor answers numbers as Go floats: not a change.
    fake.topics["ops"]["ns.hook"]["options"]["timeout"] = 1000000000


def another_handler(fake: FakeHandlers) -> None:
    fake.topics["ops"]["other"] = {"id": "other", "kind": "tcp", "match": "", "options": None}


CHANGES: list[tuple[str, Callable[[FakeHandlers], None] | None, bool]] = [
    ("as declared", None, False),
    ("numbers as Go floats", renumber, False),
    ("another handler on the topic", another_handler, False),
    ("handler deleted", delete_handler, True),
    ("handler changed", change_options, True),
    ("topic deleted: handler detached", delete_topic, True),
    ("alerts counted: the status shows the count", count_alerts, True),
]


@pytest.mark.parametrize(("case", "change", "expected"), CHANGES, ids=[c[0] for c in CHANGES])
async def test_a_listed_handler_against_its_status(
    case: str, change: Callable[[FakeHandlers], None] | None, expected: bool
) -> None:
    fake = FakeHandlers()
    fake.collected["ops"] = 5
    obj = await synced(fake)
    assert obj["status"]["topicCollected"] == 5
    if change is not None:
        change(fake)
    fake.calls.clear()
    assert await drift(fake).drifted(obj, await list_all(fake)) is expected
    assert fake.writes() == []


async def test_a_recreated_topic_has_drifted() -> None:
    fake = FakeHandlers()
    fake.collected["ops"] = 5
    obj = await synced(fake)
    recreate_topic(fake)
    assert await drift(fake).drifted(obj, await list_all(fake))


async def test_one_list_reads_the_topics_and_each_topics_handlers() -> None:
    fake = FakeHandlers()
    await synced(fake)
    another_handler(fake)
    fake.collected["other-topic"] = 1
    fake.calls.clear()
    listing = await drift(fake).list_server("http://kapacitor.test:9092", [body()])
    assert fake.calls == [("list", "topics"), ("list", "ops"), ("list", "other-topic")]
    assert set(listing.handlers["ops"]) == {"ns.hook", "other"}
    assert listing.handlers["other-topic"] == {}


async def test_a_rotated_secret_has_drifted_without_a_kapacitor_call() -> None:
    fake, sources = FakeHandlers(), Sources()
    obj = await synced(fake)
    listing = await list_all(fake)
    assert not await drift(fake, sources).drifted(obj, listing)
    sources.secrets["hook"]["url"] = SECRET + "-rotated"
    fake.calls.clear()
    assert await drift(fake, sources).drifted(obj, listing)
    assert fake.calls == []
    sources.secrets.clear()  # gone: its reconcile says so
    assert await drift(fake, sources).drifted(obj, listing)


async def test_a_server_the_policy_refuses_has_drifted_without_reading_secrets() -> None:
    fake = FakeHandlers()
    obj = await synced(fake)
    far = copy.deepcopy(obj)
    far["spec"]["kapacitor"] = {"url": "http://not-allowed.example:9092"}
    refusing = HandlerDrift(
        Settings(kapacitor_url=SETTINGS.kapacitor_url, allowed_kapacitor_urls=("http://k:1",)),
        cast(Any, None),  # any Secret read would fail
        cast(Any, Pool()),
        handlers=lambda _: fake,
    )
    assert await refusing.drifted(far, Listing())


async def test_unmanaged_handlers_are_those_no_resource_claims() -> None:
    fake = FakeHandlers()
    await synced(fake)
    another_handler(fake)
    counts = drift(fake).unmanaged(await list_all(fake), {("ops", "ns.hook")})
    assert counts == {"handler": 1}


# --- on the controller -------------------------------------------------------------------------


def manifest(name: str, created: str, **spec: Any) -> dict[str, Any]:
    obj = body(**spec)
    obj["metadata"] = {"namespace": "ns", "name": name, "creationTimestamp": created}
    return obj


def conditions(kube: FakeKube, name: str) -> dict[str, tuple[str, str]]:
    obj = kube.get(PLURAL, "ns", name) or {}
    found = (obj.get("status") or {}).get("conditions") or []
    return {x["type"]: (x["status"], x["reason"]) for x in found}


async def test_on_the_controller_claims_drift_and_deletion() -> None:
    kube, fake = FakeKube(), FakeHandlers()
    ctl = SyncController(MirrorDriver(kind(fake)), kube, workers=2)
    ctl.start()
    await until(lambda: ctl.primed.is_set())
    older = manifest("older", "2026-01-01T00:00:00Z", id="shared")
    newer = manifest("newer", "2026-01-02T00:00:00Z", id="shared")
    ctl.on_event("ADDED", kube.put(PLURAL, newer))
    ctl.on_event("ADDED", kube.put(PLURAL, older))
    await until(lambda: conditions(kube, "older").get("Ready") == ("True", c.HANDLER_DEFINED))
    await until(lambda: conditions(kube, "newer").get("Ready") == ("False", c.CONFLICT))
    assert fake.writes() == [("create", "shared")]
    held = kube.get(PLURAL, "ns", "older") or {}
    assert "kapacitor.operator.dev/finalizer" in held["metadata"]["finalizers"]
    assert "finalizers" not in (kube.get(PLURAL, "ns", "newer") or {})["metadata"]
    for name in ("older", "newer"):  # the watch delivers the written statuses
        ctl.on_event("MODIFIED", kube.get(PLURAL, "ns", name) or {})

    # A pass lists the server once and queues only the handler that changed.
    scanner = DriftScanner(ctl, drift(fake), interval=3600)
    fake.calls.clear()
    assert await scanner.run_once() == 1, "the first pass records the new topic's count"
    await until(lambda: ctl.queue.pending == 0 and not ctl.forced)
    ctl.on_event("MODIFIED", kube.get(PLURAL, "ns", "older") or {})
    fake.calls.clear()
    assert await scanner.run_once() == 0
    assert fake.calls == [("list", "topics"), ("list", "ops")]
    fake.topics["ops"]["shared"]["options"] = {"url": "http://elsewhere"}
    assert await scanner.run_once() == 1
    await until(lambda: fake.topics["ops"]["shared"]["options"]["url"] == SECRET)
    await until(lambda: any(e["reason"] == c.DRIFT_REPAIRED for e in kube.events))

    # Deleting the holder deletes the handler; the other claimant takes over.
    gone = kube.get(PLURAL, "ns", "older") or {}
    ctl.on_event("DELETED", gone)
    await until(lambda: conditions(kube, "newer").get("Ready") == ("True", c.HANDLER_DEFINED))
    await ctl.stop()
    await asyncio.sleep(0)
