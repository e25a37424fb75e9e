"""set_condition is pure and keeps lastTransitionTime unless status flips."""

from __future__ import annotations

from kapacitor_operator import conditions as c


def test_new_condition_is_appended_with_now() -> None:
    conds = c.set_condition(
        None, type=c.READY, status="True", reason="Executing", message="ok", now="T1", generation=1
    )
    assert len(conds) == 1
    assert conds[0].lastTransitionTime == "T1"
    assert conds[0].observedGeneration == 1


def test_same_status_keeps_transition_time_but_updates_reason() -> None:
    first = c.set_condition(
        None, type=c.READY, status="False", reason="A", message="a", now="T1", generation=1
    )
    second = c.set_condition(
        first, type=c.READY, status="False", reason="B", message="b", now="T2", generation=2
    )
    assert second[0].lastTransitionTime == "T1"
    assert (second[0].reason, second[0].observedGeneration) == ("B", 2)
    assert first[0].reason == "A", "input must not be mutated"


def test_flip_moves_transition_time_and_keeps_other_conditions() -> None:
    conds = c.set_condition(
        None, type=c.SYNCED, status="True", reason="Synced", message="", now="T0", generation=1
    )
    conds = c.set_condition(
        conds, type=c.READY, status="False", reason="X", message="", now="T1", generation=1
    )
    conds = c.set_condition(
        conds, type=c.READY, status="True", reason="Y", message="", now="T2", generation=1
    )
    assert [x.type for x in conds] == [c.SYNCED, c.READY]
    assert c.get_condition(conds, c.READY).lastTransitionTime == "T2"  # type: ignore[union-attr]
    assert c.remove_condition(conds, c.READY)[0].type == c.SYNCED
