"""Leader election by Lease: who takes over, when, and never while the leader renews."""

from __future__ import annotations

import asyncio
import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from kapacitor_operator.election import (
    LeaderElector,
    LeaseConfig,
    Observation,
    lease_body,
    may_take_over,
    must_step_down,
    next_look_in,
    stalled,
)
from kapacitor_operator.k8s.errors import KubeConflict, KubeUnavailable

WALL = datetime(2026, 1, 1, tzinfo=UTC)


def config(identity: str) -> LeaseConfig:
    return LeaseConfig(
        "ops", "kapacitor-operator", identity, duration=10, renew_deadline=7, retry_period=2
    )


@dataclass
class Store:
    """An API server's view of one Lease: resourceVersions and 409s on stale writes."""

    lease: dict[str, Any] | None = None
    down: bool = False
    versions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.down:
            raise KubeUnavailable("connection refused")
        return copy.deepcopy(self.lease)

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.down:
            raise KubeUnavailable("connection refused")
        if self.lease is not None:
            return None
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(next(self.versions))
        return copy.deepcopy(self.lease)

    async def replace_lease(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if self.down:
            raise KubeUnavailable("connection refused")
        assert self.lease is not None
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise KubeConflict("stale", status=409)
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(next(self.versions))
        return copy.deepcopy(self.lease)


def held_by(identity: str, version: str = "1", renew: str = "t0") -> dict[str, Any]:
    return {
        "metadata": {"resourceVersion": version},
        "spec": {"holderIdentity": identity, "leaseDurationSeconds": 10, "renewTime": renew},
    }


@pytest.mark.parametrize(
    ("lease", "seen", "now", "free"),
    [
        (held_by("a"), Observation(), 0.0, False),  # first look: the clock starts now
        (held_by("a"), Observation(("a", "t0", "1"), 0.0), 9.9, False),
        (held_by("a"), Observation(("a", "t0", "1"), 0.0), 10.0, True),  # unrenewed 10 s
        (held_by("a", "2", "t1"), Observation(("a", "t0", "1"), 0.0), 30.0, False),  # renewed
        (held_by(""), Observation(), 0.0, True),  # released
    ],
)
def test_a_standby_takes_over_only_a_lease_unrenewed_for_a_whole_duration(
    lease: dict[str, Any], seen: Observation, now: float, free: bool
) -> None:
    assert may_take_over(lease, seen, now, config("b"))[0] is free


def test_a_renewal_restarts_the_standbys_clock() -> None:
    _, seen = may_take_over(
        held_by("a", "2", "t1"), Observation(("a", "t0", "1"), 0.0), 30.0, config("b")
    )
    assert seen == Observation(("a", "t1", "2"), 30.0)


def test_the_lease_body_counts_transitions_and_keeps_the_version() -> None:
    body = lease_body(config("b"), WALL, held_by("a", "7"), acquire=True)
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["spec"]["holderIdentity"] == "b"
    assert body["spec"]["leaseTransitions"] == 1
    assert body["spec"]["acquireTime"] == "2026-01-01T00:00:00.000000Z"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_first_replica_creates_the_lease_and_leads() -> None:
    store = Store()
    elector = LeaderElector(store, config("a"))
    await asyncio.wait_for(elector.acquire(), timeout=1)
    assert elector.leader
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == "a"


async def test_a_standby_waits_while_the_leader_renews_then_takes_over_after_its_death() -> None:
    store, clock = Store(), Clock()
    leader = LeaderElector(store, config("a"), monotonic=clock)
    await leader.acquire()
    standby = LeaderElector(store, config("b"), monotonic=clock)
    seen = Observation()
    for _ in range(10):  # 20 s of renewals: never taken over
        assert not await standby._try_acquire(seen)
        clock.now += 2
        assert leader.current is not None
        leader.current = await store.replace_lease(
            "ops",
            "kapacitor-operator",
            lease_body(config("a"), WALL, leader.current, acquire=False),
        )
    for _ in range(5):  # the leader dies: 10 s later the standby leads
        assert not await standby._try_acquire(seen)
        clock.now += 2
    assert await standby._try_acquire(seen)
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == "b"
    assert store.lease["spec"]["leaseTransitions"] == 1


async def test_a_released_lease_is_taken_at_once() -> None:
    store = Store()
    leader = LeaderElector(store, config("a"))
    await leader.acquire()
    await leader.release()
    standby = LeaderElector(store, config("b"))
    assert await standby._try_acquire(Observation())


async def test_a_leader_that_cannot_renew_steps_down_before_anyone_may_take_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, clock = Store(), Clock()
    leader = LeaderElector(store, config("a"), monotonic=clock)
    await leader.acquire()
    store.down = True

    async def tick(_: float) -> None:
        clock.now += 2

    monkeypatch.setattr(asyncio, "sleep", tick)
    await asyncio.wait_for(leader.hold(), timeout=1)
    assert not leader.leader
    assert clock.now < config("a").duration, "stepped down before the lease could expire"


@pytest.mark.parametrize(
    ("seen", "duration", "now", "retry", "wait"),
    [
        (Observation(), 10.0, 0.0, 2.0, 2.0),  # nothing seen yet: the retry period
        (Observation(("", "t0", "1"), 0.0), 10.0, 0.0, 2.0, 2.0),  # released: retry
        (Observation(("a", "t0", "1"), 0.0), 10.0, 1.0, 2.0, 2.0),  # far from expiry
        (Observation(("a", "t0", "1"), 0.0), 10.0, 9.0, 2.0, 1.05),  # just after expiry
        (Observation(("a", "t0", "1"), 0.0), 10.0, 9.99, 2.0, 0.06),
        (Observation(("a", "t0", "1"), 0.0), 10.0, 10.0, 2.0, 2.0),  # expired, not taken
    ],
)
def test_a_standby_looks_again_just_after_the_lease_would_expire(
    seen: Observation, duration: float, now: float, retry: float, wait: float
) -> None:
    assert next_look_in(seen, duration, now, retry) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("armed", "last_renewed", "now", "step_down"),
    [
        (True, 0.0, 6.9, False),
        (True, 0.0, 7.0, True),  # renew deadline 7 s: before a standby may take over (10 s)
        (True, 5.0, 11.0, False),  # renewed since
        (False, 0.0, 60.0, False),  # not leading, or releasing cleanly
    ],
)
def test_a_leader_steps_down_at_the_renew_deadline(
    armed: bool, last_renewed: float, now: float, step_down: bool
) -> None:
    assert must_step_down(armed, last_renewed, now, 7.0) is step_down


@pytest.mark.parametrize(
    ("last_step", "now", "stuck"),
    [(0.0, 30.0, False), (0.0, 30.1, True), (100.0, 101.0, False)],
)
def test_the_election_loop_is_stuck_after_three_lease_durations(
    last_step: float, now: float, stuck: bool
) -> None:
    assert stalled(last_step, now, config("a")) is stuck


async def test_a_renewal_that_hangs_counts_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store()
    leader = LeaderElector(store, config("a"))
    await leader.acquire()
    hung = asyncio.Event()

    async def hang(namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        hung.set()
        await asyncio.Event().wait()
        raise AssertionError

    monkeypatch.setattr(store, "replace_lease", hang)
    fast = LeaseConfig("ops", "kapacitor-operator", "a", 1, renew_deadline=0.3, retry_period=0.1)
    leader.config = fast
    await asyncio.wait_for(leader.hold(), timeout=2)
    assert hung.is_set()
    assert not leader.leader
