"""Typed Kapacitor errors, classified once from an HTTP response or transport failure.

Both of Kapacitor's error formats carry `message`: the native one
(`{"error": M, "message": M}`) and the Flux API one (`{"code": C, "message": M}`).
"""

from __future__ import annotations

import json

MAX_BODY = 256


class KapacitorError(Exception):
    """Any failure talking to Kapacitor. `message` is Kapacitor's own text when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        endpoint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.endpoint = endpoint

    def __str__(self) -> str:
        where = f" ({self.endpoint})" if self.endpoint else ""
        status = f"HTTP {self.status}: " if self.status else ""
        return f"{status}{self.message}{where}"


class KapacitorUnavailable(KapacitorError):
    """Retryable: connection failure, timeout, 5xx or 429."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        endpoint: str = "",
        retry_after: float | None = None,
        never_sent: bool = False,
        timed_out: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message, status=status, code=code, endpoint=endpoint)
        self.retry_after = retry_after
        # True when the connection could not be opened: the request cannot have had effect.
        self.never_sent = never_sent
        # True when Kapacitor accepted the connection but did not answer in time (hanging).
        self.timed_out = timed_out
        # True when no connection could be opened at all (refused, no route, DNS).
        self.unreachable = unreachable


class KapacitorRejected(KapacitorError):
    """Permanent: Kapacitor refused the request (4xx); repeating it changes nothing."""


class KapacitorNotFound(KapacitorRejected):
    """404: the task, run or path does not exist."""


class KapacitorAuthError(KapacitorRejected):
    """401/403: credentials missing, wrong, or lacking a privilege."""


class KapacitorRunFailed(KapacitorError):
    """A synchronous manual run or retry finished with a failure (Kapacitor answers 5xx)."""


def error_message(body: bytes | str) -> tuple[str, str | None]:
    """(message, code) from either error format; falls back to the raw body, cut short."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("message") or data.get("error")
        if isinstance(message, str) and message:
            code = data.get("code")
            return message[: MAX_BODY * 4], code if isinstance(code, str) else None
    stripped = text.strip()
    return (stripped[:MAX_BODY] or "empty response body"), None


def classify(
    status: int, body: bytes, *, endpoint: str, retry_after: str | None = None
) -> KapacitorError:
    """The error for a non-2xx response."""
    message, code = error_message(body)
    if status in (401, 403):
        return KapacitorAuthError(message, status=status, code=code, endpoint=endpoint)
    if status == 404:
        return KapacitorNotFound(message, status=status, code=code, endpoint=endpoint)
    if status == 429 or status >= 500:
        delay: float | None = None
        if retry_after and retry_after.strip().isdigit():
            delay = float(retry_after.strip())
        return KapacitorUnavailable(
            message, status=status, code=code, endpoint=endpoint, retry_after=delay
        )
    return KapacitorRejected(message, status=status, code=code, endpoint=endpoint)
