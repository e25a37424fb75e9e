"""kopf handlers for KapacitorTemplate: parse, resolve references, delegate, write status,
nudge the KapacitorTasks that name the template, and hold deletion while tasks use it."""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from kapacitor_operator import GROUP, VERSION, metrics
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.common import (
    backoff_delay,
    emit,
    raise_for_kopf,
    status_dict,
    utcnow,
)
from kapacitor_operator.handlers.refs import (
    REFS_FIELD,
    apply_merged,
    dependents,
    persist_status,
)
from kapacitor_operator.handlers.runtime import Runtime
from kapacitor_operator.k8s.errors import KubeError, KubeForbidden
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.kapacitor.pool import InvalidCABundle
from kapacitor_operator.models.kapacitortemplate import (
    KapacitorTemplateSpec,
    KapacitorTemplateStatus,
)
from kapacitor_operator.models.resources import KapacitorTemplate, parse_resource
from kapacitor_operator.reconcile.connection import (
    FORBIDDEN_RETRY,
    REFERENCE_RETRY,
    ReferenceProblem,
    UrlNotAllowed,
)
from kapacitor_operator.reconcile.kapacitor_ref import (
    KapacitorRefMissing,
    WaitingForReference,
    resolve_with_ref,
)
from kapacitor_operator.reconcile.outcome import EventNote, Outcome, RetryKind
from kapacitor_operator.reconcile.template_decide import (
    DeleteNow,
    DesiredTemplate,
    LeaveIt,
    decide_delete,
    default_template_id,
)
from kapacitor_operator.reconcile.template_sync import failed_outcome, sync_template
from kapacitor_operator.reconcile.template_users import nudge
from kapacitor_operator.urls import redact_url

PLURAL = "kapacitortemplates"
IN_USE_RETRY = 10.0
"""Seconds between looks at a deletion waiting for the tasks made from the template."""


def parse_template(body: Any) -> KapacitorTemplate:
    """Raises:
    pydantic.ValidationError: the spec is invalid.
    """
    return parse_resource(body, KapacitorTemplateSpec, KapacitorTemplateStatus)


def template_id(tpl: KapacitorTemplate) -> str:
    return tpl.spec.templateID or default_template_id(tpl.namespace, tpl.name)


def claim_key(spec: Any, namespace: str, name: str, settings: Settings) -> tuple[str, str]:
    """(server, template ID): two resources with one key claim one template."""
    ref = (spec.get("kapacitorRef") or {}).get("name")
    server = (
        f"ref:{namespace}/{ref}"
        if ref
        else ((spec.get("kapacitor") or {}).get("url") or settings.kapacitor_url).rstrip("/")
    )
    return server, str(spec.get("templateID") or default_template_id(namespace, name))


