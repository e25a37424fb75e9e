"""The sides of the benchmark and what the phases share.

Three sides do the same job for a KapacitorTask: the operator, the floor (three writes by
a script, bench/floor.py) and the peer (a minimal Go controller, bench/peer/). The
operator and the peer are *controllers*: processes that watch and react, started and
measured by the same code. The floor is a coroutine inside the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.kube import Kube, Predicate, Watcher, is_ready
from bench.measure import WRITE_METHODS, EmulatorControl, metric_value, scrape
from bench.operator_run import BenchController, BenchOperator
from bench.peer_run import PeerBuild, PeerProcess

PHASES = ("latency", "bulk", "restart", "idle", "taskrun", "liveruns")
SIDES = ("operator", "floor", "peer")
CONTROLLERS = ("operator", "peer")
#: Environment of every controller the benchmark starts (drift checks off unless asked).
BASE_ENV = {"OPERATOR_DRIFT_INTERVAL": "3600", "OPERATOR_RUN_POLL_INTERVAL": "60"}
#: Namespace suffix per side ("bench-bulk-op", "bench-bulk-floor", "bench-bulk-peer").
SHORT = {"operator": "op", "floor": "floor", "peer": "peer"}
#: The phases whose namespaces hold KapacitorTasks (the others reuse bulk's, or hold
#: TaskRuns, which carry no finalizer).
TASK_PHASES = ("latency", "bulk")


def namespace(phase: str, side: str) -> str:
    """Where `side` keeps the KapacitorTasks of `phase`."""
    return f"bench-{phase}-{SHORT[side]}"


@dataclass(frozen=True)
class Config:
    """Sizes and windows of one benchmark run."""

    n: int
    latency_samples: int
    warmup: int
    concurrency: int
    drift_interval: float
    idle_window: float
    quiet: float
    taskrun_samples: int
    run_duration_ms: int
    live_runs: int
    live_window: float
    phases: tuple[str, ...]
    work_dir: Path
    sides: tuple[str, ...] = SIDES
    operator_env: dict[str, str] = field(default_factory=dict)
    profile_dir: Path | None = None
    sample_gap: float = 0.2
    #: Install the chart's finalizer policy for the operator side (bench/admission.py).
    finalizer_policy: bool = True

    @property
    def controllers(self) -> tuple[str, ...]:
        return tuple(s for s in CONTROLLERS if s in self.sides)


@dataclass
class Bench:
    """Everything the phases share: the control plane's coordinates, the emulator, the
    Kubernetes client, the peer's binary, and the controller processes started so far."""

    config: Config
    kubeconfig: Path
    kapacitor_url: str
    kube: Kube
    control: EmulatorControl
    peer: PeerBuild | None = None
    processes: list[BenchController] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    #: Per controller, the namespace holding its N synced tasks (bulk, or a set-up).
    synced: dict[str, str] = field(default_factory=dict)

    def controller(
        self, side: str, label: str, namespaces: list[str], **env: str
    ) -> BenchController:
        """A (not yet started) operator or peer process watching `namespaces`."""
        log_dir = self.config.work_dir / f"{side}-{label}"
        common: dict[str, Any] = {
            "kubeconfig": self.kubeconfig,
            "kapacitor_url": self.kapacitor_url,
            "namespaces": namespaces,
            "log_dir": log_dir,
            "label": label,
        }
        proc: BenchController
        if side == "operator":
            proc = BenchOperator(
                env={**BASE_ENV, **self.config.operator_env, **env},
                profile_dir=self.config.profile_dir,
                **common,
            )
        elif side == "peer":
            if self.peer is None:
                raise RuntimeError("the peer was not built")
            # --operator-env is the operator's: the peer gets only what the phase sets.
            proc = PeerProcess(
                binary=self.peer.binary,
                concurrency=self.config.concurrency,
                env={**BASE_ENV, **env},
                **common,
            )
        else:
            raise ValueError(f"{side} is not a controller")
        self.processes.append(proc)
        return proc

    def warn(self, message: str) -> None:
        """A caveat a figure cannot carry (printed under the table, kept in the JSON)."""
        log(f"warning: {message}")
        self.details.setdefault("warnings", []).append(message)

    async def start(self, proc: BenchController) -> None:
        await asyncio.to_thread(proc.start)

    async def stop(self, proc: BenchController) -> None:
        await asyncio.to_thread(proc.stop)

    async def stop_all(self) -> None:
        for proc in self.processes:
            with contextlib.suppress(Exception):
                await self.stop(proc)

    async def watcher(
        self, plural: str, namespace: str, done: Predicate = is_ready, *, keep_bodies: bool = True
    ) -> Watcher:
        await self.kube.create_namespace(namespace)
        watcher = Watcher(self.kube, plural, namespace, done, keep_bodies=keep_bodies)
        await watcher.start()
        return watcher


@dataclass(frozen=True)
class Progress:
    """A controller's counters at one moment (its /metrics)."""

    ok: float
    errors: float
    kapacitor_requests: float
    kapacitor_writes: float
    seen: float = 0.0
    """Watch events of KapacitorTasks (controllers that export it)."""
    pending: float | None = None
    """Reconciles queued or in progress (None: the controller does not say)."""

    def caught_up(self, n: int) -> bool:
        """N objects handled: N successful reconciles, or (a controller that leaves
        settled objects alone) a watch event for each and nothing pending."""
        return self.ok >= n or (self.pending == 0 and self.seen >= n)


async def progress(proc: BenchController) -> Progress:
    """Successful and failed reconciles so far, and Kapacitor requests (writes when the
    controller labels them by method)."""
    c = proc.counters
    text = await scrape(proc.metrics_url)
    ok = metric_value(text, c.reconciles, c.ok)
    writes = 0.0
    if c.method_label is not None:
        writes = sum(
            metric_value(text, c.kapacitor_requests, {c.method_label: m}) for m in WRITE_METHODS
        )
    return Progress(
        ok=ok,
        errors=metric_value(text, c.reconciles, c.every) - ok,
        kapacitor_requests=metric_value(text, c.kapacitor_requests),
        kapacitor_writes=writes,
        seen=metric_value(text, c.seen, c.every) if c.seen else 0.0,
        pending=metric_value(text, c.pending, c.every) if c.pending else None,
    )


def key(side: str, figure: str) -> str:
    """The report key of a figure for a side. The operator's keys are the report's
    original ones; the peer's insert `peer` after the phase word (`bulk_seconds` ->
    `bulk_peer_seconds`, `idle_rss_mb` -> `idle_peer_rss_mb`, `idle` -> `idle_peer`)."""
    if side == "operator":
        return figure
    phase, _, rest = figure.partition("_")
    return f"{phase}_{side}_{rest}" if rest else f"{phase}_{side}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, 3 decimals; None when either is missing or the
    denominator is 0 (a figure too small to measure is no basis for a ratio)."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def bounded(count: int, concurrency: int, make: Callable[[int], Awaitable[None]]) -> None:
    """Run make(0..count-1) with at most `concurrency` in flight.

    A fixed pool of `concurrency` workers takes the next index: at N = 10,000 that is 50
    tasks rather than 10,000 coroutines parked on a semaphore.
    """
    indexes = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            await make(i)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))


def per_task(total: float, tasks: int) -> float:
    return round(total / tasks, 2) if tasks else 0.0
