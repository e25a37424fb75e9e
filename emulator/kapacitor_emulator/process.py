"""Run the emulator as a subprocess, for tests.

A subprocess keeps the emulator's event loop, sockets and signal handling apart from the
test's own (pytest-asyncio loops, the operator under test), and lets tests kill it like a
real Kapacitor. :func:`running_emulator` starts it on free ports, reads the JSON line
with its URLs, waits until it answers, and stops it (SIGTERM, then kill) on exit. The
returned :class:`EmulatorHandle` wraps the ``/emulator/v1`` control API with small
synchronous helpers.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class EmulatorStartError(RuntimeError):
    """The emulator did not come up."""


@dataclass
class EmulatorHandle:
    """A running emulator subprocess and its control API."""

    base_url: str
    control_url: str
    process: subprocess.Popen[str]

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        with httpx.Client(base_url=self.control_url, timeout=10.0) as client:
            resp = client.request(method, f"/emulator/v1/{path}", json=body)
        resp.raise_for_status()
        return resp.json()

    def info(self) -> dict[str, Any]:
        """URLs and settings of the emulator."""
        result: dict[str, Any] = self._control("GET", "info")
        return result

    def requests(self) -> list[dict[str, Any]]:
        """Requests seen on ``/kapacitor/...``: method, path, query, status, time."""
        result: list[dict[str, Any]] = self._control("GET", "requests")["requests"]
        return result

    def clear_requests(self) -> None:
        """Forget the request log."""
        self._control("DELETE", "requests")

    def set_faults(
        self,
        *,
        latency_ms: int = 0,
        error_rate: float = 0.0,
        error_status: int = 503,
        paths: str | None = None,
        seed: int = 0,
    ) -> None:
        """Inject latency and/or errors into ``/kapacitor/...`` requests."""
        body = {
            "latencyMs": latency_ms,
            "errorRate": error_rate,
            "errorStatus": error_status,
            "paths": paths,
            "seed": seed,
        }
        self._control("PUT", "faults", body)

    def clear_faults(self) -> None:
        """Remove injected faults."""
        self._control("DELETE", "faults")

    def down(self) -> None:
        """Close the Kapacitor API listener (connections refused)."""
        self._control("POST", "down")

    def up(self) -> None:
        """Reopen the Kapacitor API listener on the same port."""
        self._control("POST", "up")

    def reset(self) -> None:
        """Forget all tasks, runs, outcomes, faults and requests."""
        self._control("POST", "reset")

    def state(self) -> dict[str, Any]:
        """A dump of the emulator's state."""
        result: dict[str, Any] = self._control("GET", "state")
        return result

    def queue_outcomes(self, task_id: str, outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the queue of outcomes for the next runs of a Flux task.

        Each outcome: ``{"status": "success"|"failed", "message": str, "durationMs": int,
        "queuedMs": int}`` (all optional).
        """
        result: list[dict[str, Any]] = self._control(
            "PUT", f"tasks/{task_id}/outcomes", {"outcomes": outcomes}
        )["outcomes"]
        return result

    def trigger_scheduled_run(
        self, task_id: str, scheduled_for: str | None = None
    ) -> dict[str, Any]:
        """Start a scheduled (not manual) run now, in the background; returns the run."""
        body = {"scheduledFor": scheduled_for} if scheduled_for else {}
        result: dict[str, Any] = self._control("POST", f"tasks/{task_id}/scheduled-runs", body)
        return result

    def set_clock_offset(self, offset_ms: int) -> None:
        """Shift the emulator's wall clock."""
        self._control("PUT", "clock", {"offsetMs": offset_ms})

    def scheduler_tick(self) -> list[dict[str, Any]]:
        """Start the runs the scheduler would start now; returns them."""
        result: list[dict[str, Any]] = self._control("POST", "scheduler/tick")["runs"]
        return result

    def queue_data_outcomes(
        self, kind: str, outcomes: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Replace the outcomes of the next ``recordings`` or ``replays`` (``kind``).

        Each outcome: ``{"status": "finished"|"failed"|"hang", "error": str,
        "delayMs": int}`` (all optional).
        """
        result: list[dict[str, Any]] = self._control(
            "PUT", f"{kind}/outcomes", {"outcomes": outcomes}
        )["outcomes"]
        return result

    def set_data_outcome(self, kind: str, item_id: str, **outcome: Any) -> None:
        """The outcome of the recording/replay that will be created with this ID."""
        self._control("PUT", f"{kind}/{item_id}/outcome", outcome)

    def finish_data(self, kind: str, item_id: str, **outcome: Any) -> dict[str, Any]:
        """End a running recording/replay now (``status``: finished or failed)."""
        result: dict[str, Any] = self._control("POST", f"{kind}/{item_id}/finish", outcome)
        return result

    def fire_alert(self, topic: str, **event: Any) -> int:
        """Collect an alert event on a topic; returns how many handlers it reached."""
        result: int = self._control("POST", f"alerts/topics/{topic}/events", event)["reached"]
        return result


def _read_first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")  # EOF: the process is gone

    threading.Thread(target=pump, daemon=True, name="emulator-stdout").start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty as exc:
        raise EmulatorStartError(f"emulator printed no URLs within {timeout}s") from exc
    if not line:
        raise EmulatorStartError(f"emulator exited before listening (code {proc.wait()})")
    return line


def _wait_ready(base_url: str, deadline: float) -> None:
    while True:
        try:
            httpx.get(f"{base_url}/kapacitor/v1/ping", timeout=1.0)
            return
        except httpx.TransportError as exc:
            if time.monotonic() > deadline:
                raise EmulatorStartError(f"emulator at {base_url} does not answer") from exc
            time.sleep(0.05)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


@contextmanager
def running_emulator(
    run_storage: str = "memory", extra_args: list[str] | None = None, *, host: str = "127.0.0.1"
) -> Iterator[EmulatorHandle]:
    """Start ``python -m kapacitor_emulator`` on free ports of ``host``; stop it on exit.

    ``host`` is the address both listeners bind; the test node's Pods reach an emulator
    bound to the node IP (``kapacitor_testkit.node.layout.NODE_IP``), not one on loopback.

    Raises:
        EmulatorStartError: it did not print its URLs or answer ping in time.
    """
    source_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    cmd = [
        sys.executable,
        "-m",
        "kapacitor_emulator",
        "--host",
        host,
        "--port",
        "0",
        "--control-port",
        "0",
        "--run-storage",
        run_storage,
        *(extra_args or []),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        line = _read_first_line(proc, START_TIMEOUT)
        urls = json.loads(line)
        handle = EmulatorHandle(urls["api"], urls["control"], proc)
        _wait_ready(handle.base_url, deadline)
        yield handle
    finally:
        _stop(proc)
