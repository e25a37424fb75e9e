"""The KapacitorAlertHandler decision, as a table: (last write, observation) -> plan."""

from __future__ import annotations

import pytest

from kapacitor_operator.reconcile.alert_handler_decide import (
    Conflict,
    Create,
    LastWrite,
    Nothing,
    Observed,
    Plan,
    Update,
    decide,
)

URL = "http://k:9092"
NEVER = LastWrite(None, None, None)
WROTE = LastWrite("D", "S", URL)  # we wrote definition D; Kapacitor answered S

CASES: list[tuple[str, LastWrite, Observed | None, str | None, Plan]] = [
    ("new resource, no handler", NEVER, None, None, Create(vanished=False)),
    ("ours and unchanged, gone: drift", WROTE, None, None, Create(vanished=True)),
    ("ours, gone, but spec changed too", LastWrite("OLD", "S", URL), None, None, Create()),
    (
        "ours on another server, absent here",
        LastWrite("D", "S", "http://old"),
        None,
        None,
        Create(),
    ),
    ("in sync", WROTE, Observed("S"), None, Nothing()),
    ("spec changed", LastWrite("OLD", "S", URL), Observed("S"), None, Update("spec")),
    ("changed in Kapacitor", WROTE, Observed("X"), None, Update("drift")),
    ("spec and server changed", LastWrite("OLD", "S", URL), Observed("X"), None, Update("spec")),
    ("hand-made, already as declared", NEVER, Observed("D"), None, Nothing(adopted=True)),
    ("hand-made, different", NEVER, Observed("X"), None, Update("adopt")),
    ("topic deleted: handler detached", WROTE, Observed("S", None), None, Update("reattach")),
    (
        "topic recreated: its count went down",
        LastWrite("D", "S", URL, topic_collected=5),
        Observed("S", 1),
        None,
        Update("reattach"),
    ),
    (
        "count went up: attached",
        LastWrite("D", "S", URL, topic_collected=5),
        Observed("S", 7),
        None,
        Nothing(),
    ),
    ("count unknown before", WROTE, Observed("S", 0), None, Nothing()),
    ("hand-made as declared, detached", NEVER, Observed("D", None), None, Update("reattach")),
    (
        "spec change re-attaches anyway",
        LastWrite("OLD", "S", URL),
        Observed("S", None),
        None,
        Update("spec"),
    ),
    ("claimed by another resource", WROTE, None, "ns/other", Conflict("ns/other")),
    ("claimed, even when in sync", WROTE, Observed("S"), "ns/other", Conflict("ns/other")),
]


@pytest.mark.parametrize(
    ("case", "last", "observed", "claimed_by", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_decide(
    case: str, last: LastWrite, observed: Observed | None, claimed_by: str | None, expected: Plan
) -> None:
    plan = decide(desired_hash="D", url=URL, observed=observed, last=last, claimed_by=claimed_by)
    assert plan == expected
