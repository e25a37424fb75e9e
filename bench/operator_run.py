"""The controllers under benchmark: the operator (`OperatorProcess`, optionally under
pyinstrument) and, in bench/peer_run.py, the Go peer. Both are started, probed and
stopped the same way; only their command and their metric names differ."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from kapacitor_testkit.operator_process import OperatorProcess


@dataclass(frozen=True)
class Counters:
    """Where a controller's /metrics says how far it got: successful and all
    KapacitorTask reconciles, and requests sent to Kapacitor."""

    reconciles: str
    ok: dict[str, str]
    every: dict[str, str]
    kapacitor_requests: str
    #: Label of the Kapacitor request counter that holds the HTTP method, if any.
    method_label: str | None = None
    #: A controller that does not reconcile settled objects on start-up (the operator's
    #: work-queue controller) is caught up once it got a watch event for each object
    #: (`seen`) and has nothing queued or in progress (`pending`).
    seen: str | None = None
    pending: str | None = None


class BenchController(OperatorProcess):
    """A controller process the phases start and measure (pid, metrics, label)."""

    #: "operator" or "peer": the side of the report its figures land in.
    side: ClassVar[str]
    counters: ClassVar[Counters]

    def __init__(
        self,
        *,
        kubeconfig: Path,
        kapacitor_url: str,
        namespaces: list[str],
        log_dir: Path,
        env: dict[str, str],
        label: str,
    ) -> None:
        super().__init__(
            kubeconfig=kubeconfig,
            kapacitor_url=kapacitor_url,
            namespaces=namespaces,
            log_dir=log_dir,
            env=env,
        )
        self.label = label

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.side} not running")
        return self.process.pid


class BenchOperator(BenchController):
    """`python -m kapacitor_operator run`, or the same under `pyinstrument` when
    `profile_dir` is set (one HTML and one text report per start, written when the
    process exits on SIGTERM)."""

    side = "operator"
    counters = Counters(
        reconciles="kapacitor_operator_reconciles_total",
        ok={"kind": "KapacitorTask", "result": "ok"},
        every={"kind": "KapacitorTask"},
        kapacitor_requests="kapacitor_operator_kapacitor_request_duration_seconds_count",
        seen="kapacitor_operator_watch_events_total",
        pending="kapacitor_operator_pending_reconciles",
    )

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
            label=label,
        )
        self.profile_dir = profile_dir

    def command(self) -> list[str]:
        base = super().command()
        if self.profile_dir is None:
            return base
        run = base[1:]
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{self.label}-{self.starts}.pyisession"
        return [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(out), *run]


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
