"""Contract: updating, deleting and listing TICKscript tasks; templates.

Every test runs against each kind of server (``api``: emulator and kapacitord).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.contract.helpers import (
    DBRPS,
    STREAM,
    ZERO,
    assert_native_error,
    create_task,
)

# --- TICKscript tasks: update and delete ------------------------------------------------


def test_patch_bad_json_before_existence_check(api: httpx.Client, uid: str) -> None:
    resp = api.patch(f"/kapacitor/v1/tasks/missing-{uid}", content=b"{")
    assert_native_error(resp, 400, "invalid JSON")


def test_patch_missing_task_is_404(api: httpx.Client, uid: str) -> None:
    resp = api.patch(f"/kapacitor/v1/tasks/missing-{uid}", json={"status": "enabled"})
    assert_native_error(resp, 404, "task does not exist, cannot update")


def test_patch_empty_body_changes_nothing_but_modified(api: httpx.Client, uid: str) -> None:
    before = create_task(api, uid)
    resp = api.patch(f"/kapacitor/v1/tasks/{uid}", json={})
    assert resp.status_code == 200
    after = resp.json()
    for key in ("script", "dbrps", "vars", "status", "type", "created"):
        assert after[key] == before[key]
    assert after["modified"] >= before["modified"]


def test_patch_vars_and_dbrps_replace_all(api: httpx.Client, uid: str) -> None:
    create_task(api, uid, vars={"a": {"type": "int", "value": 1}, "b": {"type": "int", "value": 2}})
    new_dbrps = [{"db": "other", "rp": "rp1"}]
    body = {"vars": {"c": {"type": "string", "value": "x"}}, "dbrps": new_dbrps}
    task = api.patch(f"/kapacitor/v1/tasks/{uid}", json=body).json()
    assert list(task["vars"]) == ["c"]
    assert task["dbrps"] == new_dbrps


def test_patch_enable_then_disable(api: httpx.Client, uid: str) -> None:
    create_task(api, uid)
    enabled = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"status": "enabled"}).json()
    assert (enabled["status"], enabled["executing"]) == ("enabled", True)
    assert enabled["last-enabled"] != ZERO
    again = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"status": "enabled"}).json()
    assert again["last-enabled"] == enabled["last-enabled"]
    disabled = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"status": "disabled"}).json()
    assert (disabled["status"], disabled["executing"]) == ("disabled", False)
    assert disabled["last-enabled"] == enabled["last-enabled"]


def test_patch_script_does_not_restart_enabled_task(api: httpx.Client, uid: str) -> None:
    create_task(api, uid, status="enabled")
    new_script = "stream|from().measurement('mem')|window().period(1m)"
    task = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"script": new_script}).json()
    raw = api.get(f"/kapacitor/v1/tasks/{uid}", params={"script-format": "raw"}).json()
    assert raw["script"] == new_script
    assert "window" not in task["dot"]  # the running pipeline is still the old one
    api.patch(f"/kapacitor/v1/tasks/{uid}", json={"status": "disabled"})
    restarted = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"status": "enabled"}).json()
    assert "window2" in restarted["dot"]


def test_patch_implicit_and_explicit_dbrps(api: httpx.Client, uid: str) -> None:
    create_task(api, uid)
    body = {"script": 'dbrp "db"."rp"\n' + STREAM, "dbrps": DBRPS}
    resp = api.patch(f"/kapacitor/v1/tasks/{uid}", json=body)
    assert_native_error(resp, 400, "cannot specify dbrp in implicitly and explicitly")


def test_patch_failing_start_is_500_and_task_stays_enabled(api: httpx.Client, uid: str) -> None:
    script = 'batch|query(\'SELECT x FROM "unknowndb"."unknownrp".m\').period(1m).every(1m)'
    create_task(api, uid, script)
    resp = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"status": "enabled"})
    message = 'batch query is not allowed to request data from "unknowndb"."unknownrp"'
    assert_native_error(resp, 500, message)
    task = api.get(f"/kapacitor/v1/tasks/{uid}").json()
    assert (task["status"], task["executing"], task["error"]) == ("enabled", False, message)


def test_patch_id_renames(api: httpx.Client, uid: str) -> None:
    create_task(api, f"old-{uid}")
    task = api.patch(f"/kapacitor/v1/tasks/old-{uid}", json={"id": f"new-{uid}"}).json()
    assert task["id"] == f"new-{uid}"
    assert api.get(f"/kapacitor/v1/tasks/new-{uid}").status_code == 200
    assert api.get(f"/kapacitor/v1/tasks/old-{uid}").status_code == 404


def test_patch_rename_onto_existing_is_500(api: httpx.Client, uid: str) -> None:
    create_task(api, f"a-{uid}")
    create_task(api, f"b-{uid}")
    resp = api.patch(f"/kapacitor/v1/tasks/a-{uid}", json={"id": f"b-{uid}"})
    message = "failed to create new task during ID change: object already exists"
    assert_native_error(resp, 500, message)


def test_delete_task_is_idempotent(api: httpx.Client, uid: str) -> None:
    create_task(api, uid)
    first = api.delete(f"/kapacitor/v1/tasks/{uid}")
    assert (first.status_code, first.content) == (204, b"")
    assert api.delete(f"/kapacitor/v1/tasks/{uid}").status_code == 204
    assert api.get(f"/kapacitor/v1/tasks/{uid}").status_code == 404


def test_delete_with_empty_id_is_400(api: httpx.Client) -> None:
    assert_native_error(api.delete("/kapacitor/v1/tasks/"), 400, "must specify task id on path")


# --- TICKscript tasks: list -------------------------------------------------------------


def _ids(api: httpx.Client, **params: Any) -> list[str]:
    resp = api.get("/kapacitor/v1/tasks", params=params)
    assert resp.status_code == 200, resp.text
    return [t["id"] for t in resp.json()["tasks"]]


def test_list_pattern_sorted_offset_limit(api: httpx.Client, uid: str) -> None:
    for name in ("c", "a", "b"):
        create_task(api, f"ls-{uid}-{name}")
    assert _ids(api, pattern=f"ls-{uid}-*") == [f"ls-{uid}-{n}" for n in "abc"]
    assert _ids(api, pattern=f"ls-{uid}-?", offset=1, limit=1) == [f"ls-{uid}-b"]
    assert _ids(api, pattern=f"ls-{uid}-[ab]") == [f"ls-{uid}-a", f"ls-{uid}-b"]
    assert _ids(api, pattern=f"ls-{uid}-*", limit=0) == []


def test_list_malformed_pattern_matches_nothing(api: httpx.Client, uid: str) -> None:
    create_task(api, f"mp-{uid}")
    assert _ids(api, pattern=f"mp-{uid}[") == []


def test_list_negative_limit_returns_all_ignoring_pattern_and_offset(
    api: httpx.Client, uid: str
) -> None:
    create_task(api, f"neg-{uid}")
    every = _ids(api, pattern="no-such-task-*", offset=1000, limit=-1)
    assert f"neg-{uid}" in every
    assert every == sorted(every, key=lambda i: i.encode())


def test_list_fields_projection(api: httpx.Client, uid: str) -> None:
    create_task(api, f"fl-{uid}")
    resp = api.get("/kapacitor/v1/tasks", params={"pattern": f"fl-{uid}", "fields": "status"})
    assert resp.json()["tasks"] == [
        {
            "id": f"fl-{uid}",
            "link": {"rel": "self", "href": f"/kapacitor/v1/tasks/fl-{uid}"},
            "status": "disabled",
        }
    ]


def test_list_unknown_field_only_fails_when_tasks_listed(api: httpx.Client, uid: str) -> None:
    create_task(api, f"uf-{uid}")
    resp = api.get("/kapacitor/v1/tasks", params={"pattern": f"uf-{uid}", "fields": "colour"})
    assert_native_error(resp, 400, 'unsupported field "colour"')
    empty = api.get("/kapacitor/v1/tasks", params={"pattern": f"none-{uid}", "fields": "colour"})
    assert empty.json() == {"tasks": []}


def test_list_items_omit_template_id_and_null_stats(api: httpx.Client, uid: str) -> None:
    create_task(api, f"it-{uid}")
    item = api.get("/kapacitor/v1/tasks", params={"pattern": f"it-{uid}"}).json()["tasks"][0]
    assert "template-id" not in item
    assert item["stats"] is None
    assert list(item) == sorted(item)


@pytest.mark.parametrize("param", ["limit", "offset"])
def test_list_non_integer_paging_is_400(api: httpx.Client, param: str) -> None:
    resp = api.get("/kapacitor/v1/tasks", params={param: "ten"})
    message = (
        f'invalid {param} parameter "ten" must be an integer: '
        'strconv.ParseInt: parsing "ten": invalid syntax'
    )
    assert_native_error(resp, 400, message)


# --- templates ----------------------------------------------------------------------------

TEMPLATE = (
    "// which measurement\nvar measurement string\nvar limit = 10\n"
    "stream|from().measurement(measurement)"
)


def test_template_lifecycle_and_template_tasks(api: httpx.Client, uid: str) -> None:
    resp = api.post("/kapacitor/v1/templates", json={"id": f"tp-{uid}", "script": TEMPLATE})
    assert resp.status_code == 200, resp.text
    template = resp.json()
    assert template["type"] == "stream"
    # A var declared without a value has the value null.
    assert template["vars"]["measurement"] == {
        "type": "string",
        "value": None,
        "description": "which measurement",
    }
    assert template["vars"]["limit"]["value"] == 10
    missing = api.post(
        "/kapacitor/v1/tasks", json={"id": f"tt-{uid}", "template-id": f"tp-{uid}", "dbrps": DBRPS}
    )
    assert_native_error(missing, 400, 'invalid TICKscript: missing value for var "measurement".')
    vars_ = {"measurement": {"type": "string", "value": "cpu"}}
    task = create_task(api, f"tt-{uid}", script="", **{"template-id": f"tp-{uid}", "vars": vars_})
    assert task["template-id"] == f"tp-{uid}"
    raw = api.get(f"/kapacitor/v1/tasks/tt-{uid}", params={"script-format": "raw"}).json()
    assert raw["script"] == TEMPLATE
    new_script = TEMPLATE.replace("var limit = 10", "var limit = 20")
    assert api.patch(f"/kapacitor/v1/templates/tp-{uid}", json={"script": new_script}).is_success
    raw = api.get(f"/kapacitor/v1/tasks/tt-{uid}", params={"script-format": "raw"}).json()
    assert raw["script"] == new_script
    assert api.delete(f"/kapacitor/v1/templates/tp-{uid}").status_code == 204
    assert_native_error(api.get(f"/kapacitor/v1/templates/tp-{uid}"), 404, "no template exists")


def test_template_bad_id_and_duplicate(api: httpx.Client, uid: str) -> None:
    bad = api.post("/kapacitor/v1/templates", json={"id": "a b", "script": STREAM})
    message = "template ID must contain only letters, numbers, '-', '.' and '_'. \"a b\""
    assert_native_error(bad, 400, message)
    api.post("/kapacitor/v1/templates", json={"id": uid, "script": STREAM})
    dup = api.post("/kapacitor/v1/templates", json={"id": uid, "script": STREAM})
    assert_native_error(dup, 400, f"template {uid} already exists")


def test_template_list_and_missing_patch(api: httpx.Client, uid: str) -> None:
    api.post("/kapacitor/v1/templates", json={"id": f"tl-{uid}", "script": STREAM})
    listed = api.get("/kapacitor/v1/templates", params={"pattern": f"tl-{uid}"}).json()
    assert [t["id"] for t in listed["templates"]] == [f"tl-{uid}"]
    resp = api.patch(f"/kapacitor/v1/templates/none-{uid}", json={"script": STREAM})
    assert_native_error(resp, 404, "template does not exist, cannot update")
