"""The two response formats of Kapacitor's HTTP API.

Native routes (TICKscript tasks, templates, auth, 404) answer pretty-printed JSON with
``{"error": M, "message": M}`` errors and no trailing newline; the Flux task routes
(vendored from InfluxDB 2) answer compact JSON plus ``\\n`` on success, and
``{"code", "message"}`` errors (compact, no newline) with an ``X-Platform-Error-Code``
header. Handlers raise :class:`NativeError` or :class:`FluxError`; the dispatcher turns
them into responses here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kapacitor_emulator.gojson import go_dumps

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

FLUX_STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not found": 404,
    "method not allowed": 405,
    "conflict": 422,
    "unprocessable entity": 422,
    "internal error": 500,
    "unavailable": 503,
}
"""InfluxDB platform error codes and their HTTP statuses."""


class NativeError(Exception):
    """An error answered in Kapacitor's native format."""

    def __init__(self, status: int, message: str, *, pretty: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.pretty = pretty


class FluxError(Exception):
    """An error answered in the InfluxDB platform format used by the Flux task API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        """HTTP status derived from the platform code."""
        return FLUX_STATUS.get(self.code, 500)


def _json_response(status: int, text: str) -> web.Response:
    resp = web.Response(status=status, body=text.encode("utf-8"))
    resp.headers["Content-Type"] = JSON_CONTENT_TYPE
    return resp


def native_json(value: Any, status: int = 200) -> web.Response:
    """A native success body: pretty JSON without a trailing newline."""
    return _json_response(status, go_dumps(value, pretty=True))


def native_error(status: int, message: str, *, pretty: bool = True) -> web.Response:
    """A native error body: ``{"error": M, "message": M}``."""
    return _json_response(status, go_dumps({"error": message, "message": message}, pretty=pretty))


def flux_json(value: Any, status: int = 200) -> web.Response:
    """A Flux API success body: compact JSON plus a newline (Go's ``json.Encoder``)."""
    return _json_response(status, go_dumps(value, pretty=False) + "\n")


def flux_error(code: str, message: str) -> web.Response:
    """A Flux API error body with ``X-Platform-Error-Code`` (no trailing newline)."""
    err = FluxError(code, message)
    resp = _json_response(err.status, go_dumps({"code": code, "message": message}, pretty=False))
    resp.headers["X-Platform-Error-Code"] = code
    return resp


def empty(status: int) -> web.Response:
    """A response without a body and without a Content-Type."""
    return web.Response(status=status)


def text_plain(status: int, text: str) -> web.Response:
    """Go's ``http.Error``: ``text/plain`` with a trailing newline."""
    resp = web.Response(status=status, body=(text + "\n").encode("utf-8"))
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def redirect(status: int, location: str, method: str) -> web.Response:
    """Go's ``http.Redirect``: a Location header and, for GET/HEAD, a tiny HTML body."""
    resp = web.Response(status=status)
    resp.headers["Location"] = location
    if method in ("GET", "HEAD"):
        reason = "Moved Permanently" if status == 301 else "Permanent Redirect"
        resp.body = f'<a href="{location}">{reason}</a>.\n\n'.encode()
        resp.headers["Content-Type"] = "text/html; charset=utf-8"
    return resp
