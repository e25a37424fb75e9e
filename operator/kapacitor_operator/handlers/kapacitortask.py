"""kopf handlers for KapacitorTask: parse, resolve references, delegate, write status."""

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
from kapacitor_operator.k8s.errors import KubeError, KubeForbidden
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.kapacitor.pool import InvalidCABundle
from kapacitor_operator.models.kapacitortask import KapacitorTaskStatus
from kapacitor_operator.models.resources import KapacitorTask, parse_kapacitortask
from kapacitor_operator.reconcile.connection import (
    FORBIDDEN_RETRY,
    REFERENCE_RETRY,
    ReferenceProblem,
    UrlNotAllowed,
    connection_url,
    resolve_connection,
)
from kapacitor_operator.reconcile.desired import DesiredStateError, build_desired, default_task_id
from kapacitor_operator.reconcile.mirror.failures import classify
from kapacitor_operator.reconcile.outcome import EventNote, Outcome, RetryKind
from kapacitor_operator.reconcile.task_delete import delete_from_kapacitor, orphaned
from kapacitor_operator.reconcile.task_status import status_deleting, status_failed
from kapacitor_operator.reconcile.task_sync import sync_task
from kapacitor_operator.urls import redact_url

PLURAL = "kapacitortasks"


def claim_key(
    spec: Mapping[str, Any], namespace: str, name: str, settings: Settings
) -> tuple[str, str, str]:
    """(server URL, API, task identity): two resources with one key claim one task."""
    url = ((spec.get("kapacitor") or {}).get("url") or settings.kapacitor_url).rstrip("/")
    api = "flux" if spec.get("type") == "flux" else "tick"
    return url, api, str(spec.get("taskID") or default_task_id(namespace, name))


def claim_holder(claims: Any, key: tuple[str, str, str]) -> tuple[str, str, str] | None:
    """The oldest claimant (creationTimestamp, namespace, name) of a task, if any."""
    holders = list(claims.get(key, []))
    return min(holders) if holders else None


def invalid_outcome(
    task: KapacitorTask,
    reason: str,
    message: str,
    *,
    now: str,
    retry: RetryKind,
    delay: float | None = None,
) -> Outcome[KapacitorTaskStatus]:
    # Missing references need the user, so Ready is False rather than Unknown.
    status = status_failed(
        task,
        reason=reason,
        message=message,
        now=now,
        stalled=retry == "permanent",
        ready_when_transient="False",
    )
    return Outcome(
        status=status,
        events=[EventNote("Warning", reason, message)],
        retry=retry,
        delay=delay,
        message=message,
    )


def reference_outcome(
    task: KapacitorTask, exc: ReferenceProblem, *, now: str
) -> Outcome[KapacitorTaskStatus]:
    """A connection or reference that cannot be used: its reason, retried slowly, or not
    at all when only a change of the spec or of the operator's configuration helps."""
    message = exc.message if exc.message.endswith(".") else f"{exc.message}."
    if exc.permanent:
        return invalid_outcome(task, exc.reason, message, now=now, retry="permanent")
    return invalid_outcome(
        task, exc.reason, message, now=now, retry="temporary", delay=exc.retry_after
    )


async def reconcile(
    task: KapacitorTask, runtime: Runtime, claims: Any
) -> Outcome[KapacitorTaskStatus]:
    """Everything between a parsed resource and the outcome, without kopf objects."""
    now = utcnow()
    key = claim_key(
        task.spec.model_dump(by_alias=True), task.namespace, task.name, runtime.settings
    )
    holder = claim_holder(claims, key)
    if holder is not None and (holder[1], holder[2]) != (task.namespace, task.name):
        message = (
            f"Kapacitor task {key[2]} on {redact_url(key[0])} is already managed by "
            f"KapacitorTask {holder[1]}/{holder[2]}; this resource changes nothing."
        )
        return invalid_outcome(task, c.CONFLICT, message, now=now, retry="permanent")
    try:
        # The URL policy first: a resource outside it never makes the operator read a
        # Secret or a ConfigMap, nor send anything (issue 12).
        connection = await resolve_connection(
            task.spec.kapacitor, task.namespace, runtime.settings, runtime.kube
        )
        script = None
        ref = task.spec.scriptFrom
        if ref is not None:
            cm = ref.configMapKeyRef
            script = await runtime.kube.configmap_key(task.namespace, cm.name, cm.key)
            if script is None:
                message = f"ConfigMap key {task.namespace}/{cm.name}[{cm.key}] not found."
                return invalid_outcome(
                    task,
                    c.SCRIPT_NOT_FOUND,
                    message,
                    now=now,
                    retry="temporary",
                    delay=REFERENCE_RETRY,
                )
        desired = build_desired(task.spec, namespace=task.namespace, name=task.name, script=script)
        client = runtime.pool.get(connection)
    except ReferenceProblem as exc:
        return reference_outcome(task, exc, now=now)
    except DesiredStateError as exc:
        return invalid_outcome(task, c.INVALID_SPEC, str(exc), now=now, retry="permanent")
    except InvalidCABundle as exc:  # KAPACITOR_CA_FILE changed between check and use
        message = f"KAPACITOR_CA_FILE: {exc}."
        return invalid_outcome(
            task, c.INVALID_CA, message, now=now, retry="temporary", delay=REFERENCE_RETRY
        )
    except KubeForbidden as exc:
        message = f"The operator may not read a ConfigMap the spec names: {exc.message}"
        return invalid_outcome(
            task, c.FORBIDDEN, message, now=now, retry="temporary", delay=FORBIDDEN_RETRY
        )
    except KubeError as exc:
        return invalid_outcome(
            task, c.KUBERNETES_ERROR, f"Kubernetes API error: {exc}", now=now, retry="temporary"
        )
    return await sync_task(task, desired, client, now=now)


