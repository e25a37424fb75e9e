"""The driver every mirrored kind runs on: observe -> decide -> act -> status.

A kind (KapacitorTask today; templates, alert handlers and connections next) brings a
`MirrorKind`: how to parse its objects, what Kapacitor object each one claims, how to
resolve its target (connection, references, desired state), and its observe / decide /
act functions, `decide` being pure. Everything else lives here once:

- conditions (reconcile/mirror/status.py) for synced, failed, conflicting, invalid and
  deleting objects;
- failures mapped to reasons and retries (reconcile/mirror/failures.py);
- drift Events (`DriftRepaired`, from the plan's `drift`) and the drift metric;
- claims: an object whose Kapacitor object another resource holds is told so and
  changes nothing;
- deletion: per deletionPolicy, with a status that says why it waits.

The driver is the `SyncKind` the work-queue controller (sync/controller.py) drives; the
controller owns the finalizer, status writes over the version read, Events and retries.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import ValidationError

from kapacitor_operator import conditions as c
from kapacitor_operator import metrics
from kapacitor_operator.models.status import Condition
from kapacitor_operator.reconcile.connection import UrlNotAllowed
from kapacitor_operator.reconcile.kapacitor_ref import KapacitorRefMissing
from kapacitor_operator.reconcile.mirror.failures import Failure, classify
from kapacitor_operator.reconcile.mirror.plan import AlreadyExists, Plan
from kapacitor_operator.reconcile.mirror.status import MirrorStatus, mark_deleting, mark_failed
from kapacitor_operator.reconcile.outcome import EventNote, Outcome
from kapacitor_operator.sync.claims import ClaimKey
from kapacitor_operator.sync.controller import Finalized
from kapacitor_operator.timeutil import utcnow
from kapacitor_operator.urls import redact_url

R = TypeVar("R")
Key = tuple[str, str]


@dataclass(frozen=True)
class Target:
    """Where and what: the kind's desired state, a client for its server, the server's
    redacted URL, and a hash of the desired definition (None when not known)."""

    desired: Any
    client: Any
    url: str
    desired_hash: str | None = None


@dataclass(frozen=True)
class Observation:
    """What Kapacitor holds (None: nothing; plan.UNKNOWN: not looked at) and notes worth
    an Event (e.g. duplicates found while looking)."""

    server: Any
    notes: tuple[EventNote, ...] = ()


@dataclass(frozen=True)
class Acted:
    """Kapacitor's answer after the plan was carried out, and how many writes it took."""

    server: Any
    writes: int
    notes: tuple[EventNote, ...] = ()
    """Events the kind's act found worth telling (e.g. a watchdog restart)."""
    then: Callable[[], Coroutine[Any, Any, None]] | None = None
    """Work to start once the status is written (e.g. nudge objects that read it)."""


class DeletionWaits(Exception):
    """A kind's `delete` answering "not yet", for a reason of its own (e.g. a template
    that Kapacitor tasks still use): the resource keeps its finalizer, its status says
    why (Ready=False with `reason`), and the deletion is tried again after `delay`."""

    def __init__(self, reason: str, message: str, delay: float) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.delay = delay


@dataclass(frozen=True)
class Deletion:
    """What deleting the Kapacitor side did."""

    deleted: list[str]
    event: EventNote


class MirrorKind(Protocol[R]):
    """What a kind brings to the driver."""

    kind: str
    plural: str
    finalizer: str
    noun: str
    """What the kind mirrors, for messages: "task", "template", "handler"."""

    def parse(self, body: Mapping[str, Any]) -> R:
        """The typed object. Raises pydantic.ValidationError."""

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        """(server URL, API, identity) of the Kapacitor object the body names."""

    def status(self, resource: R) -> MirrorStatus:
        """A copy of the object's status, to edit."""

    def generation(self, resource: R) -> int: ...

    def identity(self, resource: R) -> str:
        """The Kapacitor object's name, for messages."""

    async def url(self, resource: R) -> str:
        """The server the object works on, for messages (`kapacitor_ref.server_url`)."""

    def orphans(self, resource: R) -> bool:
        """deletionPolicy: Orphan."""

    def metric_label(self, resource: R) -> str:
        """Bounded label of the drift metric (e.g. the task type)."""

    async def target(self, resource: R) -> Target:
        """Resolve the connection and references, build the desired state.

        Raises:
            Exception: a failure `classify` knows (ReferenceProblem, DesiredStateError...).
        """

    async def observe(self, resource: R, target: Target, *, fresh: bool) -> Observation:
        """Read Kapacitor (never write). `fresh`: look even when the kind would rather
        create optimistically. Raises KapacitorError."""

    def decide(self, resource: R, desired: Any, observed: Any) -> Plan:
        """Pure: what to write so Kapacitor holds the object as declared."""

    async def act(
        self, resource: R, target: Target, plan: Plan, observed: Any, *, now: str
    ) -> Acted:
        """Write what the plan says (`now`: the reconcile's moment). Raises AlreadyExists,
        KapacitorError."""

    def synced(self, resource: R, target: Target, server: Any, now: str) -> MirrorStatus:
        """Status once Kapacitor holds the object as declared (uses mirror/status.py)."""

    async def delete(self, resource: R) -> Deletion:
        """Delete the Kapacitor side (idempotently); resolves only the connection, not
        what the spec references. Raises the failures `classify` knows."""

    def dump(self, status: MirrorStatus) -> dict[str, Any]:
        """The status as the object carries it."""


