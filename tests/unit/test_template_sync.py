"""sync_template against an in-memory Kapacitor: define, no-op, update, drift, errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.models.kapacitortemplate import (
    KapacitorTemplateSpec,
    KapacitorTemplateStatus,
)
from kapacitor_operator.models.resources import KapacitorTemplate, parse_resource
from kapacitor_operator.reconcile.outcome import Outcome
from kapacitor_operator.reconcile.template_decide import DesiredTemplate
from kapacitor_operator.reconcile.template_sync import sync_template

SCRIPT = "var m string\nvar limit = 10\nstream|from().measurement(m)"
NEW = "var m string\nvar limit = 20\nstream|from().measurement(m)"
NOW = "2026-01-01T00:00:00Z"
VARS = {
    "limit": {"type": "int", "value": 10, "description": ""},
    "m": {"type": "string", "value": None, "description": ""},
}


class FakeTemplates:
    base_url = "http://kapacitor.test:9092"

    def __init__(self) -> None:
        self.templates: dict[str, dict[str, Any]] = {}
        self.links: dict[str, str] = {}
        self.calls: list[str] = []
        self.fail_with: KapacitorError | None = None
        self.patch_fails_after_save: KapacitorUnavailable | None = None

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_with is not None:
            raise self.fail_with

    async def get_template(self, template_id: str) -> TickTemplate | None:
        self._call("get")
        data = self.templates.get(template_id)
        return TickTemplate.model_validate(data) if data else None

    async def create_template(self, body: Mapping[str, Any]) -> TickTemplate:
        self._call("create")
        self.templates[body["id"]] = {**body, "vars": VARS, "created": NOW, "modified": NOW}
        return TickTemplate.model_validate(self.templates[body["id"]])

    async def patch_template(self, template_id: str, changes: Mapping[str, Any]) -> TickTemplate:
        self._call("patch")
        if template_id not in self.templates:
            raise KapacitorNotFound("template does not exist, cannot update", status=404)
        self.templates[template_id].update(changes)
        if self.patch_fails_after_save is not None:
            raise self.patch_fails_after_save
        return TickTemplate.model_validate(self.templates[template_id])

    async def list_task_templates(self) -> dict[str, str]:
        self._call("list")
        return dict(self.links)


def make(status: dict[str, Any] | None = None, generation: int = 1) -> KapacitorTemplate:
    body = {
        "metadata": {"namespace": "ns", "name": "t", "uid": "u", "generation": generation},
        "spec": {"type": "stream", "script": SCRIPT},
        "status": status or {},
    }
    return parse_resource(body, KapacitorTemplateSpec, KapacitorTemplateStatus)


async def run(
    fake: FakeTemplates, tpl: KapacitorTemplate, script: str = SCRIPT
) -> Outcome[KapacitorTemplateStatus]:
    desired = DesiredTemplate("ns.t", "stream", script)
    return await sync_template(tpl, desired, cast(KapacitorClient, fake), now=NOW)


def ready(outcome: Outcome[KapacitorTemplateStatus]) -> tuple[str, str]:
    cond = c.get_condition(outcome.status.conditions, c.READY)
    assert cond is not None
    return cond.status, cond.reason


async def test_define_then_resync_reads_only() -> None:
    fake = FakeTemplates()
    fake.links = {"ns.a": "ns.t", "ns.b": "other"}
    first = await run(fake, make())
    assert ready(first) == ("True", c.DEFINED)
    assert first.status.templateID == "ns.t"
    assert first.status.tasks == ["ns.a"]
    assert first.status.vars is not None
    assert first.status.vars["limit"].value == 10
    assert first.writes == 1
    assert not first.events
    fake.calls.clear()
    again = await run(fake, make(first.status.model_dump(by_alias=True, exclude_none=True)))
    assert fake.calls == ["get", "list"]
    assert again.writes == 0
    assert not again.events


async def test_spec_change_patches_type_and_script_without_drift_event() -> None:
    fake = FakeTemplates()
    first = await run(fake, make())
    status = first.status.model_dump(by_alias=True, exclude_none=True)
    second = await run(fake, make(status, generation=2), script=NEW)
    assert "patch" in fake.calls
    assert fake.templates["ns.t"]["script"] == NEW
    assert not second.events
    assert ready(second) == ("True", c.DEFINED)


@pytest.mark.parametrize("edit", ["delete", "edit"])
async def test_drift_is_repaired_with_an_event(edit: str) -> None:
    fake = FakeTemplates()
    first = await run(fake, make())
    if edit == "delete":
        del fake.templates["ns.t"]
    else:
        fake.templates["ns.t"]["script"] = NEW
    repaired = await run(fake, make(first.status.model_dump(by_alias=True, exclude_none=True)))
    assert [e.reason for e in repaired.events] == [c.DRIFT_REPAIRED]
    assert fake.templates["ns.t"]["script"] == SCRIPT


async def test_saved_update_whose_task_failed_to_restart_is_reported_not_retried() -> None:
    fake = FakeTemplates()
    first = await run(fake, make())
    fake.patch_fails_after_save = KapacitorUnavailable("failed to reload task", status=500)
    status = first.status.model_dump(by_alias=True, exclude_none=True)
    outcome = await run(fake, make(status, generation=2), script=NEW)
    assert outcome.retry == "none"
    assert ready(outcome) == ("True", c.DEFINED)
    assert [e.reason for e in outcome.events] == [c.TASK_RELOAD_FAILED]


@pytest.mark.parametrize(
    ("error", "reason", "retry"),
    [
        (KapacitorRejected("invalid TICKscript", status=400), c.REJECTED, "permanent"),
        (KapacitorAuthError("authorization failed", status=401), c.UNAUTHORIZED, "temporary"),
        (KapacitorUnavailable("cannot reach Kapacitor: ConnectError"), c.UNAVAILABLE, "temporary"),
    ],
)
async def test_errors_become_conditions(error: KapacitorError, reason: str, retry: str) -> None:
    fake = FakeTemplates()
    fake.fail_with = error
    outcome = await run(fake, make())
    assert ready(outcome) == ("False", reason)
    assert outcome.retry == retry
    assert [e.reason for e in outcome.events] == [reason]


async def test_conflict_touches_nothing() -> None:
    fake = FakeTemplates()
    desired = DesiredTemplate("ns.t", "stream", SCRIPT)
    outcome = await sync_template(
        make(), desired, cast(KapacitorClient, fake), now=NOW, holder="other/first"
    )
    assert ready(outcome) == ("False", c.CONFLICT)
    assert "other/first" in outcome.message
    assert fake.calls == ["get"]
