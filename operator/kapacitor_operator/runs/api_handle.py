"""A running API-backed attempt: the Kapacitor call of an attempt this process started,
or, for an open attempt it found (after a restart or a handover), Kapacitor's record of
that attempt's run, looked at until the run has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.reconcile.taskrun_api import (
    ApiAttempt,
    AttemptNotStarted,
    AttemptRef,
    RunContext,
    Stop,
    resolve_attempt,
    run_attempt,
)
from kapacitor_operator.reconcile.taskrun_model import (
    AttemptObservation,
    AttemptResult,
    Ended,
    Live,
    NotStarted,
)

log = logging.getLogger(__name__)
FOLLOW_MAX = 30.0
"""Longest pause between two looks at a run another process left behind."""
FOLLOW_GRACE = timedelta(seconds=60)
"""How long past its timeout such a run may still show as in flight before it is stopped."""


class ApiHandle:
    """One attempt's Kapacitor run, in a task of its own; `observe()` never blocks."""

    def __init__(
        self,
        attempt: ApiAttempt,
        ctx: RunContext,
        *,
        wake: Callable[[], None],
        clock: Callable[[], datetime],
        run_id: str | None = None,
        follow: bool = False,
        outcome: Ended | None = None,
    ) -> None:
        self.attempt = attempt
        self.ctx = ctx
        self.run_id = run_id
        self.outcome: Ended | NotStarted | None = outcome
        self.stop = Stop()
        self._wake = wake
        self._clock = clock
        self.task: asyncio.Task[None] | None = None
        if outcome is None:
            self.task = asyncio.create_task(self._follow() if follow else self._start())

    async def noted(self, run_id: str) -> None:
        """on_run_id hook: remember the run ID and let the worker record it."""
        self.run_id = run_id
        self._wake()

    async def _start(self) -> None:
        try:
            result = await run_attempt(self.ctx, self.attempt, self.stop)
            self.outcome = Ended(result)
        except AttemptNotStarted as exc:
            self.outcome = NotStarted(exc.reason, exc.message)
        except Exception as exc:  # a bug must end the attempt, not hang it
            log.exception("attempt %s failed unexpectedly", self.attempt.owner)
            self.outcome = Ended(AttemptResult("crashed", self.run_id, f"Operator error: {exc}"))
        finally:
            self._wake()

    async def _follow(self) -> None:
        """Look at Kapacitor's record until the run has ended (backing off to 30 s); stop
        it when spec.cancel asks, or when it is far past its timeout."""
        pause = 1.0
        deadline = self.attempt.started_at + timedelta(seconds=self.attempt.timeout) + FOLLOW_GRACE
        ref = AttemptRef(self.attempt, self.run_id)
        try:
            while True:
                try:
                    seen = await resolve_attempt(self.ctx, ref)
                except KapacitorError as exc:
                    log.info("run of %s not resolved yet: %s", self.attempt.owner, exc)
                    seen = Live(self.run_id)
                if isinstance(seen, Ended):
                    self.outcome = seen
                    return
                if seen.external_id and seen.external_id != self.run_id:
                    await self.noted(seen.external_id)
                    ref = replace(ref, run_id=seen.external_id)
                if ref.cancelled_as is None and self.run_id:
                    if self.stop.reason is not None:
                        ref = replace(
                            ref, cancelled_as=self.stop.reason, cancel_message=self.stop.message
                        )
                    elif self._clock() >= deadline:
                        message = (
                            f"Run exceeded the timeout of {self.attempt.timeout:g}s and was "
                            "cancelled."
                        )
                        ref = replace(ref, cancelled_as="timeout", cancel_message=message)
                    if ref.cancelled_as is not None:
                        with contextlib.suppress(KapacitorError):
                            await self.ctx.client.cancel_run(self.attempt.task_id, self.run_id)
                        continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.event.wait(), timeout=pause)
                pause = min(pause * 2, FOLLOW_MAX)
        except Exception as exc:
            log.exception("attempt %s could not be followed", self.attempt.owner)
            self.outcome = Ended(AttemptResult("crashed", self.run_id, f"Operator error: {exc}"))
        finally:
            self._wake()

    def observe(self) -> AttemptObservation:
        return self.outcome if self.outcome is not None else Live(self.run_id)

    def cancel(self) -> None:
        self.stop.request("stopped", "Run cancelled by spec.cancel.")

    def abandon(self, message: str) -> None:
        """The operator is leaving: end the run now and record it crashed."""
        self.stop.request("crashed", message)

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()
