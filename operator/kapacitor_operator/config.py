"""One settings object for the operator, read from environment variables and CLI flags.

Flags win over environment variables, which win over defaults. Every setting is listed
in the README's configuration table and in the Helm chart's values.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any

from kapacitor_operator.urls import (
    UrlError,
    UrlPolicy,
    has_userinfo,
    parse_origin,
    parse_pattern,
    redact_url,
)

ENV = {
    "kapacitor_url": "KAPACITOR_URL",
    "kapacitor_username": "KAPACITOR_USERNAME",
    "kapacitor_password": "KAPACITOR_PASSWORD",
    "kapacitor_token": "KAPACITOR_TOKEN",
    "kapacitor_ca_file": "KAPACITOR_CA_FILE",
    "kapacitor_insecure_skip_verify": "KAPACITOR_INSECURE_SKIP_VERIFY",
    "kapacitor_timeout": "KAPACITOR_TIMEOUT",
    "namespaces": "OPERATOR_NAMESPACES",
    "drift_interval": "OPERATOR_DRIFT_INTERVAL",
    "run_poll_interval": "OPERATOR_RUN_POLL_INTERVAL",
    "kapacitor_check_interval": "OPERATOR_KAPACITOR_CHECK_INTERVAL",
    "default_run_timeout": "OPERATOR_DEFAULT_RUN_TIMEOUT",
    "log_format": "OPERATOR_LOG_FORMAT",
    "log_level": "OPERATOR_LOG_LEVEL",
    "health_port": "OPERATOR_HEALTH_PORT",
    "metrics_port": "OPERATOR_METRICS_PORT",
    "standalone": "OPERATOR_STANDALONE",
    "lease_name": "OPERATOR_LEASE_NAME",
    "lease_namespace": "OPERATOR_LEASE_NAMESPACE",
    "lease_duration": "OPERATOR_LEASE_DURATION",
    "lease_renew_deadline": "OPERATOR_LEASE_RENEW_DEADLINE",
    "lease_retry_period": "OPERATOR_LEASE_RETRY_PERIOD",
    "worker_limit": "OPERATOR_WORKER_LIMIT",
    "max_runs_per_server": "OPERATOR_MAX_RUNS_PER_SERVER",
    "drain_timeout": "OPERATOR_DRAIN_TIMEOUT",
    "allowed_kapacitor_urls": "OPERATOR_ALLOWED_KAPACITOR_URLS",
    "require_https": "OPERATOR_REQUIRE_HTTPS",
}


@dataclass(frozen=True, repr=False)
class Settings:
    """Operator configuration. Secrets (password, token) never appear in repr or logs."""

    kapacitor_url: str = "http://kapacitor:9092"
    kapacitor_username: str = field(default="", repr=False)
    kapacitor_password: str = field(default="", repr=False)
    kapacitor_token: str = field(default="", repr=False)
    kapacitor_ca_file: str = ""
    kapacitor_insecure_skip_verify: bool = False
    kapacitor_timeout: float = 10.0
    namespaces: tuple[str, ...] = ()
    drift_interval: float = 300.0
    run_poll_interval: float = 60.0
    # How often each `Kapacitor` object's server is checked (issue 15).
    kapacitor_check_interval: float = 60.0
    default_run_timeout: float = 3600.0
    log_format: str = "text"
    log_level: str = "INFO"
    health_port: int = 8080
    metrics_port: int = 9090
    # Leader election by a coordination.k8s.io Lease (docs/ha.md): one replica works, the
    # others stand by. `standalone` skips it: the process works at once (one replica only).
    standalone: bool = False
    lease_name: str = "kapacitor-operator"
    # Empty: the namespace of the operator's credentials (in a Pod, its own namespace).
    lease_namespace: str = ""
    # A standby takes over after seeing no renewal for this long (by its own clock); whole
    # seconds, as the Lease's leaseDurationSeconds.
    lease_duration: int = 10
    # The leader stops (exits) when it could not renew for this long: before a standby
    # may take over, so two replicas never work at once.
    lease_renew_deadline: float = 7.0
    # The leader renews, and a standby looks at the Lease, this often.
    lease_retry_period: float = 2.0
    worker_limit: int = 0
    # Concurrent Kapacitor runs (manual runs, retries) per server; more wait (issue 11).
    max_runs_per_server: int = 100
    # On SIGTERM, how long in-flight Kapacitor runs may take to finish (issue 11).
    drain_timeout: float = 300.0
    # Kapacitor URLs resources may name besides KAPACITOR_URL's origin (issue 12); see
    # kapacitor_operator.urls for the pattern syntax.
    allowed_kapacitor_urls: tuple[str, ...] = ()
    require_https: bool = False

    @property
    def cluster_wide(self) -> bool:
        return not self.namespaces

    @cached_property
    def url_policy(self) -> UrlPolicy:
        """Which Kapacitor URLs resources may name.

        Raises:
            UrlError: the configuration is inconsistent (validate() reports it first).
        """
        return UrlPolicy.build(
            self.kapacitor_url, self.allowed_kapacitor_urls, require_https=self.require_https
        )

    def __repr__(self) -> str:
        # Written to the log at start-up: secrets stay out, the URL is redacted.
        shown = []
        for f in fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name == "kapacitor_url":
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def _convert(name: str, raw: str) -> Any:
    default = Settings.__dataclass_fields__[name].default
    if isinstance(default, bool):
        word = raw.strip().lower()
        if word in {"1", "true", "yes", "on"}:
            return True
        if word in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"not a boolean: {raw!r} (use true or false)")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from environment variables (see ENV), defaults elsewhere.

    Raises:
        ValueError: a variable does not parse.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, var in ENV.items():
        if var in env and env[var] != "":
            try:
                values[name] = _convert(name, env[var])
            except ValueError as exc:
                raise ValueError(f"{var}: {exc}") from exc
    settings = Settings(**values)
    validate(settings)
    return settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting (`--kapacitor-url`, `--drift-interval`, ...)."""
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"(env {ENV[f.name]})"
        if isinstance(f.default, bool):
            parser.add_argument(
                flag, dest=f.name, default=None, action="store_true", help=help_text
            )
        else:
            parser.add_argument(flag, dest=f.name, default=None, help=help_text)


