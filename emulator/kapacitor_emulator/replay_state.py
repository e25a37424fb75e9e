"""Recordings and replays as ``services/replay`` keeps them, plus the emulator's knobs.

Both are listed newest first through a ``date`` index whose key is the object's date in
whole RFC3339 seconds followed by its ID, read backwards: so within one second the
higher ID comes first, and the date is the creation time while running and the end time
once finished. Outcomes queued through the control API decide how the next recordings
and replays end (``finished``, ``failed`` with an error, or ``hang`` until released).
"""

from __future__ import annotations

import asyncio
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kapacitor_emulator.gojson import format_rfc3339, format_rfc3339nano
from kapacitor_emulator.lineproto import Point

BASE = "/kapacitor/v1"


def _number(value: float) -> float | int:
    """A float64 as Go writes it: ``0`` and ``1``, not ``0.0``."""
    return int(value) if value.is_integer() else value


@dataclass
class Outcome:
    """How a recording or replay ends: ``finished``, ``failed`` (with ``error``) or
    ``hang`` (stays running until ``/emulator/v1/.../finish``), after ``delay_ms``."""

    status: str = "finished"
    error: str = ""
    delay_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        """The control API's representation."""
        return {"status": self.status, "error": self.error, "delayMs": self.delay_ms}


@dataclass
class Recording:
    """A recording; stream recordings also keep what they capture while running."""

    id: str
    type: str
    date: datetime
    status: str = "running"
    size: int = 0
    error: str = ""
    progress: float = 0.0
    dbrps: list[tuple[str, str]] = field(default_factory=list)
    measurements: list[str] = field(default_factory=list)
    stop_ns: int | None = None
    points: list[tuple[str, str, Point]] = field(default_factory=list)
    batches: int = 0
    file: bool = True
    empty_file: bool = False
    outcome: Outcome | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        """The API's recording object."""
        return {
            "link": {"rel": "self", "href": f"{BASE}/recordings/{self.id}"},
            "id": self.id,
            "type": self.type,
            "size": self.size,
            "date": format_rfc3339nano(self.date),
            "error": self.error,
            "status": self.status,
            "progress": _number(self.progress),
        }

    def captures(self, db: str, rp: str, point: Point) -> bool:
        """Whether a written point reaches this stream recording's fork."""
        if self.type != "stream" or self.status != "running" or self.stop_ns is None:
            return False
        if (db, rp) not in self.dbrps:
            return False
        return "" in self.measurements or point.measurement in self.measurements

    def content(self) -> bytes:
        """What the real server writes to the recording file (before compression)."""
        return "".join(f"{db}\n{rp}\n{p.line()}\n" for db, rp, p in self.points).encode()

    def data_size(self) -> int:
        """Size of the recording file. Stream: Go's gzip of :meth:`content`, approximated
        with zlib (exact when empty: 23 bytes). Batch: a zip with one member per query."""
        if not self.file:
            return -1
        if self.empty_file:
            return 0
        if self.type == "stream":
            deflated = zlib.compressobj(6, zlib.DEFLATED, -15)
            body = deflated.compress(self.content()) + deflated.flush()
            return 10 + len(body) + 8 + 3
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for index in range(self.batches):
                archive.writestr(str(index), b"")
        return len(buffer.getvalue())


@dataclass
class Replay:
    """A replay of a recording (or of live batch/query data) against a task."""

    id: str
    task: str
    recording: str
    recording_time: bool
    clock: str
    date: datetime
    status: str = "running"
    error: str = ""
    progress: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        """The API's replay object (``stats`` only once finished)."""
        return {
            "link": {"rel": "self", "href": f"{BASE}/replays/{self.id}"},
            "id": self.id,
            "task": self.task,
            "recording": self.recording,
            "recording-time": self.recording_time,
            "clock": self.clock,
            "date": format_rfc3339nano(self.date),
            "error": self.error,
            "status": self.status,
            "progress": _number(self.progress),
            "stats": self.stats if self.status == "finished" else {},
        }


def date_order(items: dict[str, Any]) -> list[str]:
    """IDs newest first, as the reversed ``date/<RFC3339 seconds>/<id>`` index lists them."""
    keys = {item_id: f"{format_rfc3339(item.date)}/{item_id}" for item_id, item in items.items()}
    return sorted(keys, key=lambda i: keys[i].encode(), reverse=True)


@dataclass
class ReplayStore:
    """Recordings, replays and the control API's outcome queues (by ID, then in order)."""

    recordings: dict[str, Recording] = field(default_factory=dict)
    replays: dict[str, Replay] = field(default_factory=dict)
    recording_outcomes: list[Outcome] = field(default_factory=list)
    replay_outcomes: list[Outcome] = field(default_factory=list)
    outcomes_by_id: dict[str, Outcome] = field(default_factory=dict)

    def next_outcome(self, kind: str, item_id: str) -> Outcome | None:
        """The outcome for a new recording/replay: one set for its ID, else the queue's."""
        key = f"{kind}/{item_id}"
        if key in self.outcomes_by_id:
            return self.outcomes_by_id.pop(key)
        queue = self.recording_outcomes if kind == "recordings" else self.replay_outcomes
        return queue.pop(0) if queue else None

    def dump(self) -> dict[str, Any]:
        """The control API's view."""
        return {
            "recordings": {
                r.id: {**r.to_json(), "points": len(r.points)} for r in self.recordings.values()
            },
            "replays": {r.id: r.to_json() for r in self.replays.values()},
            "recordingOutcomes": [o.to_json() for o in self.recording_outcomes],
            "replayOutcomes": [o.to_json() for o in self.replay_outcomes],
            "outcomesById": {k: o.to_json() for k, o in self.outcomes_by_id.items()},
        }
