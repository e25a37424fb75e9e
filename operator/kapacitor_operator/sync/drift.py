"""Drift detection by server, not by object: one paged list per Kapacitor server per
interval, compared with what the resources declare (their status records what Kapacitor
held after the operator's last write: `status.serverHash`). Only objects that drifted
(changed or missing in Kapacitor, or whose references changed) are queued for a
reconcile; the same list counts what no resource claims (`unmanaged`).

Passes are spread with jitter (each interval is drawn from ±10 % of the configured one,
the first from anywhere in it), so replicas or restarts never make every server list at
once. A restart lists nothing until its first pass.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kapacitor_operator import metrics
from kapacitor_operator.sync.controller import Key, SyncController, key_of, settled

log = logging.getLogger(__name__)

Body = Mapping[str, Any]


class DriftKind(Protocol):
    """What a kind gives the drift pass."""

    kind: str

    def server(self, body: Body) -> str | None:
        """The Kapacitor server URL the object names (None: not checked)."""

    async def list_server(self, server: str, bodies: list[Body]) -> Any:
        """Everything the kind mirrors on one server, read by paged lists with a client
        made for one of `bodies` (their connection). Raises on failure (logged, retried
        next pass: the objects' own reconciles report their errors)."""

    async def drifted(self, body: Body, listing: Any) -> bool:
        """Whether the listing (or a reference of the object) differs from its status."""

    def unmanaged(self, listing: Any, claimed: set[tuple[str, str]]) -> dict[str, int]:
        """Objects in the listing no resource claims, per API; `claimed` holds
        (API, identity) of every claim on that server."""


@dataclass
class DriftScanner:
    """Runs drift passes for one controller."""

    controller: SyncController
    kind: DriftKind
    interval: float
    jitter: float = 0.1
    _task: asyncio.Task[None] | None = None
    unmanaged_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.kind.kind} drift")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        await self.controller.primed.wait()
        await asyncio.sleep(random.uniform(0.1, 1.0) * self.interval)
        while True:
            try:
                await self.run_once()
            except Exception:  # a bug must not end drift detection
                log.exception("%s drift pass failed", self.kind.kind)
            spread = random.uniform(1 - self.jitter, 1 + self.jitter)
            await asyncio.sleep(self.interval * spread)

    def candidates(self) -> tuple[dict[str, list[tuple[Key, Body]]], list[Key]]:
        """Objects to compare with their server's listing, by server (settled, not being
        deleted, holding their claim), and objects still failing for a reason a person
        may have fixed meanwhile (a ConfigMap or Secret created): those are retried at
        least once per pass, whatever their backoff."""
        by_server: dict[str, list[tuple[Key, Body]]] = {}
        failing: list[Key] = []
        claims = self.controller.claims
        for key, body in list(self.controller.bodies.items()):
            if key not in self.controller.watched:
                continue  # known from priming only: its watch event is still to come
            if (body.get("metadata") or {}).get("deletionTimestamp"):
                continue
            server = self.kind.server(body)
            if server is None or claims.holder(self.controller.kind.claim(body)) != key:
                continue
            if not settled(body):
                failing.append(key)
                continue
            by_server.setdefault(server, []).append((key, body))
        return by_server, failing

    async def run_once(self) -> int:
        """One pass over every server; returns how many objects were queued."""
        by_server, failing = self.candidates()
        for key in failing:
            self.controller.queue.add(key)
        queued = 0
        for server, objects in by_server.items():
            queued += await self._server_pass(server, objects)
        totals: dict[str, int] = {}
        for counts in self.unmanaged_counts.values():
            for api, count in counts.items():
                totals[api] = totals.get(api, 0) + count
        for api, count in totals.items():
            metrics.UNMANAGED.labels(self.kind.kind, api).set(count)
        return queued

    async def _server_pass(self, server: str, objects: list[tuple[Key, Body]]) -> int:
        try:
            listing = await self.kind.list_server(server, [body for _, body in objects])
        except Exception as exc:  # reported by the objects' own reconciles
            metrics.DRIFT_PASSES.labels(self.kind.kind, "error").inc()
            log.info("%s drift pass of %s skipped: %s", self.kind.kind, server, exc)
            return 0
        metrics.DRIFT_PASSES.labels(self.kind.kind, "ok").inc()
        claimed = {
            (api, ident) for (url, api, ident) in self.controller.claims.by_claim if url == server
        }
        self.unmanaged_counts[server] = self.kind.unmanaged(listing, claimed)
        queued = 0
        for key, _ in objects:
            current = self.controller.bodies.get(key)
            if current is None or key_of(current) != key:
                continue
            try:
                drifted = await self.kind.drifted(current, listing)
            except Exception as exc:  # the reconcile it gets says what is wrong
                log.info("%s %s/%s: drift check failed: %s", self.kind.kind, *key, exc)
                drifted = True
            if drifted:
                queued += 1
                self.controller.enqueue(key)
        if queued:
            metrics.DRIFTED.labels(self.kind.kind).inc(queued)
        return queued