def apply_arguments(settings: Settings, args: argparse.Namespace) -> Settings:
    """Overlay parsed CLI flags on settings.

    Raises:
        ValueError: a flag does not parse or a value is out of range.
    """
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = getattr(args, f.name, None)
        if raw is None:
            continue
        values[f.name] = raw if isinstance(raw, bool) else _convert(f.name, str(raw))
    result = replace(settings, **values)
    validate(result)
    return result


def validate(settings: Settings) -> None:
    """Raises:
    ValueError: a setting is out of range.
    """
    if settings.log_format not in {"text", "json"}:
        raise ValueError("log format must be text or json")
    if settings.drift_interval < 1:
        raise ValueError("drift interval must be at least 1 second")
    if settings.run_poll_interval < 1:
        raise ValueError("run poll interval must be at least 1 second")
    if settings.kapacitor_check_interval < 1:
        raise ValueError("Kapacitor check interval must be at least 1 second")
    if settings.max_runs_per_server < 1:
        raise ValueError("max runs per server must be at least 1")
    if settings.drain_timeout < 0:
        raise ValueError("drain timeout must not be negative")
    validate_lease(settings)
    if settings.kapacitor_password and not settings.kapacitor_username:
        raise ValueError("KAPACITOR_PASSWORD needs KAPACITOR_USERNAME")
    validate_urls(settings)


def validate_lease(settings: Settings) -> None:
    """Raises:
    ValueError: the Lease timings cannot keep two leaders apart.
    """
    if settings.lease_retry_period <= 0:
        raise ValueError("lease retry period must be positive")
    if settings.lease_duration < 2:
        raise ValueError("lease duration must be at least 2 seconds (whole seconds)")
    if not settings.lease_retry_period < settings.lease_renew_deadline < settings.lease_duration:
        raise ValueError(
            "lease timings must satisfy retry period < renew deadline < lease duration "
            f"(got {settings.lease_retry_period:g} < {settings.lease_renew_deadline:g} "
            f"< {settings.lease_duration:g}): a leader must give up before a standby may "
            "take over, and get more than one try to renew"
        )


def validate_urls(settings: Settings) -> None:
    """The default Kapacitor URL and the URL policy (issue 12). Messages name the
    variable, never a credential.

    Raises:
        ValueError: KAPACITOR_URL carries credentials or is malformed, a pattern of
            OPERATOR_ALLOWED_KAPACITOR_URLS is malformed, or https is required of an
            http URL.
    """
    if has_userinfo(settings.kapacitor_url):
        raise ValueError(
            "KAPACITOR_URL (--kapacitor-url) must not contain credentials (user:password@): "
            "set KAPACITOR_USERNAME and KAPACITOR_PASSWORD, or KAPACITOR_TOKEN (Helm: "
            "kapacitor.existingSecret) instead"
        )
    for pattern in settings.allowed_kapacitor_urls:
        if has_userinfo(pattern):
            raise ValueError(
                "OPERATOR_ALLOWED_KAPACITOR_URLS must not contain credentials (user:password@)"
            )
    try:
        parse_origin(settings.kapacitor_url)
    except UrlError as exc:
        raise ValueError(f"KAPACITOR_URL: {exc}: {redact_url(settings.kapacitor_url)}") from exc
    try:
        patterns = [parse_pattern(p) for p in settings.allowed_kapacitor_urls if p != "*"]
    except UrlError as exc:
        raise ValueError(f"OPERATOR_ALLOWED_KAPACITOR_URLS: {exc}") from exc
    if settings.require_https:
        if not settings.kapacitor_url.lower().startswith("https://"):
            raise ValueError("OPERATOR_REQUIRE_HTTPS is on, but KAPACITOR_URL uses http")
        plain = [p.text for p in patterns if p.scheme != "https"]
        if plain:
            raise ValueError(
                "OPERATOR_REQUIRE_HTTPS is on, but OPERATOR_ALLOWED_KAPACITOR_URLS allows "
                f"http: {', '.join(plain)}"
            )
