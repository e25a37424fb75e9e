"""The operator process around its work: health endpoints, leader election, and the work
itself (kopf and the TaskRun engine) only while this replica leads.

A replica starts as a standby: it serves /healthz, /readyz and /metrics and looks at the
Lease, nothing else; no handler runs, nothing reconciles. Once it holds the Lease it
starts the work and renews the Lease while it works. Then:

- SIGTERM (a rollout, a drain): the work stops and drains (kopf's cleanup), still under
  the Lease, which is then released, so a standby takes over at once;
- the work ends by itself: the Lease is released too (0 if it stopped cleanly, else 1);
- the Lease cannot be renewed for the renew deadline: the process exits at once, non-zero,
  without draining, because a standby may take over soon after. A watchdog thread makes
  this hold even if the event loop is blocked or a call hangs.

`--standalone` skips the election: the work starts at once (one replica only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, NoReturn

from kapacitor_operator import memory, metrics
from kapacitor_operator.config import Settings
from kapacitor_operator.election import LeaderElector, LeaseConfig, must_step_down, stalled
from kapacitor_operator.health import Health, serve
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.client import KubeClient
from kapacitor_operator.k8s.credentials import CredentialsError, load_credentials

log = logging.getLogger(__name__)

Work = Callable[[asyncio.Event, asyncio.Event], Coroutine[Any, Any, None]]
"""Runs the operator until its first argument (stop) is set; sets the second (started)
once its handlers run."""


def hard_exit(reason: str) -> NoReturn:
    """Leave now, non-zero, without cleanup: another replica may lead soon."""
    log.critical("%s: exiting at once so that two replicas never work together", reason)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(1)


class Watchdog(threading.Thread):
    """Exits the process when the leader's last renewal is older than the renew deadline,
    whatever its event loop is doing."""

    def __init__(
        self,
        elector: LeaderElector,
        abandon: Callable[[str], None],
        interval: float = 0.2,
    ) -> None:
        super().__init__(name="lease-watchdog", daemon=True)
        self.elector = elector
        self.abandon = abandon
        self.interval = interval
        self.armed = False
        self._done = threading.Event()

    def stop(self) -> None:
        self.armed = False
        self._done.set()

    def run(self) -> None:
        deadline = self.elector.config.renew_deadline
        while not self._done.wait(self.interval):
            last = self.elector.last_renewed
            if must_step_down(self.armed, last, self.elector.monotonic(), deadline):
                self.armed = False
                self.abandon(f"Lease not renewed for {deadline:g}s (watchdog)")


@dataclass
class Supervisor:
    """Runs the work while this replica leads (always, without an elector)."""

    work: Work
    health: Health
    elector: LeaderElector | None = None
    abandon: Callable[[str], None] = hard_exit
    take_signals: Callable[[], None] = lambda: None
    """(Re)install our SIGTERM/SIGINT handlers: kopf installs its own when it starts; ours
    mark the replica as stopping (not ready) before the work drains."""
    watchdog_interval: float = 0.2
    _watchdog: Watchdog | None = field(default=None, init=False)

    def alive(self) -> tuple[bool, str]:
        """Liveness: the election loop looked at the Lease, or renewed it, recently."""
        elector = self.elector
        if elector is None or self.health.role not in ("standby", "leader"):
            return True, "ok"
        if stalled(elector.last_step, elector.monotonic(), elector.config):
            idle = elector.monotonic() - elector.last_step
            return False, f"election loop stuck: no Lease look or renewal for {idle:.0f}s"
        return True, "ok"

    async def run(self, stop: asyncio.Event) -> int:
        """0 after a clean stop (or a stop while standing by), 1 when the work failed.
        Losing the Lease calls `abandon` (in production: exit at once)."""
        # Every task we wait on exists before the work starts: kopf cancels, when it
        # stops, the tasks created after it started.
        stop_wait = asyncio.create_task(stop.wait(), name="stop requested")
        hold: asyncio.Task[None] | None = None
        try:
            if self.elector is not None:
                if not await self._acquire(stop_wait):
                    return 0
                if stop.is_set():  # asked to stop just as the Lease came: hand it back
                    self.health.role = "stopping"
                    if self._watchdog is not None:
                        self._watchdog.armed = False
                    await self.elector.release()
                    return 0
                hold = asyncio.create_task(self.elector.hold(), name="lease renewal")
            return await self._lead(stop_wait, hold)
        finally:
            stop_wait.cancel()
            if hold is not None:
                hold.cancel()
            if self._watchdog is not None:
                self._watchdog.stop()
            metrics.LEADER.set(0)

    async def _acquire(self, stop_wait: asyncio.Task[bool]) -> bool:
        assert self.elector is not None
        self.health.role = "standby"
        metrics.LEADER.set(0)
        log.info(
            "standing by for Lease %s/%s as %s",
            self.elector.config.namespace,
            self.elector.config.name,
            self.elector.config.identity,
        )
        acquire = asyncio.create_task(self.elector.acquire(), name="lease acquisition")
        await asyncio.wait({acquire, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not acquire.done():
            self.health.role = "stopping"
            acquire.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquire
            await self.elector.release_if_ours()
            log.info("stopped while standing by")
            return False
        acquire.result()
        if self._watchdog is None:
            self._watchdog = Watchdog(self.elector, self.abandon, self.watchdog_interval)
            self._watchdog.start()
        self._watchdog.armed = True
        return True

    async def _lead(self, stop_wait: asyncio.Task[bool], hold: asyncio.Task[None] | None) -> int:
        self.health.role = "leader"
        metrics.LEADER.set(1)
        work_stop = asyncio.Event()
        started = asyncio.create_task(self.health.started.wait(), name="operator started")
        work = asyncio.create_task(self.work(work_stop, self.health.started), name="operator")
        lease = {hold} if hold is not None else set()
        watched = {work, stop_wait, started, *lease}
        while True:
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if done != {started}:
                break
            self.take_signals()  # kopf took them when it started
            watched.discard(started)
        started.cancel()
        if not work.done() and stop_wait in done:
            log.info("stopping: draining%s", ", then releasing the Lease" if lease else "")
            self.health.role = "stopping"
            work_stop.set()
            done, _ = await asyncio.wait({work, *lease}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():  # the renewal loop ended first: the Lease is lost
            self.abandon("lost the leader Lease (could not renew it in time)")
            return 1
        self.health.role = "stopping"
        self.take_signals()
        code = 0
        try:
            await work
        except Exception:
            log.exception("the operator stopped on an error")
            code = 1
        if self.elector is not None:
            if self._watchdog is not None:
                self._watchdog.armed = False
            if hold is not None:
                hold.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hold
            await self.elector.release()
        return code


def identity() -> str:
    """Who holds the Lease: the Pod name (POD_ID) or host name, and a per-process suffix,
    so a restarted container never mistakes its predecessor's Lease for its own."""
    base = os.environ.get("POD_ID") or socket.gethostname()
    return f"{base}_{secrets.token_hex(3)}"


