"""Contract: Flux tasks (``/kapacitor/v1/api/v2/tasks``): create, list, get, delete, routing.

Every test runs against each kind of server (``api``, ``fresh_kapacitor_server``: emulator
and kapacitord).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.contract.helpers import (
    FLUX,
    RFC3339,
    YEARLY,
    assert_flux_error,
    create_flux,
    flux_script,
)


def test_flux_create_shape(api: httpx.Client, uid: str) -> None:
    resp = api.post(FLUX, json={"flux": flux_script(f"ft-{uid}")})
    assert resp.status_code == 201
    assert resp.text.endswith("}\n")
    task = resp.json()
    tid = task["id"]
    assert re.fullmatch(r"[0-9a-f]{16}", tid)
    assert task["links"] == {
        "self": f"{FLUX}/{tid}",
        "runs": f"{FLUX}/{tid}/runs",
        "logs": f"{FLUX}/{tid}/logs",
    }
    assert task["labels"] is None
    assert (task["orgID"], task["ownerID"]) == ("", "ADMIN_USER")
    assert (task["name"], task["status"], task["every"]) == (f"ft-{uid}", "active", "1h")
    assert RFC3339.match(task["createdAt"])
    assert task["latestCompleted"] == task["createdAt"]
    for absent in ("updatedAt", "description", "cron", "offset", "lastRunStatus", "type"):
        assert absent not in task


def test_flux_create_ignores_schedule_and_name_in_body(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"ig-{uid}", every="5m", cron="* * * * *", name="other")
    assert (task["name"], task["every"]) == (f"ig-{uid}", "1h")
    assert "cron" not in task


def test_flux_create_cron_offset_description_inactive(api: httpx.Client, uid: str) -> None:
    flux = flux_script(f"cr-{uid}", 'cron: "0 * * * *"', ", offset: 1m30s")
    task = create_flux(api, f"cr-{uid}", flux=flux, description="hourly", status="inactive")
    assert (task["cron"], task["offset"], task["description"]) == ("0 * * * *", "1m30s", "hourly")
    assert task["status"] == "inactive"
    assert "every" not in task


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "failed to decode request: missing flux"),
        ({"flux": ""}, "failed to decode request: missing flux"),
        (
            {"flux": "x", "status": "paused"},
            'failed to decode request: invalid task status: "paused"',
        ),
        (
            {"flux": "x", "orgID": "abc"},
            "failed to decode request: id must have a length of 16 bytes",
        ),
        ({"flux": "x", "orgID": ""}, "failed to decode request: id must have a length of 16 bytes"),
        ({"flux": "x", "orgID": "zzzzzzzzzzzzzzzz"}, "failed to decode request: invalid ID"),
    ],
)
def test_flux_create_decode_errors(api: httpx.Client, body: dict[str, Any], message: str) -> None:
    assert_flux_error(api.post(FLUX, json=body), 400, "invalid", message)


def test_flux_create_accepts_valid_org_id(api: httpx.Client, uid: str) -> None:
    assert create_flux(api, f"org-{uid}", orgID="0123456789abcdef")["orgID"] == ""


def _field(key: str) -> str:
    return f"invalid options: failed to parse field '{key}' in task options"


@pytest.mark.parametrize(
    ("flux", "message"),
    [
        ('from(bucket: "b")', "invalid options: no task options defined"),
        ("option task = {every: 1h}", "invalid options: missing required option: name"),
        ('option task = {name: "n"}', "invalid options: missing required option: cron or every"),
        (
            'option task = {name: "n", every: 1h, cron: "* * * * *"}',
            "invalid options: cannot use both cron and every in task options",
        ),
        (
            'option task = {name: "n", every: 0s}',
            "invalid options: invalid options: must specify exactly one of either cron or every",
        ),
        ('option task = {name: "", every: 1h}', "invalid options: invalid options: name required"),
        ("option task = {name: 1, every: 1h}", _field("name")),
        ('option task = {name: "n", every: "1h"}', _field("every")),
        ('option task = {name: "n", cron: 5}', _field("cron")),
        ('option task = {name: "n", every: 1h, offset: "1m"}', _field("offset")),
        ('option task = {name: "n", every: 1h, retry: -1}', _field("retry")),
        (
            'option task = {name: "n", every: 1h, concurrency: 0}',
            "invalid options: invalid options: concurrency must be at least 1",
        ),
        (
            'option task = {name: "n", every: 1h}\noption task = {name: "m", every: 1h}',
            "invalid options: multiple task options defined",
        ),
        (
            # Kapacitor's own text, nil pointer type and all.
            "option task = 5",
            "invalid options: task option expected to be object literal, "
            'but found "ObjectExpression"',
        ),
    ],
)
def test_flux_create_bad_options(api: httpx.Client, flux: str, message: str) -> None:
    assert_flux_error(api.post(FLUX, json={"flux": flux}), 400, "invalid", message)


def test_flux_create_syntax_error(api: httpx.Client) -> None:
    resp = api.post(FLUX, json={"flux": 'option task = {name: "n", every: 1h'})
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("invalid options: ")


def test_flux_empty_list_body_is_exact(fresh_kapacitor_server: str) -> None:
    resp = httpx.get(f"{fresh_kapacitor_server}{FLUX}")
    assert resp.status_code == 200
    assert resp.text == ('{"links":{"self":"/kapacitor/v1/api/v2/tasks?limit=100"},"tasks":[]}\n')


def test_flux_list_paging_filters_and_links(fresh_kapacitor_server: str) -> None:
    with httpx.Client(base_url=fresh_kapacitor_server) as api:
        ids = sorted(create_flux(api, f"p{i}")["id"] for i in range(3))
        api.patch(f"{FLUX}/{ids[1]}", json={"status": "inactive"})
        page = api.get(FLUX, params={"limit": 2}).json()
        assert [t["id"] for t in page["tasks"]] == ids[:2]
        assert page["links"] == {
            "self": f"{FLUX}?limit=2",
            "next": f"{FLUX}?after={ids[1]}&limit=2",
        }
        rest = api.get(FLUX, params={"after": ids[1], "limit": 2}).json()
        assert [t["id"] for t in rest["tasks"]] == ids[2:]
        assert rest["links"] == {"self": f"{FLUX}?after={ids[1]}&limit=2"}
        inactive = api.get(FLUX, params={"status": "inactive"}).json()["tasks"]
        assert [t["id"] for t in inactive] == [ids[1]]
        assert len(api.get(FLUX, params={"status": "whatever"}).json()["tasks"]) == 3
        named = api.get(FLUX, params={"name": "p2"}).json()["tasks"]
        assert [t["name"] for t in named] == ["p2"]
        mine = api.get(FLUX, params={"user": "ADMIN_USER"}).json()
        assert len(mine["tasks"]) == 3
        assert mine["links"]["self"] == f"{FLUX}?limit=100&username=ADMIN_USER"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "failed to decode request: limit must be between 1 and 500"),
        ({"limit": "501"}, "failed to decode request: limit must be between 1 and 500"),
        ({"limit": "x"}, 'failed to decode request: strconv.Atoi: parsing "x": invalid syntax'),
        ({"after": "123"}, "failed to decode request: id must have a length of 16 bytes"),
    ],
)
def test_flux_list_bad_params(api: httpx.Client, params: dict[str, str], message: str) -> None:
    assert_flux_error(api.get(FLUX, params=params), 400, "invalid", message)


def test_flux_get_one_and_missing(api: httpx.Client, uid: str) -> None:
    # Never scheduled: a real server's scheduler must not change it between the two reads.
    task = create_flux(api, f"g-{uid}", flux=flux_script(f"g-{uid}", YEARLY))
    assert api.get(f"{FLUX}/{task['id']}").json() == task
    assert api.get(f"{FLUX}/{task['id'].upper()}").json()["id"] == task["id"]
    missing = api.get(f"{FLUX}/00000000000000ff")
    assert_flux_error(missing, 404, "not found", "failed to find task: task not found")


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("abc", "id must have a length of 16 bytes"),
        ("zzzzzzzzzzzzzzzz", "invalid ID"),
        ("0000000000000000", "invalid ID"),
    ],
)
def test_flux_bad_task_id(api: httpx.Client, bad: str, why: str) -> None:
    resp = api.get(f"{FLUX}/{bad}")
    assert_flux_error(resp, 400, "invalid", f"failed to decode request: {why}")


def test_flux_delete_is_not_idempotent(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"d-{uid}")
    first = api.delete(f"{FLUX}/{task['id']}")
    assert (first.status_code, first.content) == (204, b"")
    second = api.delete(f"{FLUX}/{task['id']}")
    assert_flux_error(second, 404, "not found", "failed to delete task: task not found")


def test_flux_wrong_method_is_405_text(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"m-{uid}")
    resp = api.put(f"{FLUX}/{task['id']}", json={})
    assert resp.status_code == 405
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text == "Method Not Allowed\n"


def test_flux_retry_without_retry_suffix_is_405(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"r405-{uid}")
    resp = api.post(f"{FLUX}/{task['id']}/runs/00000000000000aa")
    assert resp.status_code == 405


def test_flux_trailing_slash_redirects(api: httpx.Client) -> None:
    assert api.get(f"{FLUX}/").status_code == 301
    resp = api.post(f"{FLUX}/", json={})
    assert (resp.status_code, resp.headers["Location"]) == (308, FLUX)


# --- Flux runs ----------------------------------------------------------------------------
