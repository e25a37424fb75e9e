"""Contract: rules common to every route (ping, 404, redirects, OPTIONS, gzip, mounts).

Every test runs against each kind of server (``api``: emulator and kapacitord).
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from tests.integration.contract.helpers import (
    FLUX,
    JSON_CT,
    assert_flux_error,
    assert_native_error,
    raw_request,
)


def test_ping_get_is_204_with_version(api: httpx.Client) -> None:
    resp = api.get("/kapacitor/v1/ping")
    assert resp.status_code == 204
    assert resp.content == b""
    assert "X-Kapacitor-Version" in resp.headers
    assert resp.headers["Request-Id"]
    assert resp.headers["Content-Type"] == JSON_CT  # even without a body


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
def test_unclean_paths_redirect_301(contract_server: str, path: str, location: str) -> None:
    resp, body = raw_request(contract_server, path)
    assert resp.status == 301
    assert resp.getheader("Location") == location
    assert body == f'<a href="{location}">Moved Permanently</a>.\n\n'.encode()
    # The mux redirects before any of Kapacitor's wrappers run.
    assert resp.getheader("X-Kapacitor-Version") is None
    assert resp.getheader("Request-Id") is None


@pytest.mark.parametrize("path", ["/kapacitor/v1/tasks", FLUX, "/kapacitor/v1/nothing", "/x"])
def test_options_is_an_empty_200_anywhere(contract_server: str, path: str) -> None:
    resp, body = raw_request(contract_server, path, "OPTIONS")
    assert (resp.status, body) == (200, b"")
    assert resp.getheader("Request-Id")
    assert resp.getheader("Content-Type") is None
    assert resp.getheader("X-Kapacitor-Version") is None  # CORS answers before the version


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_native_routes_gzip_when_asked(contract_server: str, method: str) -> None:
    for path, status in (("/kapacitor/v1/ping", 204), ("/kapacitor/v1/nothing", 404)):
        resp, body = raw_request(contract_server, path, method, {"Accept-Encoding": "gzip"})
        assert (resp.status, resp.getheader("Content-Encoding")) == (status, "gzip")
        if body:
            assert json.loads(gzip.decompress(body))["message"] == "Not Found"
        plain, _ = raw_request(contract_server, path, method)
        assert plain.getheader("Content-Encoding") is None


def test_httpx_gets_gzip_by_default_and_decodes_it(api: httpx.Client, uid: str) -> None:
    resp = api.get("/kapacitor/v1/tasks", params={"pattern": f"none-{uid}"})
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.json() == {"tasks": []}
    deleted = api.delete(f"/kapacitor/v1/tasks/none-{uid}")
    assert (deleted.status_code, deleted.headers["Content-Encoding"]) == (204, "gzip")


def test_flux_routes_never_gzip(api: httpx.Client) -> None:
    resp = api.get(FLUX, params={"limit": 1})
    assert resp.status_code == 200
    assert "Content-Encoding" not in resp.headers
    assert "Content-Encoding" not in api.get(f"{FLUX}/00000000000000ff").headers


@pytest.mark.parametrize(
    "path",
    [
        "/kapacitor/v1/api/v2",
        "/kapacitor/v1/api/v2/",
        "/kapacitor/v1/api/v2/buckets",
        "/kapacitor/v1/api/v2/tasksx",
    ],
)
def test_flux_api_is_mounted_on_tasks_only(api: httpx.Client, path: str) -> None:
    assert_native_error(api.get(path), 404, "Not Found")


def test_head_is_not_a_flux_method(api: httpx.Client) -> None:
    resp = api.head(FLUX)
    assert (resp.status_code, resp.headers["Content-Type"]) == (404, JSON_CT)


def test_flux_unknown_sub_path_is_flux_404(api: httpx.Client) -> None:
    path = f"{FLUX}/00000000000000aa/nothing"
    message = f"url not found: {path}: not found"
    assert_flux_error(api.get(path), 404, "not found", message)
