"""Measuring helpers: percentiles, the operator process's CPU and memory, the emulator's
request log, the operator's Prometheus counters, and a description of the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
MIB = 1024 * 1024


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> dict[str, float | int]:
    """p50/p90/p99/min/max/mean (seconds, 4 decimals) and the sample count."""
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 4),
        "p90": round(percentile(values, 90), 4),
        "p99": round(percentile(values, 99), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "mean": round(sum(values) / len(values), 4),
    }


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp with up to nanosecond digits."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, sep, rest = text.partition(".")
    if sep:
        digits = ""
        for ch in rest:
            if not ch.isdigit():
                break
            digits += ch
        text = f"{head}.{(digits + '000000')[:6]}{rest[len(digits) :]}"
    return datetime.fromisoformat(text).timestamp()


# --- the operator process ---------------------------------------------------------------


@dataclass(frozen=True)
class CpuMark:
    """CPU seconds (user + system) of a process at a wall-clock moment."""

    cpu: float
    wall: float


class ProcessProbe:
    """psutil view of one process (the operator): RSS and CPU time."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    def rss_mib(self) -> float:
        return float(self.process.memory_info().rss) / MIB

    def tcp_connections(self) -> int:
        """Open TCP sockets (apiserver, Kapacitor, listeners) of the process."""
        try:
            return len(self.process.net_connections(kind="tcp"))
        except psutil.Error:
            return -1

    def cpu_mark(self) -> CpuMark:
        times = self.process.cpu_times()
        return CpuMark(float(times.user + times.system), time.time())

    @staticmethod
    def cpu_percent(start: CpuMark, end: CpuMark) -> float:
        """Percent of one core used between two marks."""
        wall = max(end.wall - start.wall, 1e-9)
        return 100.0 * (end.cpu - start.cpu) / wall


# --- the emulator -----------------------------------------------------------------------


class EmulatorControl:
    """Async access to the emulator's control API (the request log) without blocking the
    benchmark's event loop."""

    def __init__(self, control_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=control_url, timeout=30.0)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def requests(self) -> list[dict[str, Any]]:
        resp = await self.http.get("/emulator/v1/requests")
        resp.raise_for_status()
        found: list[dict[str, Any]] = resp.json()["requests"]
        return found

    async def clear_requests(self) -> None:
        resp = await self.http.delete("/emulator/v1/requests")
        resp.raise_for_status()

    async def queue_outcomes(self, task_id: str, outcomes: list[dict[str, Any]]) -> None:
        resp = await self.http.put(
            f"/emulator/v1/tasks/{task_id}/outcomes", json={"outcomes": outcomes}
        )
        resp.raise_for_status()


def count_writes(requests: list[dict[str, Any]], needle: str = "") -> int:
    """Writes (POST/PATCH/PUT/DELETE) in a request log, optionally only paths with `needle`."""
    return sum(1 for r in requests if r["method"] in WRITE_METHODS and needle in r["path"])


def requests_between(
    requests: list[dict[str, Any]], start: float, end: float
) -> list[dict[str, Any]]:
    """Requests whose arrival time (emulator wall clock) lies in [start, end)."""
    return [r for r in requests if start <= parse_rfc3339(r["time"]) < end]


# --- the operator's metrics -------------------------------------------------------------


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of a Prometheus sample over series matching `labels` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        series, _, label_text = head.partition("{")
        if series != name:
            continue
        if labels and any(f'{k}="{v}"' not in label_text for k, v in labels.items()):
            continue
        total += float(value)
    return total


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10.0) as client:
        resp = await client.get(url)
    resp.raise_for_status()
    return resp.text


# --- the machine ------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _binary_version(path: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            [str(path), *args], capture_output=True, text=True, timeout=20, check=False
        )
    except OSError:
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine() -> dict[str, Any]:
    """Where the figures were taken: CPU, memory, load, OS."""
    load = os.getloadavg()
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "logical_cpus": psutil.cpu_count(logical=True),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / (1024**3), 1),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def versions(apiserver_version: dict[str, Any], etcd: Path) -> dict[str, str]:
    """Python, the libraries on the operator's hot path, the control plane."""
    import kapacitor_operator

    return {
        "python": sys.version.split()[0],
        "kapacitor_operator": kapacitor_operator.__version__,
        "kopf": _version_of("kopf"),
        "kubernetes_client": _version_of("kubernetes"),
        "httpx": _version_of("httpx"),
        "aiohttp": _version_of("aiohttp"),
        "pydantic": _version_of("pydantic"),
        "psutil": _version_of("psutil"),
        "kube_apiserver": str(apiserver_version.get("gitVersion", "unknown")),
        "etcd": _binary_version(etcd, "--version"),
    }
