"""Turn a resource's `spec.kapacitor` (or the operator default) into a Connection.

This is where the operator lends its rights to a resource (issue 12), so the order is
deliberate: the URL is checked against the operator's allow-list first, and a resource
outside it never makes the operator read a Secret, let alone send one. Every way a
connection can be unusable is a `ReferenceProblem` with a condition reason and a
message that names the Secret and keys involved, never their values.
"""

from __future__ import annotations

import functools
import os
from typing import Protocol

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.kapacitor.pool import Connection, InvalidCABundle, ssl_context
from kapacitor_operator.models.common import KapacitorConnection
from kapacitor_operator.urls import redact_url

REFERENCE_RETRY = 60.0
"""Seconds before looking again at a Secret or ConfigMap that is missing or wrong."""
FORBIDDEN_RETRY = 120.0
"""Seconds before asking again after the API server refused (an RBAC fix takes a person)."""


class SecretReader(Protocol):
    """The one Kubernetes call connections need (k8s/api.py)."""

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None: ...


class ReferenceProblem(Exception):
    """Why a resource's connection (or another reference) cannot be used.

    `reason` is the condition/Event reason; `retry_after` is None when only a change of
    the spec (or of the operator's configuration) can help.
    """

    reason: str = c.SECRET_NOT_FOUND
    retry_after: float | None = REFERENCE_RETRY

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def permanent(self) -> bool:
        return self.retry_after is None


class UrlNotAllowed(ReferenceProblem):
    """The URL is outside the operator's allow-list: nothing was read or sent."""

    reason = c.KAPACITOR_URL_NOT_ALLOWED
    retry_after = None


class MissingReference(ReferenceProblem):
    """A referenced Secret or ConfigMap does not exist."""

    reason = c.SECRET_NOT_FOUND


class SecretKeyMissing(ReferenceProblem):
    """The Secret exists but lacks the key(s) the spec names."""

    reason = c.SECRET_KEY_MISSING


class InvalidSecret(ReferenceProblem):
    """A credentials key holds something that cannot be sent (not text, a line break)."""

    reason = c.INVALID_SECRET


class InvalidCA(ReferenceProblem):
    """The CA bundle does not load as PEM certificates."""

    reason = c.INVALID_CA


class ReferenceForbidden(ReferenceProblem):
    """The API server refused to let the operator read a referenced object."""

    reason = c.FORBIDDEN
    retry_after = FORBIDDEN_RETRY


def default_connection(settings: Settings) -> Connection:
    """The operator-wide connection from its configuration."""
    return Connection(
        url=settings.kapacitor_url,
        username=settings.kapacitor_username,
        password=settings.kapacitor_password,
        token=settings.kapacitor_token,
        ca_file=settings.kapacitor_ca_file,
        insecure_skip_verify=settings.kapacitor_insecure_skip_verify,
    )


def connection_url(spec: KapacitorConnection | None, settings: Settings) -> str:
    """The server URL a resource targets, normalised (used as the claim key)."""
    return (spec.url if spec is not None else settings.kapacitor_url).rstrip("/")


def check_url(spec: KapacitorConnection | None, settings: Settings) -> None:
    """Raise unless the operator may call the URL the resource names (no I/O).

    Raises:
        UrlNotAllowed: outside OPERATOR_ALLOWED_KAPACITOR_URLS, or http with https required.
    """
    if spec is None:
        return  # the default connection: the administrator's own choice
    refusal = settings.url_policy.refusal(spec.url)
    if refusal is not None:
        raise UrlNotAllowed(refusal)


