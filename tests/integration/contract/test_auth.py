"""Contract: HTTP authentication.

Most tests take ``kapacitor_noauth_server`` and run against each kind of server:
``[http] auth-enabled = true`` with a JWT shared secret and ``[auth] enabled = false``,
Kapacitor's ``noauth`` user service, which needs credentials on every request but
accepts any Basic user and password. That is the one auth setup a real kapacitord can
have offline. Checking a password needs ``[auth] enabled = true``, whose user store is an
InfluxDB Enterprise meta node, so the tests with a real user take
``kapacitor_auth_server`` and are emulator-only.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.integration.contract.helpers import FLUX, create_flux, raw_request, sign_jwt

if TYPE_CHECKING:
    from tests.integration.conftest import AuthServer


def _get(server: AuthServer, path: str = "/kapacitor/v1/tasks", **kwargs: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", **kwargs)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def assert_unauthorized(resp: httpx.Response, message: str) -> None:
    assert resp.status_code == 401
    assert resp.text == json.dumps({"error": message, "message": message}, separators=(",", ":"))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "unable to parse authentication credentials"),
        ({"Authorization": "Token abc"}, "unable to parse authentication credentials"),
        (_basic("", "pw"), "username required"),
        (
            {"Authorization": "Bearer a.b"},
            "invalid token: token contains an invalid number of segments",
        ),
    ],
)
def test_auth_rejections(
    kapacitor_noauth_server: AuthServer, headers: dict[str, str], message: str
) -> None:
    assert_unauthorized(_get(kapacitor_noauth_server, headers=headers), message)


def test_auth_query_needs_both_user_and_password(kapacitor_noauth_server: AuthServer) -> None:
    resp = _get(kapacitor_noauth_server, params={"u": "x", "p": ""})
    assert_unauthorized(resp, "unable to parse authentication credentials")


def test_auth_applies_to_ping_404_and_flux(kapacitor_noauth_server: AuthServer) -> None:
    for path in ("/kapacitor/v1/ping", "/kapacitor/v1/nope", FLUX):
        resp = _get(kapacitor_noauth_server, path)
        assert_unauthorized(resp, "unable to parse authentication credentials")
        # Kapacitor gzips native routes, and its auth errors there, but not the Flux API.
        gzipped = resp.headers.get("Content-Encoding") == "gzip"
        assert gzipped is (path != FLUX)


def test_options_needs_no_credentials(kapacitor_noauth_server: AuthServer) -> None:
    resp, body = raw_request(kapacitor_noauth_server.url, "/kapacitor/v1/tasks", "OPTIONS")
    assert (resp.status, body) == (200, b"")


def test_noauth_accepts_any_basic_user_and_query_credentials(
    kapacitor_noauth_server: AuthServer,
) -> None:
    server = kapacitor_noauth_server
    assert _get(server, headers=_basic("anyone", "anything")).status_code == 200
    assert _get(server, auth=(server.username, server.password)).status_code == 200
    assert _get(server, params={"u": "someone", "p": "x"}).status_code == 200


def test_auth_jwt(kapacitor_noauth_server: AuthServer) -> None:
    server = kapacitor_noauth_server
    exp = int(time.time()) + 600

    def bearer(claims: dict[str, Any], secret: str = server.shared_secret) -> httpx.Response:
        token = sign_jwt(secret, claims)
        return _get(server, headers={"Authorization": f"Bearer {token}"})

    assert bearer({"username": server.username, "exp": exp}).status_code == 200
    bad_sig = bearer({"username": server.username, "exp": exp}, "other")
    assert_unauthorized(bad_sig, "invalid token: signature is invalid")
    expired = bearer({"username": server.username, "exp": int(time.time()) - 600})
    assert_unauthorized(expired, "invalid token: Token is expired")
    both = bearer({"username": server.username, "exp": int(time.time()) - 600}, "other")
    assert_unauthorized(both, "invalid token: signature is invalid")  # jwt-go's order
    assert_unauthorized(bearer({"username": server.username}), "token expiration required")
    no_exp = bearer({"username": server.username, "exp": 0})  # 0 is "not set" to jwt-go
    assert_unauthorized(no_exp, "token expiration required")
    assert_unauthorized(bearer({"exp": exp}), "username in token must be a string")
    assert_unauthorized(bearer({"username": 7, "exp": exp}), "username in token must be a string")
    assert_unauthorized(bearer({"username": "", "exp": exp}), "token must contain a username")


def test_auth_flux_owner_is_the_username(kapacitor_noauth_server: AuthServer, uid: str) -> None:
    server = kapacitor_noauth_server
    with httpx.Client(base_url=server.url, auth=(f"basic-{uid}", "pw")) as api:
        assert create_flux(api, f"own-{uid}")["ownerID"] == f"basic-{uid}"
    token = sign_jwt(server.shared_secret, {"username": f"jwt-{uid}", "exp": time.time() + 600})
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert create_flux(api, f"own-{uid}")["ownerID"] == f"jwt-{uid}"
        mine = api.get(FLUX, params={"user": f"jwt-{uid}"}).json()["tasks"]
        assert [t["ownerID"] for t in mine] == [f"jwt-{uid}"]


# --- a real user: emulator only (see the module docstring) ------------------------------------


def test_user_auth_rejects_a_wrong_password(kapacitor_auth_server: AuthServer) -> None:
    server = kapacitor_auth_server
    resp = _get(server, headers=_basic(server.username, "wrong"))
    assert_unauthorized(resp, "authorization failed")
    assert_unauthorized(_get(server, headers=_basic("mallory", "x")), "authorization failed")


def test_user_auth_accepts_the_user(kapacitor_auth_server: AuthServer) -> None:
    server = kapacitor_auth_server
    assert _get(server, auth=(server.username, server.password)).status_code == 200
    query = {"u": server.username, "p": server.password}
    assert _get(server, params=query).status_code == 200
