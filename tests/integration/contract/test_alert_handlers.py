"""Contract: alert topic handlers (``/kapacitor/v1/alerts/topics/<topic>/handlers``).

Every test runs against each kind of server (``api``: emulator and kapacitord).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.contract.helpers import assert_native_error

TOPICS = "/kapacitor/v1/alerts/topics"
DECODE = "failed to decode options into"


def _handlers(topic: str) -> str:
    return f"{TOPICS}/{topic}/handlers"


def _create(api: httpx.Client, topic: str, /, **spec: Any) -> Any:
    resp = api.post(_handlers(topic), json=spec)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_handler_lifecycle(api: httpx.Client, uid: str) -> None:
    topic = f"t-{uid}"
    created = _create(api, topic, id="h1", kind="slack", options={"channel": "#ops"})
    assert created == {
        "link": {"rel": "self", "href": f"{TOPICS}/{topic}/handlers/h1"},
        "id": "h1",
        "kind": "slack",
        "options": {"channel": "#ops"},
        "match": "",
    }
    assert api.get(f"{_handlers(topic)}/h1").json() == created
    listed = api.get(_handlers(topic)).json()
    assert listed == {
        "link": {"rel": "self", "href": _handlers(topic)},
        "topic": topic,
        "handlers": [created],
    }
    assert api.delete(f"{_handlers(topic)}/h1").status_code == 204
    assert api.delete(f"{_handlers(topic)}/h1").status_code == 204
    assert_native_error(api.get(f"{_handlers(topic)}/h1"), 404, 'unknown handler: "h1"')


def test_options_are_echoed_verbatim_secrets_included(api: httpx.Client, uid: str) -> None:
    options = {
        "routing-key": "s3cr3t-routing-key",
        "links": [{"href": "http://runbook", "text": "runbook"}],
    }
    created = _create(api, f"t-{uid}", id="pd", kind="pagerduty2", options=options)
    assert created["options"] == options
    assert api.get(f"{_handlers(f't-{uid}')}/pd").json()["options"] == options
    sn = {"password": "pw", "username": "u", "url": "http://sn", "metricname": "m"}
    assert _create(api, f"t-{uid}", id="sn", kind="servicenow", options=sn)["options"] == sn


def test_option_numbers_come_back_as_go_floats(api: httpx.Client, uid: str) -> None:
    options = {"token": "t", "timeout": 1e9, "attributes": {"x": 1, "y": 1.5, "z": 1e-7}}
    resp = api.post(_handlers(f"t-{uid}"), json={"id": "a", "kind": "alerta", "options": options})
    assert resp.status_code == 200, resp.text
    assert '"timeout": 1000000000' in resp.text
    assert '"z": 1e-7' in resp.text
    assert resp.text.index('"attributes"') < resp.text.index('"timeout"')  # keys sorted


def test_options_absent_are_null(api: httpx.Client, uid: str) -> None:
    assert _create(api, f"t-{uid}", id="t", kind="tcp")["options"] is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "log"}, "handler ID must contain only letters, numbers, '-', '.' and '_'. \"\""),
        (
            {"id": "a b", "kind": "log"},
            "handler ID must contain only letters, numbers, '-', '.' and '_'. \"a b\"",
        ),
        ({"id": "x"}, "handler Kind must not be empty"),
    ],
)
def test_invalid_spec_is_400(api: httpx.Client, uid: str, spec: Any, message: str) -> None:
    resp = api.post(_handlers(f"t-{uid}"), json=spec)
    assert_native_error(resp, 400, f"invalid handler spec: {message}")


def test_empty_topic_names_the_handler_id(api: httpx.Client) -> None:
    resp = api.post(f"{TOPICS}/", json={"id": "x", "kind": "tcp"})
    message = "handler topic must contain only letters, numbers, '-', '.' and '_'. \"x\""
    assert_native_error(resp, 400, f"invalid handler spec: {message}")  # (sic: the ID)


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("nope", None, 'unsupported action kind "nope"'),
        (
            "slack",
            {"url": "https://hooks"},
            f"{DECODE} *slack.HandlerConfig: 1 error(s) decoding:\n\n* '' has invalid keys: url",
        ),
        ("log", None, "log path must be absolute:  is not absolute"),
        ("log", {"path": "rel.log"}, "log path must be absolute: rel.log is not absolute"),
        (
            "log",
            {"path": "/tmp/a.log", "mode": 256},
            "invalid file mode -r--------, must be user writable",
        ),
        (
            "log",
            {"path": "/tmp/a.log", "mode": -1},
            f"{DECODE} *alert.LogHandlerConfig: 1 "
            "error(s) decoding:\n\n* cannot parse 'mode', -1.000000 overflows uint",
        ),
        (
            "log",
            {"path": "/a", "mode": "0644"},
            f"{DECODE} *alert.LogHandlerConfig: 1 error(s) "
            "decoding:\n\n* 'mode' expected type 'fs.FileMode', got unconvertible type 'string', "
            "value: '0644'",
        ),
        (
            "post",
            None,
            "An appropriately formatted url must be specified if an endpoint is not specified",
        ),
        (
            "post",
            {"url": "http://x", "timeout": "10s"},
            f"{DECODE} *httppost.HandlerConfig: "
            "1 error(s) decoding:\n\n* 'timeout' expected type 'time.Duration', got unconvertible "
            "type 'string', value: '10s'",
        ),
        (
            "post",
            {"url": "http://x", "headers": {"a": 1}, "capture-response": "yes"},
            f"{DECODE} "
            "*httppost.HandlerConfig: 2 error(s) decoding:\n\n* 'capture-response' expected type "
            "'bool', got unconvertible type 'string', value: 'yes'\n* 'headers[a]' expected type "
            "'string', got unconvertible type 'float64', value: '1'",
        ),
        (
            "smtp",
            {"to": "a@b"},
            f"{DECODE} *smtp.HandlerConfig: 1 error(s) decoding:\n\n* "
            "'to': source data must be an array or slice, got string",
        ),
        (
            "smtp",
            {"to": ["a@b", 5], "To": [1]},
            f"{DECODE} *smtp.HandlerConfig: 2 error(s) "
            "decoding:\n\n* '' has invalid keys: To\n* 'to[1]' expected type 'string', got "
            "unconvertible type 'float64', value: '5'",
        ),
        (
            "snmptrap",
            {"data-list": [{"oid": "1", "x": 1}], "trap-oid": 5},
            f"{DECODE} "
            "*snmptrap.HandlerConfig: 2 error(s) decoding:\n\n* 'data-list[0]' has invalid keys: "
            "x\n* 'trap-oid' expected type 'string', got unconvertible type 'float64', value: "
            "'5'",
        ),
        (
            "pagerduty2",
            {"links": ["x"]},
            f"{DECODE} *pagerduty2.HandlerConfig: 1 error(s) "
            "decoding:\n\n* 'links[0]' expected a map, got 'string'",
        ),
        (
            "zenoss",
            {"tid": "5", "metricname": 1},
            f"{DECODE} *zenoss.HandlerConfig: 2 error(s) "
            "decoding:\n\n* '' has invalid keys: metricname\n* 'tid' expected type 'int64', got "
            "unconvertible type 'string', value: '5'",
        ),
        ("kafka", None, 'unknown cluster ""'),
        (
            "aggregate",
            {"interval": 1e9, "message": "{{ .Bad"},
            "template: message:1: unclosed action",
        ),
    ],
)
def test_kind_and_option_errors_are_500(
    api: httpx.Client, uid: str, kind: str, options: Any, message: str
) -> None:
    resp = api.post(_handlers(f"t-{uid}"), json={"id": "x", "kind": kind, "options": options})
    assert_native_error(resp, 500, f"failed to create handler: {message}")


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("log", {"path": "/tmp/kapacitor-contract.log", "mode": 384}),
        ("post", {"endpoint": "example"}),
        ("talk", {"anything": 1}),
        ("mqtt", {"qos": 2, "topic": "t"}),
        ("smtp", {"to": ["oncall@example.com"]}),
        ("telegram", {"chat-id": "1", "disable-notification": True}),
        ("aggregate", {"interval": 60e9, "topic": "rollup"}),
    ],
)
def test_valid_options_per_kind(api: httpx.Client, uid: str, kind: str, options: Any) -> None:
    assert _create(api, f"t-{uid}", id="x", kind=kind, options=options)["options"] == options


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ("level == CRITICAL", 'unknown identifier "level"'),
        (
            "level ==",
            "invalid match expression: parser: unexpected EOF line 1 char 9 in "
            '"level ==". expected: "number","string","duration","identifier","TRUE","FALSE",'
            '"==","(","-","!"',
        ),
        (
            "1 2",
            'invalid match expression: parser: unexpected number line 1 char 3 in "1 2". '
            'expected: "EOF"',
        ),
    ],
)
def test_bad_match_is_500(api: httpx.Client, uid: str, match: str, message: str) -> None:
    spec = {"id": "m", "kind": "tcp", "match": match}
    resp = api.post(_handlers(f"t-{uid}"), json=spec)
    assert_native_error(resp, 500, f"failed to create handler: {message}")


def test_match_with_levels_and_functions(api: httpx.Client, uid: str) -> None:
    match = "level() >= WARNING AND \"host\" == 'a' AND changed()"
    assert _create(api, f"t-{uid}", id="m", kind="tcp", match=match)["match"] == match


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (b"{", "unexpected EOF"),
        (b"x", "invalid character 'x' looking for beginning of value"),
        (
            b'{"id":1}',
            "json: cannot unmarshal number into Go struct field HandlerSpec.id of type string",
        ),
        (
            b'{"id":"x","kind":"tcp","options":[1]}',
            "json: cannot unmarshal array into Go "
            "struct field HandlerSpec.options of type map[string]interface {}",
        ),
        (b"[]", "json: cannot unmarshal array into Go value of type alert.HandlerSpec"),
    ],
)
def test_bad_json_is_400(api: httpx.Client, uid: str, body: bytes, message: str) -> None:
    resp = api.post(_handlers(f"t-{uid}"), content=body)
    assert_native_error(resp, 400, f"invalid handler json: {message}")


def test_duplicate_id_is_500(api: httpx.Client, uid: str) -> None:
    _create(api, f"t-{uid}", id="d", kind="tcp")
    resp = api.post(_handlers(f"t-{uid}"), json={"id": "d", "kind": "tcp"})
    message = (
        'failed to create handler: cannot register handler, handler with ID "d" already exists'
    )
    assert_native_error(resp, 500, message)


def test_body_topic_is_ignored_and_keys_are_case_insensitive(api: httpx.Client, uid: str) -> None:
    created = _create(api, f"t-{uid}", id="u", kind="tcp", topic="other", extra=1)
    assert created["link"]["href"] == f"{_handlers(f't-{uid}')}/u"
    resp = api.post(_handlers(f"t-{uid}"), json={"ID": "u2", "KIND": "tcp"})
    assert resp.json()["id"] == "u2"


def test_put_replaces_the_whole_handler(api: httpx.Client, uid: str) -> None:
    base = _handlers(f"t-{uid}")
    _create(api, f"t-{uid}", id="h", kind="slack", options={"channel": "#a"})
    no_id = api.put(f"{base}/h", json={"kind": "tcp"})
    id_message = "handler ID must contain only letters, numbers, '-', '.' and '_'. \"\""
    assert_native_error(no_id, 400, f"invalid handler spec: {id_message}")
    resp = api.put(f"{base}/h", json={"id": "h", "kind": "tcp", "options": {"address": "x:1"}})
    assert resp.json()["options"] == {"address": "x:1"}
    assert resp.json()["match"] == ""
    assert_native_error(api.put(f"{base}/h", content=b""), 400, "failed to unmarshal JSON: EOF")
    unknown = api.put(f"{base}/h", json={"id": "h", "kind": "nope"})
    assert_native_error(unknown, 500, 'failed to update handler: unsupported action kind "nope"')
    assert_native_error(api.put(f"{base}/zz", json={}), 404, 'unknown handler: "zz"')
    assert_native_error(api.put(f"{TOPICS}/t-{uid}", json={}), 404, 'unknown handler: ""')


def test_put_with_a_new_id_renames_even_onto_another_handler(api: httpx.Client, uid: str) -> None:
    base = _handlers(f"t-{uid}")
    _create(api, f"t-{uid}", id="a", kind="tcp", options={"address": "a:1"})
    _create(api, f"t-{uid}", id="b", kind="tcp", options={"address": "b:1"})
    resp = api.put(f"{base}/a", json={"id": "b", "kind": "tcp", "options": {"address": "c:1"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["link"]["href"] == f"{base}/b"
    handlers = api.get(base).json()["handlers"]
    assert [(h["id"], h["options"]["address"]) for h in handlers] == [("b", "c:1")]


def test_patch_applies_a_json_patch(api: httpx.Client, uid: str) -> None:
    base = _handlers(f"t-{uid}")
    _create(api, f"t-{uid}", id="h", kind="slack", options={"channel": "#x"}, match="changed()")
    patch = [
        {"op": "replace", "path": "/kind", "value": "log"},
        {"op": "remove", "path": "/options/channel"},
        {"op": "add", "path": "/options/path", "value": "/tmp/kapacitor-contract.log"},
        {"op": "test", "path": "/match", "value": "changed()"},
    ]
    resp = api.patch(f"{base}/h", json=patch)
    assert resp.status_code == 200, resp.text
    assert resp.json()["options"] == {"path": "/tmp/kapacitor-contract.log"}
    # replace of a missing object key adds it (evanphx/json-patch), and an empty patch is fine
    resp = api.patch(f"{base}/h", json=[{"op": "replace", "path": "/options/mode", "value": 384}])
    assert resp.json()["options"]["mode"] == 384
    assert api.patch(f"{base}/h", json=[]).json() == resp.json()
    renamed = api.patch(f"{base}/h", json=[{"op": "replace", "path": "/id", "value": "h2"}])
    assert renamed.json()["link"]["href"] == f"{base}/h2"
    assert_native_error(api.get(f"{base}/h"), 404, 'unknown handler: "h"')


@pytest.mark.parametrize(
    ("patch", "status", "message"),
    [
        (
            [{"op": "remove", "path": "/options/nokey"}],
            400,
            "failed to apply patch: error in "
            "remove for path: '/options/nokey': Unable to remove nonexistent key: nokey: missing "
            "value",
        ),
        (
            [{"op": "remove", "path": "/nope/x"}],
            400,
            "failed to apply patch: remove operation "
            'does not apply: doc is missing path: "/nope/x": missing value',
        ),
        ([{"op": "bogus", "path": "/kind"}], 400, "failed to apply patch: Unexpected kind: bogus"),
        ([{"path": "/kind"}], 400, "failed to apply patch: Unexpected kind: unknown"),
        (
            [{"op": "test", "path": "/kind", "value": "tcp"}],
            400,
            "failed to apply patch: testing value /kind failed: test failed",
        ),
        (
            {},
            400,
            "invalid patch json: json: cannot unmarshal object into Go value of type "
            "jsonpatch.Patch",
        ),
        (None, 400, "invalid patch json: unexpected end of JSON input"),
        (
            [{"op": "replace", "path": "/topic", "value": "t9"}],
            500,
            "failed to update handler: cannot change topic in update",
        ),
        (
            [{"op": "replace", "path": "/kind", "value": 5}],
            500,
            "failed to unmarshal patched "
            "json: json: cannot unmarshal number into Go struct field HandlerSpec.kind of type "
            "string",
        ),
        (
            [{"op": "add", "path": "/options/nokey", "value": 1}],
            500,
            "failed to update handler: "
            f"{DECODE} *alert.LogHandlerConfig: 1 error(s) decoding:\n\n* '' has invalid keys: "
            "nokey",
        ),
    ],
)
def test_patch_errors(api: httpx.Client, uid: str, patch: Any, status: int, message: str) -> None:
    base = _handlers(f"t-{uid}")
    _create(api, f"t-{uid}", id="h", kind="log", options={"path": "/tmp/kapacitor-contract.log"})
    resp = api.patch(f"{base}/h", content=b"" if patch is None else json.dumps(patch).encode())
    assert_native_error(resp, status, message)


def test_patch_unknown_handler_is_404_before_the_body(api: httpx.Client, uid: str) -> None:
    resp = api.patch(f"{_handlers(f't-{uid}')}/none", content=b"not json")
    assert_native_error(resp, 404, 'unknown handler: "none"')
