"""Drift by server: the pure decide table, a listed task compared with what its status
declares, unmanaged counts, and a drift pass that queues only what drifted."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import pytest

from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.schemas import FluxTask, FluxTaskPage, TickTask
from kapacitor_operator.models.resources import parse_kapacitortask
from kapacitor_operator.reconcile.desired import build_desired
from kapacitor_operator.reconcile.mirror.driver import Target, run_mirror
from kapacitor_operator.reconcile.mirror.plan import UNKNOWN, Create, Nothing, Recreate, Update
from kapacitor_operator.reconcile.task_drift import Listing, TaskDrift, TickSeen, list_all
from kapacitor_operator.reconcile.task_mirror import TaskMirror
from kapacitor_operator.reconcile.task_sync import decide
from kapacitor_operator.sync.controller import SyncController
from kapacitor_operator.sync.drift import DriftScanner
from tests.unit.fake_kube import FakeKube
from tests.unit.fakes import FakeKapacitor
from tests.unit.test_sync_controller import FINALIZER, Kind, until

SCRIPT = "stream|from().measurement('cpu')"
TICK = {"type": "stream", "script": SCRIPT, "dbrps": [{"db": "db", "rp": "rp"}]}
FLUX = {"type": "flux", "flux": 'from(bucket: "b") |> range(start: -1m)', "every": "1m"}


def body(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "t", "uid": "u", "generation": 1},
        "spec": spec,
        "status": status or {},
    }


async def synced(fake: FakeKapacitor, spec: dict[str, Any]) -> dict[str, Any]:
    """The body of a task the driver just synced into `fake`."""
    task = parse_kapacitortask(body(spec))
    desired = build_desired(task.spec, namespace="ns", name="t")
    kind = TaskMirror(Settings(), cast(Any, None), cast(Any, None))
    target = Target(desired, cast(KapacitorClient, fake), fake.base_url, desired.definition_hash)
    outcome = await run_mirror(kind, task, target, now="2026-01-01T00:00:00Z")
    return body(spec, kind.dump(outcome.status))


def listing(fake: FakeKapacitor) -> Listing:
    found = Listing(
        tick={k: TickSeen.of(TickTask.model_validate(v)) for k, v in fake.ticks.items()}
    )
    for data in fake.fluxes.values():
        found.flux.setdefault(data["name"], []).append(FluxTask.model_validate(data))
    return found


def drift_kind() -> TaskDrift:
    return TaskDrift(Settings(), cast(Any, None), cast(Any, None))


# --- decide (pure) ---------------------------------------------------------------------------


def tick_server(**over: Any) -> TickTask:
    data = {
        "id": "ns.t",
        "script": SCRIPT,
        "dbrps": [{"db": "db", "rp": "rp"}],
        "status": "enabled",
        "executing": True,
        **over,
    }
    return TickTask.model_validate(data)


@pytest.mark.parametrize(
    ("status", "server", "expected", "drift"),
    [
        ({}, UNKNOWN, Create, False),  # never synced: created optimistically
        ({}, None, Create, False),
        ("synced", None, Create, True),  # deleted behind our back
        ("synced", tick_server(), Nothing, False),
        ("synced", tick_server(script="x"), Update, True),
        ("synced", tick_server(status="disabled"), Update, True),
        ("synced", tick_server(vars={"x": {"type": "int", "value": 1}}), Recreate, False),
    ],
    ids=["unknown", "new", "deleted", "same", "edited", "disabled", "stray vars"],
)
async def test_decide_tick(status: Any, server: Any, expected: type, drift: bool) -> None:
    if status == "synced":
        status = (await synced(FakeKapacitor(), TICK))["status"]
    task = parse_kapacitortask(body(TICK, status))
    desired = build_desired(task.spec, namespace="ns", name="t")
    plan = decide(task, desired, server)
    assert isinstance(plan, expected)
    assert bool(getattr(plan, "drift", "")) == drift


# --- a listed task against its status --------------------------------------------------------


@pytest.mark.parametrize("spec", [TICK, FLUX], ids=["tick", "flux"])
async def test_a_task_as_declared_has_not_drifted_and_any_change_has(spec: dict[str, Any]) -> None:
    fake = FakeKapacitor()
    obj = await synced(fake, spec)
    kind = drift_kind()
    assert not await kind.drifted(obj, listing(fake))
    if spec is TICK:
        fake.ticks["ns.t"]["script"] = "stream|from().measurement('mem')"
    else:
        next(iter(fake.fluxes.values()))["flux"] = "hacked"
    assert await kind.drifted(obj, listing(fake))
    fake.ticks.clear()
    fake.fluxes.clear()
    assert await kind.drifted(obj, listing(fake)), "missing"


async def test_a_task_disabled_in_kapacitor_has_drifted() -> None:
    fake = FakeKapacitor()
    obj = await synced(fake, TICK)
    fake.ticks["ns.t"]["status"] = "disabled"
    assert await drift_kind().drifted(obj, listing(fake))


async def test_unmanaged_tasks_are_those_no_resource_claims() -> None:
    fake = FakeKapacitor()
    await synced(fake, TICK)
    fake.ticks["stray"] = {"id": "stray", "script": SCRIPT, "status": "enabled"}
    counts = drift_kind().unmanaged(listing(fake), {("tick", "ns.t")})
    assert counts == {"tick": 1, "flux": 0}


# --- the pass ----------------------------------------------------------------------------------


class StandIn:
    """A DriftKind over widgets: each object's status names the hash it expects."""

    kind = "Widget"

    def __init__(self, server_hashes: dict[str, str]) -> None:
        self.server_hashes = server_hashes
        self.lists: list[str] = []

    def server(self, body: Mapping[str, Any]) -> str | None:
        return "http://k"

    async def list_server(self, server: str, bodies: list[Mapping[str, Any]]) -> Any:
        self.lists.append(server)
        return self.server_hashes

    async def drifted(self, body: Mapping[str, Any], listing: Any) -> bool:
        ident = body["spec"]["id"]
        return bool(listing.get(ident) != body["status"].get("serverHash"))

    def unmanaged(self, listing: Any, claimed: set[tuple[str, str]]) -> dict[str, int]:
        return {"tick": sum(1 for i in listing if ("tick", i) not in claimed)}


