"""Kapacitor URLs: which servers resources may name, and how a URL is written down.

The operator sends credentials to the URL a resource names, so that URL is a security
boundary (issue 12): `UrlPolicy` decides, before any Secret is read, whether a URL is
one the operator's administrator allowed. And a URL may carry credentials itself
(`http://user:pass@host`): those are refused at admission and in the configuration, and
`redact_url()` is what every log line, condition, Event and status field goes through.

Pattern syntax of OPERATOR_ALLOWED_KAPACITOR_URLS (comma-separated):

- `scheme://host[:port]`: `scheme` is `http` or `https`; `host` is a DNS name, an IPv4
  address or a bracketed IPv6 address, compared case-insensitively; `*` stands for
  exactly one DNS label (`http://*.monitoring.svc:9092` allows
  `http://kapacitor.monitoring.svc:9092`, not `http://a.b.monitoring.svc:9092`);
  `port` is a number or `*` (any port); without a port, the scheme's default port
  (80, 443), just as in a URL. No path, query or credentials: a pattern names origins.
- `*` alone: any URL (the restriction is off; OPERATOR_REQUIRE_HTTPS still applies).

The origin of KAPACITOR_URL (the default connection) is always allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_PORTS = {"http": 80, "https": 443}

_LABEL = r"[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?"
HOST_PATTERN = rf"({_LABEL}(\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])"
"""A DNS name or IPv4 address (labels; `_` tolerated), or a bracketed IPv6 address."""

USERINFO_PATTERN = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@"
"""A URL whose authority carries credentials (`user@`, `user:pass@`). RE2 and Python."""

URL_HOST_PATTERN = rf"^https?://([^/?#]*@)?{HOST_PATTERN}(:[0-9]{{1,5}})?([/?#].*)?$"
"""An http(s) URL whose host is a name or an IP literal, with an optional numeric port.
Userinfo is matched here on purpose, so that it fails USERINFO_PATTERN's rule alone."""

