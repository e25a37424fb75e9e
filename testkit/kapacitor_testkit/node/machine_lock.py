"""The machine-wide lock: one node-capable test cluster per machine at a time.

The node uses fixed names and addresses (see :mod:`.layout`), so two clusters on one
machine would fight over the bridge, ``10.96.0.1:443`` and the cgroup root, and each
one's start-up cleanup would tear down the other. A second run (another worktree, CI and
a developer) therefore waits for the first, and says so, instead of colliding. The lock
is an ``flock`` on :data:`layout.LOCK_PATH`: the kernel releases it when its holder dies,
even by SIGKILL, so a crashed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import layout

#: How long a run waits for another one by default (a whole e2e session may be ahead).
DEFAULT_TIMEOUT = 3600.0


class MachineBusyError(RuntimeError):
    """Another test cluster held the machine lock for longer than the timeout."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class MachineLock:
    """An exclusive ``flock`` on the machine's node lock file, with a note of its holder."""

    def __init__(self, path: Path = layout.LOCK_PATH) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def holder(self) -> str:
        """Who holds (or last held) the lock, as recorded in the file."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return "unknown"
        return text or "unknown"

    def acquire(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        notify: Callable[[str], None] = _stderr,
        poll: float = 1.0,
    ) -> None:
        """Take the lock, waiting up to ``timeout`` seconds for another holder.

        ``notify`` is told once, with the holder's description, when the wait begins.

        Raises:
            MachineBusyError: still held by another process after ``timeout`` seconds.
        """
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    notify(
                        f"another kapacitor-operator test cluster runs on this machine "
                        f"({self.holder()}); waiting up to {timeout:.0f}s for it to stop "
                        f"(lock {self.path})"
                    )
                    told = True
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise MachineBusyError(
                        f"the machine's test node is still in use after {timeout:.0f}s: "
                        f"{self.holder()} (lock {self.path})"
                    ) from None
                time.sleep(poll)
        if told:
            notify("the other test cluster has stopped; starting")
        self._fd = fd
        self._record()

    def _record(self) -> None:
        assert self._fd is not None
        note = {
            "pid": os.getpid(),
            "argv": " ".join(sys.argv)[:300],
            "cwd": os.getcwd(),
            "since": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (json.dumps(note) + "\n").encode(), 0)

    def release(self) -> None:
        """Give the lock up (the file stays: others may be waiting on it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock
