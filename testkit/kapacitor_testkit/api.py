"""Minimal authenticated HTTPS access to the test apiserver.

Readiness probes and discovery checks need a few raw GETs before any Kubernetes client is
configured; the standard library does that with the admin client certificate and no
extra dependency.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class ApiClient:
    """GETs against one apiserver with mutual TLS."""

    def __init__(self, server_url: str, ca_path: Path, cert_path: Path, key_path: Path) -> None:
        self.server_url = server_url.rstrip("/")
        self._context = ssl.create_default_context(cafile=str(ca_path))
        self._context.load_cert_chain(str(cert_path), str(key_path))

    def request(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET ``path``; return (status, body). HTTP errors are returned, not raised.

        Raises:
            OSError: the connection failed (refused, reset, TLS error, timeout).
        """
        req = urllib.request.Request(self.server_url + path, method="GET")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def status(self, path: str, timeout: float = 5.0) -> int | None:
        """HTTP status of GET ``path``, or None if the server could not be reached."""
        try:
            return self.request(path, timeout)[0]
        except OSError:
            return None

    def get_json(self, path: str, timeout: float = 10.0) -> Any:
        """GET ``path`` and decode the JSON body.

        Raises:
            OSError: the connection failed.
            RuntimeError: the server answered with a non-2xx status.
        """
        code, body = self.request(path, timeout)
        if not 200 <= code < 300:
            raise RuntimeError(f"GET {path}: HTTP {code}: {body[:256]!r}")
        return json.loads(body)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True if a plain-HTTP GET of ``url`` answers 200 (etcd's /health)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status) == 200
    except OSError:
        return False
