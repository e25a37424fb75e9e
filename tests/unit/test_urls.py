"""The Kapacitor URL policy (which servers resources may name) and URL redaction."""

from __future__ import annotations

import re

import pytest

from kapacitor_operator.urls import (
    URL_HOST_PATTERN,
    USERINFO_PATTERN,
    Origin,
    UrlError,
    UrlPolicy,
    has_userinfo,
    parse_origin,
    parse_pattern,
    redact_url,
)

DEFAULT = "http://kapacitor.monitoring:9092"


def policy(*patterns: str, require_https: bool = False, default: str = DEFAULT) -> UrlPolicy:
    return UrlPolicy.build(default, patterns, require_https=require_https)


# --- redaction ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://k:9092", "http://k:9092"),
        ("http://user:s3cret@k:9092/x", "http://***@k:9092/x"),
        ("https://token@k", "https://***@k"),
        ("http://a@b@k/p", "http://***@k/p"),
        ("http://k/p?token=abc&u=1", "http://k/p?***"),
        ("http://k/p#frag-secret", "http://k/p"),
        ("not a url user:pw@x", "not a url user:pw@x"),
        ("weird//user:pw@host", "weird//***@host"),
        ("", ""),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    ["http://u@h", "http://u:p@h:1/x", "https://:p@h", "http://h\\@evil", "HTTP://u:p@h"],
)
def test_userinfo_is_found(url: str) -> None:
    assert has_userinfo(url)
    assert re.match(USERINFO_PATTERN, url)


@pytest.mark.parametrize("url", ["http://h", "http://h:1/a@b", "http://h/?q=a@b", "http://h#@x"])
def test_an_at_sign_after_the_host_is_not_userinfo(url: str) -> None:
    assert not has_userinfo(url)


# --- origins ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://Kapacitor.Monitoring:9092/", Origin("http", "kapacitor.monitoring", 9092)),
        ("https://k.example.", Origin("https", "k.example", 443)),
        ("http://10.0.0.7", Origin("http", "10.0.0.7", 80)),
        ("http://[fd00::1]:9092/kapacitor", Origin("http", "[fd00::1]", 9092)),
        ("http://my_kapacitor:9092", Origin("http", "my_kapacitor", 9092)),
    ],
)
def test_parse_origin(url: str, origin: Origin) -> None:
    assert parse_origin(url) == origin
    assert re.match(URL_HOST_PATTERN, url), "the CRD's rule accepts what the operator accepts"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://k",
        "k:9092",
        "http://u:p@k",
        "http://k:99999",
        "http://k:port",
        "http://evil.com\\.k",
        "http://k%2e:1",
        "http://",
    ],
)
def test_parse_origin_refuses(url: str) -> None:
    with pytest.raises(UrlError) as excinfo:
        parse_origin(url)
    assert "p@" not in str(excinfo.value)


@pytest.mark.parametrize("url", ["http://evil.com\\.k", "http://k%2e:1", "http://", "k:9092"])
def test_the_crd_rule_refuses_malformed_hosts(url: str) -> None:
    assert not re.match(URL_HOST_PATTERN, url)


# --- patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "url", "allowed"),
    [
        ("http://k.example:9092", "http://k.example:9092/x", True),
        ("http://k.example:9092", "http://K.EXAMPLE:9092", True),
        ("http://k.example:9092", "https://k.example:9092", False),
        ("http://k.example:9092", "http://k.example:9093", False),
        ("http://k.example", "http://k.example:80", True),
        ("http://k.example", "http://k.example:9092", False),
        ("https://k.example", "https://k.example", True),
        ("http://k.example:*", "http://k.example:1234", True),
        ("http://*.monitoring.svc:9092", "http://kapacitor.monitoring.svc:9092", True),
        ("http://*.monitoring.svc:9092", "http://a.b.monitoring.svc:9092", False),
        ("http://*.monitoring.svc:9092", "http://monitoring.svc:9092", False),
        ("http://*.monitoring.svc:9092", "http://x.monitoring.svc.evil.com:9092", False),
        ("http://kapacitor.*.svc:9092", "http://kapacitor.team-a.svc:9092", True),
        ("http://10.0.0.*:9092", "http://10.0.0.7:9092", True),
        ("http://[fd00::1]:9092", "http://[FD00::1]:9092", True),
        ("http://k.example:9092", "http://k.example.evil.com:9092", False),
    ],
)
def test_pattern_matching(pattern: str, url: str, allowed: bool) -> None:
    assert (policy(pattern).refusal(url) is None) is allowed


@pytest.mark.parametrize(
    "pattern",
    [
        "k.example:9092",
        "ftp://k.example",
        "http://k.example/path",
        "http://k.example:9092/",
        "http://u:p@k.example",
        "http://k*.example",
        "http://**.example",
        "http://k.example:70000",
    ],
)
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(UrlError):
        parse_pattern(pattern)


def test_the_default_connection_is_always_allowed() -> None:
    assert policy().refusal("http://kapacitor.monitoring:9092/") is None
    assert policy("https://other:9092").refusal(DEFAULT) is None


def test_by_default_nothing_else_is_allowed() -> None:
    message = policy().refusal("http://attacker.example:9092")
    assert message is not None
    assert "http://attacker.example:9092" in message
    assert "http://kapacitor.monitoring:9092" in message
    assert "No request was sent" in message


def test_star_allows_any_url() -> None:
    assert policy("*").refusal("http://anything.example:1") is None


def test_refusal_messages_redact_the_url() -> None:
    message = policy().refusal("http://user:pw-secret@attacker.example")
    assert message is not None
    assert "pw-secret" not in message
    assert "***@attacker.example" in message


def test_https_only() -> None:
    strict = policy("*", require_https=True, default="https://k:9092")
    assert strict.refusal("https://anything.example") is None
    message = strict.refusal("http://k:9092")
    assert message is not None
    assert "OPERATOR_REQUIRE_HTTPS" in message


def test_https_only_refuses_an_http_default_or_pattern() -> None:
    with pytest.raises(UrlError, match="default"):
        policy(require_https=True)
    with pytest.raises(UrlError, match="http://other"):
        policy("http://other", require_https=True, default="https://k")
