"""The one decision of a KapacitorAlertHandler reconcile, as a pure function.

`decide(desired, observed, last, claimed_by)` -> Create | Update | Nothing | Conflict.
Inputs are fingerprints, never option values (see alert_handler_desired), so the table
in tests/unit/test_alert_handler_decide.py covers every case without a server.

Drift is judged against what Kapacitor returned after the operator's own last write
(`last.server_hash`), not against the spec's text: so a server that rewrites or redacts
options never looks drifted, and no secret has to be read back.

A handler can also be *detached*: deleting a topic keeps its handlers listed and
readable, unchanged, but they no longer receive its alerts, even after the topic is
recreated (by an alert or another handler), until they are replaced (docs/kapacitord.md,
fact 25). Kapacitor shows no attachment, so two signs are used: the topic is absent while
the handler exists, or the topic's `collected` count went down since the last check (a
recreated topic counts from zero). Either way the handler is PUT again, which attaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Observed:
    """The handler as Kapacitor holds it, reduced to what decisions need."""

    fingerprint: str
    """Fingerprint of (kind, match, options) as returned, masked like the desired one."""
    topic_collected: int | None = 0
    """The topic's `collected` count; None when the topic does not exist."""


@dataclass(frozen=True)
class LastWrite:
    """What the status remembers of the operator's last write."""

    definition_hash: str | None
    server_hash: str | None
    kapacitor_url: str | None
    topic_collected: int | None = None
    """The topic's `collected` count at the last check, if known."""


@dataclass(frozen=True)
class Create:
    """POST the handler. `vanished`: it was ours and is gone (drift)."""

    vanished: bool = False


@dataclass(frozen=True)
class Update:
    """PUT the whole handler, for `why`."""

    why: Literal["spec", "drift", "adopt", "reattach"]


@dataclass(frozen=True)
class Nothing:
    """Kapacitor already holds the handler as declared. `adopted`: first sight of it."""

    adopted: bool = False


@dataclass(frozen=True)
class Conflict:
    """Another resource manages this handler: touch nothing."""

    holder: str


Plan = Create | Update | Nothing | Conflict


def decide(
    *,
    desired_hash: str,
    url: str,
    observed: Observed | None,
    last: LastWrite,
    claimed_by: str | None,
) -> Plan:
    """What to do so Kapacitor holds the desired handler."""
    if claimed_by is not None:
        return Conflict(claimed_by)
    ours = last.server_hash is not None and last.kapacitor_url == url
    if observed is None:
        # Ours, unchanged since we wrote it, and gone: deleted behind our back, or its
        # topic was deleted (which takes its handlers with it) and perhaps recreated.
        return Create(vanished=ours and last.definition_hash == desired_hash)
    if not ours:
        # Never written by this resource (a hand-made handler, or our own create whose
        # status write was lost): keep it when it already says what the spec says.
        if observed.fingerprint != desired_hash:
            return Update("adopt")
        return Update("reattach") if is_detached(observed, None) else Nothing(adopted=True)
    if last.definition_hash != desired_hash:
        return Update("spec")
    if observed.fingerprint != last.server_hash:
        return Update("drift")
    if is_detached(observed, last.topic_collected):
        return Update("reattach")
    return Nothing()


def is_detached(observed: Observed, last_collected: int | None) -> bool:
    """Whether the handler's topic was deleted (and perhaps recreated) since last seen."""
    if observed.topic_collected is None:
        return True
    return last_collected is not None and observed.topic_collected < last_collected
