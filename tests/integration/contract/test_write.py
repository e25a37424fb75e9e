"""Contract: ``POST /kapacitor/v1/write`` (line protocol into Kapacitor).

Every test runs against each kind of server (``api``: emulator and kapacitord). Error
bodies are the bare error text and a newline (not JSON), with the JSON content type the
native routes always carry.
"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.contract.helpers import JSON_CT, assert_native_error

WRITE = "/kapacitor/v1/write"


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
