"""The emulator object shared by every handler: configuration, clock, state, background tasks.

Handlers receive one :class:`Emulator`; there are no module-level globals, so a test can
run several emulators in one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from kapacitor_emulator.clock import Clock
from kapacitor_emulator.state import RunStorage, State

ADMIN_USER = "ADMIN_USER"
"""The user every request acts as when auth is off."""


@dataclass(frozen=True)
class EmulatorConfig:
    """Command-line settings."""

    host: str = "127.0.0.1"
    port: int = 9092
    control_port: int = 0
    run_storage: RunStorage = "memory"
    version: str = "1.8.3-emulator"
    username: str | None = None
    password: str | None = None
    shared_secret: str | None = None
    scheduler: bool = False
    default_run_ms: int = 10

    @property
    def auth_enabled(self) -> bool:
        """Whether ``[http] auth-enabled`` is on."""
        return bool(self.username or self.shared_secret)


class Emulator:
    """State plus the services around it."""

    def __init__(self, config: EmulatorConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.state = State()
        self.background: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def reset(self) -> None:
        """Forget everything (the control API's ``reset``); queued and in-flight runs are
        cancelled (they finish against the old state, which is dropped)."""
        for task in self.state.flux_tasks.values():
            for run in [*task.queued, *task.inflight.values()]:
                if run.worker is not None:
                    run.worker.cancel()
        self.state = State()
        self.clock.offset = type(self.clock.offset)(0)
