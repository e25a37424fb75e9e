"""TLS context and bearer token for the Kubernetes client, built from `KubeCredentials`.

Python's `ssl` loads a client certificate only from files, so kubeconfig `-data` fields
are written to a private temporary directory (0700, files 0600) just long enough for
`load_cert_chain`, then removed. The kubelet rotates ServiceAccount tokens in place, so a
token file is reread at most every minute, and at once after a 401.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kapacitor_operator.k8s.credentials import CredentialsError, KubeCredentials, read_token

log = logging.getLogger(__name__)

TOKEN_MAX_AGE = 60.0


def ssl_context(credentials: KubeCredentials) -> ssl.SSLContext:
    """Server verification (the kubeconfig's CA, or the system's) plus any client cert.

    Raises:
        CredentialsError: the CA or the client certificate/key is not valid PEM.
    """
    try:
        if credentials.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cadata=credentials.ca_data or None)
        if credentials.client_cert_data and credentials.client_key_data:
            _load_client_cert(context, credentials.client_cert_data, credentials.client_key_data)
    except ssl.SSLError as exc:
        # The library's text names the PEM problem, never the content.
        raise CredentialsError(f"{credentials.source}: unusable TLS material: {exc}") from exc
    return context


def _load_client_cert(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    with tempfile.TemporaryDirectory(prefix="kapacitor-operator-tls-") as directory:
        cert, key = Path(directory) / "tls.crt", Path(directory) / "tls.key"
        for path, text in ((cert, cert_pem), (key, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        context.load_cert_chain(cert, key)


class TokenSource:
    """The bearer token to send: a fixed one, or its file's content reread now and then."""

    def __init__(
        self,
        token: str | None,
        path: str | None,
        *,
        max_age: float = TOKEN_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = token
        self._path = path
        self._max_age = max_age
        self._clock = clock
        self._read_at = clock()

    def __repr__(self) -> str:
        return f"TokenSource(<redacted>, file={self._path!r})"

    def current(self) -> str | None:
        """The token, reread from its file when the last read is older than `max_age`."""
        if self._path is not None and self._clock() - self._read_at >= self._max_age:
            self.refresh()
        return self._token

    def refresh(self) -> bool:
        """Reread the token file now (after a 401); True when the token changed.

        An unreadable file keeps the last token: the kubelet replaces it atomically, so
        this is a moment's glitch or a real problem the next 401 will report.
        """
        if self._path is None:
            return False
        self._read_at = self._clock()
        try:
            token = read_token(self._path)
        except CredentialsError as exc:
            log.warning("keeping the previous Kubernetes token: %s", exc)
            return False
        changed = token != self._token
        self._token = token
        if changed:
            log.info("Kubernetes token reread from %s (it changed)", self._path)
        return changed