async def reconcile(
    tpl: KapacitorTemplate, runtime: Runtime, claims: Any
) -> Outcome[KapacitorTemplateStatus]:
    """Everything between a parsed resource and its outcome, without kopf objects."""
    now = utcnow()
    key = claim_key(tpl.spec.model_dump(by_alias=True), tpl.namespace, tpl.name, runtime.settings)
    holders = sorted(claims.get(key, [])) if claims is not None else []
    holder = None
    if holders and (holders[0][1], holders[0][2]) != (tpl.namespace, tpl.name):
        holder = f"{holders[0][1]}/{holders[0][2]}"
    try:
        connection = await resolve_with_ref(
            tpl.spec.kapacitor, tpl.spec.kapacitorRef, tpl.namespace, runtime.settings, runtime.kube
        )
        script = tpl.spec.script
        if tpl.spec.scriptFrom is not None:
            cm = tpl.spec.scriptFrom.configMapKeyRef
            script = await runtime.kube.configmap_key(tpl.namespace, cm.name, cm.key)
            if script is None:
                message = f"ConfigMap key {tpl.namespace}/{cm.name}[{cm.key}] not found"
                return failed_outcome(
                    tpl,
                    c.SCRIPT_NOT_FOUND,
                    message,
                    now=now,
                    retry="temporary",
                    delay=REFERENCE_RETRY,
                )
        client = runtime.pool.get(connection)
    except ReferenceProblem as exc:
        retry: RetryKind = "permanent" if exc.permanent else "temporary"
        if isinstance(exc, WaitingForReference):
            retry = "none"  # the `Kapacitor` object's handler nudges this one
        return failed_outcome(
            tpl, exc.reason, exc.message, now=now, retry=retry, delay=exc.retry_after
        )
    except InvalidCABundle as exc:
        return failed_outcome(
            tpl,
            c.INVALID_CA,
            f"CA bundle: {exc}",
            now=now,
            retry="temporary",
            delay=REFERENCE_RETRY,
        )
    except KubeForbidden as exc:
        message = f"The operator may not read a ConfigMap the spec names: {exc.message}"
        return failed_outcome(
            tpl, c.FORBIDDEN, message, now=now, retry="temporary", delay=FORBIDDEN_RETRY
        )
    except KubeError as exc:
        return failed_outcome(
            tpl, c.KUBERNETES_ERROR, f"Kubernetes API error: {exc}", now=now, retry="temporary"
        )
    desired = DesiredTemplate(template_id=template_id(tpl), type=tpl.spec.type, script=script or "")
    return await sync_template(tpl, desired, client, now=now, holder=holder)


def _invalid(body: kopf.Body, patch: kopf.Patch, exc: ValidationError) -> kopf.PermanentError:
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
    return kopf.PermanentError(message)


def _token(status: KapacitorTemplateStatus) -> str:
    """What tasks made from the template care about: its definition and readiness."""
    ready = c.get_condition(status.conditions, c.READY)
    return f"{status.definitionHash}:{status.templateID}:{ready.status if ready else 'Unknown'}"


async def _handle(body: kopf.Body, patch: kopf.Patch, memo: Any, kwargs: dict[str, Any]) -> None:
    runtime: Runtime = memo.runtime
    try:
        tpl = parse_template(body)
    except ValidationError as exc:
        raise _invalid(body, patch, exc) from exc
    async with runtime.lock(tpl.uid):
        outcome = await reconcile(tpl, runtime, kwargs.get("kapacitortemplate_claims"))
    result = {"none": "ok", "temporary": "temporary_error", "permanent": "permanent_error"}
    metrics.RECONCILES.labels("KapacitorTemplate", result[outcome.retry]).inc()
    if outcome.writes:
        metrics.KAPACITOR_WRITES.labels("KapacitorTemplate").inc(outcome.writes)
    desired = status_dict(outcome.status)
    users = dependents(kwargs.get("templateref_tasks"), (tpl.namespace, tpl.name))
    nudging = bool(users) and (_token(tpl.status) != _token(outcome.status) or outcome.writes)
    if nudging and await persist_status(runtime.kube, PLURAL, body, desired):
        # Kapacitor reloaded the tasks made from the template (or the template became
        # usable): have the KapacitorTasks that name it read their state again, once
        # this status (which they read) is written.
        token = (
            f"KapacitorTemplate/{tpl.name}@{_token(outcome.status)}:{outcome.status.lastSyncedAt}"
        )
        await nudge(runtime.kube, "kapacitortasks", tpl.namespace, users, token)
    else:
        apply_merged(patch, body, desired, volatile=("lastSyncedAt",))
    emit(body, outcome.events)
    raise_for_kopf(outcome, kwargs.get("retry", 0))


