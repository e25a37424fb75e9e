"""Child-process plumbing for the test control plane.

Each component runs in its own process group (so a SIGTERM reaches anything it forks)
and asks the kernel to kill it when pytest dies (``PR_SET_PDEATHSIG``): a crashed or
SIGKILLed test run must not leave an etcd or apiserver behind holding ports and disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from .errors import ControlPlaneError

#: From <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1

#: Attempts per component when it dies during start-up (usually a lost port race).
START_ATTEMPTS = 3

#: How long a component gets to exit after SIGTERM before it is SIGKILLed.
STOP_GRACE_SECONDS = 20.0


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


# Loaded before any fork: preexec_fn must not import or allocate much.
_LIBC = _load_libc()


def die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the thread that forked it exits."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port of ``host`` (default loopback) that was free a moment ago.

    There is an unavoidable race between closing the socket and the child binding the
    port; callers retry with fresh ports when a child exits early.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class Process:
    """One running component: its argv, log file and process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        cwd: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self._log.write(("$ " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            # preexec_fn is fork-unsafe with threads in general; this one only calls prctl.
            preexec_fn=die_with_parent,
        )

    @property
    def pid(self) -> int:
        """Process id, which is also the process group id (new session)."""
        return self.popen.pid

    def exited(self) -> int | None:
        """Exit code if the process has ended, else None."""
        return self.popen.poll()

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the component's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"<cannot read {self.log_path}: {exc}>"
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; return the code."""
        try:
            if self.popen.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    self.popen.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.popen.wait(timeout=grace)
            # Children of the leader may outlive it; the group is ours to clean up.
            self._signal_group(signal.SIGKILL)
            return self.popen.returncode
        finally:
            self._log.close()


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    abort: Callable[[], str | None] | None = None,
) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` elapses.

    ``abort`` is consulted between polls; a non-None string ends the wait early (for
    instance when the process being waited for has exited). Returns whether ``check``
    succeeded.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if abort is not None and abort() is not None:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))


def start_until_ready(
    name: str,
    argv_for_attempt: Callable[[], list[str]],
    ready: Callable[[], bool],
    *,
    log_path: Path,
    cwd: Path,
    timeout: float,
    attempts: int = START_ATTEMPTS,
    env: Mapping[str, str] | None = None,
) -> Process:
    """Start ``name`` and poll ``ready()``; if it exits first, retry with a fresh argv.

    ``argv_for_attempt`` is called per attempt so it can pick new ports; ``env`` replaces
    the environment (default: inherited).

    Raises:
        ControlPlaneError: not ready within ``timeout``, or exited ``attempts`` times; the
            message carries the tail of the log.
    """
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        process = Process(name, argv_for_attempt(), log_path, cwd=cwd, env=env)

        def exited(p: Process = process) -> str | None:
            code = p.exited()
            return None if code is None else f"exit code {code}"

        if wait_until(ready, timeout=timeout, interval=0.1, abort=exited):
            return process
        code = process.exited()
        tail = process.log_tail()
        process.stop(grace=5)
        if code is None:
            raise ControlPlaneError(f"{name} not ready after {timeout}s (log {log_path}):\n{tail}")
        failures.append(f"attempt {attempt}: exit code {code}\n{tail}")
    raise ControlPlaneError(
        f"{name} exited during start-up {attempts} times:\n" + "\n---\n".join(failures)
    )
