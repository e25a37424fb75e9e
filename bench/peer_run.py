"""The Go peer under benchmark: built by bench/peer/build.sh, run like the operator.

The peer (bench/peer/) is a minimal controller-runtime controller doing the floor's
writes through a watch, plus a drift check per task per interval. It reads the
operator's environment variables, so `OperatorProcess` starts, probes (/healthz) and
stops it unchanged; only the command and the metric names differ.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bench.operator_run import BenchController, Counters

T = TypeVar("T")
PEER_DIR = Path(__file__).resolve().parent / "peer"
BUILD_TIMEOUT = 1800.0


@dataclass(frozen=True)
class PeerBuild:
    """The peer's binary and what building it cost."""

    binary: Path
    #: Wall seconds of the build that made this binary (on whichever run made it).
    build_seconds: float | None
    #: Packages that build compiled: a few hundred from an empty Go build cache (a cold
    #: build), about none when the cache held them (a warm one).
    packages_compiled: int | None
    #: Wall seconds build.sh took in this run (about 0 when the binary was cached).
    seconds_this_run: float
    cached: bool
    go_version: str
    controller_runtime: str
    client_go: str


def _module_version(go_mod: str, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(\S+)", go_mod, re.M)
    return match.group(1) if match else "unknown"


def _read(path: Path, kind: Callable[[str], T]) -> T | None:
    """A value build.sh left next to the binary; None if absent (an older build)."""
    try:
        return kind(path.read_text().strip())
    except (OSError, ValueError):
        return None


def build_peer() -> PeerBuild:
    """Build the peer (or find it in the cache) and say what that cost.

    Raises:
        RuntimeError: the build failed (with the tail of its output).
    """
    began = time.monotonic()
    result = subprocess.run(
        [str(PEER_DIR / "build.sh")],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    took = round(time.monotonic() - began, 1)
    if result.returncode != 0:
        raise RuntimeError(f"bench/peer/build.sh failed:\n{result.stderr[-4000:]}")
    binary = Path(result.stdout.strip().splitlines()[-1])
    folder = binary.parent
    go_mod = (PEER_DIR / "go.mod").read_text()
    return PeerBuild(
        binary=binary,
        build_seconds=_read(folder / "build-seconds", float),
        packages_compiled=_read(folder / "packages-compiled", int),
        seconds_this_run=took,
        cached="building the peer" not in result.stderr,
        go_version=_read(folder / "go-version", str) or "unknown",
        controller_runtime=_module_version(go_mod, "sigs.k8s.io/controller-runtime"),
        client_go=_module_version(go_mod, "k8s.io/client-go"),
    )


class PeerProcess(BenchController):
    """The peer binary, watching one namespace with `concurrency` workers."""

    ready_path = "/healthz"  # controller-runtime's, set up by the peer; it serves no /readyz

    side = "peer"
    counters = Counters(
        reconciles="bench_peer_reconciles_total",
        ok={"result": "ok"},
        every={},
        kapacitor_requests="bench_peer_kapacitor_requests_total",
        method_label="method",
    )

    def __init__(
        self,
        *,
        binary: Path,
        concurrency: int,
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
            label=label,
        )
        self.binary = binary
        self.concurrency = concurrency

    def command(self) -> list[str]:
        return [str(self.binary), f"--concurrency={self.concurrency}"]