async def resolve_connection(
    spec: KapacitorConnection | None, namespace: str, settings: Settings, kube: SecretReader
) -> Connection:
    """The connection for a resource: the URL checked first, then its Secrets read.

    Raises:
        ReferenceProblem: the URL is not allowed, or a Secret is missing, forbidden, lacks
            a key or holds an unusable value; the message names the Secret and keys.
        KubeError: the Secret could not be read for another reason (API server down...).
    """
    check_url(spec, settings)
    if spec is None:
        connection = default_connection(settings)
        if connection.ca_file:
            _check_ca_file(connection.ca_file)
        return connection
    username = password = token = ca_pem = ""
    creds = spec.credentialsSecretRef
    if creds is not None:
        data = await _read_secret(kube, namespace, creds.name)
        token = data.get(creds.tokenKey, "")
        if token:
            _check_credential(namespace, creds.name, creds.tokenKey, token)
        else:
            missing = [k for k in (creds.usernameKey, creds.passwordKey) if k not in data]
            if missing:
                raise SecretKeyMissing(
                    f"Secret {namespace}/{creds.name} has no key {creds.tokenKey!r} (bearer "
                    f"token) and lacks {_keys(missing)} (basic auth); its keys: "
                    f"{_keys(sorted(data)) or 'none'}"
                )
            username, password = data[creds.usernameKey], data[creds.passwordKey]
            _check_credential(namespace, creds.name, creds.usernameKey, username)
            _check_credential(namespace, creds.name, creds.passwordKey, password)
    insecure = False
    if spec.tls is not None:
        insecure = spec.tls.insecureSkipVerify
        if spec.tls.caSecretRef is not None:
            ref = spec.tls.caSecretRef
            data = await _read_secret(kube, namespace, ref.name)
            if ref.key not in data:
                raise SecretKeyMissing(
                    f"CA Secret {namespace}/{ref.name} lacks key {ref.key!r}; its keys: "
                    f"{_keys(sorted(data)) or 'none'}"
                )
            ca_pem = data[ref.key]
            error = _ca_pem_error(ca_pem) if ca_pem.strip() else "is empty"
            if error is not None:
                raise InvalidCA(f"CA Secret {namespace}/{ref.name} key {ref.key!r}: {error}")
    return Connection(
        url=spec.url,
        username=username,
        password=password,
        token=token,
        ca_pem=ca_pem,
        insecure_skip_verify=insecure,
    )


def describe_url(spec: KapacitorConnection | None, settings: Settings) -> str:
    """The URL a resource targets, as it may be written in messages."""
    return redact_url(connection_url(spec, settings))


def _keys(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


async def _read_secret(kube: SecretReader, namespace: str, name: str) -> dict[str, str]:
    try:
        data = await kube.secret_data(namespace, name)
    except KubeForbidden as exc:
        raise ReferenceForbidden(
            f"The operator may not read Secret {namespace}/{name}: {exc.message}"
        ) from exc
    if data is None:
        raise MissingReference(f"Secret {namespace}/{name} not found")
    return data


def _check_credential(namespace: str, secret: str, key: str, value: str) -> None:
    """Values are sent in an HTTP header: undecodable bytes or a line break would make the
    request fail far from the cause (a trailing newline is the usual `echo | base64` slip)."""
    if "\ufffd" in value or any(ch in value for ch in "\r\n\0"):
        raise InvalidSecret(
            f"Secret {namespace}/{secret} key {key!r} is not usable as a credential: it must "
            "be UTF-8 text without line breaks (check for a trailing newline)"
        )


@functools.lru_cache(maxsize=256)
def _ca_pem_error(pem: str) -> str | None:
    """Why a CA bundle does not load, or None; cached: a CA certificate is public."""
    try:
        ssl_context(ca_pem=pem)
    except InvalidCABundle as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=16)
def _ca_file_error(path: str, mtime_ns: int, size: int) -> str | None:
    try:
        ssl_context(ca_file=path)
    except InvalidCABundle as exc:
        return str(exc)
    return None


def _check_ca_file(path: str) -> None:
    """The default connection's CA file (KAPACITOR_CA_FILE, a mounted Secret or ConfigMap
    that may change while the operator runs).

    Raises:
        InvalidCA: the file cannot be read or holds no certificate.
    """
    try:
        info = os.stat(path)
        error = _ca_file_error(path, info.st_mtime_ns, info.st_size)
    except OSError as exc:
        error = f"cannot be read ({exc.strerror or type(exc).__name__})"
    if error is not None:
        raise InvalidCA(f"KAPACITOR_CA_FILE {path}: {error}")
