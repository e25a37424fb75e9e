"""Shared helpers for the contract tests: constants, assertions, request shortcuts.

Flux tasks that runs are made of use :func:`runnable_flux` (``array.from``, no InfluxDB
needed, so it succeeds on a real kapacitord without one) or :func:`dying_flux` (fails
with Flux's ``die()``), both on a once-a-year cron so no scheduled run gets in the way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

JSON_CT = "application/json; charset=utf-8"
STREAM = "stream|from().measurement('cpu')"
FORMATTED = "stream\n    |from()\n        .measurement('cpu')\n"
DBRPS = [{"db": "telegraf", "rp": "autogen"}]
FLUX = "/kapacitor/v1/api/v2/tasks"
RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ZERO = "0001-01-01T00:00:00Z"
YEARLY = 'cron: "0 0 1 1 *"'
"""A schedule that never fires during a test run."""


def go_json(value: Any, indent: int | None = None) -> str:
    """JSON as Go's encoding/json writes it: ``<``, ``>`` and ``&`` escaped; compact
    without ``indent``."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(value, indent=indent, ensure_ascii=False, separators=separators)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def assert_native_error(resp: httpx.Response, status: int, message: str) -> None:
    """A native error: pretty JSON, ``error`` and ``message`` equal, no trailing newline."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == JSON_CT
    body = {"error": message, "message": message}
    assert resp.text == go_json(body, indent=4)


def assert_flux_error(resp: httpx.Response, status: int, code: str, message: str) -> None:
    """A Flux API error: compact ``{code, message}`` (no newline) and the code header."""
    assert resp.status_code == status, resp.text
    assert resp.headers["X-Platform-Error-Code"] == code
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.text == go_json({"code": code, "message": message})


def create_task(api: httpx.Client, task_id: str, script: str = STREAM, **extra: Any) -> Any:
    body = {"id": task_id, "script": script, "dbrps": DBRPS, **extra}
    resp = api.post("/kapacitor/v1/tasks", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def flux_script(name: str, schedule: str = "every: 1h", extra: str = "") -> str:
    return (
        f'option task = {{name: "{name}", {schedule}{extra}}}\n\n'
        'from(bucket: "telegraf") |> range(start: -1h) |> yield()\n'
    )


def runnable_flux(name: str) -> str:
    """A task whose runs succeed without any InfluxDB."""
    return (
        f'import "array"\n\noption task = {{name: "{name}", {YEARLY}}}\n\n'
        "array.from(rows: [{_time: now(), _value: 1}]) |> yield()\n"
    )


def dying_flux(name: str, message: str) -> str:
    """A task whose runs fail: the ``die()`` call is on line 3, columns 1-17 for "boom"."""
    return f'option task = {{name: "{name}", {YEARLY}}}\n\ndie(msg: "{message}")\n'


def create_flux(api: httpx.Client, task_name: str, **body: Any) -> Any:
    body.setdefault("flux", flux_script(task_name))
    resp = api.post(FLUX, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def run_now(api: httpx.Client, task_id: str, **body: Any) -> httpx.Response:
    return api.post(f"{FLUX}/{task_id}/runs", json=body or None)


def raw_request(
    base_url: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    """A request with the path exactly as written (httpx would normalize dot segments)
    and no ``Accept-Encoding`` unless given."""
    url = httpx.URL(base_url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def sign_jwt(secret: str, claims: dict[str, Any]) -> str:
    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(sig)}"


def utc_seconds(delta: timedelta = timedelta(0)) -> datetime:
    return (datetime.now(UTC) + delta).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