async def run_mirror(
    kind: MirrorKind[R], resource: R, target: Target, *, now: str
) -> Outcome[MirrorStatus]:
    """observe -> decide -> act -> status, for a resolved target. Never raises for the
    failures `classify` knows: they become the outcome."""
    writes = 0
    try:
        observed = await kind.observe(resource, target, fresh=False)
        plan = kind.decide(resource, target.desired, observed.server)
        try:
            acted = await kind.act(resource, target, plan, observed.server, now=now)
        except AlreadyExists:
            observed = await kind.observe(resource, target, fresh=True)
            plan = kind.decide(resource, target.desired, observed.server)
            acted = await kind.act(resource, target, plan, observed.server, now=now)
        writes = acted.writes
    except Exception as exc:  # classify re-raises what it does not know
        failure = classify(exc, url=target.url, what=kind.noun)
        return failed(kind, resource, failure, now=now, target=target, writes=writes)
    events = [*observed.notes, *acted.notes]
    drift = getattr(plan, "drift", "")
    if drift:
        events.append(EventNote("Warning", c.DRIFT_REPAIRED, drift))
        metrics.DRIFT_REPAIRS.labels(kind.metric_label(resource)).inc()
    status = kind.synced(resource, target, acted.server, now)
    ready = c.get_condition(status.conditions, c.READY)
    if ready is not None and ready.status == "False":
        events.append(EventNote("Warning", ready.reason, ready.message))
    return Outcome(status=status, events=events, writes=writes, then=acted.then)


def failed(
    kind: MirrorKind[R],
    resource: R,
    failure: Failure,
    *,
    now: str,
    target: Target | None = None,
    writes: int = 0,
) -> Outcome[MirrorStatus]:
    """The outcome of a failure: conditions, a Warning Event, how to retry."""
    status = mark_failed(
        kind.status(resource),
        generation=kind.generation(resource),
        reason=failure.reason,
        message=failure.message,
        now=now,
        stalled=failure.stalled,
        url=target.url if target is not None else None,
        desired_hash=target.desired_hash if target is not None else None,
        # A reference or a Secret that is wrong needs the user: False, not Unknown.
        ready_when_transient="False" if failure.needs_user else "Unknown",
    )
    return Outcome(
        status=status,
        events=[EventNote("Warning", failure.reason, failure.message)],
        retry=failure.retry,
        delay=failure.delay,
        message=failure.message,
        writes=writes,
    )


