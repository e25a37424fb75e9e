"""A work queue of object keys, as Kubernetes controllers have: each key is worked on by
one worker at a time, a key added while it is being worked on is worked on again right
after, and a key may be added after a delay (a retry, a backoff).

Events add keys; the same key added many times before a worker gets to it is one piece of
work. So a burst of changes to one object costs one reconcile, and 10,000 objects cost
10,000 small entries, not 10,000 coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Deduplicating FIFO of keys with delayed adds; `get()` waits for the next key."""

    def __init__(self) -> None:
        self._ready: OrderedDict[K, None] = OrderedDict()
        self._active: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._order = itertools.count()
        self._changed = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._ready)

    def add(self, key: K) -> None:
        """Work on `key` as soon as a worker is free (once, however often it is added)."""
        if key in self._active:
            self._dirty.add(key)
            return
        if key not in self._ready:
            self._ready[key] = None
            self._changed.set()

    def add_after(self, key: K, delay: float) -> None:
        """Work on `key` in `delay` seconds (an earlier pending time wins)."""
        if delay <= 0:
            self.add(key)
            return
        due = asyncio.get_running_loop().time() + delay
        if self._due.get(key, float("inf")) <= due:
            return
        self._due[key] = due
        heapq.heappush(self._timers, (due, next(self._order), key))
        self._changed.set()

    def forget(self, key: K) -> None:
        """Drop pending work on `key` (the object is gone)."""
        self._ready.pop(key, None)
        self._due.pop(key, None)
        self._dirty.discard(key)

    def _promote(self, now: float) -> float | None:
        """Move due timers to the ready queue; seconds until the next one, if any."""
        while self._timers:
            due, _, key = self._timers[0]
            if self._due.get(key) != due:
                heapq.heappop(self._timers)  # superseded or forgotten
                continue
            if due > now:
                return due - now
            heapq.heappop(self._timers)
            del self._due[key]
            self.add(key)
        return None

    async def get(self) -> K | None:
        """The next key to work on (None once the queue is closed)."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            wait = self._promote(loop.time())
            if self._ready:
                key, _ = self._ready.popitem(last=False)
                self._active.add(key)
                return key
            self._changed.clear()
            with contextlib.suppress(TimeoutError):  # a timer is due
                await asyncio.wait_for(self._changed.wait(), timeout=wait)
        return None

    def done(self, key: K) -> None:
        """A worker finished `key`; if it was added meanwhile, it is queued again."""
        self._active.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def close(self) -> None:
        """Wake every waiting `get()` with None."""
        self._closed = True
        self._changed.set()

    @property
    def pending(self) -> int:
        """Keys queued or being worked on (delayed keys aside)."""
        return len(self._ready) + len(self._active)

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing being worked on (timers may be pending)."""
        return not self._ready and not self._active
