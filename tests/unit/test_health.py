"""/readyz and /healthz: who may serve, and what a probe sees."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kapacitor_operator.health import Health, Role, app


async def reachable() -> None:
    return None


async def forbidden() -> None:
    raise PermissionError("403")


@pytest.mark.parametrize(
    ("role", "started", "api_ok", "ready", "why"),
    [
        ("starting", False, True, False, "replica is starting"),
        ("standby", False, True, True, "standby: API server reachable"),  # can take over
        ("standby", False, False, False, "API server check failed: PermissionError"),
        ("leader", False, True, False, "leader: handlers not started yet"),
        ("leader", True, True, True, "leader: API server reachable"),
        ("leader", True, False, False, "API server check failed: PermissionError"),
        ("stopping", True, True, False, "replica is stopping"),  # draining: no new work
    ],
)
async def test_readiness(role: Role, started: bool, api_ok: bool, ready: bool, why: str) -> None:
    health = Health(api_check=reachable if api_ok else forbidden, role=role)
    if started:
        health.started.set()
    assert await health.ready() == (ready, why)


async def test_probes_answer_with_the_status_and_the_reason() -> None:
    health = Health(api_check=reachable, role="standby")
    async with TestClient(TestServer(app(health))) as client:
        ready = await client.get("/readyz")
        assert (ready.status, await ready.text()) == (200, "standby: API server reachable\n")
        live = await client.get("/healthz")
        assert (live.status, await live.text()) == (200, "ok (standby)\n")
        health.alive = lambda: (False, "election loop stuck")
        live = await client.get("/healthz")
        assert (live.status, await live.text()) == (503, "election loop stuck (standby)\n")
        health.role = "stopping"
        assert (await client.get("/readyz")).status == 503
