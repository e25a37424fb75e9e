"""Hide a connection's credentials in text that came from the other side.

Kapacitor's error bodies land in conditions and Events. A server (or a proxy in front
of it) that echoes a request back would put the credentials it was sent there too, for
everyone who may read the resource (issue 12). Every error message the client builds
from a response passes through the connection's `Scrubber` first.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

MASK = "***"
MIN_LENGTH = 4
"""Shorter values are not masked: hiding every `a` would garble messages, and a
credential that short is no secret anyway."""


def secret_forms(username: str, password: str, token: str) -> tuple[str, ...]:
    """Every form in which these credentials travel: as given, and as the Basic header's
    base64 of `user:password`."""
    forms = [password, token, username]
    if username or password:
        forms.append(base64.b64encode(f"{username}:{password}".encode()).decode())
    return tuple(f for f in forms if len(f) >= MIN_LENGTH)


class Scrubber:
    """Replaces each secret form in a text by `***` (longest first, so a value that
    contains another is hidden whole)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __repr__(self) -> str:
        return f"Scrubber(<{len(self._secrets)} secrets>)"