@dataclass
class MirrorDriver(Generic[R]):
    """A `SyncKind` (sync/controller.py) for any `MirrorKind`."""

    mirror: MirrorKind[R]

    @property
    def kind(self) -> str:
        return self.mirror.kind

    @property
    def plural(self) -> str:
        return self.mirror.plural

    @property
    def finalizer(self) -> str:
        return self.mirror.finalizer

    def claim(self, body: Mapping[str, Any]) -> ClaimKey | None:
        return self.mirror.claim(body)

    def status_dict(self, outcome: Outcome[Any]) -> dict[str, Any]:
        if isinstance(outcome.status, dict):
            return outcome.status
        return self.mirror.dump(outcome.status)

    async def reconcile(self, body: Mapping[str, Any], holder: Key | None) -> Outcome[Any]:
        now = utcnow()
        try:
            resource = self.mirror.parse(body)
        except ValidationError as exc:
            return invalid(body, exc, now=now)
        if holder is not None:
            return await self._conflict(resource, holder, now=now)
        try:
            target = await self.mirror.target(resource)
        except Exception as exc:  # classify re-raises what it does not know
            failure = classify(exc, url=redact_url(await self.mirror.url(resource)), what="spec")
            return failed(self.mirror, resource, failure, now=now)
        return await run_mirror(self.mirror, resource, target, now=now)

    async def _conflict(self, resource: R, holder: Key, *, now: str) -> Outcome[MirrorStatus]:
        m = self.mirror
        message = (
            f"Kapacitor {m.noun} {m.identity(resource)} on {redact_url(await m.url(resource))} is "
            f"already managed by {m.kind} {holder[0]}/{holder[1]}; this resource changes "
            "nothing."
        )
        return failed(m, resource, Failure(c.CONFLICT, message, "permanent", stalled=True), now=now)

    async def finalize(self, body: Mapping[str, Any], holder: Key | None) -> Finalized:
        m = self.mirror
        try:
            resource = m.parse(body)
        except ValidationError:
            note = EventNote(
                "Warning", c.INVALID_SPEC, "Spec unreadable; nothing deleted from Kapacitor."
            )
            return Finalized(done=True, events=(note,))
        if holder is not None:
            return Finalized(done=True)  # another resource manages it: leave it alone
        ident = m.identity(resource)
        if m.orphans(resource):
            note = EventNote(
                "Normal",
                c.ORPHANED,
                f"Left {m.noun} {ident} in Kapacitor (deletionPolicy: Orphan).",
            )
            return Finalized(done=True, events=(note,))
        try:
            deletion = await m.delete(resource)
        except (UrlNotAllowed, KapacitorRefMissing) as exc:
            # The operator may not call that server (never could, or no longer may), or the
            # Kapacitor object naming it is gone: it cannot delete there, and holding the
            # resource forever would help nobody.
            message = f"{exc.message} The {m.noun} was left in Kapacitor, as with Orphan."
            return Finalized(done=True, events=(EventNote("Warning", exc.reason, message),))
        except DeletionWaits as exc:
            return self._waits(resource, exc)
        except Exception as exc:  # classify re-raises what it does not know
            failure = classify(exc, url=redact_url(await m.url(resource)), what=m.noun)
            status = mark_deleting(
                m.status(resource),
                generation=m.generation(resource),
                what=f"{m.noun} {ident}",
                reason=failure.reason,
                message=failure.message,
                now=utcnow(),
            )
            message = f"{failure.message.rstrip('.')}; cannot delete from Kapacitor."
            return Finalized(
                done=False,
                events=(EventNote("Warning", failure.reason, message),),
                status=m.dump(status),
                delay=failure.delay,
            )
        if deletion.deleted:
            metrics.KAPACITOR_WRITES.labels(m.kind).inc(len(deletion.deleted))
        return Finalized(done=True, events=(deletion.event,))

    def _waits(self, resource: R, exc: DeletionWaits) -> Finalized:
        """The kind said "not yet": say why in the status, with an Event only when the
        reason or message is new (the deletion is looked at again every `delay`)."""
        m = self.mirror
        before = c.get_condition(m.status(resource).conditions, c.READY)
        status = mark_deleting(
            m.status(resource),
            generation=m.generation(resource),
            what=f"{m.noun} {m.identity(resource)}",
            reason=exc.reason,
            message=exc.message,
            now=utcnow(),
            ready_reason=exc.reason,
        )
        after = c.get_condition(status.conditions, c.READY)
        same = (
            before is not None
            and after is not None
            and (before.reason, before.message) == (after.reason, after.message)
        )
        events = () if same else (EventNote("Warning", exc.reason, exc.message),)
        return Finalized(done=False, events=events, status=m.dump(status), delay=exc.delay)


def invalid(body: Mapping[str, Any], exc: ValidationError, *, now: str) -> Outcome[Any]:
    """A body that does not parse (admission should have caught it): say what is wrong,
    do not retry until it changes."""
    message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    status = copy.deepcopy(dict(body.get("status") or {}))
    generation = (body.get("metadata") or {}).get("generation")
    current = [Condition.model_validate(x) for x in status.get("conditions") or []]
    conds = c.set_condition(
        current,
        type=c.READY,
        status="False",
        reason=c.INVALID_SPEC,
        message=message,
        now=now,
        generation=generation,
    )
    status["conditions"] = [x.model_dump(mode="json", exclude_none=True) for x in conds]
    status.pop("kopf", None)
    return Outcome(
        status=status,
        events=[EventNote("Warning", c.INVALID_SPEC, message[:1024])],
        retry="permanent",
        message=message,
    )
