"""Alert topics, their events and the topic handlers, as ``services/alert`` keeps them.

Two registries that Kapacitor keeps apart, and the emulator too:

- **topics** (``alert.Topics``): a topic exists once something registered a handler on
  it or an event was collected for it; it holds the events' last states and a
  ``collected`` counter. ``DELETE /alerts/topics/<t>`` drops it.
- **handler specs** (``Service.handlers`` + the store): they outlive their topic. After a
  topic is deleted its handlers are still listed and readable, but they are no longer
  *attached*: an alert that recreates the topic reaches none of them, and a new handler
  on the topic is attached alone. Updating a handler (PUT/PATCH) attaches it again; a
  restart of the real server re-attaches all. ``attached`` (and ``delivered``) make this
  visible in ``/emulator/v1/state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LEVEL_NAMES = ("OK", "INFO", "WARNING", "CRITICAL")
_LEVEL_BYTES = "".join(LEVEL_NAMES)
_OFFSETS = (0, 2, 6, 13)


def parse_level(text: str) -> int:
    """``alert.ParseLevel``: upper-cased, then found by position in ``OKINFOWARNINGCRITICAL``.

    So ``""``, ``ok``, ``o`` or ``okinfo`` are OK and ``crit`` is CRITICAL (a quirk of the
    byte search), while ``k`` is rejected.

    Raises:
        ValueError: ``unknown alert level 'X'``.
    """
    upper = text.upper()
    index = _LEVEL_BYTES.find(upper)
    if index in _OFFSETS:
        return _OFFSETS.index(index)
    raise ValueError(f"unknown alert level '{upper}'")


@dataclass
class HandlerSpec:
    """A topic handler as stored: the options exactly as sent (nothing redacted)."""

    id: str
    topic: str
    kind: str
    options: dict[str, Any] | None
    match: str

    def doc(self) -> dict[str, Any]:
        """``json.Marshal(spec)``: the document a JSON Patch applies to."""
        return {
            "id": self.id,
            "topic": self.topic,
            "kind": self.kind,
            "options": self.options,
            "match": self.match,
        }


@dataclass
class HandlerEntry:
    """A registered handler; ``attached`` says whether its topic delivers to it."""

    spec: HandlerSpec
    attached: bool = True
    delivered: int = 0


@dataclass
class EventState:
    """The last state of one alert event in a topic."""

    id: str
    message: str
    details: str
    time: datetime
    duration_ns: int
    level: int


@dataclass
class Topic:
    """An alert topic: event states and the count of collected events."""

    id: str
    events: dict[str, EventState] = field(default_factory=dict)
    collected: int = 0

    @property
    def level(self) -> int:
        """The most severe level among the events (OK when none)."""
        return max((e.level for e in self.events.values()), default=0)


@dataclass
class AlertStore:
    """Topics and handler specs (``handlers[topic][id]``)."""

    topics: dict[str, Topic] = field(default_factory=dict)
    handlers: dict[str, dict[str, HandlerEntry]] = field(default_factory=dict)

    def ensure_topic(self, topic: str) -> Topic:
        """The topic, created empty when missing."""
        return self.topics.setdefault(topic, Topic(topic))

    def register(self, spec: HandlerSpec) -> None:
        """A new handler: its topic exists from now on and delivers to it."""
        self.ensure_topic(spec.topic)
        self.handlers.setdefault(spec.topic, {})[spec.id] = HandlerEntry(spec)

    def replace(self, old_id: str, spec: HandlerSpec) -> None:
        """PUT/PATCH: the old entry goes, the new one (maybe renamed onto another handler,
        which it silently replaces) is attached, recreating the topic if needed."""
        entries = self.handlers.setdefault(spec.topic, {})
        old = entries.pop(old_id, None)
        self.ensure_topic(spec.topic)
        entries[spec.id] = HandlerEntry(spec, delivered=old.delivered if old else 0)

    def delete_topic(self, topic: str) -> None:
        """Drop the topic and its events; its handlers stay, detached."""
        self.topics.pop(topic, None)
        for entry in self.handlers.get(topic, {}).values():
            entry.attached = False

    def collect(self, topic: str, event: EventState) -> int:
        """An alert event: recreate the topic if needed, update the event's state, and
        count a delivery on every attached handler. Returns how many it reached."""
        target = self.ensure_topic(topic)
        target.events[event.id] = event
        target.collected += 1
        reached = 0
        for entry in self.handlers.get(topic, {}).values():
            if entry.attached:
                entry.delivered += 1
                reached += 1
        return reached

    def dump(self) -> dict[str, Any]:
        """The control API's view, with attachment and delivery counts."""
        return {
            "topics": {
                t.id: {
                    "level": LEVEL_NAMES[t.level],
                    "collected": t.collected,
                    "events": sorted(t.events),
                }
                for t in self.topics.values()
            },
            "handlers": {
                topic: {
                    hid: {"kind": e.spec.kind, "attached": e.attached, "delivered": e.delivered}
                    for hid, e in sorted(entries.items())
                }
                for topic, entries in sorted(self.handlers.items())
                if entries
            },
        }
