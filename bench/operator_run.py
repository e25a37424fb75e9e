"""The operator under benchmark: `OperatorProcess`, optionally run under pyinstrument."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kapacitor_testkit.operator_process import OperatorProcess


class BenchOperator(OperatorProcess):
    """`python -m kapacitor_operator run`, or the same under `pyinstrument` when
    `profile_dir` is set (one HTML and one text report per start, written when the
    process exits on SIGTERM)."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        kapacitor_url: str,
        namespaces: list[str],
        log_dir: Path,
        env: dict[str, str],
        label: str,
        profile_dir: Path | None = None,
    ) -> None:
        super().__init__(
            kubeconfig=kubeconfig,
            kapacitor_url=kapacitor_url,
            namespaces=namespaces,
            log_dir=log_dir,
            env=env,
        )
        self.label = label
        self.profile_dir = profile_dir

    def command(self) -> list[str]:
        base = super().command()
        if self.profile_dir is None:
            return base
        run = base[1:]
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{self.label}-{self.starts}.pyisession"
        return [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(out), *run]

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("operator not running")
        return self.process.pid


def render_profiles(profile_dir: Path) -> list[Path]:
    """Turn each saved pyinstrument session into .txt and .html next to it."""
    made: list[Path] = []
    for session in sorted(profile_dir.glob("*.pyisession")):
        for renderer, suffix in (("text", ".txt"), ("html", ".html")):
            target = session.with_suffix(suffix)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pyinstrument",
                    "--load",
                    str(session),
                    "-r",
                    renderer,
                    "-o",
                    str(target),
                ],
                check=False,
                capture_output=True,
                timeout=120,
            )
            if target.exists():
                made.append(target)
    return made
