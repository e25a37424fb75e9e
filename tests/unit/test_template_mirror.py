"""KapacitorTemplate on the shared driver, against an in-memory Kapacitor: define,
no-op, update, drift, errors, claims, the nudge of the tasks made from it, and deletion
held while Kapacitor tasks use the template."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.reconcile.mirror.driver import MirrorDriver
from kapacitor_operator.reconcile.outcome import Outcome
from kapacitor_operator.reconcile.template_mirror import IN_USE_RETRY, TemplateMirror
from kapacitor_operator.reconcile.template_users import REFS_ANNOTATION

SETTINGS = Settings(kapacitor_url="http://kapacitor.test:9092")
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

    async def delete_template(self, template_id: str) -> None:
        self._call("delete")
        self.templates.pop(template_id, None)

    async def list_task_templates(self) -> dict[str, str]:
        self._call("list")
        return dict(self.links)


class Pool:
    def __init__(self, fake: FakeTemplates) -> None:
        self.fake = fake

    def get(self, connection: Any) -> FakeTemplates:
        return self.fake


class Kube:
    def __init__(self) -> None:
        self.nudged: list[tuple[str, str, str]] = []

    async def patch_metadata(
        self, namespace: str, plural: str, name: str, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        self.nudged.append((plural, name, metadata["annotations"][REFS_ANNOTATION]))
        return {}


def driver(fake: FakeTemplates, kube: Kube | None = None) -> MirrorDriver[Any]:
    async def users(namespace: str, name: str) -> list[str]:
        return ["cpu", "mem"] if (namespace, name) == ("ns", "t") else []

    kind = TemplateMirror(SETTINGS, cast(Any, kube), cast(Any, Pool(fake)), users)
    return MirrorDriver(kind)


def body(status: dict[str, Any] | None = None, generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "KapacitorTemplate",
        "metadata": {"namespace": "ns", "name": "t", "uid": "u", "generation": generation},
        "spec": {"type": "stream", "script": SCRIPT, **spec},
        "status": status or {},
    }


async def run(
    fake: FakeTemplates, obj: dict[str, Any], kube: Kube | None = None
) -> tuple[Outcome[Any], dict[str, Any]]:
    d = driver(fake, kube)
    outcome = await d.reconcile(obj, None)
    return outcome, d.status_dict(outcome)


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {x["type"]: (x["status"], x["reason"]) for x in status.get("conditions") or []}


async def test_define_then_resync_reads_only() -> None:
    fake = FakeTemplates()
    fake.links = {"ns.a": "ns.t", "ns.b": "other"}
    first, status = await run(fake, body())
    assert conds(status)["Ready"] == ("True", c.DEFINED)
    assert conds(status)["Synced"] == ("True", c.SYNCED_OK)
    assert status["templateID"] == "ns.t"
    assert status["tasks"] == ["ns.a"]
    assert status["vars"] == {
        "limit": {"type": "int", "value": 10, "description": ""},
        "m": {"type": "string", "description": ""},
    }
    assert status["observedGeneration"] == 1
    assert first.writes == 1
    assert not first.events
    fake.calls.clear()
    again, same = await run(fake, body(status))
    assert fake.calls == ["get", "list"]
    assert again.writes == 0
    assert not again.events
    assert {k: v for k, v in same.items() if k != "conditions"} == {
        k: v for k, v in status.items() if k != "conditions"
    }


async def test_spec_change_patches_type_and_script_without_drift_event() -> None:
    fake = FakeTemplates()
    _, status = await run(fake, body())
    second, _ = await run(fake, body(status, generation=2, script=NEW))
    assert "patch" in fake.calls
    assert fake.templates["ns.t"]["script"] == NEW
    assert not second.events


@pytest.mark.parametrize("edit", ["delete", "edit"])
async def test_drift_is_repaired_with_an_event(edit: str) -> None:
    fake = FakeTemplates()
    _, status = await run(fake, body())
    if edit == "delete":
        del fake.templates["ns.t"]
    else:
        fake.templates["ns.t"]["script"] = NEW
    repaired, _ = await run(fake, body(status))
    assert [e.reason for e in repaired.events] == [c.DRIFT_REPAIRED]
    assert fake.templates["ns.t"]["script"] == SCRIPT


async def test_saved_update_whose_task_failed_to_restart_is_reported_not_retried() -> None:
    fake = FakeTemplates()
    _, status = await run(fake, body())
    fake.patch_fails_after_save = KapacitorUnavailable("failed to reload task", status=500)
    outcome, after = await run(fake, body(status, generation=2, script=NEW))
    assert outcome.retry == "none"
    assert conds(after)["Ready"] == ("True", c.DEFINED)
    assert [e.reason for e in outcome.events] == [c.TASK_RELOAD_FAILED]


@pytest.mark.parametrize(
    ("error", "ready", "reason", "retry"),
    [
        (KapacitorRejected("invalid TICKscript", status=400), "False", c.REJECTED, "permanent"),
        (
            KapacitorAuthError("authorization failed", status=401),
            "Unknown",
            c.UNAUTHORIZED,
            "temporary",
        ),
        (
            KapacitorUnavailable("cannot reach Kapacitor: ConnectError", unreachable=True),
            "Unknown",
            c.KAPACITOR_UNREACHABLE,
            "temporary",
        ),
        (
            KapacitorUnavailable("timed out: ReadTimeout", timed_out=True),
            "Unknown",
            c.KAPACITOR_TIMEOUT,
            "temporary",
        ),
    ],
)
async def test_errors_become_the_shared_conditions(
    error: KapacitorError, ready: str, reason: str, retry: str
) -> None:
    fake = FakeTemplates()
    fake.fail_with = error
    outcome, status = await run(fake, body())
    assert conds(status)["Ready"] == (ready, reason)
    assert conds(status)["Synced"] == ("False", reason)
    assert outcome.retry == retry
    assert [e.reason for e in outcome.events] == [reason]


async def test_conflict_touches_nothing() -> None:
    fake = FakeTemplates()
    outcome = await driver(fake).reconcile(body(), ("other", "first"))
    status = driver(fake).status_dict(outcome)
    assert conds(status)["Ready"] == ("False", c.CONFLICT)
    assert "other/first" in outcome.message
    assert fake.calls == []


async def test_tasks_made_from_it_are_nudged_once_it_changes() -> None:
    fake, kube = FakeTemplates(), Kube()
    first, status = await run(fake, body(), kube)
    assert first.then is not None  # became usable: the tasks waiting for it read it
    await first.then()
    assert [(p, n) for p, n, _ in kube.nudged] == [
        ("kapacitortasks", "cpu"),
        ("kapacitortasks", "mem"),
    ]
    again, status = await run(fake, body(status), kube)
    assert again.then is None  # nothing changed: nobody is nudged
    changed, _ = await run(fake, body(status, generation=2, script=NEW), kube)
    assert changed.then is not None  # Kapacitor reloaded them
    kube.nudged.clear()
    await changed.then()
    assert {n for _, n, _ in kube.nudged} == {"cpu", "mem"}
    failing = FakeTemplates()
    failing.fail_with = KapacitorRejected("bad", status=400)
    rejected, _ = await run(failing, body(), kube)
    assert rejected.then is None


async def deleting(fake: FakeTemplates, **spec: Any) -> dict[str, Any]:
    _, status = await run(fake, body(**spec))
    obj = body(status, generation=2, **spec)
    obj["metadata"]["deletionTimestamp"] = NOW
    return obj


async def test_deletion_waits_while_tasks_use_it_naming_them() -> None:
    fake = FakeTemplates()
    obj = await deleting(fake)
    fake.links = {"ns.cpu": "ns.t", "ns.mem": "ns.t", "ns.x": ""}
    held = await driver(fake).finalize(obj, None)
    assert not held.done
    assert held.delay == IN_USE_RETRY
    assert held.status is not None
    assert conds(held.status)["Ready"] == ("False", c.IN_USE)
    assert conds(held.status)["Synced"] == ("False", c.IN_USE)
    ready = next(x for x in held.status["conditions"] if x["type"] == "Ready")
    assert "ns.cpu, ns.mem" in ready["message"]
    assert "deletionPolicy: Orphan" in ready["message"]
    assert [e.reason for e in held.events] == [c.IN_USE]
    assert "ns.t" in fake.templates
    # Looked at again with the same tasks: the status already says so, no new Event.
    obj["status"] = held.status
    again = await driver(fake).finalize(obj, None)
    assert (again.done, again.events) == (False, ())
    fake.links = {"ns.x": ""}
    done = await driver(fake).finalize(obj, None)
    assert done.done
    assert [e.reason for e in done.events] == [c.DELETED]
    assert fake.templates == {}


async def test_deletion_that_cannot_reach_kapacitor_says_deleting() -> None:
    fake = FakeTemplates()
    obj = await deleting(fake)
    fake.fail_with = KapacitorUnavailable("cannot reach: ConnectError", unreachable=True)
    result = await driver(fake).finalize(obj, None)
    assert not result.done
    assert result.status is not None
    assert conds(result.status)["Ready"] == ("False", c.DELETING)
    assert conds(result.status)["Synced"] == ("False", c.KAPACITOR_UNREACHABLE)


async def test_orphan_and_never_defined_send_nothing() -> None:
    fake = FakeTemplates()
    obj = await deleting(fake, deletionPolicy="Orphan")
    fake.calls.clear()
    result = await driver(fake).finalize(obj, None)
    assert result.done
    assert [e.reason for e in result.events] == [c.ORPHANED]
    never = body()
    never["metadata"]["deletionTimestamp"] = NOW
    result = await driver(fake).finalize(never, None)
    assert result.done
    assert fake.calls == []
    assert "ns.t" in fake.templates
    # Another resource holds the claim: leave it alone.
    result = await driver(fake).finalize(await deleting(fake), ("other", "first"))
    assert result.done
    assert "delete" not in fake.calls
