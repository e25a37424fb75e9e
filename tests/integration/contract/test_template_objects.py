"""Contract: what KapacitorTemplate and the `Kapacitor` connection object rely on, on
each kind of server (emulator and kapacitord): a template's vars follow its updates, an
update reloads the tasks made from it (their stored script, `modified` and executing
state change), the task list's `template-id` field links tasks to templates, paged ID
lists, and the ping version header; then the operator's own calls (client methods, the
template kind on the shared driver, its drift listing, observe_server) against the same
servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest

from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.pool import ClientPool, Connection
from kapacitor_operator.kapacitor.topic_handlers import TopicHandlers
from kapacitor_operator.reconcile.kapacitor_check import observe_server
from kapacitor_operator.reconcile.mirror.driver import MirrorDriver
from kapacitor_operator.reconcile.template_decide import template_hash
from kapacitor_operator.reconcile.template_drift import drifted_from, list_all
from kapacitor_operator.reconcile.template_mirror import TemplateMirror
from tests.integration.contract.helpers import DBRPS

LOG = {"path": "/dev/null"}

TEMPLATES = "/kapacitor/v1/templates"
TASKS = "/kapacitor/v1/tasks"
V1 = "// Threshold\nvar limit = 10\nvar m string\nstream|from().measurement(m)"
V2 = "// Threshold\nvar limit = 20\nvar m string\nvar every = 1m\nstream|from().measurement(m)"
M_CPU = {"m": {"type": "string", "value": "cpu"}}


def _ok(resp: httpx.Response) -> Any:
    assert resp.status_code in (200, 204), resp.text
    return resp.json() if resp.content else None


def test_template_vars_follow_an_update(api: httpx.Client, uid: str) -> None:
    _ok(api.post(TEMPLATES, json={"id": f"T-{uid}", "type": "stream", "script": V1}))
    got = _ok(api.get(f"{TEMPLATES}/T-{uid}", params={"script-format": "raw"}))
    assert got["vars"]["limit"] == {"type": "int", "value": 10, "description": "Threshold"}
    assert got["vars"]["m"] == {"type": "string", "value": None, "description": ""}
    _ok(api.patch(f"{TEMPLATES}/T-{uid}", json={"type": "stream", "script": V2}))
    got = _ok(api.get(f"{TEMPLATES}/T-{uid}", params={"script-format": "raw"}))
    assert (got["script"], got["type"]) == (V2, "stream")
    assert got["vars"]["limit"]["value"] == 20
    assert got["vars"]["every"] == {"type": "duration", "value": 60_000_000_000, "description": ""}
    _ok(api.delete(f"{TEMPLATES}/T-{uid}"))


def test_update_reloads_linked_tasks_and_a_reread_shows_it(api: httpx.Client, uid: str) -> None:
    _ok(api.post(TEMPLATES, json={"id": f"T-{uid}", "type": "stream", "script": V1}))
    for name, status in (("a", "enabled"), ("b", "disabled")):
        body = {
            "id": f"{name}-{uid}",
            "template-id": f"T-{uid}",
            "dbrps": DBRPS,
            "vars": M_CPU,
            "status": status,
        }
        _ok(api.post(TASKS, json=body))
    before = {n: _ok(api.get(f"{TASKS}/{n}-{uid}")) for n in ("a", "b")}
    _ok(api.patch(f"{TEMPLATES}/T-{uid}", json={"type": "stream", "script": V2}))
    for name in ("a", "b"):
        after = _ok(api.get(f"{TASKS}/{name}-{uid}", params={"script-format": "raw"}))
        assert after["script"] == V2
        # A reload changes the stored script but not the task's `modified`.
        assert after["modified"] == before[name]["modified"]
        # the task's own vars stay
        assert after["vars"] == {"m": {"type": "string", "value": "cpu", "description": ""}}
    assert _ok(api.get(f"{TASKS}/a-{uid}"))["executing"] is True
    assert _ok(api.get(f"{TASKS}/b-{uid}"))["executing"] is False
    # The list's template-id field links tasks to templates (absent for script tasks).
    _ok(
        api.post(
            TASKS,
            json={"id": f"c-{uid}", "type": "stream", "dbrps": DBRPS, "script": "stream|from()"},
        )
    )
    listed = _ok(api.get(TASKS, params={"pattern": f"*-{uid}", "fields": "template-id"}))
    links = {t["id"]: t.get("template-id", "") for t in listed["tasks"]}
    assert links == {f"a-{uid}": f"T-{uid}", f"b-{uid}": f"T-{uid}", f"c-{uid}": ""}
    for name in ("a", "b", "c"):
        _ok(api.delete(f"{TASKS}/{name}-{uid}"))
    _ok(api.delete(f"{TEMPLATES}/T-{uid}"))


def test_paged_template_ids(api: httpx.Client, uid: str) -> None:
    for i in range(3):
        _ok(api.post(TEMPLATES, json={"id": f"P{i}-{uid}", "type": "stream", "script": V1}))
    ids: list[str] = []
    while True:
        params = {"offset": str(len(ids)), "limit": "2", "fields": "id", "pattern": f"P*-{uid}"}
        page = _ok(api.get(TEMPLATES, params=params))["templates"]
        assert all(set(t) <= {"id", "link"} for t in page)
        ids.extend(t["id"] for t in page)
        if len(page) < 2:
            break
    assert ids == [f"P{i}-{uid}" for i in range(3)]
    for i in range(3):
        _ok(api.delete(f"{TEMPLATES}/P{i}-{uid}"))


# --- the operator's calls against the same servers ------------------------------------


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    pool = ClientPool()
    yield pool
    await pool.aclose()


@pytest.fixture
def client(pool: ClientPool, contract_server: str) -> KapacitorClient:
    return pool.get(Connection(url=contract_server))


def _body(status: dict[str, Any], generation: int, script: str, tid: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "t", "uid": "u", "generation": generation},
        "spec": {"type": "stream", "script": script, "templateID": tid},
        "status": status,
    }


async def test_template_kind_defines_updates_lists_its_tasks_and_waits_to_delete(
    pool: ClientPool, client: KapacitorClient, contract_server: str, uid: str
) -> None:
    """The KapacitorTemplate kind on the shared driver, against this server."""
    tid = f"op-{uid}"
    settings = Settings(kapacitor_url=contract_server)
    driver = MirrorDriver(TemplateMirror(settings, cast(Any, None), pool))
    first = await driver.reconcile(_body({}, 1, V1, tid), None)
    assert first.retry == "none", first.message
    status = driver.status_dict(first)
    assert status["vars"]["limit"]["value"] == 10
    assert status["tasks"] == []
    await client.create_task(
        {"id": f"x-{uid}", "template-id": tid, "dbrps": DBRPS, "vars": M_CPU, "status": "enabled"}
    )
    again = await driver.reconcile(_body(status, 1, V1, tid), None)
    assert again.writes == 0
    status = driver.status_dict(again)
    assert status["tasks"] == [f"x-{uid}"]
    updated = await driver.reconcile(_body(status, 2, V2, tid), None)
    assert updated.writes == 1
    status = driver.status_dict(updated)
    assert status["vars"]["limit"]["value"] == 20
    task = await client.get_task(f"x-{uid}")
    assert task is not None
    assert (task.script, task.executing) == (V2, True)
    going = _body(status, 2, V2, tid)
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    held = await driver.finalize(going, None)
    assert not held.done
    assert held.status is not None
    ready = next(x for x in held.status["conditions"] if x["type"] == "Ready")
    assert (ready["reason"], f"x-{uid}" in ready["message"]) == ("InUse", True)
    assert await client.get_template(tid) is not None
    await client.delete_task(f"x-{uid}")
    done = await driver.finalize(going, None)
    assert done.done
    assert await client.get_template(tid) is None


async def test_template_drift_listing_matches_what_a_sync_wrote(
    client: KapacitorClient, uid: str
) -> None:
    """A paged list (raw scripts) hashes each template as the spec does, and links tasks."""
    for i in range(3):
        await client.create_template({"id": f"L{i}-{uid}", "type": "stream", "script": V1})
    await client.create_task(
        {"id": f"l-{uid}", "template-id": f"L1-{uid}", "dbrps": DBRPS, "vars": M_CPU}
    )
    ids: list[str] = []
    while True:
        page = await client.list_templates(fields=["type", "script"], offset=len(ids), limit=2)
        ids.extend(t.id for t in page if t.id.endswith(uid))
        for t in page:
            if t.id.endswith(uid):
                assert template_hash(t.type, t.script) == template_hash("stream", V1)
        if len(page) < 2:
            break
    assert [i for i in ids if i.startswith("L")] == [f"L{i}-{uid}" for i in range(3)]
    listing = await list_all(client)
    assert listing.templates[f"L0-{uid}"] == template_hash("stream", V1)
    assert not drifted_from(template_hash("stream", V1), [f"l-{uid}"], f"L1-{uid}", listing)
    assert drifted_from(template_hash("stream", V1), [], f"L1-{uid}", listing)
    assert drifted_from(template_hash("stream", V2), [], f"L0-{uid}", listing)
    await client.delete_task(f"l-{uid}")
    for i in range(3):
        await client.delete_template(f"L{i}-{uid}")


async def test_observe_server_counts_what_it_holds(client: KapacitorClient, uid: str) -> None:
    await client.create_template({"id": f"c-{uid}", "type": "stream", "script": V1})
    await client.create_task(
        {"id": f"c-{uid}", "template-id": f"c-{uid}", "dbrps": DBRPS, "vars": M_CPU}
    )
    handlers = TopicHandlers(client)
    for handler_id in ("h1", "h2"):
        await handlers.create(f"c-{uid}", {"id": handler_id, "kind": "log", "options": LOG})
    seen = await observe_server(client)
    assert f"c-{uid}" in seen.templates
    assert seen.tasks.count(f"c-{uid}") == 1
    assert seen.flux_tasks is not None  # both kinds run with the Flux task API on
    assert [h for h in seen.handlers if h[0] == f"c-{uid}"] == [
        (f"c-{uid}", "h1"),
        (f"c-{uid}", "h2"),
    ]
    assert seen.version == (await client.ping())
    await client.delete_task(f"c-{uid}")
    await client.delete_template(f"c-{uid}")
    for handler_id in ("h1", "h2"):
        await handlers.delete(f"c-{uid}", handler_id)