def settled_widget(name: str, ident: str, server_hash: str) -> dict[str, Any]:
    cond = {"type": "Synced", "status": "True", "observedGeneration": 1}
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "finalizers": [FINALIZER],
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"id": ident},
        "status": {"observedGeneration": 1, "conditions": [cond], "serverHash": server_hash},
    }


async def test_one_list_per_server_queues_only_what_drifted() -> None:
    kube = FakeKube()
    for i in range(5):
        kube.put("widgets", settled_widget(f"w{i}", f"id{i}", "h"))
    ctl = SyncController(Kind(), kube, workers=0)
    ctl.start()
    await until(lambda: ctl.primed.is_set())
    for i in range(4):  # w4 is known from priming only, as on a standby: never checked
        ctl.on_event(None, kube.get("widgets", "ns", f"w{i}") or {})
    failing = settled_widget("failing", "idf", "h")
    failing["status"]["conditions"][0]["status"] = "False"  # e.g. ScriptNotFound
    ctl.on_event(None, kube.put("widgets", failing))
    ctl.queue.forget(("ns", "failing"))  # as if waiting for its backoff
    hashes = {f"id{i}": "h" for i in range(5)} | {"id3": "changed", "stray": "h"}
    del hashes["id2"]
    kind = StandIn(hashes)
    scanner = DriftScanner(ctl, kind, interval=3600)
    assert await scanner.run_once() == 2
    assert kind.lists == ["http://k"]
    assert set(ctl.forced) == {("ns", "w2"), ("ns", "w3")}
    assert ("ns", "failing") in ctl.queue._ready, "retried at least once per pass"
    assert scanner.unmanaged_counts == {"http://k": {"tick": 1}}
    await ctl.stop()
    await asyncio.sleep(0)