async def run_process(settings: Settings, work: Work, *, standalone: bool) -> int:
    """The operator process: health and metrics endpoints, the election, the work."""
    try:
        credentials = load_credentials()
    except CredentialsError as exc:
        log.error("cannot reach the Kubernetes API: %s", exc)
        return 1
    kube = KubeAPI(KubeClient(credentials))

    elector = None
    if not standalone:
        elector = LeaderElector(
            kube,
            LeaseConfig(
                namespace=settings.lease_namespace or credentials.namespace or "default",
                name=settings.lease_name,
                identity=identity(),
                duration=settings.lease_duration,
                renew_deadline=settings.lease_renew_deadline,
                retry_period=settings.lease_retry_period,
            ),
        )

    async def api_check() -> None:
        # The Lease when there is one: the API server answers, and this replica may read it.
        if elector is not None:
            await kube.get_lease(elector.config.namespace, elector.config.name)
        else:
            await kube.client.request("GET", "/version")

    health = Health(api_check=api_check)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def take_signals() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    take_signals()
    supervisor = Supervisor(work, health, elector, take_signals=take_signals)
    health.alive = supervisor.alive
    runner = await serve(health, settings.health_port)
    metrics.serve(settings.metrics_port)
    memory.fix_mmap_threshold()
    trimming = asyncio.create_task(memory.trim_forever(), name="malloc_trim")
    try:
        return await supervisor.run(stop)
    finally:
        trimming.cancel()
        await runner.cleanup()
        await kube.aclose()
