"""At most N concurrent Kapacitor runs per server, granted in request order.

Each manual run or retry holds an HTTP connection until the run ends, and Kapacitor
runs every one at once, so an unbounded burst of TaskRuns would exhaust connection pools
(and Kapacitor). Attempts beyond the limit wait, visibly (condition reason Waiting), and
start as slots free up, oldest request first.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RunSlots:
    """Slots per server; a holder is any hashable owner (a TaskRun UID)."""

    limit: int
    held: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    queue: dict[str, OrderedDict[str, Callable[[], None]]] = field(
        default_factory=lambda: defaultdict(OrderedDict)
    )

    def acquire(self, server: str, owner: str, wake: Callable[[], None]) -> bool:
        """Take a slot now, or queue `owner` (woken by `wake` when its turn may have come)."""
        holders = self.held[server]
        if owner in holders:
            return True
        waiting = self.queue[server]
        first_in_line = not waiting or next(iter(waiting)) == owner
        if len(holders) < self.limit and first_in_line:
            holders.add(owner)
            waiting.pop(owner, None)
            return True
        waiting.setdefault(owner, wake)
        return False

    def take(self, server: str, owner: str) -> None:
        """Count a run that is already in flight (found after a restart), even over the limit."""
        self.held[server].add(owner)
        self.queue[server].pop(owner, None)

    def release(self, server: str, owner: str) -> None:
        """Give back a slot (or leave the queue) and wake the next in line."""
        self.held[server].discard(owner)
        waiting = self.queue[server]
        waiting.pop(owner, None)
        if waiting and len(self.held[server]) < self.limit:
            next(iter(waiting.values()))()

    def in_use(self, server: str) -> int:
        return len(self.held.get(server, ()))

    def position(self, server: str, owner: str) -> int:
        """1-based place in the queue (0 when not queued)."""
        for index, name in enumerate(self.queue.get(server, {}), start=1):
            if name == owner:
                return index
        return 0
