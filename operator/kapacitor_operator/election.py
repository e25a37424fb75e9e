"""Leader election by a coordination.k8s.io Lease, the way Kubernetes controllers do it.

One replica holds the Lease and works; the others wait. A waiting replica takes the Lease
over only when it has seen no renewal for a whole lease duration *by its own clock*
(it never compares timestamps written by another machine), so it never takes over while
the leader is alive and renewing. A leader that cannot renew for `renew_deadline` gives
up (the caller stops working and exits) before anyone can take over; a leader that stops
cleanly hands the Lease back at once, so its successor starts without waiting.

The decisions (take over? renewed in time?) are pure functions of what was observed and
when; `LeaderElector` only reads and writes the Lease.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kapacitor_operator.k8s.errors import KubeConflict, KubeError

log = logging.getLogger(__name__)


class Leases(Protocol):
    """The Lease calls of k8s/api.py."""

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None: ...

    async def replace_lease(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LeaseConfig:
    """Where the Lease lives, who we are, and the timing (seconds)."""

    namespace: str
    name: str
    identity: str
    duration: float = 10.0
    renew_deadline: float = 7.0
    retry_period: float = 2.0


def micro_time(moment: datetime) -> str:
    """A Lease MicroTime: RFC3339 with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Observation:
    """What a waiting replica saw of the Lease, and when (its own monotonic clock)."""

    record: tuple[str, str, str] = ("", "", "")
    """(holderIdentity, renewTime, resourceVersion) at the last look."""
    since: float = 0.0
    """When that record was first seen."""


def holder(lease: dict[str, Any] | None) -> str:
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def may_take_over(
    lease: dict[str, Any], seen: Observation, now: float, config: LeaseConfig
) -> tuple[bool, Observation]:
    """Whether the Lease is free to take (released, or unrenewed for a whole duration as
    observed here), and the updated observation."""
    spec = lease.get("spec") or {}
    record = (
        holder(lease),
        str(spec.get("renewTime") or ""),
        str((lease.get("metadata") or {}).get("resourceVersion") or ""),
    )
    if record != seen.record:
        seen = Observation(record, now)
    if not record[0]:
        return True, seen
    duration = float(spec.get("leaseDurationSeconds") or config.duration)
    return now - seen.since >= duration, seen


def lease_body(
    config: LeaseConfig, wall: datetime, base: dict[str, Any] | None = None, *, acquire: bool
) -> dict[str, Any]:
    """The Lease as this replica writes it (taking it over, or renewing)."""
    spec = dict((base or {}).get("spec") or {})
    spec["holderIdentity"] = config.identity
    spec["leaseDurationSeconds"] = int(config.duration)
    spec["renewTime"] = micro_time(wall)
    if acquire:
        spec["acquireTime"] = micro_time(wall)
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if base else 0)
    metadata: dict[str, Any] = {"name": config.name, "namespace": config.namespace}
    if base is not None:
        metadata["resourceVersion"] = (base.get("metadata") or {}).get("resourceVersion")
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


def next_look_in(seen: Observation, duration: float, now: float, retry: float) -> float:
    """Seconds until a standby looks at the Lease again: its retry period, or just after
    the Lease would expire as observed here, when that is sooner (a takeover then comes
    `duration` after the last renewal seen, not up to a retry period later)."""
    if not seen.record[0]:
        return retry
    expires_in = seen.since + duration - now
    if expires_in <= 0:
        return retry  # expired, yet not taken: someone else was first, or a write failed
    return min(retry, expires_in + 0.05)


def must_step_down(armed: bool, last_renewed: float, now: float, renew_deadline: float) -> bool:
    """Whether a leader has gone `renew_deadline` without a renewal and must stop working
    at once (the watchdog's decision; `armed` while leading, off during a clean release)."""
    return armed and now - last_renewed >= renew_deadline


def stalled(last_step: float, now: float, config: LeaseConfig) -> bool:
    """Whether the election loop is stuck: no look at the Lease, or renewal attempt, ended
    for three lease durations (a healthy loop ends one every retry period or so; each
    API call is bounded by the renew deadline)."""
    return now - last_step > 3 * config.duration


def _wall() -> datetime:
    return datetime.now(UTC)


