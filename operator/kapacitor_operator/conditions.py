"""Condition types, reason constants and the pure `set_condition` helper.

Reasons are CamelCase and shared by conditions and Events, so `kubectl describe` tells
one story.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from kapacitor_operator.models.status import Condition

READY = "Ready"
SYNCED = "Synced"
STALLED = "Stalled"
RECONCILING = "Reconciling"
SUCCEEDED = "Succeeded"
AUTO_RETRY = "AutoRetry"
"""Flux tasks with retryFailedRuns: whether failed scheduled runs are being retried."""

# --- KapacitorTask reasons -------------------------------------------------------------
EXECUTING = "Executing"
"""Enabled TICKscript task defined as declared and executing."""
DISABLED = "Disabled"
"""Task defined as declared and disabled/inactive, as the spec asks."""
ACTIVE = "Active"
"""Flux task defined as declared and active (scheduled)."""
NOT_EXECUTING = "NotExecuting"
"""Kapacitor holds the task but could not start it; its error is in the message."""
SYNCED_OK = "Synced"
"""The last reconcile reached Kapacitor and found or made it match."""
REJECTED = "Rejected"
"""Kapacitor refused the definition (4xx); fix the spec."""
INVALID_SPEC = "InvalidSpec"
"""The spec cannot be turned into a Kapacitor request."""
SCRIPT_NOT_FOUND = "ScriptNotFound"
"""The ConfigMap or key named by scriptFrom does not exist."""
SECRET_NOT_FOUND = "SecretNotFound"
"""The credentials or CA Secret does not exist or lacks the key."""
UNAVAILABLE = "KapacitorUnavailable"
"""Kapacitor could not be reached or answered 5xx; retrying with backoff."""
KAPACITOR_UNREACHABLE = "KapacitorUnreachable"
"""No connection to Kapacitor could be opened (refused, no route, DNS); retrying."""
KAPACITOR_TIMEOUT = "KapacitorTimeout"
"""Kapacitor accepted the connection but did not answer within KAPACITOR_TIMEOUT."""
DELETING = "Deleting"
"""The resource is being deleted and waits for Kapacitor; the message says why."""
UNAUTHORIZED = "Unauthorized"
"""Kapacitor refused the credentials (401/403); retrying slowly."""
CONFLICT = "Conflict"
"""Another KapacitorTask already manages this Kapacitor task; nothing was changed."""
DRIFT_REPAIRED = "DriftRepaired"
"""Kapacitor's copy had been changed or deleted behind the operator's back; restored."""
DELETED = "Deleted"
"""Task removed from Kapacitor."""
ORPHANED = "Orphaned"
"""Resource deleted, task left in Kapacitor (deletionPolicy: Orphan)."""
DUPLICATES = "DuplicateFluxTasks"
"""Several Flux tasks carry the task's name; the oldest ID is used."""
KAPACITOR_URL_NOT_ALLOWED = "KapacitorURLNotAllowed"
"""The Kapacitor URL is outside the operator's allow-list; no request was sent, no Secret read."""
SECRET_KEY_MISSING = "SecretKeyMissing"
"""The credentials or CA Secret exists but lacks the key(s) the spec names."""
INVALID_SECRET = "InvalidSecret"
"""A credentials Secret key holds something unusable (not UTF-8, or a line break)."""
INVALID_CA = "InvalidCA"
"""The CA bundle (a Secret key, or KAPACITOR_CA_FILE) does not load as PEM certificates."""

# --- KapacitorAlertHandler reasons -----------------------------------------------------
HANDLER_DEFINED = "Defined"
"""The topic handler is defined in Kapacitor as declared."""
CONFIGMAP_NOT_FOUND = "ConfigMapNotFound"
"""A ConfigMap (or key) named by optionsFrom does not exist."""
CREATED = "Created"
"""The object was created in Kapacitor (Event reason)."""
UPDATED = "Updated"
"""The object was replaced in Kapacitor to match a changed spec (Event reason)."""
ADOPTED = "Adopted"
"""An object that existed in Kapacitor is now managed by this resource (Event reason)."""
DELETING = "Deleting"
"""The resource is being deleted and waits for Kapacitor (Ready reason); Synced says why."""
# --- Kapacitor connection objects and KapacitorTemplate (issue 15) ---------------------
REACHABLE = "Reachable"
"""Kapacitor: the server answered /ping with these credentials."""
UNREACHABLE = "Unreachable"
"""Kapacitor: the server could not be reached, or answered with an error; the message says."""
IN_USE = "InUse"
"""Deletion waits: other resources still use this object (named in the message)."""
DEFINED = "Defined"
"""KapacitorTemplate: the template is defined in Kapacitor as declared."""
KAPACITOR_NOT_FOUND = "KapacitorNotFound"
"""The `Kapacitor` object named by kapacitorRef does not exist (yet)."""
KAPACITOR_NOT_READY = "KapacitorNotReady"
"""The `Kapacitor` object named by kapacitorRef is not Ready; its reason is in the message."""
TEMPLATE_NOT_FOUND = "TemplateNotFound"
"""The KapacitorTemplate named by templateRef does not exist (yet)."""
TEMPLATE_NOT_READY = "TemplateNotReady"
"""The KapacitorTemplate named by templateRef is not defined in Kapacitor (yet), or lives
on another server."""
TASK_RELOAD_FAILED = "TaskReloadFailed"
"""A template update was saved, but Kapacitor could not restart a task made from it."""

