"""The operator's own health endpoints: `/healthz` (alive) and `/readyz` (can serve).

kopf's liveness endpoint exists only while kopf runs, and a replica waiting for the
leader Lease runs no kopf; and "the process answers" is not "the replica can serve". So
readiness is our own: the API server answered recently (a replica that cannot reach it
cannot work, nor take over; with leader election the check reads the Lease, so a replica
not allowed to read it is not ready either), and either this replica waits as a
standby, ready to take over, or it leads and its handlers have started. A stopping replica
is not ready.
Liveness is whether the process's event loop answers and its election loop is not stuck
(`alive`); a replica that cannot renew its Lease does not wait for a probe: it exits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

log = logging.getLogger(__name__)
Role = Literal["starting", "standby", "leader", "stopping"]
API_CHECK_TTL = 5.0
"""Seconds a successful API server check counts."""


@dataclass
class Health:
    """What the endpoints report; the operator's main loop updates `role` and `started`."""

    api_check: Callable[[], Awaitable[None]]
    """Raises when the API server does not answer."""
    alive: Callable[[], tuple[bool, str]] = lambda: (True, "ok")
    """Liveness beyond "the loop answers": (alive?, why)."""
    role: Role = "starting"
    started: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once kopf's startup handlers have run (leader only)."""
    _checked_at: float = -1e9
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def api_reachable(self) -> tuple[bool, str]:
        async with self._lock:
            if time.monotonic() - self._checked_at < API_CHECK_TTL:
                return True, "API server reachable"
            try:
                await asyncio.wait_for(self.api_check(), timeout=3.0)
            except Exception as exc:  # any failure means: cannot serve
                return False, f"API server check failed: {type(exc).__name__}"
            self._checked_at = time.monotonic()
            return True, "API server reachable"

    async def ready(self) -> tuple[bool, str]:
        """Can this replica serve (or take over) now? And why not."""
        if self.role in ("starting", "stopping"):
            return False, f"replica is {self.role}"
        reachable, why = await self.api_reachable()
        if not reachable:
            return False, why
        if self.role == "leader" and not self.started.is_set():
            return False, "leader: handlers not started yet"
        return True, f"{self.role}: {why}"


def app(health: Health) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        ok, why = health.alive()
        return web.Response(status=200 if ok else 503, text=f"{why} ({health.role})\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, why = await health.ready()
        return web.Response(status=200 if ok else 503, text=why + "\n")

    application = web.Application()
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    return application


async def serve(health: Health, port: int) -> web.AppRunner:
    """Serve the endpoints on 0.0.0.0:`port` (0: not at all); stop with runner.cleanup()."""
    runner = web.AppRunner(app(health), access_log=None)
    await runner.setup()
    if port:
        await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
