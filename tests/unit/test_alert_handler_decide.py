"""The KapacitorAlertHandler decision, as a table: (last write, observation) -> plan of
the shared driver, with the drift text that becomes a DriftRepaired Event."""

from __future__ import annotations

import pytest

from kapacitor_operator.reconcile.alert_handler_decide import (
    Adopted,
    LastWrite,
    Observed,
    Replace,
    decide,
)
from kapacitor_operator.reconcile.mirror.plan import Create, Nothing, Plan, Update

URL = "http://k:9092"
NEVER = LastWrite(None, None, None)
WROTE = LastWrite("D", "S", URL)  # we wrote definition D; Kapacitor answered S
WHAT = "Handler h on topic t"
GONE = f"{WHAT} was gone from Kapacitor (deleted behind the operator's back); re-created."
CHANGED = f"{WHAT} was changed in Kapacitor; restored the spec."
DETACHED = (
    f"{WHAT} was detached: its topic was deleted in Kapacitor (and perhaps recreated), which "
    "stops delivery to existing handlers; replaced it to attach it again."
)

CASES: list[tuple[str, LastWrite, Observed | None, Plan]] = [
    ("new resource, no handler", NEVER, None, Create()),
    ("ours and unchanged, gone: drift", WROTE, None, Create(drift=GONE)),
    ("ours, gone, but spec changed too", LastWrite("OLD", "S", URL), None, Create()),
    ("ours on another server, absent here", LastWrite("D", "S", "http://old"), None, Create()),
    ("in sync", WROTE, Observed("S"), Nothing()),
    ("spec changed", LastWrite("OLD", "S", URL), Observed("S"), Replace(why="spec")),
    ("changed in Kapacitor", WROTE, Observed("X"), Replace(why="drift", drift=CHANGED)),
    ("spec and server changed", LastWrite("OLD", "S", URL), Observed("X"), Replace(why="spec")),
    ("hand-made, already as declared", NEVER, Observed("D"), Adopted()),
    ("hand-made, different", NEVER, Observed("X"), Replace(why="adopt")),
    (
        "ours on another server, found here",
        LastWrite("D", "S", "http://old"),
        Observed("D"),
        Adopted(),
    ),
    (
        "topic deleted: handler detached",
        WROTE,
        Observed("S", None),
        Replace(why="reattach", drift=DETACHED),
    ),
    (
        "topic recreated: its count went down",
        LastWrite("D", "S", URL, topic_collected=5),
        Observed("S", 1),
        Replace(why="reattach", drift=DETACHED),
    ),
    (
        "count went up: attached",
        LastWrite("D", "S", URL, topic_collected=5),
        Observed("S", 7),
        Nothing(),
    ),
    ("count unknown before", WROTE, Observed("S", 0), Nothing()),
    (
        "hand-made as declared, detached",
        NEVER,
        Observed("D", None),
        Replace(why="reattach", drift=DETACHED),
    ),
    (
        "spec change re-attaches anyway",
        LastWrite("OLD", "S", URL),
        Observed("S", None),
        Replace(why="spec"),
    ),
]


@pytest.mark.parametrize(("case", "last", "observed", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decide(case: str, last: LastWrite, observed: Observed | None, expected: Plan) -> None:
    plan = decide(desired_hash="D", url=URL, observed=observed, last=last, what=WHAT)
    assert plan == expected
    assert type(plan) is type(expected)  # Adopted is a Nothing worth an Event


def test_adopted_is_a_nothing_and_replace_an_update() -> None:
    assert isinstance(Adopted(), Nothing)
    assert isinstance(Replace(why="adopt"), Update)
    assert Adopted() != Nothing()