@dataclass
class LeaderElector:
    """Acquires, renews and releases one Lease."""

    leases: Leases
    config: LeaseConfig
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = _wall
    leader: bool = False
    current: dict[str, Any] | None = None
    last_renewed: float = 0.0
    last_step: float = field(default_factory=time.monotonic)
    """When the last look at the Lease, or renewal attempt, ended (for liveness)."""
    _lease_duration: float = 0.0

    async def acquire(self) -> None:
        """Return once this replica holds the Lease."""
        cfg = self.config
        seen = Observation()
        while True:
            try:
                if await asyncio.wait_for(self._try_acquire(seen), timeout=cfg.renew_deadline):
                    return
            except (KubeError, TimeoutError) as exc:
                log.warning(
                    "leader election: cannot read or write Lease %s: %s",
                    cfg.name,
                    str(exc) or type(exc).__name__,
                )
            now = self.monotonic()
            self.last_step = now
            retry = cfg.retry_period * random.uniform(1.0, 1.2)
            await asyncio.sleep(next_look_in(seen, self._lease_duration, now, retry))

    async def _try_acquire(self, seen: Observation) -> bool:
        cfg = self.config
        lease = await self.leases.get_lease(cfg.namespace, cfg.name)
        if lease is None:
            created = await self.leases.create_lease(
                cfg.namespace, lease_body(cfg, self.wall(), acquire=True)
            )
            return self._won(created)
        if holder(lease) == cfg.identity:
            return self._won(lease)
        self._lease_duration = float(
            (lease.get("spec") or {}).get("leaseDurationSeconds") or cfg.duration
        )
        free, updated = may_take_over(lease, seen, self.monotonic(), cfg)
        seen.record, seen.since = updated.record, updated.since
        if not free:
            return False
        try:
            taken = await self.leases.replace_lease(
                cfg.namespace, cfg.name, lease_body(cfg, self.wall(), lease, acquire=True)
            )
        except KubeConflict:
            return False  # someone else was first
        log.info("leader election: took over Lease %s from %r", cfg.name, holder(lease) or None)
        return self._won(taken)

    def _won(self, lease: dict[str, Any] | None) -> bool:
        if lease is None:
            return False
        self.current = lease
        self.leader = True
        self.last_renewed = self.last_step = self.monotonic()
        log.info(
            "leader election: %s leads (Lease %s/%s)",
            self.config.identity,
            self.config.namespace,
            self.config.name,
        )
        return True

    async def hold(self) -> None:
        """Renew until renewing fails for `renew_deadline`; then return (leadership lost)."""
        cfg = self.config
        while self.leader:
            await asyncio.sleep(cfg.retry_period)
            # No renewal may outlast the deadline: a hung call counts as a failed one.
            left = max(0.1, cfg.renew_deadline - (self.monotonic() - self.last_renewed))
            try:
                self.current = await asyncio.wait_for(
                    self.leases.replace_lease(
                        cfg.namespace,
                        cfg.name,
                        lease_body(cfg, self.wall(), self.current, acquire=False),
                    ),
                    timeout=left,
                )
                self.last_renewed = self.last_step = self.monotonic()
                continue
            except KubeConflict:
                # Changed under us: read it again; if it is still ours, keep going.
                fresh = await self._read()
                if fresh is not None and holder(fresh) == cfg.identity:
                    self.current = fresh
                    continue
                if fresh is not None:
                    log.error("leader election: Lease %s taken by %r", cfg.name, holder(fresh))
                    self.leader = False
                    return
            except (KubeError, TimeoutError) as exc:
                log.warning(
                    "leader election: renewing Lease %s failed: %s",
                    cfg.name,
                    str(exc) or type(exc).__name__,
                )
            self.last_step = self.monotonic()
            if self.monotonic() - self.last_renewed >= cfg.renew_deadline:
                log.error(
                    "leader election: could not renew Lease %s for %.0fs; stepping down",
                    cfg.name,
                    cfg.renew_deadline,
                )
                self.leader = False
                return

    async def _read(self) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(
                self.leases.get_lease(self.config.namespace, self.config.name),
                timeout=self.config.retry_period,
            )
        except (KubeError, TimeoutError):
            return None

    async def release_if_ours(self) -> None:
        """After an interrupted acquisition: the write may have reached the server, so hand
        the Lease back if it names us (else a standby would wait a whole duration)."""
        lease = await self._read()
        if lease is not None and holder(lease) == self.config.identity:
            self.current, self.leader = lease, True
            await self.release()

    async def release(self) -> None:
        """Hand the Lease back (a clean stop), so a standby takes over at once."""
        if not self.leader or self.current is None:
            return
        self.leader = False
        body = lease_body(self.config, self.wall(), self.current, acquire=False)
        body["spec"]["holderIdentity"] = ""
        body["spec"]["leaseDurationSeconds"] = 1
        try:
            await asyncio.wait_for(
                self.leases.replace_lease(self.config.namespace, self.config.name, body),
                timeout=self.config.renew_deadline,
            )
            log.info("leader election: released Lease %s", self.config.name)
        except (KubeError, TimeoutError) as exc:
            log.warning(
                "leader election: releasing Lease %s failed: %s",
                self.config.name,
                str(exc) or type(exc).__name__,
            )
