"""The process around the work: nothing works while standing by, a clean stop drains then
releases the Lease, a lost Lease abandons at once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from kapacitor_operator.election import LeaderElector, LeaseConfig, lease_body
from kapacitor_operator.health import Health
from kapacitor_operator.leadership import Supervisor
from tests.unit.test_election import WALL, Store

FAST = LeaseConfig("ops", "kapacitor-operator", "b", 2, renew_deadline=0.6, retry_period=0.1)


async def reachable() -> None:
    return None


@dataclass
class FakeWork:
    """Records what the supervisor asks of the work."""

    fail: bool = False
    drain: float = 0.0
    started: int = 0
    stopped: int = 0
    running: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, stop: asyncio.Event, ready: asyncio.Event) -> None:
        self.started += 1
        ready.set()
        self.running.set()
        if self.fail:
            raise RuntimeError("startup handler failed")
        await stop.wait()
        await asyncio.sleep(self.drain)
        self.stopped += 1


@dataclass
class Abandon:
    reasons: list[str] = field(default_factory=list)

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)


def supervisor(
    work: FakeWork, store: Store | None, abandon: Abandon | None = None
) -> tuple[Supervisor, Health]:
    health = Health(api_check=reachable)
    elector = LeaderElector(store, FAST) if store is not None else None
    sup = Supervisor(work, health, elector, abandon=abandon or Abandon(), watchdog_interval=0.02)
    health.alive = sup.alive
    return sup, health


async def test_standalone_works_at_once_and_stops_cleanly() -> None:
    work = FakeWork()
    sup, health = supervisor(work, None)
    signals: list[str] = []
    sup.take_signals = lambda: signals.append(health.role)
    stop = asyncio.Event()
    run = asyncio.create_task(sup.run(stop))
    await asyncio.wait_for(work.running.wait(), 1)
    assert (health.role, health.started.is_set()) == ("leader", True)
    await asyncio.sleep(0)
    # Taken back from kopf once it started, so a SIGTERM marks the replica stopping.
    assert signals == ["leader"]
    stop.set()
    assert await asyncio.wait_for(run, 1) == 0
    assert (work.started, work.stopped, health.role) == (1, 1, "stopping")
    assert signals == ["leader", "stopping"]


async def test_a_standby_runs_nothing_while_the_leader_renews_and_stops_cleanly() -> None:
    store = Store()
    store.lease = lease_body(LeaseConfig("ops", "kapacitor-operator", "a"), WALL, acquire=True)
    store.lease["metadata"]["resourceVersion"] = "1"
    work = FakeWork()
    sup, health = supervisor(work, store)
    stop = asyncio.Event()
    run = asyncio.create_task(sup.run(stop))
    for i in range(25):  # the leader "a" renews every 0.1 s, for longer than the 2 s lease
        await asyncio.sleep(0.1)
        assert store.lease is not None
        store.lease["spec"]["renewTime"] = f"t{i}"
        store.lease["metadata"]["resourceVersion"] = f"r{i}"
        assert health.role == "standby"
    assert (await health.ready())[0]
    stop.set()
    assert await asyncio.wait_for(run, 1) == 0
    assert work.started == 0
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == "a"


async def test_a_leader_drains_under_the_lease_then_releases_it() -> None:
    store = Store()
    work = FakeWork(drain=0.9)  # longer than the renew deadline: renewals go on meanwhile
    abandon = Abandon()
    sup, health = supervisor(work, store, abandon)
    stop = asyncio.Event()
    run = asyncio.create_task(sup.run(stop))
    await asyncio.wait_for(work.running.wait(), 2)
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == "b"
    assert (await health.ready())[0]
    stop.set()
    await asyncio.sleep(0.1)
    assert health.role == "stopping"
    assert not (await health.ready())[0]
    assert await asyncio.wait_for(run, 3) == 0
    assert work.stopped == 1
    assert abandon.reasons == []
    assert store.lease["spec"]["holderIdentity"] == ""  # released: a standby takes it now


async def test_a_leader_that_cannot_renew_abandons_without_draining() -> None:
    store = Store()
    work = FakeWork()
    abandon = Abandon()
    sup, _ = supervisor(work, store, abandon)
    run = asyncio.create_task(sup.run(asyncio.Event()))
    await asyncio.wait_for(work.running.wait(), 2)
    store.down = True
    assert await asyncio.wait_for(run, 3) == 1
    assert abandon.reasons, "the process must exit"
    assert work.stopped == 0, "no drain: a standby may lead soon"


async def test_work_that_fails_releases_the_lease_and_exits_non_zero() -> None:
    store = Store()
    sup, _ = supervisor(FakeWork(fail=True), store)
    assert await asyncio.wait_for(sup.run(asyncio.Event()), 2) == 1
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == ""


async def test_the_watchdog_abandons_a_leader_whose_loop_is_blocked() -> None:
    store = Store()
    work = FakeWork()
    abandon = Abandon()
    sup, _ = supervisor(work, store, abandon)
    run = asyncio.create_task(sup.run(asyncio.Event()))
    await asyncio.wait_for(work.running.wait(), 2)
    deadline = time.monotonic() + FAST.renew_deadline + 5
    while not abandon.reasons and time.monotonic() < deadline:
        time.sleep(0.01)  # noqa: ASYNC251 - the event loop is blocked on purpose: no renewal
    assert any("watchdog" in r for r in abandon.reasons)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


async def test_liveness_fails_when_the_election_loop_is_stuck() -> None:
    store = Store()
    sup, health = supervisor(FakeWork(), store)
    assert sup.elector is not None
    health.role = "standby"
    assert sup.alive()[0]
    sup.elector.last_step -= 3 * FAST.duration + 1
    alive, why = sup.alive()
    assert not alive
    assert "stuck" in why


async def test_a_stop_as_the_lease_comes_starts_no_work_and_hands_the_lease_back() -> None:
    store, work = Store(), FakeWork()
    sup, _ = supervisor(work, store)
    stop = asyncio.Event()
    stop.set()
    assert await asyncio.wait_for(sup.run(stop), 2) == 0
    assert work.started == 0
    assert store.lease is None or store.lease["spec"]["holderIdentity"] == ""
