"""Exceptions of the test control plane, shared by its modules without import cycles."""

from __future__ import annotations

import subprocess


class ControlPlaneError(RuntimeError):
    """The control plane could not be started (the message carries the log tail)."""


class KubectlError(subprocess.CalledProcessError):
    """kubectl exited non-zero; unlike the base class, str() shows its stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstderr: {self.stderr}\nstdout: {self.stdout}"
