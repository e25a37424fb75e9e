"""kapacitord's own record of every HTTP request, read back for tests.

With ``[http] log-enabled = true`` (the test kit's config) kapacitord logs one logfmt line
per request once it has answered::

    ts=... lvl=info msg="http request" service=http host=127.0.0.1 username=- start=...
      method=PATCH uri=/kapacitor/v1/tasks/x protocol=HTTP/1.1 status=200 referer=-
      user-agent=kapacitor-operator request-id=... duration=1.2ms

So a test can count the writes a client made to the real server (for instance: an
operator restarted with N synced tasks makes none) without a proxy in between that could
change what is measured. The line is written after the response: poll for an expected
request before concluding that another one never came.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_PAIR = re.compile(r'([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """The key/value pairs of one logfmt line (quoted values unquoted)."""
    pairs: dict[str, str] = {}
    for key, raw in _PAIR.findall(line):
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        pairs[key] = raw
    return pairs


@dataclass(frozen=True)
class HttpRequest:
    """One request as kapacitord logged it."""

    method: str
    uri: str
    """Path and query, as sent."""
    status: int
    user_agent: str

    @property
    def path(self) -> str:
        return self.uri.split("?", 1)[0]

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


def http_requests(text: str) -> list[HttpRequest]:
    """Every request logged in ``text`` (kapacitord's log), in the order logged."""
    found: list[HttpRequest] = []
    for line in text.splitlines():
        if 'msg="http request"' not in line:
            continue
        pairs = parse_logfmt(line)
        found.append(
            HttpRequest(
                method=pairs.get("method", ""),
                uri=pairs.get("uri", ""),
                status=int(pairs.get("status") or 0),
                user_agent=pairs.get("user-agent", ""),
            )
        )
    return found


def read_http_requests(log_path: Path) -> list[HttpRequest]:
    """The requests logged so far in kapacitord's log file (empty if there is none yet)."""
    try:
        return http_requests(log_path.read_text(errors="replace"))
    except FileNotFoundError:
        return []
