"""The helm binary for e2e tests, with private cache and config directories.

Shared by the chart tests (test_helm.py) and the fixture that installs the operator as a
Pod (operator_fixtures.py).
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "kapacitor-operator"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Helm:
    """The helm binary with private cache/config dirs (never the user's)."""

    binary: Path
    env: dict[str, str]
    kubeconfig: Path | None = None

    def run(
        self, *args: str, check: bool = True, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.binary), *args]
        if self.kubeconfig is not None:
            argv.append(f"--kubeconfig={self.kubeconfig}")
        result = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def values_file(directory: Path, values: Doc) -> Path:
    path = directory / f"values-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path
