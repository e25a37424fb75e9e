"""Contract tests: Kapacitor's HTTP API as ``kapacitor-api.md`` documents it.

Plain HTTP against ``kapacitor_server`` only (never the emulator's control API), with
unique IDs per test instead of resets, so the same tests can run against a real
``kapacitord``. One small test per documented behaviour or error path: status code,
body and headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import AuthServer

JSON_CT = "application/json; charset=utf-8"
STREAM = "stream|from().measurement('cpu')"
FORMATTED = "stream\n    |from()\n        .measurement('cpu')\n"
DBRPS = [{"db": "telegraf", "rp": "autogen"}]
FLUX = "/kapacitor/v1/api/v2/tasks"
RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ZERO = "0001-01-01T00:00:00Z"


# --- helpers ------------------------------------------------------------------------


def assert_native_error(resp: httpx.Response, status: int, message: str) -> None:
    """A native error: pretty JSON, ``error`` and ``message`` equal, no trailing newline."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == JSON_CT
    body = {"error": message, "message": message}
    assert resp.text == json.dumps(body, indent=4, ensure_ascii=False)


def assert_flux_error(resp: httpx.Response, status: int, code: str, message: str) -> None:
    """A Flux API error: compact ``{code, message}`` plus newline and the code header."""
    assert resp.status_code == status, resp.text
    assert resp.headers["X-Platform-Error-Code"] == code
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.text == json.dumps({"code": code, "message": message}, separators=(",", ":")) + "\n"


