"""Contract: creating and reading TICKscript tasks (``/kapacitor/v1/tasks``).

Every test runs against each kind of server (``api``: emulator and kapacitord).
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.contract.helpers import (
    DBRPS,
    FORMATTED,
    JSON_CT,
    RFC3339NANO,
    STREAM,
    ZERO,
    assert_native_error,
    create_task,
)

# --- TICKscript tasks: create -----------------------------------------------------------


def test_create_task_returns_full_disabled_task(api: httpx.Client, uid: str) -> None:
    task = create_task(api, f"cpu-{uid}")
    assert task["link"] == {"rel": "self", "href": f"/kapacitor/v1/tasks/cpu-{uid}"}
    assert task["id"] == f"cpu-{uid}"
    assert task["template-id"] == ""
    assert task["type"] == "stream"
    assert task["dbrps"] == DBRPS
    assert task["script"] == FORMATTED
    assert task["vars"] == {}
    assert task["status"] == "disabled"
    assert task["executing"] is False
    assert task["error"] == ""
    assert task["stats"] == {}
    assert task["dot"].startswith(f"digraph cpu-{uid} {{")
    assert RFC3339NANO.match(task["created"])
    assert RFC3339NANO.match(task["modified"])
    assert task["last-enabled"] == ZERO


def test_create_task_response_is_pretty_without_newline(api: httpx.Client, uid: str) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": STREAM, "dbrps": DBRPS})
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.text.startswith('{\n    "link": {')
    assert not resp.text.endswith("\n")


def test_create_task_without_id_gets_uuid(api: httpx.Client) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"script": STREAM, "dbrps": DBRPS})
    assert resp.status_code == 200
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", resp.json()["id"]
    )


def test_task_id_may_hold_unicode_letters(api: httpx.Client, uid: str) -> None:
    create_task(api, f"tásk7-{uid}")
    assert api.get(f"/kapacitor/v1/tasks/tásk7-{uid}").json()["id"] == f"tásk7-{uid}"


@pytest.mark.parametrize("bad_id", ["a b", "a/b", "a:b", "x$"])
def test_create_task_rejects_bad_id(api: httpx.Client, bad_id: str) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"id": bad_id, "script": STREAM, "dbrps": DBRPS})
    message = f"task ID must contain only letters, numbers, '-', '.' and '_'. \"{bad_id}\""
    assert_native_error(resp, 400, message)


def test_create_task_twice_is_400(api: httpx.Client, uid: str) -> None:
    create_task(api, uid)
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": STREAM, "dbrps": DBRPS})
    assert_native_error(resp, 400, f"task {uid} already exists")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b'{"id": "x", "status": "running"}',
        b'{"id": "x", "type": "flux"}',
        b'{"id": "x", "dbrps": "telegraf"}',
        b'{"id": "x", "vars": {"v": {"type": "int", "value": "seven"}}}',
        b'{"id": "x", "vars": {"v": {"type": "color", "value": 1}}}',
    ],
)
def test_create_task_bad_body_is_invalid_json(api: httpx.Client, body: bytes) -> None:
    assert_native_error(api.post("/kapacitor/v1/tasks", content=body), 400, "invalid JSON")


def test_create_task_unknown_template(api: httpx.Client, uid: str) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "template-id": f"no-{uid}"})
    assert_native_error(resp, 400, f"unknown template no-{uid}: err: no template exists")


def test_create_task_needs_script(api: httpx.Client, uid: str) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "dbrps": DBRPS})
    assert_native_error(resp, 400, "must provide TICKscript")


@pytest.mark.parametrize(
    "script",
    [
        "stream|from(",
        "stream|from().measurement('cpu'))",
        "stream|from().measurement('cpu)",
        'stream|from().where(lambda: "host == 1)',
        "stream|",
        "stream|from().measurement('cpu') $",
        "var x",
    ],
)
def test_malformed_tickscript_is_400(api: httpx.Client, uid: str, script: str) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": script, "dbrps": DBRPS})
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("invalid TICKscript: ")
    assert api.get(f"/kapacitor/v1/tasks/{uid}").status_code == 404


@pytest.mark.parametrize(
    "script", ["var x = 5", "stream|from()\nbatch|query('SELECT 1')", "from()|alert()"]
)
def test_task_type_must_be_stream_or_batch(api: httpx.Client, uid: str, script: str) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": script, "dbrps": DBRPS})
    assert_native_error(resp, 400, "invalid task type: invalid")


def test_missing_var_value_is_compile_error(api: httpx.Client, uid: str) -> None:
    script = "var field string\nstream|from().measurement(field)"
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": script, "dbrps": DBRPS})
    assert_native_error(resp, 400, 'invalid TICKscript: missing value for var "field".')


def test_declared_var_with_value_compiles(api: httpx.Client, uid: str) -> None:
    script = "var field string\nstream|from().measurement(field)"
    vars_ = {"field": {"type": "string", "value": "cpu"}}
    task = create_task(api, uid, script, vars=vars_)
    assert task["vars"] == {"field": {"type": "string", "value": "cpu", "description": ""}}


def test_create_task_needs_dbrp(api: httpx.Client, uid: str) -> None:
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": STREAM})
    assert_native_error(resp, 400, "must specify dbrp")


def test_dbrp_statement_counts_as_dbrp(api: httpx.Client, uid: str) -> None:
    script = 'dbrp "db"."rp"\n' + STREAM
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": script})
    assert resp.status_code == 200, resp.text
    assert resp.json()["dbrps"] == [{"db": "db", "rp": "rp"}]


def test_dbrp_statement_and_body_dbrps_clash(api: httpx.Client, uid: str) -> None:
    script = 'dbrp "db"."rp"\n' + STREAM
    resp = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": script, "dbrps": DBRPS})
    assert_native_error(resp, 400, "cannot specify dbrp in both implicitly and explicitly")


def test_body_type_is_ignored(api: httpx.Client, uid: str) -> None:
    assert create_task(api, uid, type="batch")["type"] == "stream"


def test_batch_type_comes_from_script(api: httpx.Client, uid: str) -> None:
    script = 'batch|query(\'SELECT mean(usage) FROM "telegraf"."autogen".cpu\').period(1m)'
    assert create_task(api, uid, script)["type"] == "batch"


def test_create_enabled_task_executes(api: httpx.Client, uid: str) -> None:
    task = create_task(api, uid, status="enabled")
    assert task["status"] == "enabled"
    assert task["executing"] is True
    assert task["last-enabled"] != ZERO
    assert set(task["stats"]) == {"task-stats", "node-stats"}


def test_create_enabled_task_failing_start_is_500_but_stored(api: httpx.Client, uid: str) -> None:
    script = 'batch|query(\'SELECT x FROM "unknowndb"."unknownrp".m\').period(1m).every(1m)'
    body = {"id": uid, "script": script, "dbrps": DBRPS, "status": "enabled"}
    message = 'batch query is not allowed to request data from "unknowndb"."unknownrp"'
    assert_native_error(api.post("/kapacitor/v1/tasks", json=body), 500, message)
    task = api.get(f"/kapacitor/v1/tasks/{uid}").json()
    assert (task["status"], task["executing"], task["error"]) == ("enabled", False, message)
    assert_native_error(
        api.post("/kapacitor/v1/tasks", json=body), 400, f"task {uid} already exists"
    )


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "must define one of 'every' or 'cron'"),
        (".every(1m).cron('* * * * *')", "must not set both 'every' and 'cron' properties"),
    ],
)
def test_batch_query_schedule_is_checked_at_start(
    api: httpx.Client, uid: str, schedule: str, message: str
) -> None:
    # Checked when the task starts, before its queries are checked against its dbrps.
    query = 'batch|query(\'SELECT x FROM "unknowndb"."unknownrp".m\').period(1m)'
    create_task(api, f"off-{uid}", query + schedule)  # disabled: nothing is checked
    body = {"id": uid, "script": query + schedule, "dbrps": DBRPS, "status": "enabled"}
    assert_native_error(api.post("/kapacitor/v1/tasks", json=body), 500, message)
    task = api.get(f"/kapacitor/v1/tasks/{uid}").json()
    assert (task["status"], task["executing"], task["error"]) == ("enabled", False, message)


def test_batch_query_with_cron_starts(api: httpx.Client, uid: str) -> None:
    script = "batch|query('SELECT x FROM \"telegraf\".\"autogen\".m').period(1m).cron('* * * * *')"
    resp = api.post(
        "/kapacitor/v1/tasks",
        json={"id": uid, "script": script, "dbrps": DBRPS, "status": "enabled"},
    )
    # It starts (no 500). Not asserted: `executing`. Without an InfluxDB the real server's
    # query node fails right after starting ("no such InfluxDB config"), racing the answer.
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "enabled"


def test_vars_are_typed(api: httpx.Client, uid: str) -> None:
    vars_ = {
        "d": {"type": "duration", "value": "10s"},
        "n": {"type": "int", "value": 3, "description": "count"},
        "b": {"type": "bool", "value": True},
        "f": {"type": "float", "value": 0.5},
    }
    got = create_task(api, uid, vars=vars_)["vars"]
    assert got["d"] == {"type": "duration", "value": 10_000_000_000, "description": ""}
    assert got["n"] == {"type": "int", "value": 3, "description": "count"}
    assert got["b"]["value"] is True
    assert got["f"]["value"] == 0.5


def test_post_with_trailing_slash_or_id_is_404(api: httpx.Client, uid: str) -> None:
    body = {"id": uid, "script": STREAM, "dbrps": DBRPS}
    assert_native_error(api.post("/kapacitor/v1/tasks/", json=body), 404, "Not Found")
    assert_native_error(api.post(f"/kapacitor/v1/tasks/{uid}", json=body), 404, "Not Found")
    assert_native_error(api.get("/kapacitor/v1/task", params={"pattern": "*"}), 404, "Not Found")


# --- TICKscript tasks: read -------------------------------------------------------------


def test_get_missing_task_is_404(api: httpx.Client, uid: str) -> None:
    assert_native_error(api.get(f"/kapacitor/v1/tasks/{uid}"), 404, "no task exists")


def test_get_task_formatted_by_default_raw_on_request(api: httpx.Client, uid: str) -> None:
    create_task(api, uid)
    assert api.get(f"/kapacitor/v1/tasks/{uid}").json()["script"] == FORMATTED
    raw = api.get(f"/kapacitor/v1/tasks/{uid}", params={"script-format": "raw"})
    assert raw.json()["script"] == STREAM


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("script-format", "pretty", 'invalid script-format parameter "pretty"'),
        ("dot-view", "boxes", 'invalid dot-view parameter "boxes"'),
        ("replay-id", "r1", "no running replay with ID: r1"),
    ],
)
def test_get_task_bad_query(
    api: httpx.Client, uid: str, param: str, value: str, message: str
) -> None:
    create_task(api, uid)
    resp = api.get(f"/kapacitor/v1/tasks/{uid}", params={param: value})
    assert_native_error(resp, 400, message)


def test_get_task_with_empty_id_is_400(api: httpx.Client) -> None:
    assert_native_error(api.get("/kapacitor/v1/tasks/"), 400, "must specify task id on path")
