"""What both engine test modules share: an in-memory Kubernetes holding one synced
KapacitorTask, a RunEngine wired to the emulator, and polling with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.pool import ClientPool, Connection
from kapacitor_operator.runs.engine import RunEngine
from kapacitor_operator.runs.ports import EngineDeps
from tests.unit.fake_kube import FakeKube

NS = "ns"
TERMINAL = {"Succeeded", "Failed", "Cancelled"}


class EngineWorld:
    """A fake cluster with one KapacitorTask (``task``: its metadata name, spec and
    status) and an engine whose Kapacitor is the emulator."""

    def __init__(
        self,
        emulator: EmulatorHandle,
        pool: ClientPool,
        task: dict[str, Any],
        settings: Settings | None = None,
    ) -> None:
        self.emulator = emulator
        self.pool = pool
        self.kube = FakeKube()
        self.kube.put("kapacitortasks", {**task, "metadata": {**task["metadata"], "namespace": NS}})
        self.settings = settings or Settings(kapacitor_url=emulator.base_url)
        self.engine = self.new_engine()

    def new_engine(self) -> RunEngine:
        """An engine over the same cluster (a second one plays a restarted operator)."""

        async def connection(task: Any) -> Connection:
            return Connection(url=self.emulator.base_url)

        deps = EngineDeps(
            kube=self.kube,
            clients=self.pool,
            settings=self.settings,
            resolve_connection=connection,
            jitter=lambda: 0.0,
        )
        engine = RunEngine(deps)
        engine.primed.set()  # nothing to read first: the tests feed every TaskRun themselves
        return engine

    def put_run(self, name: str, spec: dict[str, Any]) -> None:
        body = {"metadata": {"name": name, "namespace": NS}, "spec": spec}
        self.engine.on_taskrun(None, self.kube.put("taskruns", body))

    def status(self, name: str) -> dict[str, Any]:
        obj = self.kube.get("taskruns", NS, name)
        assert obj is not None
        result: dict[str, Any] = obj.get("status") or {}
        return result

    def ended(self, name: str) -> dict[str, Any] | None:
        st = self.status(name)
        return st if st.get("phase") in TERMINAL else None


async def until(check: Callable[[], Any], limit: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = check()
        if result:
            return result
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
