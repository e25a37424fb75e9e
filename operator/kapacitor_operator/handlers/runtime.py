"""What all handlers share, kept in kopf's memo as `memo.runtime`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.reconcile.taskrun_worker import JobSignals


@dataclass
class Runtime:
    """Long-lived clients and per-object coordination."""

    settings: Settings
    pool: ClientPool
    kube: KubeAPI
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    signals: JobSignals = field(default_factory=JobSignals)

    def lock(self, uid: str) -> asyncio.Lock:
        return self.locks.setdefault(uid, asyncio.Lock())
