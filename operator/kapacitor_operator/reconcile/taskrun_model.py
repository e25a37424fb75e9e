"""The vocabulary of the TaskRun engine: what the executor observes, what decide() asks
it to do, and what decide() returns.

Kept apart from the decision function itself so the executor (kapacitor_operator.runs)
and the tests can import the types without the state machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from kapacitor_operator.models.common import EndReason, RetryPolicy
from kapacitor_operator.models.taskrun import ReplayProgress, TaskRunStatus, TriggeredBy
from kapacitor_operator.reconcile.outcome import EventNote

ApiMethod = Literal["manual", "retry"]
Stage = Literal["Recording", "Replaying", "Finished", "Failed"]


@dataclass(frozen=True)
class ReplayReport:
    """What Kapacitor says about an attempt's recording and replay, for status."""

    recording_id: str
    replay_id: str
    stage: Stage
    progress: float = 0.0
    recording_size: int | None = None
    nodes: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] | None = None

    def to_status(self) -> ReplayProgress:
        nodes = None if self.nodes is None else {name: dict(stats) for name, stats in self.nodes}
        return ReplayProgress(
            recordingID=self.recording_id,
            replayID=self.replay_id,
            stage=self.stage,
            progress=round(self.progress, 2),
            recordingSize=self.recording_size,
            nodes=nodes,
        )


@dataclass(frozen=True)
class RunInputs:
    """What decide() needs from the TaskRun object: its spec as last seen, and identity."""

    name: str
    generation: int
    created_at: datetime
    job: bool
    """Job-backed; otherwise a Kapacitor (API) run of a Flux KapacitorTask, or a replay."""
    target: str
    """`KapacitorTask/<name>` or `Job`, as status.target shows it."""
    retry: RetryPolicy | None = None
    cancel: bool = False
    ttl: int | None = None
    retry_of: str | None = None
    triggered_by: TriggeredBy = "api"
    replay: bool = False
    """A replay against a TICKscript task (spec.replay)."""
    uid: str = ""
    recording_id: str | None = None
    """Replays: spec.replay.recordingID (None: each attempt records)."""


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt ended."""

    end_reason: EndReason
    external_id: str | None = None
    message: str | None = None
    exit_code: int | None = None
    log_tail: tuple[str, ...] | None = None
    run_history: str | None = None
    retryable: bool = True
    """False when retrying cannot help (the API server or Kapacitor refused the request)."""
    reason: str | None = None
    """Condition reason when this result ends the TaskRun (default: from end_reason)."""
    cleanup_job: bool = False
    """The attempt's Job still runs and must be deleted (e.g. its image cannot be pulled)."""
    replay: ReplayReport | None = None
    """Replays: the recording, the replay and its counts."""


@dataclass(frozen=True)
class TargetState:
    """API runs: can the referenced Flux task be run now?"""

    ready: bool
    task_id: str | None = None
    reason: str = ""
    message: str = ""
    permanent: bool = False
    """Waiting cannot help (e.g. the KapacitorTask is a TICKscript task)."""
    transient: bool = False
    """A server could not answer: wait as long as it takes (the executor looks again)."""


@dataclass(frozen=True)
class Prepared:
    """An API attempt may start: a run slot is held and its scheduledFor is reserved."""

    task_id: str
    method: ApiMethod
    retry_of: str | None
    scheduled_for: str


@dataclass(frozen=True)
class Waiting:
    """An API attempt cannot start yet (no free run slot, or its scheduledFor is in use)."""

    message: str


@dataclass(frozen=True)
class Live:
    """The open attempt is running (here, or in Kapacitor as another process left it)."""

    external_id: str | None = None
    detail: str | None = None
    """What the attempt is waiting for, e.g. a Pod that is not scheduled yet."""
    replay: ReplayReport | None = None
    """Replays: how far the recording or the replay is."""


@dataclass(frozen=True)
class Ended:
    """The open attempt has ended."""

    result: AttemptResult


@dataclass(frozen=True)
class NotStarted:
    """The open attempt's start never took effect (Kapacitor or the API server could not
    be reached, or refused for a reason that may pass): withdraw it and try again later."""

    reason: str
    message: str


AttemptObservation = Live | Ended | NotStarted


@dataclass(frozen=True)
class Observation:
    """What the executor knows now. Fields are None when not looked at."""

    now: datetime
    draining: bool = False
    """The operator is stopping (or lost its lease): start nothing new."""
    target: TargetState | None = None
    ready: Prepared | Waiting | None = None
    attempt: AttemptObservation | None = None
    """About the open attempt; None means this process has not attached to it yet."""
    start_failures: int = 0
    """Consecutive NotStarted withdrawals, for the backoff before the next start."""
    jitter: float = 0.0
    """A random sample in [0, 1) that places a retry delay within its jitter range."""


@dataclass(frozen=True)
class Prepare:
    """Resolve the target and try to take a run slot (API runs), then decide again."""


@dataclass(frozen=True)
class Start:
    """Start attempt `number` (already written to status as open)."""

    number: int
    method: Literal["manual", "retry", "job", "replay"]
    external_id: str | None = None
    retry_of: str | None = None
    scheduled_for: str | None = None
    task_id: str | None = None


@dataclass(frozen=True)
class Attach:
    """Watch an open attempt this process did not start (after a restart or a handover):
    re-attach to its Job, or find its run in Kapacitor's record."""

    number: int


@dataclass(frozen=True)
class Cancel:
    """Stop the running attempt (cancel the Kapacitor run, delete the Job)."""

    number: int


@dataclass(frozen=True)
class DeleteJob:
    """Delete an ended attempt's Job whose Pod would otherwise linger."""

    name: str


@dataclass(frozen=True)
class Expire:
    """ttlSecondsAfterFinished has passed: delete the TaskRun."""


Action = Prepare | Start | Attach | Cancel | DeleteJob | Expire


@dataclass(frozen=True)
class Decision:
    """The next status (write it before acting), what to do, and when to look again."""

    status: TaskRunStatus
    actions: tuple[Action, ...] = ()
    events: tuple[EventNote, ...] = ()
    wake_at: datetime | None = None
    """Decide again at this time even if nothing happens (retry delay, TTL, grace)."""
    done: bool = False
    """Nothing will ever happen to this TaskRun again."""
