"""kopf handlers for `Kapacitor` connection objects: check the server, keep status true,
nudge dependents when the connection changes, and hold deletion while it is in use."""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from kapacitor_operator import GROUP, VERSION, metrics
from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers.common import emit, status_dict, utcnow
from kapacitor_operator.handlers.kapacitor_status import apply_merged, persist_status
from kapacitor_operator.handlers.runtime import Runtime
from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.kapacitor.errors import KapacitorAuthError, KapacitorError
from kapacitor_operator.kapacitor.pool import InvalidCABundle
from kapacitor_operator.models.kapacitor import KapacitorSpec, KapacitorStatus
from kapacitor_operator.models.resources import KapacitorServer, parse_resource
from kapacitor_operator.reconcile.connection import ReferenceProblem, resolve_connection
from kapacitor_operator.reconcile.kapacitor_check import managed_on, observe_server, status_for
from kapacitor_operator.reconcile.outcome import EventNote
from kapacitor_operator.reconcile.template_users import naming, nudge
from kapacitor_operator.urls import redact_url

PLURAL = "kapacitors"
IN_USE_RETRY = 10.0
"""Seconds between looks at a deletion waiting for its dependents."""


async def known(runtime: Runtime) -> None:
    """Wait until the task and template controllers have listed their objects: who names
    a connection, and what is managed, is read from their bodies."""
    await runtime.tasks.primed.wait()
    await runtime.templates.primed.wait()


def users_of(runtime: Runtime, namespace: str, name: str) -> dict[str, list[str]]:
    """The resources (by plural) whose kapacitorRef names the `Kapacitor` namespace/name."""
    return {
        "kapacitortasks": naming(runtime.tasks.bodies, "kapacitorRef", namespace, name),
        "kapacitortemplates": naming(runtime.templates.bodies, "kapacitorRef", namespace, name),
    }


async def check_server(server: KapacitorServer, runtime: Runtime) -> KapacitorStatus:
    """One check of the server, as a status (never raises for a bad connection)."""
    settings = runtime.settings
    url = redact_url(server.spec.url.rstrip("/"))
    now = utcnow()
    problem: tuple[str, str] | None = None
    seen = None
    try:
        connection = await resolve_connection(server.spec, server.namespace, settings, runtime.kube)
        client = runtime.pool.get(connection)
        url = redact_url(client.base_url)
        seen = await observe_server(client)
    except ReferenceProblem as exc:
        problem = (exc.reason, exc.message)
    except InvalidCABundle as exc:
        problem = (c.INVALID_CA, f"CA bundle: {exc}")
    except KubeError as exc:
        problem = (c.KUBERNETES_ERROR, f"Kubernetes API error: {exc}")
    except KapacitorAuthError as exc:
        problem = (c.UNAUTHORIZED, f"Kapacitor at {url} refused the credentials: {exc.message}")
    except KapacitorError as exc:
        problem = (c.UNREACHABLE, f"Kapacitor at {url} could not be checked: {exc}")
    await known(runtime)
    managed = managed_on(
        url, list(runtime.tasks.bodies.values()), list(runtime.templates.bodies.values())
    )
    return status_for(
        server,
        seen,
        url=url,
        now=now,
        interval=settings.kapacitor_check_interval,
        managed=managed,
        problem=problem,
    )


def _token(status: KapacitorStatus) -> str:
    """What dependents care about: the generation checked and whether it is Ready."""
    ready = c.get_condition(status.conditions, c.READY)
    return f"{status.observedGeneration}:{ready.status if ready else 'Unknown'}"


async def _handle(body: kopf.Body, patch: kopf.Patch, memo: Any) -> None:
    runtime: Runtime = memo.runtime
    try:
        server = parse_resource(body, KapacitorSpec, KapacitorStatus)
    except ValidationError as exc:
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
    status = await check_server(server, runtime)
    before, after = _token(server.status), _token(status)
    old_ready = c.get_condition(server.status.conditions, c.READY)
    new_ready = c.get_condition(status.conditions, c.READY)
    desired = status_dict(status)
    users = users_of(runtime, server.namespace, server.name)
    nudging = before != after and any(users.values())
    if nudging and await persist_status(runtime.kube, PLURAL, body, desired):
        # Dependents read this object when nudged: its status must be written first.
        token = f"Kapacitor/{server.name}@{after}"
        for plural, names in users.items():
            await nudge(runtime.kube, plural, server.namespace, names, token)
    else:
        apply_merged(patch, body, desired)
    metrics.RECONCILES.labels(
        "Kapacitor", "ok" if new_ready and new_ready.status == "True" else "temporary_error"
    ).inc()
    if new_ready is not None and (old_ready is None or old_ready.reason != new_ready.reason):
        note = EventNote(
            "Normal" if new_ready.status == "True" else "Warning",
            new_ready.reason,
            new_ready.message,
        )
        emit(body, [note])


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register the Kapacitor handlers."""

    @kopf.on.resume(GROUP, VERSION, PLURAL, id="kapacitor_check", registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, id="kapacitor_check", registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", id="kapacitor_check", registry=registry)
    async def kapacitor_check(*, body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        await _handle(body, patch, memo)

    @kopf.timer(
        GROUP,
        VERSION,
        PLURAL,
        interval=settings.kapacitor_check_interval,
        initial_delay=settings.kapacitor_check_interval,
        id="kapacitor_recheck",
        registry=registry,
    )
    async def kapacitor_recheck(*, body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        await _handle(body, patch, memo)

    @kopf.on.delete(GROUP, VERSION, PLURAL, id="kapacitor_delete", registry=registry)
    async def kapacitor_delete(
        *,
        body: kopf.Body,
        patch: kopf.Patch,
        memo: Any,
        namespace: str | None,
        name: str,
        **_: Any,
    ) -> None:
        runtime: Runtime = memo.runtime
        await known(runtime)
        named = users_of(runtime, namespace or "", name)
        users = [f"KapacitorTask {n}" for n in named["kapacitortasks"]]
        users += [f"KapacitorTemplate {n}" for n in named["kapacitortemplates"]]
        if not users:
            return
        message = (
            f"Deletion waits: {', '.join(users)} still name this connection (their own "
            "deletion needs it); delete them or point them elsewhere."
        )
        conditions = c.set_condition(
            KapacitorStatus.model_validate(dict(body.get("status") or {})).conditions,
            type=c.READY,
            status="False",
            reason=c.IN_USE,
            message=message,
            now=utcnow(),
            generation=body.get("metadata", {}).get("generation"),
        )
        patch.status["conditions"] = [x.model_dump(mode="json") for x in conditions]
        kopf.warn(body, reason=c.IN_USE, message=message[:1024])
        raise kopf.TemporaryError(message, delay=IN_USE_RETRY)