def create_task(api: httpx.Client, task_id: str, script: str = STREAM, **extra: Any) -> Any:
    body = {"id": task_id, "script": script, "dbrps": DBRPS, **extra}
    resp = api.post("/kapacitor/v1/tasks", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def flux_script(name: str, schedule: str = "every: 1h", extra: str = "") -> str:
    return (
        f'option task = {{name: "{name}", {schedule}{extra}}}\n\n'
        'from(bucket: "telegraf") |> range(start: -1h) |> yield()\n'
    )


def create_flux(api: httpx.Client, task_name: str, **body: Any) -> Any:
    body.setdefault("flux", flux_script(task_name))
    resp = api.post(FLUX, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def run_now(api: httpx.Client, task_id: str, **body: Any) -> httpx.Response:
    return api.post(f"{FLUX}/{task_id}/runs", json=body or None)


def raw_get(base_url: str, path: str) -> http.client.HTTPResponse:
    """GET a path exactly as written (httpx would normalize dot segments)."""
    url = httpx.URL(base_url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def sign_jwt(secret: str, claims: dict[str, Any]) -> str:
    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(sig)}"


def utc_seconds(delta: timedelta = timedelta(0)) -> datetime:
    return (datetime.now(UTC) + delta).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- common rules ---------------------------------------------------------------------


def test_ping_get_is_204_with_version(api: httpx.Client) -> None:
    resp = api.get("/kapacitor/v1/ping")
    assert resp.status_code == 204
    assert resp.content == b""
    assert "X-Kapacitor-Version" in resp.headers
    assert resp.headers["Request-Id"]


def test_ping_head_is_204(api: httpx.Client) -> None:
    assert api.head("/kapacitor/v1/ping").status_code == 204


def test_ping_without_base_path_is_404(api: httpx.Client) -> None:
    assert_native_error(api.get("/ping"), 404, "Not Found")


def test_unknown_path_is_native_404(api: httpx.Client) -> None:
    resp = api.get("/kapacitor/v1/nothing-here")
    assert_native_error(resp, 404, "Not Found")
    assert "X-Kapacitor-Version" in resp.headers
    assert resp.headers["Request-Id"]


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/kapacitor/v1//ping", "/kapacitor/v1/ping"),
        ("/kapacitor/v1/./ping", "/kapacitor/v1/ping"),
        ("/kapacitor/v1/x/../ping?a=b", "/kapacitor/v1/ping?a=b"),
        ("/kapacitor/v1/tasks/../tasks/", "/kapacitor/v1/tasks/"),
    ],
)
def test_unclean_paths_redirect_301(kapacitor_server: str, path: str, location: str) -> None:
    resp = raw_get(kapacitor_server, path)
    assert resp.status == 301
    assert resp.getheader("Location") == location


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
    script = 'batch|query(\'SELECT x FROM "unknowndb"."unknownrp".m\').period(1m)'
    body = {"id": uid, "script": script, "dbrps": DBRPS, "status": "enabled"}
    message = 'batch query is not allowed to request data from "unknowndb"."unknownrp"'
    assert_native_error(api.post("/kapacitor/v1/tasks", json=body), 500, message)
    task = api.get(f"/kapacitor/v1/tasks/{uid}").json()
    assert (task["status"], task["executing"], task["error"]) == ("enabled", False, message)
    assert_native_error(
        api.post("/kapacitor/v1/tasks", json=body), 400, f"task {uid} already exists"
    )


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
    script = 'batch|query(\'SELECT x FROM "unknowndb"."unknownrp".m\').period(1m)'
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
    assert template["vars"]["measurement"] == {
        "type": "string",
        "value": "",
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


# --- Flux tasks -------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("flux", "message"),
    [
        ('from(bucket: "b")', "invalid options: no task options defined"),
        ("option task = {every: 1h}", "invalid options: missing required option: name"),
        ('option task = {name: "n"}', "invalid options: missing required option: cron or every"),
        (
            'option task = {name: "n", every: 1h, cron: "* * * * *"}',
            "invalid options: invalid options: must specify exactly one of either cron or every",
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
    task = create_flux(api, f"g-{uid}")
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


def test_flux_patch_every_rewrites_script(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"pe-{uid}")
    resp = api.patch(f"{FLUX}/{task['id']}", json={"every": "2h"})
    assert resp.status_code == 200
    patched = resp.json()
    assert patched["every"] == "2h"
    assert "every: 2h" in patched["flux"]
    assert patched["flux"] != task["flux"].replace("1h", "2h", 1)  # reformatted, not just edited
    assert RFC3339.match(patched["updatedAt"])


def test_flux_patch_cron_replaces_every(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"pc-{uid}")
    patched = api.patch(f"{FLUX}/{task['id']}", json={"cron": "*/5 * * * *"}).json()
    assert patched["cron"] == "*/5 * * * *"
    assert "every" not in patched
    assert "every:" not in patched["flux"]


def test_flux_patch_name_and_offset(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"pn-{uid}")
    patched = api.patch(f"{FLUX}/{task['id']}", json={"name": f"renamed-{uid}", "offset": "10s"})
    assert (patched.json()["name"], patched.json()["offset"]) == (f"renamed-{uid}", "10s")
    cleared = api.patch(f"{FLUX}/{task['id']}", json={"offset": "0s", "description": "d"}).json()
    assert "offset" not in cleared
    assert cleared["description"] == "d"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"every": "1h", "cron": "* * * * *"}, "cannot specify both every and cron"),
        ({}, "cannot update task without content"),
        ({"offset": "0s"}, "cannot update task without content"),
        ({"status": "paused"}, 'invalid task status: "paused"'),
    ],
)
def test_flux_patch_validation(
    api: httpx.Client, uid: str, body: dict[str, Any], message: str
) -> None:
    task = create_flux(api, f"pv-{uid}")
    resp = api.patch(f"{FLUX}/{task['id']}", json=body)
    assert_flux_error(resp, 400, "invalid", f"failed to decode request: {message}")


def test_flux_patch_missing_task(api: httpx.Client) -> None:
    resp = api.patch(f"{FLUX}/00000000000000fe", json={"status": "active"})
    assert_flux_error(resp, 404, "not found", "failed to update task: task not found")


def test_flux_patch_flux_without_options(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"po-{uid}")
    resp = api.patch(f"{FLUX}/{task['id']}", json={"flux": 'from(bucket: "b")'})
    message = "failed to update task: invalid options: no task options defined"
    assert_flux_error(resp, 400, "invalid", message)


def test_flux_patch_syntax_error_is_500(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"ps-{uid}")
    resp = api.patch(f"{FLUX}/{task['id']}", json={"flux": 'option task = {name: "x", every: 1h'})
    assert resp.status_code == 500
    assert resp.headers["X-Platform-Error-Code"] == "internal error"
    assert resp.json()["message"].startswith("failed to update task: ")


def test_flux_patch_status_round_trip(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"st-{uid}")
    inactive = api.patch(f"{FLUX}/{task['id']}", json={"status": "inactive"}).json()
    assert inactive["status"] == "inactive"
    active = api.patch(f"{FLUX}/{task['id']}", json={"status": "active"}).json()
    assert active["status"] == "active"
    assert active["latestCompleted"] >= task["latestCompleted"]
    assert active["latestCompleted"] == active["updatedAt"]


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


