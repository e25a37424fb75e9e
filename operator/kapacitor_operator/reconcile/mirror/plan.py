"""What a kind's decide function returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Create:
    """The object is missing in Kapacitor: create it."""

    drift: str = ""
    """When the object had been synced and the spec did not change: what happened."""


@dataclass(frozen=True)
class Update:
    """The object differs: change these fields (the kind knows how)."""

    changes: Mapping[str, Any] = field(default_factory=dict)
    drift: str = ""


@dataclass(frozen=True)
class Recreate:
    """The object differs in a way an update cannot fix: delete and create it."""

    drift: str = ""


@dataclass(frozen=True)
class Nothing:
    """Kapacitor holds the object as declared."""


Plan = Create | Update | Recreate | Nothing


@dataclass(frozen=True)
class Unknown:
    """Not looked at: an object never synced is most likely new, so the kind creates it
    at once and only reads it back when Kapacitor says it exists (apply-to-Ready latency)."""


UNKNOWN = Unknown()


class AlreadyExists(Exception):
    """An optimistic create found the object there: observe it and decide again."""
