"""The operator under benchmark: `OperatorProcess`, optionally run under pyinstrument."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kapacitor_operator.testing.operator_process import OperatorProcess
from kapacitor_operator.testing.processes import free_port


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
        run = ["-m", "kapacitor_operator", "run", "--standalone"]
        if self.profile_dir is None:
            return [sys.executable, *run]
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{self.label}-{self.starts}.pyisession"
        return [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(out), *run]

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("operator not running")
        return self.process.pid

    def start(self, *, wait: bool = True) -> None:
        """As OperatorProcess.start, with `command()` as the argv.

        Raises:
            RuntimeError: it exited or did not become live in time (with the log tail).
        """
        assert self.process is None, "already running"
        self.starts += 1
        self.health_port, self.metrics_port = free_port(), free_port()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self._log = log
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            self.wait_live()


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