_USERINFO = re.compile(USERINFO_PATTERN)
_URL = re.compile(
    r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?P<userinfo>[^/?#]*@)?(?P<hostport>[^/?#]*)"
    r"(?P<path>[^?#]*)(?P<query>\?[^#]*)?(?P<fragment>#.*)?$",
    re.DOTALL,
)
_HOSTPORT = re.compile(rf"^(?P<host>{HOST_PATTERN})(:(?P<port>[0-9]{{1,5}}))?$")
_PATTERN_HOSTPORT = re.compile(
    rf"^(?P<host>\*|({_LABEL}|\*)(\.({_LABEL}|\*))*\.?|\[[0-9A-Fa-f:.]+\])"
    r"(:(?P<port>[0-9]{1,5}|\*))?$"
)
_LOOSE_USERINFO = re.compile(r"//[^/?#\s]*@")


class UrlError(ValueError):
    """A URL or pattern is not acceptable. The message never contains credentials."""


def has_userinfo(url: str) -> bool:
    """Whether the URL's authority carries credentials (`user@` or `user:pass@`)."""
    return bool(_USERINFO.match(url))


def redact_url(url: str) -> str:
    """The URL as it may be written anywhere: userinfo and query values replaced by `***`,
    the fragment dropped. Never raises, whatever the input."""
    match = _URL.match(url)
    if match is None:
        return _LOOSE_USERINFO.sub("//***@", url)
    parts = [match["scheme"], "://"]
    if match["userinfo"]:
        parts.append("***@")
    parts.extend([match["hostport"], match["path"]])
    if match["query"]:
        parts.append("?***")
    return "".join(parts)


@dataclass(frozen=True)
class Origin:
    """Scheme, host (lower case, no trailing dot) and port a URL connects to."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = DEFAULT_PORTS.get(self.scheme)
        return f"{self.scheme}://{self.host}" + ("" if self.port == default else f":{self.port}")


def _port(text: str | None, scheme: str) -> int:
    if text is None:
        return DEFAULT_PORTS[scheme]
    port = int(text)
    if not 0 < port < 65536:
        raise UrlError(f"port {port} is out of range")
    return port


def parse_origin(url: str) -> Origin:
    """The origin an http(s) URL connects to.

    Raises:
        UrlError: not an http(s) URL, credentials in it, or a malformed host or port.
    """
    if has_userinfo(url):
        raise UrlError("the URL must not contain credentials (user:password@)")
    match = _URL.match(url.strip())
    if match is None:
        raise UrlError("not a URL (expected http://host[:port] or https://host[:port])")
    scheme = match["scheme"].lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlError(f"scheme {scheme!r} is not http or https")
    hostport = _HOSTPORT.match(match["hostport"])
    if hostport is None:
        raise UrlError("the host must be a DNS name, an IPv4 address or a bracketed IPv6 address")
    host = hostport["host"].lower().rstrip(".")
    return Origin(scheme, host, _port(hostport["port"], scheme))


@dataclass(frozen=True)
class UrlPattern:
    """One entry of the allow-list; see the module docstring for the syntax."""

    text: str
    scheme: str
    host: tuple[str, ...] | str
    """DNS labels (`*` matches any one label), or an IPv6 literal compared as is."""
    port: int | None
    """None: any port."""

    def matches(self, origin: Origin) -> bool:
        if origin.scheme != self.scheme:
            return False
        if self.port is not None and origin.port != self.port:
            return False
        if isinstance(self.host, str):
            return origin.host == self.host
        labels = origin.host.split(".")
        return len(labels) == len(self.host) and all(
            want in ("*", got) for want, got in zip(self.host, labels, strict=True)
        )


def parse_pattern(text: str) -> UrlPattern:
    """One allow-list entry.

    Raises:
        UrlError: it does not follow the syntax (the message says why).
    """
    if has_userinfo(text):
        raise UrlError("a pattern must not contain credentials")
    scheme, sep, rest = text.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        raise UrlError(f"{text!r}: expected http://host[:port] or https://host[:port]")
    match = _PATTERN_HOSTPORT.match(rest)
    if match is None:
        raise UrlError(
            f"{text!r}: expected scheme://host[:port] (no path); `*` may stand for one "
            "DNS label or any port"
        )
    host_text = match["host"].lower().rstrip(".")
    host: tuple[str, ...] | str = (
        host_text if host_text.startswith("[") else tuple(host_text.split("."))
    )
    port_text = match["port"]
    port = None if port_text == "*" else _port(port_text, scheme)
    return UrlPattern(text.strip(), scheme, host, port)


@dataclass(frozen=True)
class UrlPolicy:
    """Which Kapacitor URLs resources may name.

    `default` is the origin of the operator's default connection, always allowed.
    """

    default: Origin
    patterns: tuple[UrlPattern, ...] = ()
    allow_any: bool = False
    require_https: bool = False

    @classmethod
    def build(
        cls, default_url: str, patterns: Iterable[str], *, require_https: bool = False
    ) -> UrlPolicy:
        """The policy from configuration.

        Raises:
            UrlError: the default URL or a pattern is malformed, or contradicts
                `require_https`; the message says which.
        """
        entries = [p.strip() for p in patterns if p.strip()]
        allow_any = "*" in entries
        parsed = tuple(parse_pattern(p) for p in entries if p != "*")
        default = parse_origin(default_url)
        if require_https:
            if default.scheme != "https":
                raise UrlError("the default Kapacitor URL uses http, but https is required")
            plain = [p.text for p in parsed if p.scheme != "https"]
            if plain:
                raise UrlError(f"https is required, yet {', '.join(plain)} allow(s) http")
        return cls(default, parsed, allow_any, require_https)

    def refusal(self, url: str) -> str | None:
        """None when resources may name `url`; else why not, as a sentence (the URL in
        it is redacted)."""
        shown = redact_url(url)
        try:
            origin = parse_origin(url)
        except UrlError as exc:
            return f"Kapacitor URL {shown} is not acceptable: {exc}."
        if self.require_https and origin.scheme != "https":
            return (
                f"Kapacitor URL {shown} uses http, and this operator requires https "
                "(OPERATOR_REQUIRE_HTTPS)."
            )
        if origin == self.default or self.allow_any:
            return None
        if any(p.matches(origin) for p in self.patterns):
            return None
        return (
            f"Kapacitor URL {shown} is not one this operator may call: allowed are "
            f"{self.describe()} (OPERATOR_ALLOWED_KAPACITOR_URLS). No request was sent."
        )

    def describe(self) -> str:
        """The allowed origins, for messages."""
        return ", ".join([str(self.default), *(p.text for p in self.patterns)])
