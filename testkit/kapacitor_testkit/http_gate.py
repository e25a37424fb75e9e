"""An HTTP endpoint that answers only when the test says so: a slow upstream for Flux runs.

A real kapacitord runs a Flux task in milliseconds, and with ``task-run-influxdb =
"none"`` a finished run vanishes at once. To see a run in flight (its ID, its logs, a
timeout or a cancel), a test gives the task a script that calls the gate with Flux's
``http/requests`` and fails unless the answer is 200 (see :func:`gated_flux`): the run
stays ``started`` until the test calls :meth:`HttpGate.open`, with the status to answer.
No sleep and no timing guess is involved.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Longest a request is held: a forgotten gate must not keep a Kapacitor run forever.
MAX_HOLD = 300.0


def gated_flux(url: str) -> str:
    """A Flux body (imports first, no ``option task``) that waits for the gate at ``url``
    and fails with ``upstream answered <status>`` unless it answers 200."""
    return (
        'import "array"\nimport "http/requests"\n\n'
        f'response = requests.get(url: "{url}")\n'
        "check = if response.statusCode == 200 then 1 else "
        'die(msg: "upstream answered " + string(v: response.statusCode))\n\n'
        "array.from(rows: [{_time: now(), _value: check}])\n    |> yield()\n"
    )


class HttpGate:
    """A loopback HTTP server whose GETs are held until :meth:`open`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._cond = threading.Condition()
        self._status: int | None = None
        self.received = 0
        self.waiting = 0
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = gate._hold()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/upstream"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _hold(self) -> int:
        with self._cond:
            self.received += 1
            self.waiting += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._status is not None, timeout=MAX_HOLD)
            self.waiting -= 1
            return self._status or 504

    def wait_for_requests(self, count: int = 1, timeout: float = 30.0) -> bool:
        """Whether ``count`` requests have arrived (held or answered) within ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: self.received >= count, timeout=timeout)

    def open(self, status: int = 200) -> None:
        """Answer every held request, and every later one, with ``status``."""
        with self._cond:
            self._status = status
            self._cond.notify_all()

    def close(self) -> None:
        """Hold requests again."""
        with self._cond:
            self._status = None

    def __enter__(self) -> HttpGate:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.open(503)  # release whatever still waits, as a failure
        self._server.shutdown()
        self._server.server_close()