def test_drift_passes_bring_back_what_the_watchdog_and_stats_need() -> None:
    from datetime import UTC, datetime, timedelta

    from kapacitor_operator.kapacitor.schemas import TickTask
    from kapacitor_operator.models.kapacitortask import TaskStats
    from kapacitor_operator.models.resources import parse_kapacitortask
    from kapacitor_operator.reconcile.task_drift import TickSeen, heal_due, stats_moved
    from kapacitor_operator.timeutil import format_time

    stopped = TickSeen.of(
        TickTask.model_validate({"id": "t", "status": "enabled", "executing": False})
    )
    running = TickSeen.of(
        TickTask.model_validate({"id": "t", "status": "enabled", "executing": True})
    )
    recent = format_time(datetime.now(UTC) - timedelta(minutes=5))
    old = format_time(datetime.now(UTC) - timedelta(hours=2))

    def task(heal: dict[str, Any] | None, restarts: list[str]) -> Any:
        spec: dict[str, Any] = {"type": "stream", "script": "x"}
        if heal is not None:
            spec["selfHeal"] = heal
        status = {"selfHeal": {"restarts": len(restarts), "recent": restarts}} if restarts else {}
        body = {"metadata": {"namespace": "ns", "name": "t"}, "spec": spec, "status": status}
        return parse_kapacitortask(body)

    on = {"enabled": True, "maxPerHour": 2}
    table = [
        (task(None, []), stopped, False),  # off by default
        (task(on, []), running, False),
        (task(on, []), stopped, True),
        (task(on, [recent]), stopped, True),
        (task(on, [recent, recent]), stopped, False),  # hourly budget spent
        (task(on, [old, old]), stopped, True),  # older restarts no longer count
    ]
    for resource, tick, due in table:
        assert heal_due(resource, tick) is due, (resource.spec.selfHeal, tick.executing)

    counted = TickSeen.of(
        TickTask.model_validate({"id": "t", "stats": {"node-stats": {"stream0": {"collected": 5}}}})
    )
    shown = TaskStats(pointsProcessed=5, alertsTriggered=0, errors=0)
    assert not stats_moved(counted, shown)
    assert stats_moved(counted, None)
    assert stats_moved(counted, TaskStats(pointsProcessed=4, alertsTriggered=0, errors=0))
    assert not stats_moved(running, None), "not executing: no stats either side"


class Lister:
    """The two list calls of a KapacitorClient, over a FakeKapacitor's tasks."""

    def __init__(self, fake: FakeKapacitor) -> None:
        self.fake = fake

    async def list_task_dicts(
        self, *, fields: list[str], offset: int, limit: int
    ) -> list[dict[str, Any]]:
        return [dict(t) for t in list(self.fake.ticks.values())[offset : offset + limit]]

    async def list_flux_tasks(self, *, after: str | None, limit: int) -> FluxTaskPage:
        return FluxTaskPage()


async def test_a_pass_sums_up_only_the_tasks_its_resources_name() -> None:
    fake = FakeKapacitor()
    ours = await synced(fake, TICK)
    for i in range(3):
        fake.ticks[f"stray{i}"] = {"id": f"stray{i}", "script": SCRIPT, "status": "enabled"}
    found = await list_all(cast(KapacitorClient, Lister(fake)), wanted={"ns.t"})
    assert found.tick == {
        "ns.t": TickSeen.of(TickTask.model_validate(fake.ticks["ns.t"])),
        "stray0": None,  # listed and counted, not summed up
        "stray1": None,
        "stray2": None,
    }
    kind = drift_kind()
    assert not await kind.drifted(ours, found)
    assert kind.unmanaged(found, {("tick", "ns.t")}) == {"tick": 3, "flux": 0}
    fake.ticks["ns.t"]["status"] = "disabled"
    again = await list_all(cast(KapacitorClient, Lister(fake)), wanted={"ns.t"})
    assert await kind.drifted(ours, again)


async def test_tasks_no_resource_names_are_counted_without_being_modeled() -> None:
    """A foreign task costs its ID: one the operator could not even model (a shape it does
    not know) is still listed and counted as unmanaged, and the pass goes on."""
    fake = FakeKapacitor()
    ours = await synced(fake, TICK)
    fake.ticks["zz-odd"] = {"id": "zz-odd", "dbrps": "not a list", "stats": 7}
    found = await list_all(cast(KapacitorClient, Lister(fake)), wanted={"ns.t"})
    assert found.tick["zz-odd"] is None
    kind = drift_kind()
    assert not await kind.drifted(ours, found)
    assert kind.unmanaged(found, {("tick", "ns.t")}) == {"tick": 1, "flux": 0}
