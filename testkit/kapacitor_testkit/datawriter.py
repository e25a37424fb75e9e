"""A small built-in metrics source, so the playground's stream tasks have data to process.

Without InfluxDB or Telegraf, a Kapacitor's stream tasks see no points: the examples would
be defined and "executing" yet never do anything. :class:`DataWriter` is a thread that
every few seconds writes Telegraf-like points to ``/kapacitor/v1/write?db=telegraf&rp=
autogen``, the database and retention policy the examples subscribe to:

- ``cpu`` (tags ``host``, ``cpu``: ``cpu-total`` and one per core): ``usage_idle``,
  ``usage_user``, ``usage_system``, ``usage_iowait``, summing to 100;
- ``mem`` (tag ``host``): ``used_percent``, ``available_percent``, ``total``, ``used``,
  ``available``;
- ``disk`` (tags ``host``, ``path``, ``device``, ``fstype``): ``used_percent``, ``total``,
  ``used``, ``free``.

Values follow slow waves plus noise, and each host has an occasional spike (by default
20 s every 3 minutes, at its own phase) that crosses the examples' alert thresholds: CPU
idle below 10 % (examples/01) and disk use above 95 % (examples/03), so their alerts
really fire. :func:`sample` is a pure function of the time and a seeded generator, which
is what the unit tests pin.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .lineprotocol import Point, render_lines

log = logging.getLogger(__name__)

NS = 1_000_000_000
GIB = 1 << 30


@dataclass(frozen=True)
class Shape:
    """What is written: the hosts, their cores and disks, and when spikes happen."""

    hosts: tuple[str, ...] = ("web-1", "db-1")
    cores: int = 2
    paths: tuple[str, ...] = ("/", "/var")
    spike_period: float = 180.0
    """Seconds between the starts of two spikes of one host."""
    spike_seconds: float = 20.0
    """How long a spike lasts."""
    mem_total: int = 16 * GIB
    disk_total: int = 200 * GIB


def phase(key: str, period: float) -> float:
    """A stable offset in ``[0, period)`` for a series, so hosts spike at different times."""
    return (zlib.crc32(key.encode()) % 1000) / 1000 * period


def spiking(t: float, host: str, shape: Shape) -> bool:
    """Whether ``host`` is in a spike at ``t`` (seconds since the epoch)."""
    return (t + phase(host, shape.spike_period)) % shape.spike_period < shape.spike_seconds


def wave(t: float, period: float, key: str) -> float:
    """A slow wave in ``[-1, 1]`` with a period in seconds and a phase per series."""
    return math.sin(2 * math.pi * (t + phase(key, period)) / period)


def _clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    return round(min(high, max(low, value)), 2)


def _cpu(t: float, host: str, cpu: str, spike: bool, rng: random.Random) -> dict[str, float]:
    if spike:
        user, system = 82 + rng.uniform(0, 6), 9 + rng.uniform(0, 2)
    else:
        user = 22 + 14 * wave(t, 600, host + cpu) + rng.gauss(0, 3)
        system = 6 + 2 * wave(t, 900, host) + rng.gauss(0, 1)
    user, system = _clamp(user, 0, 90), _clamp(system, 0, 10)
    iowait = _clamp(abs(rng.gauss(0.8, 0.5)), 0, 100 - user - system)
    return {
        "usage_idle": _clamp(100 - user - system - iowait),
        "usage_user": user,
        "usage_system": system,
        "usage_iowait": iowait,
    }


Fields = dict[str, float | int]


def _mem(t: float, host: str, spike: bool, rng: random.Random, total: int) -> Fields:
    used_percent = 93 + rng.uniform(0, 4) if spike else 58 + 12 * wave(t, 1200, host)
    used_percent = _clamp(used_percent + rng.gauss(0, 1), 1, 99.5)
    used = int(total * used_percent / 100)
    return {
        "used_percent": used_percent,
        "available_percent": round(100 - used_percent, 2),
        "total": total,
        "used": used,
        "available": total - used,
    }


def _disk(t: float, key: str, spike: bool, rng: random.Random, total: int) -> Fields:
    used_percent = 96.5 + rng.uniform(0, 2.5) if spike else 72 + 10 * wave(t, 3600, key)
    used_percent = _clamp(used_percent + rng.gauss(0, 0.3), 1, 99.9)
    used = int(total * used_percent / 100)
    return {"used_percent": used_percent, "total": total, "used": used, "free": total - used}


def sample(time_ns: int, rng: random.Random, shape: Shape = Shape()) -> list[Point]:
    """Every point of one write at ``time_ns``: cpu, mem and disk for each host."""
    t = time_ns / NS
    points: list[Point] = []
    for host in shape.hosts:
        spike = spiking(t, host, shape)
        for cpu in ("cpu-total", *(f"cpu{i}" for i in range(shape.cores))):
            fields = _cpu(t, host, cpu, spike, rng)
            points.append(Point("cpu", fields, time_ns, {"host": host, "cpu": cpu}))
        mem = _mem(t, host, spike, rng, shape.mem_total)
        points.append(Point("mem", mem, time_ns, {"host": host}))
        for index, path in enumerate(shape.paths):
            tags = {"host": host, "path": path, "device": f"vda{index + 1}", "fstype": "ext4"}
            # Only the first disk fills up in a spike: one alert per host, not one per path.
            fields = _disk(t, host + path, spike and index == 0, rng, shape.disk_total)
            points.append(Point("disk", fields, time_ns, tags))
    return points


class DataWriter:
    """Writes :func:`sample` points to a Kapacitor every ``interval`` seconds, in a thread.

    Errors (Kapacitor restarting, a refused write) are logged and counted, never raised
    from the thread: the next tick tries again. ``written`` counts points per
    measurement that Kapacitor accepted (204).
    """

    def __init__(
        self,
        base_url: str,
        *,
        interval: float = 5.0,
        db: str = "telegraf",
        rp: str = "autogen",
        shape: Shape = Shape(),
        seed: int | None = None,
        clock: Callable[[], int] = time.time_ns,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/kapacitor/v1/write"
        self.params = {"db": db, "rp": rp, "precision": "ns"}
        self.interval = interval
        self.shape = shape
        self.clock = clock
        self.rng = random.Random(seed)
        self.written: Counter[str] = Counter()
        self.batches = 0
        self.errors = 0
        self.last_error: str | None = None
        self._client = httpx.Client(timeout=10.0, auth=auth, transport=transport)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def write_once(self, time_ns: int | None = None) -> list[Point]:
        """Write one batch stamped ``time_ns`` (default now) and return its points.

        Raises:
            httpx.HTTPError: Kapacitor could not be reached or refused the write.
        """
        with self._lock:
            points = sample(self.clock() if time_ns is None else time_ns, self.rng, self.shape)
            resp = self._client.post(self.url, params=self.params, content=render_lines(points))
            resp.raise_for_status()
            self.written.update(p.measurement for p in points)
            self.batches += 1
            return points

    def _loop(self) -> None:
        while True:
            try:
                self.write_once()
            except httpx.HTTPError as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("data writer: %s (retrying in %ss)", self.last_error, self.interval)
            if self._stop.wait(self.interval):
                return

    def start(self) -> None:
        """Start writing in a daemon thread (the first batch goes out at once)."""
        assert self._thread is None, "already started"
        self._thread = threading.Thread(target=self._loop, name="data-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the thread (after the batch in flight, if any) and close the client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._client.close()

    def __enter__(self) -> DataWriter:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
