"""Run the operator as a subprocess (`python -m kapacitor_operator run`), for tests,
the playground and the benchmark.

A subprocess is the real thing: the console entry point, flags from the environment, its
own event loop, and a process a test can kill mid-run to prove restarts lose nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx

from .processes import free_port

PORT_ATTEMPTS = 3
PORT_TAKEN = "Address already in use"

START_TIMEOUT = 30.0


class OperatorProcess:
    """One operator process; `start()`/`stop()` may be repeated to test restarts."""

    #: What `wait_live` polls: the operator's readiness, which (standalone) means its
    #: handlers have started, or (with leader election) that it stands by.
    ready_path = "/readyz"

    def __init__(
        self,
        *,
        kubeconfig: Path,
        kapacitor_url: str,
        namespaces: list[str] | None,
        log_dir: Path,
        env: dict[str, str] | None = None,
        standalone: bool = True,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.kapacitor_url = kapacitor_url
        self.namespaces = namespaces
        self.log_dir = log_dir
        self.extra_env = env or {}
        self.standalone = standalone
        self.health_port = 0
        self.metrics_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"operator-{self.starts}.log"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "KUBECONFIG": str(self.kubeconfig),
                "KAPACITOR_URL": self.kapacitor_url,
                "OPERATOR_NAMESPACES": ",".join(self.namespaces or []),
                "OPERATOR_HEALTH_PORT": str(self.health_port),
                "OPERATOR_METRICS_PORT": str(self.metrics_port),
                "OPERATOR_DRIFT_INTERVAL": "3600",
                "OPERATOR_RUN_POLL_INTERVAL": "2",
                "OPERATOR_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """The argv of the operator process (subclasses may wrap it, e.g. in a profiler)."""
        return [sys.executable, "-m", "kapacitor_operator", "run"] + (
            ["--standalone"] if self.standalone else []
        )

    def start(self, *, wait: bool = True) -> None:
        """Start the process; with `wait`, return once it is ready (`ready_path`).

        Raises:
            RuntimeError: it exited or did not become live in time (with the log tail).
        """
        assert self.process is None, "already running"
        for attempt in range(PORT_ATTEMPTS):
            self._spawn()
            if not wait:
                return
            try:
                self.wait_live()
                return
            except RuntimeError:
                # A port free a moment ago was taken before the child bound it (see
                # free_port): start again with fresh ports; anything else is the error.
                if attempt + 1 == PORT_ATTEMPTS or PORT_TAKEN not in self.log_tail():
                    raise
                self.stop()

    def _spawn(self) -> None:
        self.starts += 1
        self.health_port, self.metrics_port = free_port(), free_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_live(self, timeout: float = START_TIMEOUT) -> None:
        """Raises:
        RuntimeError: the process died or never answered on its health port.
        """
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.health_port}{self.ready_path}"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"operator exited early:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"operator not live after {timeout}s:\n{self.log_tail()}")

    def stop(self, *, kill: bool = False, timeout: float = 15.0) -> None:
        """SIGTERM (or SIGKILL with `kill`, as a crash would) and wait for the exit."""
        if self.process is None:
            return
        sig = signal.SIGKILL if kill else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def log_text(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.log_dir.glob("operator-*.log"))
        )

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def metrics(self) -> str:
        return httpx.get(self.metrics_url, timeout=5.0).text

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
