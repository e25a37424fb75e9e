"""Turn a resource's `spec.kapacitor` (or the operator default) into a Connection."""

from __future__ import annotations

from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.pool import Connection
from kapacitor_operator.models.common import KapacitorConnection


class MissingReference(LookupError):
    """A referenced Secret or ConfigMap (or one of its keys) is missing."""


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


async def resolve_connection(
    spec: KapacitorConnection | None, namespace: str, settings: Settings, kube: KubeAPI
) -> Connection:
    """The connection for a resource, reading its Secrets.

    Raises:
        MissingReference: a referenced Secret or key is missing (the message names which,
            never a value).
        KubeError: the Secret could not be read (e.g. forbidden, API server unavailable).
    """
    if spec is None:
        return default_connection(settings)
    username = password = token = ca_pem = ""
    creds = spec.credentialsSecretRef
    if creds is not None:
        data = await kube.secret_data(namespace, creds.name)
        if data is None:
            raise MissingReference(f"Secret {namespace}/{creds.name} not found")
        token = data.get(creds.tokenKey, "")
        if not token:
            if creds.usernameKey not in data:
                raise MissingReference(
                    f"Secret {namespace}/{creds.name} has neither key "
                    f"{creds.tokenKey!r} nor {creds.usernameKey!r}"
                )
            username = data[creds.usernameKey]
            password = data.get(creds.passwordKey, "")
    insecure = False
    if spec.tls is not None:
        insecure = spec.tls.insecureSkipVerify
        if spec.tls.caSecretRef is not None:
            ref = spec.tls.caSecretRef
            data = await kube.secret_data(namespace, ref.name)
            if data is None or ref.key not in data:
                raise MissingReference(f"CA Secret key {namespace}/{ref.name}[{ref.key}] not found")
            ca_pem = data[ref.key]
    return Connection(
        url=spec.url,
        username=username,
        password=password,
        token=token,
        ca_pem=ca_pem,
        insecure_skip_verify=insecure,
    )
