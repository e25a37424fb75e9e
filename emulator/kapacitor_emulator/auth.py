"""Kapacitor's HTTP authentication: Bearer JWT (HMAC), Basic, then ``?u=&p=``.

Only active when the emulator is started with ``--username``/``--password`` (a user
store holding that one user) or ``--shared-secret`` (JWTs; without a configured user,
any Basic user is accepted, like Kapacitor's ``noauth`` user service). Failures are 401
with compact native bodies and Kapacitor's texts. JWTs are verified with the standard
library (HS256/HS384/HS512), checking in jwt-go's order so a bad signature wins over an
expired token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from kapacitor_emulator.core import EmulatorConfig
from kapacitor_emulator.responses import NativeError

_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class AuthError(NativeError):
    """A 401 with a compact body."""

    def __init__(self, message: str) -> None:
        super().__init__(401, message, pretty=False)


def _b64(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AuthError(f"invalid token: illegal base64 data at input byte 0: {exc}") from exc


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(segment))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuthError("invalid token: invalid character looking for beginning of value") from exc
    if not isinstance(value, dict):
        raise AuthError("invalid token: token is malformed")
    return value


def _claims_error(claims: dict[str, Any], now: float) -> str:
    """jwt-go's ``MapClaims.Valid``: a numeric ``exp``/``nbf`` of 0 counts as unset."""

    def number(key: str) -> int:
        value = claims.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        return 0

    exp, nbf = number("exp"), number("nbf")
    if exp and now > exp:
        return "Token is expired"
    if nbf and now < nbf:
        return "Token is not valid yet"
    return ""


def verify_jwt(token: str, secret: str, now: datetime) -> str:
    """Verify a bearer token and return its ``username`` claim.

    Raises:
        AuthError: any verification failure, with Kapacitor's message.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("invalid token: token contains an invalid number of segments")
    header, claims = _json_segment(parts[0]), _json_segment(parts[1])
    alg = header.get("alg")
    digest = _HMAC.get(alg) if isinstance(alg, str) else None
    if digest is None:
        raise AuthError(f"invalid token: unexpected signing method: {alg}")
    problem = _claims_error(claims, now.timestamp())
    signed = f"{parts[0]}.{parts[1]}".encode()
    expected = hmac.new(secret.encode(), signed, digest).digest()
    if not hmac.compare_digest(expected, _b64(parts[2])):
        problem = "signature is invalid"
    if problem:
        raise AuthError(f"invalid token: {problem}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= 0:
        raise AuthError("token expiration required")
    username = claims.get("username")
    if not isinstance(username, str):
        raise AuthError("username in token must be a string")
    if not username:
        raise AuthError("token must contain a username")
    return username


def _check_user(config: EmulatorConfig, username: str, password: str | None) -> str:
    if not username:
        raise AuthError("username required")
    if config.username is None:
        return username  # noauth user service: any user
    if username != config.username or (password is not None and password != config.password):
        raise AuthError("authorization failed")
    return username


def _basic(header: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def authenticate(
    config: EmulatorConfig, authorization: str, user: str, password: str, now: datetime
) -> str:
    """The authenticated username for a request.

    Raises:
        AuthError: no usable credentials, or they are wrong.
    """
    scheme, _, rest = authorization.partition(" ")
    if scheme == "Bearer" and rest and " " not in rest:
        username = verify_jwt(rest, config.shared_secret or "", now)
        return _check_user(config, username, None)
    if scheme == "Basic" and (creds := _basic(authorization)) is not None:
        return _check_user(config, creds[0], creds[1])
    if user and password:
        return _check_user(config, user, password)
    raise AuthError("unable to parse authentication credentials")


def make_jwt(secret: str, claims: dict[str, Any], alg: str = "HS256") -> str:
    """Sign a JWT (for tests and the playground)."""

    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = enc(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = enc(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), _HMAC[alg]).digest()
    return f"{head}.{body}.{enc(sig)}"
