"""Status merge patches (the controller's, which every kind's status goes through):
vanished nested keys are nulled (a template var losing its default), unchanged status
writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from kapacitor_operator.sync import status_patch as shared
from kapacitor_operator.sync.status_patch import merge_patch

OLD_VARS = {"crit": {"type": "float", "value": 90.0, "description": "x"}, "gone": {"type": "int"}}
NEW_VARS = {"crit": {"type": "float", "description": "x"}, "m": {"type": "string"}}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {"a": 1}, {"a": 1}),
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        (
            {"vars": OLD_VARS},
            {"vars": NEW_VARS},
            {"vars": {"crit": {"value": None}, "gone": None, "m": {"type": "string"}}},
        ),
        ({"tasks": ["a", "b"]}, {"tasks": ["a"]}, {"tasks": ["a"]}),  # lists whole
    ],
)
def test_merge_patch(old: dict[str, Any], new: dict[str, Any], expected: dict[str, Any]) -> None:
    assert merge_patch(old, new) == expected


def test_status_patch_ignores_kopf_and_lone_timestamps() -> None:
    current = {"kopf": {"progress": {}}, "a": 1, "lastSyncedAt": "t0"}
    assert shared.status_patch(current, {"a": 1, "lastSyncedAt": "t1"}) == {}
    assert shared.status_patch(current, {"a": 2, "lastSyncedAt": "t1"}) == {
        "a": 2,
        "lastSyncedAt": "t1",
    }
    assert shared.status_patch(current, {"lastSyncedAt": "t0"}) == {"a": None}


def test_the_controllers_status_patch_nulls_vanished_nested_keys() -> None:
    """A template whose var lost its default: the var's `value` is removed, not kept."""
    current = {"vars": OLD_VARS, "lastSyncedAt": "t0"}
    patch = shared.status_patch(current, {"vars": NEW_VARS, "lastSyncedAt": "t1"})
    assert patch == {
        "vars": {"crit": {"value": None}, "gone": None, "m": {"type": "string"}},
        "lastSyncedAt": "t1",
    }
