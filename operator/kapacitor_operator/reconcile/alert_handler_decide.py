"""The one decision of a KapacitorAlertHandler reconcile, as a pure function.

`decide(desired_hash, url, observed, last, what)` -> a plan of the shared driver
(reconcile/mirror/plan.py): Create, Replace (an Update: Kapacitor's PUT replaces the whole
handler), Nothing or Adopted (a Nothing worth an Event). A plan that repairs drift says
so in its `drift` text, which the driver turns into a `DriftRepaired` Event. Inputs are
fingerprints, never option values (see alert_handler_desired), so the table in
tests/unit/test_alert_handler_decide.py covers every case without a server. Claims are
the driver's: a resource whose handler another resource manages never gets here.

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

from kapacitor_operator.reconcile.mirror.plan import Create, Nothing, Plan, Update

Why = Literal["spec", "drift", "adopt", "reattach"]


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
class Replace(Update):
    """PUT the whole handler, for `why`."""

    why: Why = "spec"


@dataclass(frozen=True)
class Adopted(Nothing):
    """Kapacitor already holds the handler as declared, and this is the first sight of it."""


def decide(
    *,
    desired_hash: str,
    url: str,
    observed: Observed | None,
    last: LastWrite,
    what: str,
) -> Plan:
    """What to do so Kapacitor holds the desired handler; `what` names it in drift texts
    ("Handler h on topic t")."""
    ours = last.server_hash is not None and last.kapacitor_url == url
    if observed is None:
        # Ours, unchanged since we wrote it, and gone: deleted behind our back, or its
        # topic was deleted (which takes its handlers with it) and perhaps recreated.
        if ours and last.definition_hash == desired_hash:
            return Create(
                drift=f"{what} was gone from Kapacitor (deleted behind the operator's back); "
                "re-created."
            )
        return Create()
    if not ours:
        # Never written by this resource (a hand-made handler, or our own create whose
        # status write was lost): keep it when it already says what the spec says.
        if observed.fingerprint != desired_hash:
            return Replace(why="adopt")
        return _reattach(what) if is_detached(observed, None) else Adopted()
    if last.definition_hash != desired_hash:
        return Replace(why="spec")
    if observed.fingerprint != last.server_hash:
        return Replace(why="drift", drift=f"{what} was changed in Kapacitor; restored the spec.")
    if is_detached(observed, last.topic_collected):
        return _reattach(what)
    return Nothing()


def _reattach(what: str) -> Replace:
    return Replace(
        why="reattach",
        drift=f"{what} was detached: its topic was deleted in Kapacitor (and perhaps "
        "recreated), which stops delivery to existing handlers; replaced it to attach it again.",
    )


def is_detached(observed: Observed, last_collected: int | None) -> bool:
    """Whether the handler's topic was deleted (and perhaps recreated) since last seen."""
    if observed.topic_collected is None:
        return True
    return last_collected is not None and observed.topic_collected < last_collected