async def _delete(body: kopf.Body, patch: kopf.Patch, memo: Any, retry: int) -> None:
    runtime: Runtime = memo.runtime
    try:
        tpl = parse_template(body)
    except ValidationError:
        kopf.warn(body, reason=c.INVALID_SPEC, message="Spec unreadable; nothing deleted.")
        return
    if tpl.spec.deletionPolicy == "Orphan":
        emit(body, [EventNote("Normal", c.ORPHANED, "Template left in Kapacitor (Orphan).")])
        return
    if tpl.status.templateID is None:
        return  # never defined by this resource: nothing to remove
    tid = tpl.status.templateID
    try:
        connection = await resolve_with_ref(
            tpl.spec.kapacitor,
            tpl.spec.kapacitorRef,
            tpl.namespace,
            runtime.settings,
            runtime.kube,
            require_ready=False,
        )
        client = runtime.pool.get(connection)
        plan = decide_delete(tpl.spec.deletionPolicy, await client.list_task_templates(), tid)
        if isinstance(plan, DeleteNow):
            await client.delete_template(tid)
    except (UrlNotAllowed, KapacitorRefMissing) as exc:
        message = f"{exc.message}; the template was left in Kapacitor, as with Orphan."
        kopf.warn(body, reason=exc.reason, message=message)
        return
    except (ReferenceProblem, InvalidCABundle, KubeError, KapacitorError) as exc:
        text = exc.message if isinstance(exc, ReferenceProblem) else str(exc)
        message = (
            f"Cannot delete template {tid} from Kapacitor: {text}. Fix it, or set "
            "spec.deletionPolicy: Orphan to let the resource go."
        )
        kopf.warn(body, reason=c.UNAVAILABLE, message=message[:1024])
        raise kopf.TemporaryError(message, delay=backoff_delay(retry)) from exc
    if isinstance(plan, LeaveIt):
        return
    if not isinstance(plan, DeleteNow):
        message = (
            f"Deletion waits: template {tid} is still used by Kapacitor task(s) "
            f"{', '.join(plan.holders)}; it is deleted from {redact_url(client.base_url)} "
            "once they are gone."
        )
        conditions = c.set_condition(
            tpl.status.conditions,
            type=c.READY,
            status="False",
            reason=c.IN_USE,
            message=message,
            now=utcnow(),
            generation=tpl.generation,
        )
        patch.status["conditions"] = [x.model_dump(mode="json") for x in conditions]
        kopf.warn(body, reason=c.IN_USE, message=message[:1024])
        raise kopf.TemporaryError(message, delay=IN_USE_RETRY)
    metrics.KAPACITOR_WRITES.labels("KapacitorTemplate").inc()
    emit(body, [EventNote("Normal", c.DELETED, f"Template {tid} removed from Kapacitor.")])


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the KapacitorTemplate handlers."""

    @kopf.index(GROUP, VERSION, PLURAL, id="kapacitortemplate_claims", registry=registry)
    def kapacitortemplate_claims(
        *, spec: kopf.Spec, meta: kopf.Meta, namespace: str | None, name: str, **_: Any
    ) -> dict[tuple[str, str], tuple[str, str, str]]:
        key = claim_key(spec, namespace or "", name, settings)
        return {key: (str(meta.get("creationTimestamp", "")), namespace or "", name)}

    @kopf.on.resume(GROUP, VERSION, PLURAL, id="kapacitortemplate_sync", registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, id="kapacitortemplate_sync", registry=registry)
    @kopf.on.update(
        GROUP, VERSION, PLURAL, field="spec", id="kapacitortemplate_sync", registry=registry
    )
    async def kapacitortemplate_sync(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _handle(body, patch, memo, kwargs)

    @kopf.on.update(
        GROUP, VERSION, PLURAL, field=REFS_FIELD, id="kapacitortemplate_refs", registry=registry
    )
    async def kapacitortemplate_refs(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _handle(body, patch, memo, kwargs)

    @kopf.timer(
        GROUP,
        VERSION,
        PLURAL,
        interval=settings.drift_interval,
        initial_delay=settings.drift_interval,
        id="kapacitortemplate_drift",
        registry=registry,
    )
    async def kapacitortemplate_drift(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _handle(body, patch, memo, kwargs)

    @kopf.on.delete(GROUP, VERSION, PLURAL, id="kapacitortemplate_delete", registry=registry)
    async def kapacitortemplate_delete(
        *, body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any
    ) -> None:
        await _delete(body, patch, memo, kwargs.get("retry", 0))
