"""Make Kapacitor hold a KapacitorAlertHandler: observe -> decide -> act -> status.

`observe` reads the handler, `decide` (alert_handler_decide) is pure, `act` writes only
what the plan says, and the status and Events follow from the plan and Kapacitor's
answer. Kapacitor's error texts may quote option values (a value of the wrong type is
echoed in the decode error), so every message is scrubbed of the values read from
optionsFrom before it reaches a condition, an Event or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.scrub import Scrubber
from kapacitor_operator.kapacitor.topic_handlers import HandlerExists, TopicHandler, TopicHandlers
from kapacitor_operator.models.alerthandler import KapacitorAlertHandlerStatus
from kapacitor_operator.models.resources import KapacitorAlertHandler
from kapacitor_operator.reconcile.alert_handler_decide import (
    Conflict,
    Create,
    LastWrite,
    Nothing,
    Observed,
    Plan,
    Update,
    decide,
)
from kapacitor_operator.reconcile.alert_handler_desired import DesiredHandler, default_handler_id
from kapacitor_operator.reconcile.alert_handler_status import status_failed, status_in_sync
from kapacitor_operator.reconcile.outcome import EventNote, Outcome, RetryKind
from kapacitor_operator.urls import redact_url

AUTH_RETRY_DELAY = 120.0

HandlerOutcome = Outcome[KapacitorAlertHandlerStatus]


def scrubber(desired: DesiredHandler) -> Scrubber:
    """Hides the option values taken from optionsFrom."""
    if desired.options is None:
        return Scrubber()
    return Scrubber(_values_at(desired.options, desired.secret_paths))


def _values_at(options: dict[str, object], paths: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for path in paths:
        node: object = options
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str):
            out.append(node)
    return out


async def observe(api: TopicHandlers, desired: DesiredHandler) -> Observed | None:
    """The handler as Kapacitor holds it, or None (absent, or its topic is).

    Raises:
        KapacitorError: Kapacitor could not be read.
    """
    server = await api.get(desired.topic, desired.handler_id)
    if server is None:
        return None
    collected = await api.topic_collected(desired.topic)
    return Observed(desired.fingerprint_of(server.kind, server.match, server.options), collected)


async def act(api: TopicHandlers, plan: Plan, desired: DesiredHandler) -> TopicHandler | None:
    """Perform a plan's write; the handler as Kapacitor answered, or None if none was made.

    Raises:
        KapacitorError: the write failed.
    """
    if isinstance(plan, Create):
        try:
            return await api.create(desired.topic, desired.body())
        except HandlerExists:  # made by someone else since we looked: replace it
            return await api.replace(desired.topic, desired.body())
    if isinstance(plan, Update):
        try:
            return await api.replace(desired.topic, desired.body())
        except KapacitorNotFound:  # gone since we looked (its topic deleted, say)
            return await api.create(desired.topic, desired.body())
    return None


def plan_events(plan: Plan, desired: DesiredHandler) -> list[EventNote]:
    """The Events a plan's success is worth."""
    what = f"Handler {desired.handler_id} on topic {desired.topic}"
    if isinstance(plan, Create):
        if plan.vanished:
            message = (
                f"{what} was gone from Kapacitor (deleted behind the operator's back); re-created."
            )
            return [EventNote("Warning", c.DRIFT_REPAIRED, message)]
        return [EventNote("Normal", c.CREATED, f"Created {what[0].lower()}{what[1:]}.")]
    if isinstance(plan, Update):
        if plan.why == "drift":
            message = f"{what} was changed in Kapacitor; restored the spec."
            return [EventNote("Warning", c.DRIFT_REPAIRED, message)]
        if plan.why == "reattach":
            message = (
                f"{what} was detached: its topic was deleted in Kapacitor (and perhaps "
                "recreated), which stops delivery to existing handlers; replaced it to "
                "attach it again."
            )
            return [EventNote("Warning", c.DRIFT_REPAIRED, message)]
        if plan.why == "adopt":
            message = f"{what} existed in Kapacitor with another definition; replaced by the spec."
            return [EventNote("Normal", c.ADOPTED, message)]
        return [EventNote("Normal", c.UPDATED, f"Updated {what[0].lower()}{what[1:]}.")]
    if isinstance(plan, Nothing) and plan.adopted:
        message = f"{what} already existed in Kapacitor as declared; now managed."
        return [EventNote("Normal", c.ADOPTED, message)]
    return []


