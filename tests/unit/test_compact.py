"""Bodies as a controller holds them (sync/compact.py)."""

from __future__ import annotations

import json
from typing import Any

from kapacitor_operator.sync.compact import SHARED_LEN, compact


def listed(name: str) -> dict[str, Any]:
    """A body as one response decodes it: its own copy of every string."""
    body = {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "KapacitorTask",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"script": "stream|from()" + " " * SHARED_LEN, "dbrps": [{"db": "telegraf"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Executing"}]},
    }
    decoded: dict[str, Any] = json.loads(json.dumps(body))
    return decoded


def test_equal_but_for_managed_fields() -> None:
    body = listed("a")
    held = compact(body)
    expected = listed("a")
    del expected["metadata"]["managedFields"]
    assert held == expected
    assert "managedFields" in body["metadata"]  # the input is left as it was


def test_short_strings_are_shared_between_bodies() -> None:
    a, b = compact(listed("a")), compact(listed("b"))
    assert (
        listed("a")["status"]["conditions"][0]["reason"]
        is not listed("b")["status"]["conditions"][0]["reason"]
    )
    assert a["status"]["conditions"][0]["reason"] is b["status"]["conditions"][0]["reason"]
    assert a["kind"] is b["kind"]
    assert a["spec"]["dbrps"][0]["db"] is b["spec"]["dbrps"][0]["db"]
    assert next(iter(a["status"])) is next(iter(b["status"]))  # keys too


def test_no_container_is_shared_with_the_input() -> None:
    body = listed("a")
    held = compact(body)
    body["spec"]["dbrps"][0]["db"] = "changed"
    body["status"]["conditions"].append({})
    body["metadata"]["name"] = "changed"
    assert held["spec"]["dbrps"][0]["db"] == "telegraf"
    assert len(held["status"]["conditions"]) == 1
    assert held["metadata"]["name"] == "a"
