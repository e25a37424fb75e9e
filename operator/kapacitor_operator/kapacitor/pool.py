"""One KapacitorClient per distinct server + credentials, shared by all handlers."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx

from kapacitor_operator.http_client import LeanClient
from kapacitor_operator.http_transport import AiohttpTransport
from kapacitor_operator.kapacitor.client import (
    BearerAuth,
    KapacitorClient,
    Observer,
    call_timeout,
    default_timeout,
)
from kapacitor_operator.kapacitor.scrub import Scrubber, secret_forms


def tls_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext | bool:
    """What the transport verifies with: off, the given context, or what httpx would
    trust by default (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    if verify is True:
        return httpx.create_ssl_context()
    return verify


class InvalidCABundle(ValueError):
    """A CA bundle that does not load. The message never quotes the bundle."""


def ssl_context(*, ca_pem: str = "", ca_file: str = "") -> ssl.SSLContext:
    """A verifying TLS context trusting the given CA bundle (PEM text or a file).

    Raises:
        InvalidCABundle: no certificate could be loaded, or the file cannot be read.
    """
    try:
        return ssl.create_default_context(cafile=ca_file or None, cadata=ca_pem or None)
    except ssl.SSLError as exc:
        # OpenSSL's reason (e.g. NO_CERTIFICATE_OR_CRL_FOUND) names the problem, not the data.
        detail = exc.reason or "not PEM certificates"
        raise InvalidCABundle(f"no CA certificate could be loaded ({detail})") from None
    except OSError as exc:
        raise InvalidCABundle(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    except (ValueError, TypeError):
        raise InvalidCABundle("is not PEM text") from None


@dataclass(frozen=True)
class Connection:
    """Where and how to reach one Kapacitor server. Secrets are excluded from repr."""

    url: str
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    ca_pem: str = field(default="", repr=False)
    ca_file: str = ""
    insecure_skip_verify: bool = False

    @property
    def normalized_url(self) -> str:
        return self.url.rstrip("/")

    def fingerprint(self) -> str:
        """Stable key of everything that makes a distinct client (hashes the secrets)."""
        parts = [
            self.normalized_url,
            self.username,
            self.password,
            self.token,
            self.ca_pem,
            self.ca_file,
            str(self.insecure_skip_verify),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify`: off, a context trusting the CA bundle, or the system's CAs.

        Raises:
            InvalidCABundle: the CA bundle does not load.
        """
        if self.insecure_skip_verify:
            return False
        if self.ca_pem or self.ca_file:
            return ssl_context(ca_pem=self.ca_pem, ca_file=self.ca_file)
        return True

    def auth(self) -> httpx.Auth | None:
        if self.token:
            return BearerAuth(self.token)
        if self.username:
            return httpx.BasicAuth(self.username, self.password)
        return None


# Concurrent synchronous runs per server: each holds a connection until its run ends.
RUN_CONNECTIONS = 200


class ClientPool:
    """Creates clients lazily, keeps them for the operator's lifetime, closes them at exit."""

    def __init__(
        self,
        *,
        observer: Observer | None = None,
        read_timeout: float = 10.0,
        max_connections: int = 50,
    ) -> None:
        self._clients: dict[str, KapacitorClient] = {}
        self._observer = observer
        self._read_timeout = read_timeout
        self._connections = max_connections

    def get(self, connection: Connection) -> KapacitorClient:
        """The client for this connection, created on first use.

        Raises:
            InvalidCABundle: the connection's CA bundle does not load.
        """
        key = connection.fingerprint()
        client = self._clients.get(key)
        if client is None:
            options: dict[str, Any] = {
                "base_url": connection.normalized_url,
                "auth": connection.auth(),
                "headers": {"User-Agent": "kapacitor-operator"},
            }
            verify = tls_context(connection.verify())
            http = LeanClient(
                timeout=call_timeout(self._read_timeout),
                transport=AiohttpTransport(verify=verify, max_connections=self._connections),
                **options,
            )
            run_http = LeanClient(
                timeout=default_timeout(self._read_timeout),
                transport=AiohttpTransport(verify=verify, max_connections=RUN_CONNECTIONS),
                **options,
            )
            client = KapacitorClient(
                http,
                observer=self._observer,
                run_http=run_http,
                max_in_flight=self._connections,
                scrub=Scrubber(
                    secret_forms(connection.username, connection.password, connection.token)
                ),
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
