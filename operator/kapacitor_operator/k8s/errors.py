"""Typed Kubernetes API errors, classified once from a response or a transport failure.

The API server explains every refusal in a `Status` object (`reason`, `message`, `code`,
`details.retryAfterSeconds`); callers need its class (absent? stale? invalid? retry
later?) and its message, verbatim, for conditions and Events. Messages come from the
server or the transport, never from request headers, so no credential can end up here.
"""

from __future__ import annotations

import json
from typing import Any

MAX_RAW_BODY = 256


class KubeError(Exception):
    """A failed Kubernetes API call: HTTP status, Status reason and the server's message."""

    def __init__(
        self, message: str, *, status: int | None = None, reason: str = "", request: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        # "GET /api/v1/namespaces/x/pods": which call failed (paths carry no secrets).
        self.request = request

    def __str__(self) -> str:
        head = " ".join(str(p) for p in (self.status, self.reason) if p)
        where = f" ({self.request})" if self.request else ""
        return f"{head}: {self.message}{where}" if head else f"{self.message}{where}"


class KubeNotFound(KubeError):
    """404: the object (or its namespace) does not exist."""


class KubeConflict(KubeError):
    """409: the object exists already, or changed since the resourceVersion we sent."""

    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"


class KubeInvalid(KubeError):
    """422: admission refused the object; `message` names every invalid field."""


class KubeForbidden(KubeError):
    """403: RBAC does not allow this call to the operator's identity."""


class KubeUnauthorized(KubeError):
    """401: the API server rejects our credentials, even after rereading them."""


class KubeUnavailable(KubeError):
    """Retryable: connection failure, timeout, 429 (throttled) or 5xx."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        request: str = "",
        retry_after: float | None = None,
        never_sent: bool = False,
    ) -> None:
        super().__init__(message, status=status, reason=reason, request=request)
        self.retry_after = retry_after
        # The connection was never made: the request cannot have had any effect.
        self.never_sent = never_sent


_BY_STATUS: dict[int, type[KubeError]] = {
    401: KubeUnauthorized,
    403: KubeForbidden,
    404: KubeNotFound,
    409: KubeConflict,
    422: KubeInvalid,
}


def _retry_after(header: str | None, details: Any) -> float | None:
    if header and header.strip().isdigit():
        return float(header.strip())
    seconds = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    return float(seconds) if isinstance(seconds, int) and seconds > 0 else None


def classify(
    status: int, body: bytes, *, request: str = "", retry_after: str | None = None
) -> KubeError:
    """The error for a non-2xx response, with the Status object's reason and message.

    A body that is not a Status (a proxy's HTML page, say) is kept, cut short, as the
    message.
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    reason, message, details = "", "", None
    if isinstance(data, dict):
        reason = str(data.get("reason") or "")
        message = str(data.get("message") or "")
        details = data.get("details")
    if not message:
        message = body.decode("utf-8", "replace").strip()[:MAX_RAW_BODY] or "empty response"
    if status == 429 or status >= 500:
        return KubeUnavailable(
            message,
            status=status,
            reason=reason,
            request=request,
            retry_after=_retry_after(retry_after, details),
        )
    cls = _BY_STATUS.get(status, KubeError)
    return cls(message, status=status, reason=reason, request=request)
