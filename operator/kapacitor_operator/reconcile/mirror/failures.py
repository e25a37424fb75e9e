"""Every way a reconcile can fail, mapped once to a condition reason, a message for
humans, and how (or whether) to try again.

Permanent failures (Kapacitor refused the definition, the spec cannot be expressed, the
URL is not allowed) wait for a change of the spec; transient ones are retried with
backoff, credentials problems slowly (a person has to fix a Secret).
"""

from __future__ import annotations

from dataclasses import dataclass

from kapacitor_operator import conditions as c
from kapacitor_operator.k8s.errors import KubeError, KubeForbidden
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.pool import InvalidCABundle
from kapacitor_operator.reconcile.connection import (
    FORBIDDEN_RETRY,
    REFERENCE_RETRY,
    ReferenceProblem,
)
from kapacitor_operator.reconcile.desired import DesiredStateError
from kapacitor_operator.reconcile.outcome import RetryKind

AUTH_RETRY_DELAY = 120.0


@dataclass(frozen=True)
class Failure:
    """Why a reconcile did not make Kapacitor match, and what happens next."""

    reason: str
    message: str
    retry: RetryKind
    delay: float | None = None
    stalled: bool = False
    """Only a person can fix it (kstatus Stalled)."""
    needs_user: bool = False
    """Ready becomes False (not Unknown) while retrying: a reference or a Secret is wrong."""


def _sentence(text: str) -> str:
    return text if text.endswith(".") else f"{text}."


def classify(exc: Exception, *, url: str, what: str) -> Failure:
    """The failure for an exception raised while reconciling `what` (e.g. "task").

    Raises:
        Exception: `exc` itself, when it is not a known failure (a bug).
    """
    if isinstance(exc, KapacitorAuthError):
        message = f"Kapacitor at {url} refused the credentials: {exc.message}"
        return Failure(c.UNAUTHORIZED, message, "temporary", AUTH_RETRY_DELAY)
    if isinstance(exc, KapacitorRejected):
        return Failure(
            c.REJECTED, f"Kapacitor rejected the {what}: {exc.message}", "permanent", stalled=True
        )
    if isinstance(exc, KapacitorUnavailable):
        if exc.timed_out:
            message = f"Kapacitor at {url} took the request but did not answer in time: {exc}"
            return Failure(c.KAPACITOR_TIMEOUT, message, "temporary", exc.retry_after)
        if exc.unreachable:
            message = f"Kapacitor at {url} is unreachable: {exc}"
            return Failure(c.KAPACITOR_UNREACHABLE, message, "temporary", exc.retry_after)
        message = f"Kapacitor at {url} is unavailable: {exc}"
        return Failure(c.UNAVAILABLE, message, "temporary", exc.retry_after)
    if isinstance(exc, KapacitorError):
        return Failure(c.UNAVAILABLE, f"Kapacitor at {url} failed: {exc}", "temporary")
    if isinstance(exc, ReferenceProblem):
        message = _sentence(exc.message)
        if exc.permanent:
            return Failure(exc.reason, message, "permanent", stalled=True, needs_user=True)
        return Failure(exc.reason, message, "temporary", exc.retry_after, needs_user=True)
    if isinstance(exc, DesiredStateError):
        return Failure(c.INVALID_SPEC, str(exc), "permanent", stalled=True, needs_user=True)
    if isinstance(exc, InvalidCABundle):
        message = f"KAPACITOR_CA_FILE: {exc}."
        return Failure(c.INVALID_CA, message, "temporary", REFERENCE_RETRY, needs_user=True)
    if isinstance(exc, KubeForbidden):
        message = f"The operator may not read an object the spec names: {exc.message}"
        return Failure(c.FORBIDDEN, message, "temporary", FORBIDDEN_RETRY, needs_user=True)
    if isinstance(exc, KubeError):
        return Failure(c.KUBERNETES_ERROR, f"Kubernetes API error: {exc}", "temporary")
    raise exc
