"""An adjustable wall clock.

Run history has a 14-day window, JWTs expire and schedules fire at wall-clock times; the
control API can shift this clock so tests exercise those without waiting. Durations the
emulator sleeps (run lengths, latency faults) use the event loop's monotonic clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC, optionally shifted by an offset."""

    def __init__(self, offset: timedelta | None = None) -> None:
        self.offset = offset or timedelta(0)

    def now(self) -> datetime:
        """The current (shifted) time, timezone-aware UTC."""
        return datetime.now(UTC) + self.offset


class FrozenClock(Clock):
    """A clock that only moves when told to; for unit tests."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self.current = start

    def now(self) -> datetime:
        """The frozen time plus any offset."""
        return self.current + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the frozen time forward."""
        self.current += delta
