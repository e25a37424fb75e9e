"""Building blocks shared by both custom resources: base model, references, retry policy.

The pydantic models in this package are the single source of truth for the CRD schemas:
`kapacitor_operator.crdgen` turns them into `crds/*.yaml`, and a test fails when the
committed files drift from the models.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from kapacitor_operator.urls import URL_HOST_PATTERN, USERINFO_PATTERN, UrlError, parse_origin

# Kapacitor's TICKscript/template ID rule (services/task_store): letters (Unicode),
# ASCII digits, '-', '.', '_'. RE2 (Kubernetes) and Rust regex (pydantic) both know \p{L}.
KAPACITOR_ID_PATTERN = r"^[-._\p{L}0-9]+$"
# Go/Flux style durations such as 10s, 1h30m, 1d.
DURATION_PATTERN = r"^([0-9]+(ns|us|µs|ms|s|m|h|d|w|mo|y))+$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

_SIMPLE_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Model(BaseModel):
    """Base for every CRD model: camelCase aliases, unknown fields rejected.

    Validation errors never repeat the input: they end up in logs and conditions, and
    the input may be a URL with credentials in it (issue 12).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    def dump(self) -> dict[str, Any]:
        """Serialise as the Kubernetes object carries it (aliases, no unset/None fields)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SecretKeyRef(Model):
    """A key in a Secret in the resource's own namespace."""

    name: str = Field(
        description="Name of the Secret, in the same namespace as the resource.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )
    key: str = Field(description="Key within the Secret's data.", min_length=1, max_length=253)


class CredentialsSecretRef(Model):
    """A Secret holding credentials for Kapacitor.

    Basic auth reads `username` and `password`; bearer auth reads `token`. When the Secret
    has a token key, the token wins.
    """

    name: str = Field(
        description="Name of the Secret, in the same namespace as the resource.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )
    usernameKey: str = Field(
        default="username", description="Key of the basic-auth username (default `username`)."
    )
    passwordKey: str = Field(
        default="password", description="Key of the basic-auth password (default `password`)."
    )
    tokenKey: str = Field(
        default="token",
        description="Key of a bearer token (a JWT signed with Kapacitor's shared secret). "
        "Used instead of basic auth when present (default `token`).",
    )


class TLSConfig(Model):
    """How to verify Kapacitor's TLS certificate."""

    caSecretRef: SecretKeyRef | None = Field(
        default=None,
        description="A Secret key holding the PEM CA bundle that signed Kapacitor's cert.",
    )
    insecureSkipVerify: bool = Field(
        default=False, description="Skip certificate verification. For tests only."
    )


def _cel_string(text: str) -> str:
    """A CEL single-quoted string literal holding `text` (for regexes in rules)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


URL_RULES: Any = [
    {
        # Issue 12: a URL's userinfo would be sent as credentials nobody reviewed, and
        # written wherever the URL is shown. Credentials belong in credentialsSecretRef.
        "rule": f"!self.matches({_cel_string(USERINFO_PATTERN)})",
        "message": "the URL must not contain credentials (user:password@host): put them in a "
        "Secret named by credentialsSecretRef",
    },
    {
        "rule": f"self.matches({_cel_string(URL_HOST_PATTERN)})",
        "message": "the URL's host must be a DNS name, an IPv4 address or a bracketed IPv6 "
        "address, with an optional numeric port",
    },
]


class KapacitorConnection(Model):
    """Which Kapacitor server to talk to. Omitted: the operator's default connection."""

    url: str = Field(
        description="Base URL of the Kapacitor server, e.g. `http://kapacitor.monitoring:9092`. "
        "Never with credentials in it (use credentialsSecretRef); the operator calls only "
        "the URLs its administrator allowed (OPERATOR_ALLOWED_KAPACITOR_URLS).",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        max_length=2048,
        json_schema_extra={"x-kubernetes-validations": URL_RULES},
    )
    credentialsSecretRef: CredentialsSecretRef | None = Field(
        default=None, description="Secret with basic-auth credentials or a bearer token."
    )
    tls: TLSConfig | None = Field(default=None, description="TLS verification settings.")

    @field_validator("url")
    @classmethod
    def _url_is_an_origin_without_credentials(cls, url: str) -> str:
        # The CRD's rules say the same at admission; this catches objects stored before.
        try:
            parse_origin(url)
        except UrlError as exc:
            raise ValueError(str(exc)) from None
        return url


class Backoff(Model):
    """Exponential backoff: delay(n) = min(base * factor^(n-1), max)."""

    base: str = Field(
        default="10s",
        description="Delay before the first retry, as a duration.",
        pattern=DURATION_PATTERN,
    )
    factor: float = Field(default=2.0, ge=1.0, le=10.0, description="Multiplier per further retry.")
    max: str = Field(
        default="10m",
        description="Upper bound of a single delay, as a duration.",
        pattern=DURATION_PATTERN,
    )


EndReason = Literal["success", "failed", "stopped", "timeout", "crashed", "skipped"]
RetryableEndReason = Literal["failed", "stopped", "timeout", "crashed"]


class RetryPolicy(Model):
    """Bounded retries of a failed attempt."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.delays) && has(self.backoff))",
                    "message": "set either delays or backoff, not both",
                }
            ]
        }
    )

    limit: int = Field(
        default=0, ge=0, le=100, description="How many retries after the first attempt."
    )
    delays: list[str] | None = Field(
        default=None,
        max_length=100,
        description="Delay before each retry, as durations; the last one repeats. "
        "Mutually exclusive with backoff.",
        json_schema_extra={
            "items": {"type": "string", "pattern": DURATION_PATTERN, "maxLength": 32}
        },
    )
    backoff: Backoff | None = Field(
        default=None,
        description="Exponential backoff between retries. Mutually exclusive with delays.",
    )
    jitter: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Random jitter factor: each delay is stretched by a random fraction in "
        "[0, jitter] of itself (as Prefect's retry_jitter_factor).",
    )
    retryOn: list[RetryableEndReason] | None = Field(
        default=None,
        max_length=4,
        description="End reasons that are retried. Default: failed, crashed, timeout.",
    )


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `1m30s`; supports ms, s, m, h, d.

    Raises:
        ValueError: the text is not a supported duration.
    """
    pos, total = 0, 0.0
    for match in _SIMPLE_DURATION.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _DURATION_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"unsupported duration {text!r} (use ms, s, m, h or d units)")
    return total


class LocalObjectRef(Model):
    """Another object of this operator, by name, in the resource's own namespace."""

    name: str = Field(
        description="Name of the object, in the same namespace as the resource.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )


READY_COLUMNS: tuple[dict[str, Any], ...] = (
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
    },
)
"""Printer columns every kind shows: its Ready condition's status and reason."""

AGE_COLUMN: dict[str, Any] = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
}
"""The last printer column of every kind."""