def test_flux_unknown_sub_path_is_404(api: httpx.Client) -> None:
    resp = api.get("/kapacitor/v1/api/v2/buckets")
    message = "url not found: /kapacitor/v1/api/v2/buckets: not found"
    assert_flux_error(resp, 404, "not found", message)


def test_flux_trailing_slash_redirects(api: httpx.Client) -> None:
    assert api.get(f"{FLUX}/").status_code == 301
    resp = api.post(f"{FLUX}/", json={})
    assert (resp.status_code, resp.headers["Location"]) == (308, FLUX)


# --- Flux runs ----------------------------------------------------------------------------


def test_manual_run_is_synchronous_201_snapshot(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"run-{uid}")
    resp = run_now(api, task["id"])
    assert resp.status_code == 201, resp.text
    run = resp.json()
    rid = run["id"]
    assert re.fullmatch(r"[0-9a-f]{16}", rid)
    assert (run["taskID"], run["status"]) == (task["id"], "scheduled")
    assert RFC3339.match(run["scheduledFor"])  # now, truncated to whole seconds
    assert RFC3339NANO.match(run["requestedAt"])
    for absent in ("startedAt", "finishedAt", "log"):
        assert absent not in run
    base = f"{FLUX}/{task['id']}/runs/{rid}"
    assert run["links"] == {
        "self": base,
        "task": f"{FLUX}/{task['id']}",
        "logs": f"{base}/logs",
        "retry": f"{base}/retry",
    }
    # The call returned after the run finished: the task already knows the result.
    after = api.get(f"{FLUX}/{task['id']}").json()
    assert after["lastRunStatus"] == "success"
    assert "lastRunError" not in after


def test_finished_run_is_listed_and_readable(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"lst-{uid}")
    rid = run_now(api, task["id"]).json()["id"]
    listing = api.get(f"{FLUX}/{task['id']}/runs").json()
    assert listing["links"] == {"self": f"{FLUX}/{task['id']}/runs", "task": f"{FLUX}/{task['id']}"}
    (run,) = listing["runs"]
    assert (run["id"], run["status"]) == (rid, "success")
    assert RFC3339NANO.match(run["startedAt"])
    assert RFC3339NANO.match(run["finishedAt"])
    assert api.get(f"{FLUX}/{task['id']}/runs/{rid}").json()["status"] == "success"


def test_run_logs(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"log-{uid}")
    rid = run_now(api, task["id"]).json()["id"]
    events = api.get(f"{FLUX}/{task['id']}/runs/{rid}/logs").json()["events"]
    messages = [e["message"] for e in events]
    assert messages[0] == "Started task from script: " + json.dumps(task["flux"])
    assert messages[-1] == "Completed(success)"
    assert {e["runID"] for e in events} == {rid}
    task_events = api.get(f"{FLUX}/{task['id']}/logs").json()["events"]
    assert [e["message"] for e in task_events] == messages


def test_task_logs_null_without_runs(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"nolog-{uid}")
    assert api.get(f"{FLUX}/{task['id']}/logs").json() == {"events": None}


def test_manual_run_with_scheduled_for(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"sf-{uid}")
    past = utc_seconds(timedelta(hours=-1))
    run = run_now(api, task["id"], scheduledFor=past.isoformat().replace("+00:00", "Z")).json()
    assert run["scheduledFor"] == iso(past)
    future = utc_seconds(timedelta(hours=1))
    run_now(api, task["id"], scheduledFor=iso(future))
    visible = api.get(f"{FLUX}/{task['id']}/runs").json()["runs"]
    assert [r["scheduledFor"] for r in visible] == [iso(past)]
    later = {"beforeTime": iso(future + timedelta(hours=1))}
    both = api.get(f"{FLUX}/{task['id']}/runs", params=later).json()["runs"]
    assert [r["scheduledFor"] for r in both] == [iso(future), iso(past)]


def test_manual_run_of_inactive_task_executes(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"in-{uid}", status="inactive")
    assert run_now(api, task["id"]).status_code == 201
    assert api.get(f"{FLUX}/{task['id']}").json()["lastRunStatus"] == "success"


def test_manual_run_of_missing_task(api: httpx.Client) -> None:
    resp = run_now(api, "00000000000000fd")
    assert_flux_error(resp, 404, "not found", "failed to force run: task not found")