AUTO_RETRY_ACTIVE = "Retrying"
"""AutoRetry: failed scheduled runs are retried as TaskRuns."""
HISTORY_UNAVAILABLE = "RunHistoryUnavailable"
"""AutoRetry: Kapacitor keeps no finished runs, so failures cannot be seen or retried."""
KUBERNETES_ERROR = "KubernetesError"
"""The API server refused or failed a call the operator needed; its message says why."""

# --- TaskRun reasons ------------------------------------------------------------------
PENDING = "Pending"
"""Waiting to start the first attempt."""
RUNNING = "Running"
"""An attempt is running."""
RETRYING = "Retrying"
"""An attempt failed; the next one starts at status.nextRetryAt."""
RUN_SUCCEEDED = "Succeeded"
AUTO_RETRY = "AutoRetry"
"""Flux tasks with retryFailedRuns: whether failed scheduled runs are being retried."""
"""An attempt ended with success."""
FAILED = "Failed"
"""The last attempt failed and no retry is left."""
TIMED_OUT = "TimedOut"
"""The last attempt hit spec.timeout and no retry is left."""
CANCELLED = "Cancelled"
"""spec.cancel stopped the run."""
CRASHED = "Crashed"
"""The attempt's result was lost (operator restarted during it) and no retry is left."""
TASK_NOT_FOUND = "TaskNotFound"
"""The referenced KapacitorTask does not exist."""
TASK_NOT_READY = "TaskNotReady"
"""The referenced KapacitorTask has no Kapacitor task yet (not synced, or rejected)."""
NOT_FLUX = "NotFluxTask"
"""The referenced KapacitorTask is a TICKscript task; TaskRuns run Flux tasks."""
NOT_TICKSCRIPT = "NotReplayable"
"""A replay's KapacitorTask is not a TICKscript task of the kind its recording needs."""
WAITING = "Waiting"
"""The attempt waits for a free run slot on its Kapacitor server (or for its scheduledFor)."""
JOB_REJECTED = "JobRejected"
"""The API server refused the attempt's Job; its message says why."""
FORBIDDEN = "Forbidden"
"""The API server refused the operator (RBAC or quota): a referenced Secret or ConfigMap,
or what an attempt needs. The message is the API server's; retrying slowly."""
ATTEMPT_STARTED = "AttemptStarted"
"""An attempt started (Event reason)."""
ATTEMPT_FAILED = "AttemptFailed"
"""An attempt failed (Event reason)."""

# --- watchdog (issue 16) ---------------------------------------------------------------
DEGRADED = "Degraded"
"""Flux tasks: True when no run succeeded for two schedule periods."""
RUNS_OVERDUE = "RunsOverdue"
"""An active Flux task has had no successful run for more than two schedule periods."""
RUNS_ON_TIME = "RunsOnTime"
"""An active Flux task's last successful run is within two schedule periods."""
SELF_HEALED = "SelfHealed"
"""The watchdog disabled and re-enabled a TICKscript task that stopped executing (Event)."""
SELF_HEAL_LIMIT = "SelfHealLimitReached"
"""The watchdog made spec.selfHeal.maxPerHour restarts in the last hour; it waits (Event)."""

Status = Literal["True", "False", "Unknown"]


def set_condition(
    conditions: Sequence[Condition] | None,
    *,
    type: str,
    status: Status,
    reason: str,
    message: str,
    now: str,
    generation: int | None,
) -> list[Condition]:
    """Return conditions with `type` set; lastTransitionTime moves only when status flips."""
    current = list(conditions or [])
    old = next((c for c in current if c.type == type), None)
    transition = old.lastTransitionTime if old is not None and old.status == status else now
    new = Condition(
        type=type,
        status=status,
        reason=reason,
        message=message,
        lastTransitionTime=transition,
        observedGeneration=generation,
    )
    if old is None:
        return [*current, new]
    return [new if c.type == type else c for c in current]


def remove_condition(conditions: Sequence[Condition] | None, type: str) -> list[Condition]:
    """Return conditions without `type`."""
    return [c for c in conditions or [] if c.type != type]


def get_condition(conditions: Sequence[Condition] | None, type: str) -> Condition | None:
    """The condition of `type`, if present."""
    return next((c for c in conditions or [] if c.type == type), None)
