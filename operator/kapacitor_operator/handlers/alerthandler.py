"""kopf handlers for KapacitorAlertHandler: parse, resolve references, delegate, write status.

Thin on purpose: everything between a parsed resource and its outcome is in
reconcile/alert_handler_*.py, so the kind can move onto a shared driver unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from kapacitor_operator import GROUP, VERSION, metrics
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.common import (
    apply_status,
    backoff_delay,
    emit,
    raise_for_kopf,
    status_dict,
    utcnow,
)
from kapacitor_operator.handlers.runtime import Runtime
from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.kapacitor.pool import InvalidCABundle
from kapacitor_operator.kapacitor.scrub import Scrubber
from kapacitor_operator.kapacitor.topic_handlers import TopicHandlers
from kapacitor_operator.models.alerthandler import KapacitorAlertHandlerStatus
from kapacitor_operator.models.resources import KapacitorAlertHandler, parse_alerthandler
from kapacitor_operator.reconcile.alert_handler_desired import (
    DesiredHandlerError,
    build_desired,
    default_handler_id,
)
from kapacitor_operator.reconcile.alert_handler_refs import read_option_values
from kapacitor_operator.reconcile.alert_handler_status import status_deleting
from kapacitor_operator.reconcile.alert_handler_sync import (
    delete_alert_handler,
    failure_outcome,
    invalid_outcome,
    orphaned,
    sync_alert_handler,
)
from kapacitor_operator.reconcile.connection import (
    REFERENCE_RETRY,
    ReferenceProblem,
    UrlNotAllowed,
    connection_url,
    resolve_connection,
)
from kapacitor_operator.reconcile.outcome import Outcome, RetryKind
from kapacitor_operator.urls import redact_url

PLURAL = "kapacitoralerthandlers"
KIND = "KapacitorAlertHandler"
Key = tuple[str, str, str]


def claim_key(spec: Mapping[str, Any], namespace: str, name: str, settings: Settings) -> Key:
    """(server URL, topic, handler ID): two resources with one key claim one handler."""
    url = ((spec.get("kapacitor") or {}).get("url") or settings.kapacitor_url).rstrip("/")
    return (
        url,
        str(spec.get("topic", "")),
        str(spec.get("id") or default_handler_id(namespace, name)),
    )


def claimed_by_other(claims: Any, key: Key, namespace: str, name: str) -> str | None:
    """`namespace/name` of the oldest other claimant of the handler, if any."""
    holders = list(claims.get(key, []))
    if not holders:
        return None
    _, ns, nm = min(holders)
    return None if (ns, nm) == (namespace, name) else f"{ns}/{nm}"


async def reconcile(
    res: KapacitorAlertHandler, runtime: Runtime, claims: Any
) -> Outcome[KapacitorAlertHandlerStatus]:
    """Everything between a parsed resource and the outcome, without kopf objects."""
    now = utcnow()
    settings = runtime.settings
    key = claim_key(res.spec.model_dump(by_alias=True), res.namespace, res.name, settings)
    try:
        # The URL policy first: outside it, no Secret is read and nothing sent (issue 12).
        connection = await resolve_connection(
            res.spec.kapacitor, res.namespace, settings, runtime.kube
        )
        values = await read_option_values(res.spec.optionsFrom, res.namespace, runtime.kube)
        desired = build_desired(
            res.spec, namespace=res.namespace, name=res.name, uid=res.uid, values=values
        )
        client = runtime.pool.get(connection)
    except ReferenceProblem as exc:
        retry: RetryKind = "permanent" if exc.permanent else "temporary"
        return invalid_outcome(
            res, exc.reason, exc.message, now=now, retry=retry, delay=exc.retry_after
        )
    except DesiredHandlerError as exc:
        return invalid_outcome(res, c.INVALID_SPEC, str(exc), now=now, retry="permanent")
    except InvalidCABundle as exc:
        message = f"KAPACITOR_CA_FILE: {exc}"
        return invalid_outcome(
            res, c.INVALID_CA, message, now=now, retry="temporary", delay=REFERENCE_RETRY
        )
    except KubeError as exc:
        message = f"Kubernetes API error: {exc}"
        return invalid_outcome(res, c.KUBERNETES_ERROR, message, now=now, retry="temporary")
    holder = claimed_by_other(claims, key, res.namespace, res.name)
    return await sync_alert_handler(res, desired, TopicHandlers(client), now=now, claimed_by=holder)


def _record(outcome: Outcome[KapacitorAlertHandlerStatus]) -> None:
    result = {"none": "ok", "temporary": "temporary_error", "permanent": "permanent_error"}
    metrics.RECONCILES.labels(KIND, result[outcome.retry]).inc()
    if outcome.writes:
        metrics.KAPACITOR_WRITES.labels(KIND).inc(outcome.writes)
    for note in outcome.events:
        if note.reason == c.DRIFT_REPAIRED:
            metrics.DRIFT_REPAIRS.labels("alerthandler").inc()


def _invalid_body(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


async def _handle(body: kopf.Body, patch: kopf.Patch, memo: Any, retry: int, claims: Any) -> None:
    runtime: Runtime = memo.runtime
    try:
        res = parse_alerthandler(body)
    except ValidationError as exc:
        # Admission should have caught this; say what is wrong without looping.
        message = _invalid_body(exc)
        conditions = c.set_condition(
            None,
            type=c.READY,
            status="False",
            reason=c.INVALID_SPEC,
            message=message,
            now=utcnow(),
            generation=body.get("metadata", {}).get("generation"),
        )
        patch.status["conditions"] = [cond.model_dump(mode="json") for cond in conditions]
        kopf.warn(body, reason=c.INVALID_SPEC, message=message[:1024])
        raise kopf.PermanentError(message) from exc
    async with runtime.lock(res.uid):
        outcome = await reconcile(res, runtime, claims)
    _record(outcome)
    apply_status(patch, body, status_dict(outcome.status), volatile=("lastSyncedAt",))
    emit(body, outcome.events)
    raise_for_kopf(outcome, retry)


def _waiting(
    body: kopf.Body, patch: kopf.Patch, res: KapacitorAlertHandler, reason: str, message: str
) -> None:
    """Say in status (not only in an Event) that the deletion waits, and why."""
    status = status_deleting(res, reason=reason, message=message, now=utcnow())
    apply_status(patch, body, status_dict(status), volatile=("lastSyncedAt",))
    kopf.warn(body, reason=reason, message=message)


async def _delete(body: kopf.Body, patch: kopf.Patch, memo: Any, retry: int, claims: Any) -> None:
    runtime: Runtime = memo.runtime
    settings = runtime.settings
    try:
        res = parse_alerthandler(body)
    except ValidationError:
        kopf.warn(body, reason=c.INVALID_SPEC, message="Spec unreadable; nothing deleted.")
        return
    key = claim_key(res.spec.model_dump(by_alias=True), res.namespace, res.name, settings)
    if claimed_by_other(claims, key, res.namespace, res.name) is not None:
        return  # another resource manages this handler: leave it alone
    if res.spec.deletionPolicy == "Orphan":
        runtime.locks.pop(res.uid, None)
        emit(body, [orphaned(res).event])
        return
    try:
        async with runtime.lock(res.uid):
            # Deleting needs the connection only: no option value is read.
            connection = await resolve_connection(
                res.spec.kapacitor, res.namespace, settings, runtime.kube
            )
            result = await delete_alert_handler(res, TopicHandlers(runtime.pool.get(connection)))
    except UrlNotAllowed as exc:
        message = f"{exc.message} The handler was left in Kapacitor, as with Orphan."
        kopf.warn(body, reason=exc.reason, message=message)
        runtime.locks.pop(res.uid, None)
        return
    except ReferenceProblem as exc:
        message = (
            f"{exc.message}; cannot delete from Kapacitor. Fix it, or set "
            "spec.deletionPolicy: Orphan to let the resource go."
        )
        _waiting(body, patch, res, exc.reason, message)
        raise kopf.TemporaryError(message, delay=exc.retry_after or REFERENCE_RETRY) from exc
    except InvalidCABundle as exc:
        message = f"KAPACITOR_CA_FILE: {exc}; cannot delete from Kapacitor."
        _waiting(body, patch, res, c.INVALID_CA, message)
        raise kopf.TemporaryError(message, delay=REFERENCE_RETRY) from exc
    except KubeError as exc:
        message = f"Kubernetes API error: {exc}; cannot delete from Kapacitor."
        _waiting(body, patch, res, c.KUBERNETES_ERROR, message)
        raise kopf.TemporaryError(message, delay=backoff_delay(retry)) from exc
    except KapacitorError as exc:
        url = redact_url(connection_url(res.spec.kapacitor, settings))
        outcome = failure_outcome(
            res, exc, now=utcnow(), url=url, desired_hash=None, scrub=Scrubber()
        )
        message = (
            f"{outcome.message} Retrying; or set spec.deletionPolicy: Orphan to let the "
            "resource go."
        )
        _waiting(body, patch, res, outcome.events[0].reason, message)
        raise kopf.TemporaryError(
            outcome.message, delay=outcome.delay or backoff_delay(retry)
        ) from exc
    runtime.locks.pop(res.uid, None)
    if result.deleted:
        metrics.KAPACITOR_WRITES.labels(KIND).inc()
    emit(body, [result.event])


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the KapacitorAlertHandler handlers."""

    @kopf.index(GROUP, VERSION, PLURAL, id="alerthandler_claims", registry=registry)
    def alerthandler_claims(
        *, spec: kopf.Spec, meta: kopf.Meta, namespace: str | None, name: str, **_: Any
    ) -> dict[Key, tuple[str, str, str]]:
        key = claim_key(spec, namespace or "", name, settings)
        return {key: (str(meta.get("creationTimestamp", "")), namespace or "", name)}

    @kopf.on.resume(GROUP, VERSION, PLURAL, id="alerthandler_sync", registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, id="alerthandler_sync", registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", id="alerthandler_sync", registry=registry)
    async def alerthandler_sync(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _handle(body, patch, memo, kwargs.get("retry", 0), kwargs["alerthandler_claims"])

    @kopf.timer(
        GROUP,
        VERSION,
        PLURAL,
        interval=settings.drift_interval,
        initial_delay=settings.drift_interval,
        id="alerthandler_drift",
        registry=registry,
    )
    async def alerthandler_drift(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _handle(body, patch, memo, kwargs.get("retry", 0), kwargs["alerthandler_claims"])

    @kopf.on.delete(GROUP, VERSION, PLURAL, id="alerthandler_delete", registry=registry)
    async def alerthandler_delete(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _delete(body, patch, memo, kwargs.get("retry", 0), kwargs["alerthandler_claims"])
