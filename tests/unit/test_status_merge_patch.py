"""Status merge patches for Kapacitor and KapacitorTemplate: vanished nested keys are
nulled (a var losing its default), unchanged status writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from kapacitor_operator.handlers.refs import merge_patch, status_patch

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
    assert status_patch(current, {"a": 1, "lastSyncedAt": "t1"}, ("lastSyncedAt",)) == {}
    assert status_patch(current, {"a": 2, "lastSyncedAt": "t1"}, ("lastSyncedAt",)) == {
        "a": 2,
        "lastSyncedAt": "t1",
    }
    assert status_patch(current, {"lastSyncedAt": "t0"}) == {"a": None}
