"""KapacitorTemplate's drift pass: what a listing says about each template (table), the
paged listing, unmanaged counts, and a scriptFrom ConfigMap that changed."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.reconcile.template_decide import template_hash
from kapacitor_operator.reconcile.template_drift import (
    TemplateDrift,
    TemplateListing,
    drifted_from,
    list_all,
)

H = template_hash("stream", "var m string\nstream|from()")
LISTING = TemplateListing(
    templates={"ns.t": H, "ns.u": "other", "hand.made": H},
    linked={"ns.a": "ns.t", "ns.b": "ns.t", "ns.c": ""},
)


@pytest.mark.parametrize(
    ("definition_hash", "tasks", "template_id", "expected"),
    [
        (H, ["ns.a", "ns.b"], "ns.t", False),  # as the status says
        (H, ["ns.a"], "ns.t", True),  # a task made from it appeared
        (H, None, "ns.u", True),  # edited in Kapacitor
        (H, None, "ns.gone", True),  # deleted in Kapacitor
        ("other", [], "ns.u", False),
        ("other", None, "ns.u", False),  # no tasks, none listed
    ],
)
def test_drifted_from(
    definition_hash: str, tasks: list[str] | None, template_id: str, expected: bool
) -> None:
    assert drifted_from(definition_hash, tasks, template_id, LISTING) is expected


class Pages:
    def __init__(self, count: int) -> None:
        self.templates = [
            TickTemplate(id=f"t{i:04}", type="stream", script=f"s{i}") for i in range(count)
        ]
        self.offsets: list[int] = []

    async def list_templates(
        self, *, fields: list[str] | None = None, offset: int = 0, limit: int = 100
    ) -> list[TickTemplate]:
        assert fields == ["type", "script"]
        self.offsets.append(offset)
        return self.templates[offset : offset + limit]

    async def list_task_templates(self, *, page: int = 500) -> dict[str, str]:
        return {"task": "t0001"}


async def test_list_all_pages_through_every_template() -> None:
    pages = Pages(1001)
    listing = await list_all(cast(Any, pages))
    assert pages.offsets == [0, 500, 1000]
    assert len(listing.templates) == 1001
    assert listing.templates["t0007"] == template_hash("stream", "s7")
    assert listing.linked == {"task": "t0001"}


def test_unmanaged_counts_templates_no_resource_claims() -> None:
    kind = TemplateDrift(Settings(), cast(Any, None), cast(Any, None))
    claimed = {("template", "ns.t"), ("template", "ns.u"), ("tick", "hand.made")}
    assert kind.unmanaged(LISTING, claimed) == {"template": 1}


class ConfigMaps:
    def __init__(self, script: str | None) -> None:
        self.script = script

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None:
        return self.script


@pytest.mark.parametrize(
    ("script", "expected"),
    [("var m string\nstream|from()", False), ("changed", True), (None, True)],
)
async def test_a_script_from_a_configmap_is_compared_with_the_status(
    script: str | None, expected: bool
) -> None:
    body = {
        "metadata": {"namespace": "ns", "name": "t", "uid": "u", "generation": 1},
        "spec": {"type": "stream", "scriptFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
        "status": {"templateID": "ns.t", "definitionHash": H, "tasks": ["ns.a", "ns.b"]},
    }
    kind = TemplateDrift(Settings(), cast(Any, ConfigMaps(script)), cast(Any, None))
    assert await kind.drifted(body, LISTING) is expected
