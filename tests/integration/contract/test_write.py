"""Contract: ``POST /kapacitor/v1/write`` (line protocol into Kapacitor) and the execution
stats of the stream tasks it feeds.

Every test runs against each kind of server (``api``: emulator and kapacitord). Error
bodies are the bare error text and a newline (not JSON), with the JSON content type the
native routes always carry.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.contract.helpers import DBRPS, JSON_CT, assert_native_error

WRITE = "/kapacitor/v1/write"
NODE_STATS = {"avg_exec_time_ns", "collected", "emitted", "errors", "working_cardinality"}


def _error(resp: httpx.Response, text: str) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"] == JSON_CT
    assert resp.text == text + "\n"


@pytest.mark.parametrize(
    "body",
    [
        "m v=1",
        'm,host=a v=1i,ok=true,s="x y" 1',
        "# a comment\n\n  m v=1\n",
        "",
    ],
)
def test_write_is_204(api: httpx.Client, body: str) -> None:
    resp = api.post(WRITE, params={"db": "db", "rp": "rp"}, content=body)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""


def test_write_without_base_path(api: httpx.Client) -> None:
    assert api.post("/write", params={"db": "db"}, content="m v=1").status_code == 204
    assert_native_error(api.get(WRITE, params={"db": "db"}), 404, "Not Found")


def test_write_needs_a_database(api: httpx.Client) -> None:
    _error(api.post(WRITE, content="m v=1"), "database is required")
    _error(api.post(WRITE, content=""), "database is required")


def test_bad_lines_are_reported_before_the_database(api: httpx.Client) -> None:
    _error(api.post(WRITE, content="m"), "unable to parse 'm': missing fields")


def test_every_bad_line_is_listed_and_nothing_is_written(api: httpx.Client) -> None:
    body = "m v=1\nbad line\nm v=2 abc"
    resp = api.post(WRITE, params={"db": "db"}, content=body)
    _error(
        resp,
        "unable to parse 'bad line': invalid field format\n"
        "unable to parse 'm v=2 abc': bad timestamp",
    )


@pytest.mark.parametrize(
    ("line", "params", "why"),
    [
        ('m v="unterminated', {}, "unbalanced quotes"),
        (
            "m v=1 99999999999999",
            {"precision": "s"},
            "time outside range -9223372036854775806 - 9223372036854775806",
        ),
        ("m,a v=1", {}, "missing tag value"),
        ("m,a=b=c v=1", {}, "invalid tag format"),
        ("m v=tru", {}, "invalid boolean"),
        ("m v=1.2.3", {}, "invalid number"),
        ("m v=1 1 x", {}, "point is invalid"),
    ],
)
def test_line_errors(api: httpx.Client, line: str, params: dict[str, str], why: str) -> None:
    resp = api.post(WRITE, params={"db": "db", **params}, content=line)
    _error(resp, f"unable to parse '{line}': {why}")


def test_unknown_precision_counts_as_nanoseconds(api: httpx.Client) -> None:
    resp = api.post(WRITE, params={"db": "db", "precision": "x"}, content="m v=1 1")
    assert resp.status_code == 204


def test_written_points_reach_executing_stream_tasks(
    api: httpx.Client, uid: str, wait_for: Any
) -> None:
    script = f"stream|from().measurement('m{uid}')|log()"
    body = {"id": uid, "dbrps": DBRPS, "script": script, "status": "enabled"}
    assert api.post("/kapacitor/v1/tasks", json=body).status_code == 200
    params = {"db": "telegraf", "rp": "autogen"}
    lines = f"m{uid} v=1\nm{uid} v=2\nother{uid} v=3"
    assert api.post(WRITE, params=params, content=lines).status_code == 204
    assert api.post(WRITE, params={"db": "telegraf"}, content=f"m{uid} v=4").status_code == 204

    def stream_node() -> Any:
        stats = api.get(f"/kapacitor/v1/tasks/{uid}").json()["stats"]["node-stats"]
        return stats if stats["stream0"]["collected"] == 2 else None

    stats = wait_for(stream_node)
    assert list(stats) == ["from1", "log2", "stream0"]  # sorted, as Go marshals a map
    assert stats["stream0"]["emitted"] == 2
    assert stats["from1"]["collected"] == 2
    assert all(set(node) == NODE_STATS for node in stats.values())
    # Counts start again when the task restarts.
    for status in ("disabled", "enabled"):
        assert api.patch(f"/kapacitor/v1/tasks/{uid}", json={"status": status}).is_success
    restarted = api.get(f"/kapacitor/v1/tasks/{uid}").json()["stats"]["node-stats"]
    assert restarted["stream0"]["collected"] == 0