def test_latest_completed_moves_forward_only(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"fw-{uid}")
    run_now(api, task["id"], scheduledFor=iso(utc_seconds(timedelta(days=-1))))
    assert api.get(f"{FLUX}/{task['id']}").json()["latestCompleted"] == task["latestCompleted"]
    ahead = utc_seconds(timedelta(hours=2))
    run_now(api, task["id"], scheduledFor=iso(ahead))
    assert api.get(f"{FLUX}/{task['id']}").json()["latestCompleted"] == iso(ahead)


def test_runs_of_unknown_task_is_empty_list(api: httpx.Client) -> None:
    resp = api.get(f"{FLUX}/00000000000000fc/runs")
    assert resp.status_code == 200
    assert resp.json()["runs"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "run limit is out of bounds, must be between 1 and 500"),
        ({"limit": "501"}, "run limit is out of bounds, must be between 1 and 500"),
        ({"limit": "-1"}, "run limit is out of bounds, must be between 1 and 500"),
        ({"limit": "many"}, 'strconv.Atoi: parsing "many": invalid syntax'),
        (
            {"afterTime": "2024-01-02T00:00:00Z", "beforeTime": "2024-01-01T00:00:00Z"},
            "beforeTime must be later than afterTime",
        ),
        (
            {"afterTime": "2024-01-01T00:00:00Z", "beforeTime": "2024-01-01T00:00:00Z"},
            "beforeTime must be later than afterTime",
        ),
    ],
)
def test_runs_list_bad_params(api: httpx.Client, params: dict[str, str], message: str) -> None:
    resp = api.get(f"{FLUX}/00000000000000fb/runs", params=params)
    assert_flux_error(resp, 400, "invalid", f"failed to decode request: {message}")


def test_runs_list_bad_time_is_400(api: httpx.Client) -> None:
    resp = api.get(f"{FLUX}/00000000000000fb/runs", params={"afterTime": "yesterday"})
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("failed to decode request: parsing time ")


def test_runs_time_filters_are_exclusive(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"ex-{uid}")
    at = utc_seconds(timedelta(hours=-2))
    run_now(api, task["id"], scheduledFor=iso(at))

    def listed(**params: str) -> int:
        return len(api.get(f"{FLUX}/{task['id']}/runs", params=params).json()["runs"])

    assert listed(afterTime=iso(at)) == 0
    assert listed(afterTime=iso(at - timedelta(seconds=1))) == 1
    assert listed(beforeTime=iso(at)) == 0
    assert listed(beforeTime=iso(at + timedelta(seconds=1))) == 1


def test_runs_after_filters_stored_runs(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"af-{uid}")
    ids = [
        run_now(api, task["id"], scheduledFor=iso(utc_seconds(timedelta(minutes=-m)))).json()["id"]
        for m in (3, 2, 1)
    ]
    pivot = sorted(ids)[0]
    listed = api.get(f"{FLUX}/{task['id']}/runs", params={"after": pivot}).json()["runs"]
    assert sorted(r["id"] for r in listed) == sorted(ids)[1:]
    newest_first = api.get(f"{FLUX}/{task['id']}/runs").json()["runs"]
    assert [r["id"] for r in newest_first] == ids[::-1]


def test_get_missing_run(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"gm-{uid}")
    resp = api.get(f"{FLUX}/{task['id']}/runs/00000000000000aa")
    assert_flux_error(resp, 404, "not found", "failed to find run: run not found")
    logs = api.get(f"{FLUX}/{task['id']}/runs/00000000000000aa/logs")
    assert_flux_error(logs, 404, "not found", "failed to find task logs: run not found")


def test_retry_creates_new_run(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"rt-{uid}")
    first = run_now(api, task["id"]).json()
    resp = api.post(f"{FLUX}/{task['id']}/runs/{first['id']}/retry")
    assert resp.status_code == 200, resp.text
    retried = resp.json()
    assert retried["id"] != first["id"]
    assert retried["scheduledFor"] == first["scheduledFor"]
    assert retried["status"] == "scheduled"
    assert "requestedAt" in retried
    statuses = [r["status"] for r in api.get(f"{FLUX}/{task['id']}/runs").json()["runs"]]
    assert statuses == ["success", "success"]


