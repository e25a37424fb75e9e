"""Contract: TICKscript templates (``/kapacitor/v1/templates``) and the tasks made from them.

Every test runs against each kind of server (``api``: emulator and kapacitord).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.contract.helpers import DBRPS, assert_native_error

TEMPLATES = "/kapacitor/v1/templates"
TASKS = "/kapacitor/v1/tasks"
VARS_SCRIPT = (
    "// Which measurement to watch\nvar measurement string\n\n"
    "// Threshold\n// (two lines)\nvar limit = 10\nvar ratio = 0.5\nvar on = TRUE\n"
    'var period = 5m\nvar re = /^a.*$/\nvar fn = lambda: "value" > 1.0\n'
    "var names = ['a', 'b']\nvar s = 'text'\nvar t float\nvar d duration\nvar l lambda\n"
    "var li list\nvar st star\nvar r regex\nvar b bool\nvar i int\n"
    "stream|from().measurement(measurement)"
)
BASE = "var m string\nvar lim = 10\nstream|from().measurement(m)"
NEEDS_EXTRA = "var m string\nvar extra string\nvar lim = 20\nstream|from().measurement(m)"
M_CPU = {"m": {"type": "string", "value": "cpu"}}


def _var(vtype: str, value: Any, description: str = "") -> dict[str, Any]:
    return {"type": vtype, "value": value, "description": description}


def _create(api: httpx.Client, template_id: str, script: str, **extra: Any) -> Any:
    resp = api.post(TEMPLATES, json={"id": template_id, "script": script, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _task(api: httpx.Client, task_id: str, template_id: str, **extra: Any) -> Any:
    body = {"id": task_id, "template-id": template_id, "dbrps": DBRPS, "vars": M_CPU, **extra}
    resp = api.post(TASKS, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _raw(api: httpx.Client, path: str) -> Any:
    resp = api.get(path, params={"script-format": "raw"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_template_vars_as_declared(api: httpx.Client, uid: str) -> None:
    template = _create(api, f"v-{uid}", VARS_SCRIPT)
    assert template["vars"] == {
        "b": _var("bool", None),
        "d": _var("duration", None),
        "fn": _var("lambda", '"value" > 1.0'),
        "i": _var("int", None),
        "l": _var("lambda", None),
        "li": _var("list", None),
        "limit": _var("int", 10, "Threshold\n(two lines)"),
        "measurement": _var("string", None, "Which measurement to watch"),
        "names": _var("list", [_var("string", "a"), _var("string", "b")]),
        "on": _var("bool", True),
        "period": _var("duration", 300_000_000_000),
        "r": _var("regex", None),
        "ratio": _var("float", 0.5),
        "re": _var("regex", "^a.*$"),
        "s": _var("string", "text"),
        "st": _var("star", None),
        "t": _var("float", None),
    }
    assert list(template["vars"]) == sorted(template["vars"])  # a Go map: sorted keys
    assert template["type"] == "stream"
    assert template["dot"] == f"digraph v-{uid} {{\nstream0 -> from1;\n}}"


def test_template_body_carries_only_id_type_script(api: httpx.Client, uid: str) -> None:
    # vars in the body are ignored; on create the type comes from the script
    body = {"id": uid, "script": "stream|from()", "vars": 5, "type": "batch"}
    resp = api.post(TEMPLATES, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["type"] == "stream"
    assert resp.json()["vars"] == {}
    bad = api.post(TEMPLATES, json={"id": f"x{uid}", "script": "stream|from()", "type": "x"})
    assert_native_error(bad, 400, "invalid JSON")


@pytest.mark.parametrize("body", [{"script": ""}, {}])
def test_template_without_script_has_no_type(api: httpx.Client, uid: str, body: Any) -> None:
    resp = api.post(TEMPLATES, json={"id": uid, **body})
    assert_native_error(resp, 400, "invalid task type: invalid")


def test_template_get_takes_script_format_only(api: httpx.Client, uid: str) -> None:
    _create(api, uid, "stream|from()")
    assert api.get(f"{TEMPLATES}/{uid}", params={"dot-view": "x", "replay-id": "y"}).is_success
    bad = api.get(f"{TEMPLATES}/{uid}", params={"script-format": "x"})
    assert_native_error(bad, 400, 'invalid script-format parameter "x"')
    assert_native_error(api.get(f"{TEMPLATES}/none-{uid}"), 404, "no template exists")
    assert_native_error(api.get(f"{TEMPLATES}/"), 400, "must specify template id on path")


def test_template_list_shows_vars_only_on_request(api: httpx.Client, uid: str) -> None:
    _create(api, f"l-{uid}", BASE)
    listed = api.get(TEMPLATES, params={"pattern": f"l-{uid}"}).json()["templates"]
    fields = ["created", "dot", "error", "id", "link", "modified", "script", "type"]
    assert list(listed[0]) == fields
    asked = api.get(TEMPLATES, params={"pattern": f"l-{uid}", "fields": "vars"}).json()
    assert asked["templates"][0]["vars"]["m"] == _var("string", None)
    assert list(asked["templates"][0]) == ["id", "link", "vars"]


def test_template_type_changes_only_through_the_body(api: httpx.Client, uid: str) -> None:
    _create(api, uid, "stream|from()")
    batch = 'batch|query(\'SELECT * FROM "a"."b".c\').every(1m)'
    resp = api.patch(f"{TEMPLATES}/{uid}", json={"script": batch})
    assert resp.status_code == 400
    message = 'invalid TICKscript: name "batch" is undefined. Names in scope: '
    assert resp.json()["error"].startswith(message)
    # the names come from a Go map: their order varies from call to call
    assert set(resp.json()["error"].removeprefix(message).split(",")) == {"time", "stream"}
    resp = api.patch(f"{TEMPLATES}/{uid}", json={"script": batch, "type": "batch"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["type"] == "batch"
    assert resp.json()["dot"] == f"digraph {uid} {{\n}}"  # batch graphs start at the query


def test_template_rename(api: httpx.Client, uid: str) -> None:
    _create(api, f"a-{uid}", "stream|from()")
    _create(api, f"b-{uid}", "stream|from()")
    onto = api.patch(f"{TEMPLATES}/a-{uid}", json={"id": f"b-{uid}"})
    message = "failed to create new template for ID change: template already exists"
    assert_native_error(onto, 500, message)
    _task(api, f"t-{uid}", f"a-{uid}", vars={})
    renamed = api.patch(f"{TEMPLATES}/a-{uid}", json={"id": f"c-{uid}"})
    assert renamed.json()["id"] == f"c-{uid}"
    assert api.get(f"{TASKS}/t-{uid}").json()["template-id"] == f"c-{uid}"
    assert_native_error(api.get(f"{TEMPLATES}/a-{uid}"), 404, "no template exists")


def test_template_patch_errors(api: httpx.Client, uid: str) -> None:
    assert_native_error(api.patch(f"{TEMPLATES}/none-{uid}", content=b"x"), 400, "invalid JSON")
    missing = api.patch(f"{TEMPLATES}/none-{uid}", json={})
    assert_native_error(missing, 404, "template does not exist, cannot update")
    _create(api, uid, "stream|from()")
    parse = api.patch(f"{TEMPLATES}/{uid}", json={"script": "stream|"})
    assert parse.status_code == 400
    assert parse.json()["error"].startswith("invalid TICKscript: parser: unexpected EOF")


def test_template_update_reloads_linked_tasks(api: httpx.Client, uid: str) -> None:
    _create(api, f"T-{uid}", BASE)
    _task(api, f"a-{uid}", f"T-{uid}")
    _task(api, f"b-{uid}", f"T-{uid}", status="enabled")
    new = BASE.replace("lim = 10", "lim = 20")
    resp = api.patch(f"{TEMPLATES}/T-{uid}", json={"script": new})
    assert resp.status_code == 200, resp.text
    for name in ("a", "b"):
        task = _raw(api, f"{TASKS}/{name}-{uid}")
        assert task["script"] == new
    assert _raw(api, f"{TASKS}/b-{uid}")["executing"] is True


def test_template_update_breaking_an_enabled_task_is_500_and_half_applied(
    api: httpx.Client, uid: str
) -> None:
    _create(api, f"T-{uid}", BASE)
    _task(api, f"a-{uid}", f"T-{uid}")
    _task(api, f"b-{uid}", f"T-{uid}", status="enabled")
    _task(api, f"c-{uid}", f"T-{uid}")
    resp = api.patch(f"{TEMPLATES}/T-{uid}", json={"script": NEEDS_EXTRA})
    message = f'error reloading associated task b-{uid}: missing value for var "extra".'
    assert_native_error(resp, 500, message)
    # The template keeps the new script; the tasks (reloaded in ID order) are rolled back.
    assert _raw(api, f"{TEMPLATES}/T-{uid}")["script"] == NEEDS_EXTRA
    for name in ("a", "b", "c"):
        assert _raw(api, f"{TASKS}/{name}-{uid}")["script"] == BASE
    assert _raw(api, f"{TASKS}/b-{uid}")["executing"] is True
    # A template task takes its template's script on every PATCH, so now even disabling
    # the enabled task fails until the template is fixed.
    stuck = api.patch(f"{TASKS}/b-{uid}", json={"status": "disabled"})
    assert_native_error(stuck, 400, 'invalid TICKscript: missing value for var "extra".')
    assert api.patch(f"{TEMPLATES}/T-{uid}", json={"script": BASE}).status_code == 200
    assert api.patch(f"{TASKS}/b-{uid}", json={"status": "disabled"}).status_code == 200


def test_template_update_breaking_disabled_tasks_is_accepted(api: httpx.Client, uid: str) -> None:
    _create(api, f"T-{uid}", BASE)
    _task(api, f"a-{uid}", f"T-{uid}")
    assert api.patch(f"{TEMPLATES}/T-{uid}", json={"script": NEEDS_EXTRA}).status_code == 200
    task = _raw(api, f"{TASKS}/a-{uid}")
    assert task["script"] == NEEDS_EXTRA
    assert task["error"] == 'missing value for var "extra".'  # compiled to be shown
    assert task["dot"] == ""
    listed = api.get(TASKS, params={"pattern": f"a-{uid}", "fields": "error"}).json()
    assert listed["tasks"][0]["error"] == ""  # the list shows the stored error only
    enable = api.patch(f"{TASKS}/a-{uid}", json={"status": "enabled"})
    assert_native_error(enable, 400, 'invalid TICKscript: missing value for var "extra".')


def test_template_update_dropping_the_dbrp_statement(api: httpx.Client, uid: str) -> None:
    with_dbrp = 'dbrp "telegraf"."autogen"\nvar m = \'cpu\'\nstream|from().measurement(m)'
    _create(api, f"T-{uid}", with_dbrp)
    resp = api.post(TASKS, json={"id": f"a-{uid}", "template-id": f"T-{uid}", "status": "enabled"})
    assert resp.status_code == 200, resp.text
    without = "var m = 'cpu'\nstream|from().measurement(m)"
    resp = api.patch(f"{TEMPLATES}/T-{uid}", json={"script": without})
    message = f"error reloading associated task a-{uid}: task does contain any dbrps"
    assert_native_error(resp, 500, message)  # (sic)
    task = _raw(api, f"{TASKS}/a-{uid}")
    assert task["script"] == with_dbrp
    assert task["dbrps"] == DBRPS


def test_deleting_a_template_in_use(api: httpx.Client, uid: str) -> None:
    _create(api, f"T-{uid}", BASE)
    _task(api, f"a-{uid}", f"T-{uid}")
    assert api.delete(f"{TEMPLATES}/T-{uid}").status_code == 204
    assert api.delete(f"{TEMPLATES}/T-{uid}").status_code == 204
    assert api.get(f"{TASKS}/a-{uid}").json()["template-id"] == f"T-{uid}"
    # Every PATCH re-reads the template; the message names the body's template-id ("").
    for body in ({"status": "disabled"}, {"script": "stream|from()"}):
        resp = api.patch(f"{TASKS}/a-{uid}", json=body)
        assert_native_error(resp, 400, "unknown template : err: no template exists")
    # A template re-created with that ID is not associated: updates do not reach the task...
    _create(api, f"T-{uid}", "stream|from()")
    api.patch(f"{TEMPLATES}/T-{uid}", json={"script": "stream|from().measurement('q')"})
    assert _raw(api, f"{TASKS}/a-{uid}")["script"] == BASE
    # ...but the task's own PATCH reads it.
    assert api.patch(f"{TASKS}/a-{uid}", json={}).status_code == 200
    assert _raw(api, f"{TASKS}/a-{uid}")["script"] == "stream|from().measurement('q')"
    assert api.delete(f"{TASKS}/a-{uid}").status_code == 204


def test_template_delete_needs_an_id(api: httpx.Client) -> None:
    assert_native_error(api.delete(f"{TEMPLATES}/"), 400, "must specify template id on path")