async def sync_alert_handler(
    res: KapacitorAlertHandler,
    desired: DesiredHandler,
    api: TopicHandlers,
    *,
    now: str,
    claimed_by: str | None = None,
) -> HandlerOutcome:
    """Reconcile one KapacitorAlertHandler. Never raises for Kapacitor errors."""
    url = redact_url(api.base_url)
    st = res.status
    last = LastWrite(st.definitionHash, st.serverHash, st.kapacitorURL, st.topicCollected)
    scrub = scrubber(desired)
    try:
        observed = None if claimed_by else await observe(api, desired)
        plan = decide(
            desired_hash=desired.definition_hash,
            url=url,
            observed=observed,
            last=last,
            claimed_by=claimed_by,
        )
        if isinstance(plan, Conflict):
            message = (
                f"Handler {desired.handler_id} on topic {desired.topic} at {url} is already "
                f"managed by KapacitorAlertHandler {plan.holder}; this resource changes nothing."
            )
            return invalid_outcome(res, c.CONFLICT, message, now=now, retry="permanent")
        written = await act(api, plan, desired)
    except KapacitorError as exc:
        return failure_outcome(
            res, exc, now=now, url=url, desired_hash=desired.definition_hash, scrub=scrub
        )
    if written is not None:
        server_hash = desired.fingerprint_of(written.kind, written.match, written.options)
    else:
        assert observed is not None  # Nothing is decided only about an observed handler
        server_hash = observed.fingerprint
    # A PUT that recreated the topic leaves it at 0; a POST's topic is read next time.
    collected = (observed.topic_collected or 0) if observed is not None else None
    status = status_in_sync(
        res, desired, url=url, now=now, server_hash=server_hash, topic_collected=collected
    )
    events = [EventNote(n.type, n.reason, scrub(n.message)) for n in plan_events(plan, desired)]
    return HandlerOutcome(status=status, events=events, writes=int(written is not None))


def invalid_outcome(
    res: KapacitorAlertHandler,
    reason: str,
    message: str,
    *,
    now: str,
    retry: RetryKind,
    delay: float | None = None,
) -> HandlerOutcome:
    """A spec or reference the operator cannot use: Ready False (it needs the user)."""
    message = message if message.endswith(".") else f"{message}."
    status = status_failed(
        res,
        reason=reason,
        message=message,
        now=now,
        stalled=retry == "permanent",
        ready_when_transient="False",
    )
    return HandlerOutcome(
        status=status,
        events=[EventNote("Warning", reason, message)],
        retry=retry,
        delay=delay,
        message=message,
    )


def failure_outcome(
    res: KapacitorAlertHandler,
    exc: KapacitorError,
    *,
    now: str,
    url: str,
    desired_hash: str | None,
    scrub: Scrubber,
) -> HandlerOutcome:
    """Status, Event and retry hint for a Kapacitor error (its text scrubbed)."""
    retry: RetryKind
    delay: float | None = None
    detail = scrub(exc.message)
    if isinstance(exc, KapacitorAuthError):
        reason, retry, delay, stalled = c.UNAUTHORIZED, "temporary", AUTH_RETRY_DELAY, False
        message = f"Kapacitor at {url} refused the credentials: {detail}"
    elif isinstance(exc, KapacitorRejected):
        reason, retry, stalled = c.REJECTED, "permanent", True
        message = f"Kapacitor rejected the handler: {detail}"
    elif isinstance(exc, KapacitorUnavailable):
        reason, retry, stalled = c.UNAVAILABLE, "temporary", False
        delay = exc.retry_after
        message = f"Kapacitor at {url} is unavailable: {scrub(str(exc))}"
    else:
        reason, retry, stalled = c.UNAVAILABLE, "temporary", False
        message = f"Kapacitor at {url} failed: {scrub(str(exc))}"
    status = status_failed(
        res,
        reason=reason,
        message=message,
        now=now,
        stalled=stalled,
        url=url,
        desired_hash=desired_hash,
    )
    return HandlerOutcome(
        status=status,
        events=[EventNote("Warning", reason, message)],
        retry=retry,
        delay=delay,
        message=message,
    )


@dataclass(frozen=True)
class HandlerDeleted:
    """What the finalizer did."""

    deleted: bool
    event: EventNote


def handler_identity(res: KapacitorAlertHandler) -> tuple[str, str]:
    """(topic, handler ID) the resource manages."""
    return res.spec.topic, res.spec.id or default_handler_id(res.namespace, res.name)


def orphaned(res: KapacitorAlertHandler) -> HandlerDeleted:
    """deletionPolicy: Orphan: Kapacitor need not be reached."""
    topic, handler_id = handler_identity(res)
    message = f"Left handler {handler_id} on topic {topic} in Kapacitor (deletionPolicy: Orphan)."
    return HandlerDeleted(False, EventNote("Normal", c.ORPHANED, message))


async def delete_alert_handler(res: KapacitorAlertHandler, api: TopicHandlers) -> HandlerDeleted:
    """Delete the handler (idempotently) unless deletionPolicy is Orphan.

    Raises:
        KapacitorError: Kapacitor could not be reached or refused; the finalizer stays.
    """
    if res.spec.deletionPolicy == "Orphan":
        return orphaned(res)
    topic, handler_id = handler_identity(res)
    await api.delete(topic, handler_id)
    message = f"Deleted handler {handler_id} from topic {topic} in Kapacitor."
    return HandlerDeleted(True, EventNote("Normal", c.DELETED, message))