def test_retry_errors(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"re-{uid}")
    unknown_run = api.post(f"{FLUX}/{task['id']}/runs/00000000000000aa/retry")
    assert_flux_error(unknown_run, 404, "not found", "failed to retry run: run not found")
    unknown_task = api.post(f"{FLUX}/00000000000000fa/runs/00000000000000aa/retry")
    assert_flux_error(unknown_task, 404, "not found", "failed to retry run: task not found")


def test_cancel_unknown_run(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"cx-{uid}")
    resp = api.delete(f"{FLUX}/{task['id']}/runs/00000000000000aa")
    assert_flux_error(resp, 404, "not found", "failed to cancel run: run not found")


def test_run_storage_none_loses_finished_runs(
    kapacitor_server_none: str, client_for: Callable[[str], httpx.Client], uid: str
) -> None:
    api = client_for(kapacitor_server_none)
    task = create_flux(api, f"none-{uid}")
    run = run_now(api, task["id"])
    assert run.status_code == 201
    rid = run.json()["id"]
    assert api.get(f"{FLUX}/{task['id']}/runs").json()["runs"] == []
    missing = api.get(f"{FLUX}/{task['id']}/runs/{rid}")
    assert_flux_error(missing, 404, "not found", "failed to find run: run not found")
    retry = api.post(f"{FLUX}/{task['id']}/runs/{rid}/retry")
    assert_flux_error(retry, 404, "not found", "failed to retry run: run not found")
    logs = api.get(f"{FLUX}/{task['id']}/runs/{rid}/logs")
    assert_flux_error(logs, 404, "not found", "failed to find task logs: run not found")
    assert api.get(f"{FLUX}/{task['id']}").json()["lastRunStatus"] == "success"


# --- auth -----------------------------------------------------------------------------------


def _auth_get(
    server: AuthServer, path: str = "/kapacitor/v1/tasks", **kwargs: Any
) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", **kwargs)


def assert_unauthorized(resp: httpx.Response, message: str) -> None:
    assert resp.status_code == 401
    assert resp.text == json.dumps({"error": message, "message": message}, separators=(",", ":"))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "unable to parse authentication credentials"),
        ({"Authorization": "Token abc"}, "unable to parse authentication credentials"),
        (
            {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()},
            "authorization failed",
        ),
        ({"Authorization": "Basic " + base64.b64encode(b":pw").decode()}, "username required"),
        (
            {"Authorization": "Bearer a.b"},
            "invalid token: token contains an invalid number of segments",
        ),
    ],
)
def test_auth_rejections(
    kapacitor_auth_server: AuthServer, headers: dict[str, str], message: str
) -> None:
    assert_unauthorized(_auth_get(kapacitor_auth_server, headers=headers), message)


def test_auth_applies_to_ping_and_404(kapacitor_auth_server: AuthServer) -> None:
    assert _auth_get(kapacitor_auth_server, "/kapacitor/v1/ping").status_code == 401
    assert _auth_get(kapacitor_auth_server, "/kapacitor/v1/nope").status_code == 401


def test_auth_basic_and_query_credentials(kapacitor_auth_server: AuthServer) -> None:
    server = kapacitor_auth_server
    creds = (server.username, server.password)
    assert _auth_get(server, auth=creds).status_code == 200
    query = {"u": server.username, "p": server.password}
    assert _auth_get(server, params=query).status_code == 200


def test_auth_jwt(kapacitor_auth_server: AuthServer) -> None:
    server = kapacitor_auth_server
    exp = int(time.time()) + 600

    def bearer(claims: dict[str, Any], secret: str = server.shared_secret) -> httpx.Response:
        token = sign_jwt(secret, claims)
        return _auth_get(server, headers={"Authorization": f"Bearer {token}"})

    assert bearer({"username": server.username, "exp": exp}).status_code == 200
    bad_sig = bearer({"username": server.username, "exp": exp}, "other")
    assert_unauthorized(bad_sig, "invalid token: signature is invalid")
    expired = bearer({"username": server.username, "exp": int(time.time()) - 600})
    assert_unauthorized(expired, "invalid token: Token is expired")
    assert_unauthorized(bearer({"username": server.username}), "token expiration required")
    assert_unauthorized(bearer({"exp": exp}), "token must contain a username")


def test_auth_flux_owner_is_username(kapacitor_auth_server: AuthServer, uid: str) -> None:
    server = kapacitor_auth_server
    with httpx.Client(base_url=server.url, auth=(server.username, server.password)) as api:
        assert create_flux(api, f"own-{uid}")["ownerID"] == server.username
