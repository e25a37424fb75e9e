"""A replay attempt: make its recording (unless it replays an existing one), then its
replay, and look at Kapacitor's record until the replay has ended.

Every pass reads first and creates only what is missing (reconcile.taskrun_replay decides),
so the same handle serves an attempt this process started and one it found open after a
restart: nothing is made twice. The operator leaving does not stop a replay; the next
process follows it from Kapacitor's record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import KapacitorError, KapacitorRejected
from kapacitor_operator.models.common import EndReason, parse_duration
from kapacitor_operator.models.resources import TaskRun
from kapacitor_operator.models.taskrun import Attempt
from kapacitor_operator.reconcile.taskrun_model import (
    AttemptObservation,
    AttemptResult,
    Ended,
    Live,
    ReplayReport,
)
from kapacitor_operator.reconcile.taskrun_replay import (
    Done,
    MakeRecording,
    MakeReplay,
    ReplayPlan,
    Seen,
    StopReplay,
    Wait,
    next_step,
    rejected,
    replay_ids,
    unreachable,
)

log = logging.getLogger(__name__)
PAUSE_MIN = 0.5
PAUSE_MAX = 5.0
"""Looks at a running recording or replay back off from half a second to five."""


def replay_plan(
    run: TaskRun,
    uid: str,
    number: int,
    *,
    task_id: str,
    started: datetime,
    timeout: float,
    attempt: Attempt | None = None,
) -> ReplayPlan:
    """Attempt `number` of a replay TaskRun; an attempt found in status keeps the IDs it
    recorded."""
    spec = run.spec.replay
    assert spec is not None
    recording_id, replay_id = replay_ids(uid, number, spec.recordingID)
    if attempt is not None:
        recording_id = attempt.recordingID or recording_id
        replay_id = attempt.externalID or replay_id
    return ReplayPlan(
        task_id=task_id,
        recording_id=recording_id,
        replay_id=replay_id,
        record_seconds=parse_duration(spec.record.duration) if spec.record else None,
        clock=spec.clock,
        recording_time=spec.recordingTime,
        started_at=started,
        timeout=timeout,
    )


class ReplayHandle:
    """One replay attempt, in a task of its own; `observe()` never blocks."""

    def __init__(
        self,
        plan: ReplayPlan,
        client: KapacitorClient | None,
        *,
        wake: Callable[[], None],
        clock: Callable[[], datetime],
        outcome: Ended | None = None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.outcome: Ended | None = outcome
        self.report: ReplayReport | None = None
        self.stop: tuple[EndReason, str] | None = None
        self.made_recording = False
        self.made_replay = False
        self.recording_size: int | None = None
        self._stopped = asyncio.Event()
        self._wake = wake
        self._clock = clock
        self.task: asyncio.Task[None] | None = None
        if outcome is None:
            self.task = asyncio.create_task(self._run(), name=f"replay {plan.replay_id}")

    @property
    def kapacitor(self) -> KapacitorClient:
        assert self.client is not None, "a handle without a client has an outcome"
        return self.client

    async def _run(self) -> None:
        pause = PAUSE_MIN
        try:
            while True:
                try:
                    step = next_step(self.plan, await self._look())
                    result = await self._do(step)
                except KapacitorError as exc:
                    # Unreachable or 5xx: look again, unless it must end now.
                    log.info("replay %s: Kapacitor did not answer: %s", self.plan.replay_id, exc)
                    result = unreachable(self.plan, self._clock(), self.stop, str(exc))
                    step = None
                if result is not None:
                    self.outcome = Ended(self._sized(result))
                    return
                if isinstance(step, MakeRecording | MakeReplay):
                    pause = PAUSE_MIN
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), timeout=self._pause(pause))
                pause = min(pause * 1.5, PAUSE_MAX)
        except Exception as exc:  # a bug must end the attempt, not hang it
            log.exception("replay %s failed unexpectedly", self.plan.replay_id)
            result = AttemptResult("crashed", self.plan.replay_id, f"Operator error: {exc}")
            self.outcome = Ended(result)
        finally:
            self._wake()

    def _pause(self, pause: float) -> float:
        """Never sleep past the attempt's deadline."""
        left = (self.plan.deadline - self._clock()).total_seconds()
        return max(0.05, min(pause, left))

    async def _look(self) -> Seen:
        # While this handle's own recording runs no replay can exist yet: one GET per look.
        ours = self.made_recording and not self.made_replay
        replay = None if ours else await self.kapacitor.get_replay(self.plan.replay_id)
        recording = None
        if replay is None or (replay.status == "running" and self.recording_size is None):
            recording = await self.kapacitor.get_recording(self.plan.recording_id)
            if recording is not None and recording.status == "finished":
                self.recording_size = recording.size
        return Seen(
            now=self._clock(),
            replay=replay,
            recording=recording,
            stop=self.stop,
            made_recording=self.made_recording,
            made_replay=self.made_replay,
        )

    async def _do(
        self, step: MakeRecording | MakeReplay | Wait | StopReplay | Done
    ) -> AttemptResult | None:
        """Perform a step; returns the attempt's result once it has ended."""
        plan = self.plan
        if isinstance(step, Done):
            return step.result
        if isinstance(step, StopReplay):
            with contextlib.suppress(KapacitorError):
                if step.delete_replay:
                    await self.kapacitor.delete_replay(plan.replay_id)
                if step.delete_recording:
                    await self.kapacitor.delete_recording(plan.recording_id)
            return step.result
        if isinstance(step, Wait):
            report = self._sized_report(step.report)
            if report != self.report:
                self.report = report
                self._wake()
            return None
        if isinstance(step, MakeRecording):
            try:
                await self.kapacitor.record_stream(plan.recording_id, plan.task_id, step.stop)
            except KapacitorRejected as exc:
                return rejected(plan, "recording", exc.message)
            self.made_recording = True
            return None
        try:
            await self.kapacitor.create_replay(
                plan.replay_id,
                plan.task_id,
                plan.recording_id,
                clock=plan.clock,
                recording_time=plan.recording_time,
            )
        except KapacitorRejected as exc:
            return rejected(plan, "replay", exc.message)
        self.made_replay = True
        return None

    def _sized_report(self, report: ReplayReport) -> ReplayReport:
        if self.recording_size is None:
            return report
        return replace(report, recording_size=self.recording_size)

    def _sized(self, result: AttemptResult) -> AttemptResult:
        if result.replay is None:
            return result
        return replace(result, replay=self._sized_report(result.replay))

    def observe(self) -> AttemptObservation:
        if self.outcome is not None:
            return self.outcome
        report = self.report
        detail = None
        if report is not None:
            detail = f"{report.stage} ({report.progress:.0%})."
        return Live(self.plan.replay_id, detail=detail, replay=report)

    def cancel(self, message: str = "Replay cancelled by spec.cancel.") -> None:
        """Delete the replay (and a recording still running) and end the attempt stopped."""
        if self.stop is None:
            self.stop = ("stopped", message)
        self._stopped.set()

    @property
    def stopping(self) -> bool:
        return self.stop is not None

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()