def _record(outcome: Outcome[KapacitorTaskStatus], task_type: str) -> None:
    result = {"none": "ok", "temporary": "temporary_error", "permanent": "permanent_error"}
    metrics.RECONCILES.labels("KapacitorTask", result[outcome.retry]).inc()
    if outcome.writes:
        metrics.KAPACITOR_WRITES.labels("KapacitorTask").inc(outcome.writes)
    for note in outcome.events:
        if note.reason == c.DRIFT_REPAIRED:
            metrics.DRIFT_REPAIRS.labels(task_type).inc()


async def _handle(body: kopf.Body, patch: kopf.Patch, memo: Any, retry: int, claims: Any) -> None:
    runtime: Runtime = memo.runtime
    try:
        task = parse_kapacitortask(body)
    except ValidationError as exc:
        # Admission should have caught this; say what is wrong without looping.
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        patch.status["conditions"] = [
            cond.model_dump(mode="json")
            for cond in c.set_condition(
                None,
                type=c.READY,
                status="False",
                reason=c.INVALID_SPEC,
                message=message,
                now=utcnow(),
                generation=body.get("metadata", {}).get("generation"),
            )
        ]
        kopf.warn(body, reason=c.INVALID_SPEC, message=message[:1024])
        raise kopf.PermanentError(message) from exc
    async with runtime.lock(task.uid):
        outcome = await reconcile(task, runtime, claims)
    _record(outcome, task.spec.type)
    apply_status(patch, body, status_dict(outcome.status), volatile=("lastSyncedAt",))
    emit(body, outcome.events)
    raise_for_kopf(outcome, retry)


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the KapacitorTask handlers."""

    @kopf.index(GROUP, VERSION, PLURAL, id="kapacitortask_claims", registry=registry)
    def kapacitortask_claims(
        *, spec: kopf.Spec, meta: kopf.Meta, namespace: str | None, name: str, **_: Any
    ) -> dict[tuple[str, str, str], tuple[str, str, str]]:
        key = claim_key(spec, namespace or "", name, settings)
        return {key: (str(meta.get("creationTimestamp", "")), namespace or "", name)}

    @kopf.on.resume(GROUP, VERSION, PLURAL, id="kapacitortask_sync", registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, id="kapacitortask_sync", registry=registry)
    @kopf.on.update(
        GROUP, VERSION, PLURAL, field="spec", id="kapacitortask_sync", registry=registry
    )
    async def kapacitortask_sync(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _handle(body, patch, memo, kwargs.get("retry", 0), kwargs["kapacitortask_claims"])

    @kopf.timer(
        GROUP,
        VERSION,
        PLURAL,
        interval=settings.drift_interval,
        initial_delay=settings.drift_interval,
        id="kapacitortask_drift",
        registry=registry,
    )
    async def kapacitortask_drift(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _handle(body, patch, memo, kwargs.get("retry", 0), kwargs["kapacitortask_claims"])

    @kopf.on.delete(GROUP, VERSION, PLURAL, id="kapacitortask_delete", registry=registry)
    async def kapacitortask_delete(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        runtime: Runtime = memo.runtime
        retry: int = kwargs.get("retry", 0)
        try:
            task = parse_kapacitortask(body)
        except ValidationError:
            kopf.warn(
                body,
                reason=c.INVALID_SPEC,
                message="Spec unreadable; nothing deleted from Kapacitor.",
            )
            return
        key = claim_key(task.spec.model_dump(by_alias=True), task.namespace, task.name, settings)
        holder = claim_holder(kwargs["kapacitortask_claims"], key)
        if holder is not None and (holder[1], holder[2]) != (task.namespace, task.name):
            return  # another resource manages this Kapacitor task: leave it alone
        if task.spec.deletionPolicy == "Orphan":
            # Nothing to do in Kapacitor: neither its URL nor its Secrets matter.
            runtime.locks.pop(task.uid, None)
            emit(body, [orphaned(task).event])
            return
        try:
            async with runtime.lock(task.uid):
                connection = await resolve_connection(
                    task.spec.kapacitor, task.namespace, settings, runtime.kube
                )
                result = await delete_from_kapacitor(task, runtime.pool.get(connection))
        except UrlNotAllowed as exc:
            # The operator may not call that server (never could, or no longer may): it
            # cannot delete there, and holding the resource forever would help nobody.
            message = f"{exc.message} The task was left in Kapacitor, as with Orphan."
            kopf.warn(body, reason=exc.reason, message=message)
            runtime.locks.pop(task.uid, None)
            return
        except (ReferenceProblem, InvalidCABundle, KubeError, KapacitorError) as exc:
            url = redact_url(connection_url(task.spec.kapacitor, settings))
            failure = classify(exc, url=url, what="task")
            # While the finalizer holds the resource, status says why (issue 15).
            status = status_deleting(
                task, reason=failure.reason, message=failure.message, now=utcnow()
            )
            apply_status(patch, body, status_dict(status), volatile=("lastSyncedAt",))
            message = f"{failure.message.rstrip('.')}; cannot delete from Kapacitor."
            kopf.warn(body, reason=failure.reason, message=message[:1024])
            delay = failure.delay or backoff_delay(retry)
            raise kopf.TemporaryError(message, delay=delay) from exc
        runtime.locks.pop(task.uid, None)
        if result.deleted:
            metrics.KAPACITOR_WRITES.labels("KapacitorTask").inc(len(result.deleted))
        emit(body, [result.event])
