"""Make Kapacitor hold a KapacitorTemplate as declared: observe -> decide -> act -> status.

The decisions are in template_decide.py. Kapacitor reloads the tasks made from a template
when the template is PATCHed; the handler then nudges the KapacitorTasks that name it so
their statuses are read again (handlers/refs.py).
"""

from __future__ import annotations

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.models.kapacitortemplate import KapacitorTemplateStatus, TemplateVar
from kapacitor_operator.models.resources import KapacitorTemplate
from kapacitor_operator.reconcile.outcome import EventNote, Outcome, RetryKind
from kapacitor_operator.reconcile.template_decide import (
    Conflict,
    Create,
    DesiredTemplate,
    Nothing,
    Plan,
    Update,
    decide,
    tasks_using,
)
from kapacitor_operator.urls import redact_url

AUTH_RETRY_DELAY = 120.0

TemplateOutcome = Outcome[KapacitorTemplateStatus]


def with_conditions(
    tpl: KapacitorTemplate,
    *,
    ready: tuple[c.Status, str, str],
    synced: tuple[c.Status, str, str],
    now: str,
) -> KapacitorTemplateStatus:
    """A copy of the status with Ready and Synced set (pure)."""
    st = tpl.status.model_copy(deep=True)
    items = list(st.conditions or [])
    for type_, (status, reason, message) in ((c.READY, ready), (c.SYNCED, synced)):
        items = c.set_condition(
            items,
            type=type_,
            status=status,
            reason=reason,
            message=message,
            now=now,
            generation=tpl.generation,
        )
    st.conditions = items
    st.observedGeneration = tpl.generation
    return st


def failed_outcome(
    tpl: KapacitorTemplate,
    reason: str,
    message: str,
    *,
    now: str,
    retry: RetryKind,
    delay: float | None = None,
) -> TemplateOutcome:
    """Ready=False and Synced=False with one reason, a Warning Event and a retry hint."""
    message = message if message.endswith(".") else f"{message}."
    st = with_conditions(
        tpl, ready=("False", reason, message), synced=("False", reason, message), now=now
    )
    return TemplateOutcome(
        status=st,
        events=[EventNote("Warning", reason, message)],
        retry=retry,
        delay=delay,
        message=message,
    )


def error_outcome(
    tpl: KapacitorTemplate, exc: KapacitorError, *, url: str, now: str
) -> TemplateOutcome:
    """Map a Kapacitor error to a reason and retry hint, as for KapacitorTask."""
    if isinstance(exc, KapacitorAuthError):
        message = f"Kapacitor at {url} refused the credentials: {exc.message}"
        return failed_outcome(
            tpl, c.UNAUTHORIZED, message, now=now, retry="temporary", delay=AUTH_RETRY_DELAY
        )
    if isinstance(exc, KapacitorRejected):
        message = f"Kapacitor rejected the template: {exc.message}"
        return failed_outcome(tpl, c.REJECTED, message, now=now, retry="permanent")
    delay = exc.retry_after if isinstance(exc, KapacitorUnavailable) else None
    message = f"Kapacitor at {url} is unavailable: {exc}"
    return failed_outcome(tpl, c.UNAVAILABLE, message, now=now, retry="temporary", delay=delay)


def status_defined(
    tpl: KapacitorTemplate,
    desired: DesiredTemplate,
    server: TickTemplate,
    tasks: list[str],
    *,
    url: str,
    now: str,
) -> KapacitorTemplateStatus:
    """Status once Kapacitor holds the template as declared (pure)."""
    used = f"; used by {len(tasks)} task(s)" if tasks else "; no task uses it yet"
    message = f"Template {desired.template_id} is defined in Kapacitor at {url}{used}."
    st = with_conditions(
        tpl,
        ready=("True", c.DEFINED, message),
        synced=("True", c.SYNCED_OK, "Kapacitor's template matches the spec."),
        now=now,
    )
    st.templateID = desired.template_id
    st.kapacitorURL = url
    st.definitionHash = desired.definition_hash
    st.vars = {name: TemplateVar.model_validate(var) for name, var in server.vars.items()}
    st.tasks = tasks
    st.created = server.created or None
    st.modified = server.modified or None
    st.lastSyncedAt = now
    return st


def _drift_note(plan: Plan, template_id: str) -> EventNote | None:
    if isinstance(plan, Create) and plan.drift:
        text = f"Template {template_id} was deleted in Kapacitor; defined it again."
    elif isinstance(plan, Update) and plan.drift:
        text = f"Template {template_id} was changed in Kapacitor; restored the spec."
    else:
        return None
    return EventNote("Warning", c.DRIFT_REPAIRED, text)


async def act(
    client: KapacitorClient,
    desired: DesiredTemplate,
    plan: Create | Update | Nothing,
    observed: TickTemplate | None,
) -> tuple[TickTemplate, str]:
    """Write what the plan says; (the template as Kapacitor now holds it, reload error).

    Kapacitor saves a PATCHed template, then restarts its enabled tasks; when one fails
    to restart the answer is a 500 although the template was saved: read it back, and
    report the restart failure instead of retrying a write that already happened.

    Raises:
        KapacitorError: the write failed.
    """
    if isinstance(plan, Nothing):
        assert observed is not None
        return observed, ""
    if isinstance(plan, Create):
        return await client.create_template(desired.create_body()), ""
    try:
        return await client.patch_template(desired.template_id, plan.changes), ""
    except KapacitorUnavailable as exc:
        if exc.status != 500:
            raise
        stored = await client.get_template(desired.template_id)
        if stored is None or stored.script != desired.script or stored.type != desired.type:
            raise
        return stored, exc.message


async def sync_template(
    tpl: KapacitorTemplate,
    desired: DesiredTemplate,
    client: KapacitorClient,
    *,
    now: str,
    holder: str | None = None,
) -> TemplateOutcome:
    """Reconcile one KapacitorTemplate against Kapacitor. Never raises for Kapacitor errors."""
    url = redact_url(client.base_url)
    try:
        observed = await client.get_template(desired.template_id)
        plan = decide(desired, observed, last_hash=tpl.status.definitionHash, holder=holder)
        if isinstance(plan, Conflict):
            message = (
                f"Template {desired.template_id} on {url} is already managed by "
                f"KapacitorTemplate {plan.holder}; this resource changes nothing"
            )
            return failed_outcome(tpl, c.CONFLICT, message, now=now, retry="permanent")
        server, reload_error = await act(client, desired, plan, observed)
        linked = await client.list_task_templates()
    except KapacitorError as exc:
        return error_outcome(tpl, exc, url=url, now=now)
    tasks = tasks_using(linked, desired.template_id)
    events = [note for note in [_drift_note(plan, desired.template_id)] if note]
    if reload_error:
        events.append(
            EventNote(
                "Warning",
                c.TASK_RELOAD_FAILED,
                f"Template saved, but Kapacitor could not restart a task made from it: "
                f"{reload_error}",
            )
        )
    writes = 0 if isinstance(plan, Nothing) else 1
    status = status_defined(tpl, desired, server, tasks, url=url, now=now)
    return TemplateOutcome(status=status, events=events, writes=writes)
