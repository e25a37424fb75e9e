"""KapacitorTemplate decisions, as a table: (desired, observed, last hash, claims) -> plan."""

from __future__ import annotations

import pytest

from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.reconcile.template_decide import (
    Conflict,
    Create,
    DeleteNow,
    DesiredTemplate,
    LeaveIt,
    Nothing,
    Plan,
    Update,
    Wait,
    decide,
    decide_delete,
    default_template_id,
    tasks_using,
)

SCRIPT = "var m string\nstream|from().measurement(m)"
OTHER = "var m string\nvar x = 1\nstream|from().measurement(m)"
WANT = DesiredTemplate(template_id="ns.t", type="stream", script=SCRIPT)
SAME = TickTemplate(id="ns.t", type="stream", script=SCRIPT)
EDITED = TickTemplate(id="ns.t", type="stream", script=OTHER)
RETYPED = TickTemplate(id="ns.t", type="batch", script=SCRIPT)
BOTH = {"type": "stream", "script": SCRIPT}
H = WANT.definition_hash


@pytest.mark.parametrize(
    ("observed", "last_hash", "holder", "expected"),
    [
        # new resource, template absent: define it (not drift)
        (None, None, None, Create(drift=False)),
        # defined before with this very spec, now gone: drift repair
        (None, H, None, Create(drift=True)),
        # spec changed since and template gone: a plain create
        (None, "old", None, Create(drift=False)),
        # matches: nothing to write
        (SAME, H, None, Nothing()),
        (SAME, None, None, Nothing()),
        # edited behind our back, spec unchanged: drift, both fields sent
        (EDITED, H, None, Update(BOTH, drift=True)),
        # spec changed: an ordinary update
        (EDITED, "old", None, Update(BOTH, drift=False)),
        # type changed in Kapacitor only
        (RETYPED, H, None, Update(BOTH, drift=True)),
        # another resource holds the template: touch nothing
        (SAME, H, "other/ns", Conflict("other/ns")),
        (None, None, "other/ns", Conflict("other/ns")),
    ],
)
def test_decide(
    observed: TickTemplate | None, last_hash: str | None, holder: str | None, expected: Plan
) -> None:
    assert decide(WANT, observed, last_hash=last_hash, holder=holder) == expected


LINKED = {"a": "ns.t", "b": "", "c": "ns.t", "d": "other"}


@pytest.mark.parametrize(
    ("policy", "linked", "expected"),
    [
        ("Delete", {}, DeleteNow()),
        ("Delete", {"b": "", "d": "other"}, DeleteNow()),
        ("Delete", LINKED, Wait(("a", "c"))),
        ("Orphan", LINKED, LeaveIt()),
        ("Orphan", {}, LeaveIt()),
    ],
)
def test_decide_delete(policy: str, linked: dict[str, str], expected: object) -> None:
    assert decide_delete(policy, linked, "ns.t") == expected


def test_tasks_using_and_defaults() -> None:
    assert tasks_using(LINKED, "ns.t") == ["a", "c"]
    assert tasks_using(LINKED, "none") == []
    assert default_template_id("ns", "t") == "ns.t"
    assert WANT.create_body() == {"id": "ns.t", "type": "stream", "script": SCRIPT}
    assert DesiredTemplate("ns.t", "batch", SCRIPT).definition_hash != H
