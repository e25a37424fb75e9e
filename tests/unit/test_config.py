"""Settings from environment variables and CLI flags, and the `kapacitor-operator` command."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from kapacitor_operator import __version__
from kapacitor_operator.cli import main
from kapacitor_operator.config import (
    ENV,
    Settings,
    add_arguments,
    apply_arguments,
    settings_from_env,
    validate,
)

PASSWORD = "pw-Wq7Zr9Kx"
TOKEN = "tok-Hn4Vb2Lp"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads os.environ: keep the developer's variables out of these tests."""
    for var in ENV.values():
        monkeypatch.delenv(var, raising=False)


def parse_flags(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


# --- environment --------------------------------------------------------------------------


def test_defaults_without_environment() -> None:
    settings = settings_from_env({})
    assert settings == Settings()
    assert settings.kapacitor_url == "http://kapacitor:9092"
    assert settings.cluster_wide


def test_every_setting_has_an_env_var() -> None:
    assert set(ENV) == {f.name for f in fields(Settings)}


def test_string_from_env() -> None:
    settings = settings_from_env(
        {"KAPACITOR_URL": "https://k.example:9092", "OPERATOR_LEASE_NAME": "p"}
    )
    assert (settings.kapacitor_url, settings.lease_name) == ("https://k.example:9092", "p")


@pytest.mark.parametrize(
    ("duration", "renew_deadline", "retry", "error"),
    [
        ("10", "7", "2", None),  # the defaults
        ("15", "10", "2", None),  # client-go's
        ("10", "10", "2", "renew deadline < lease duration"),  # a standby could take over
        ("10", "12", "2", "renew deadline < lease duration"),  # ... while the leader works
        ("10", "2", "2", "retry period < renew deadline"),  # one try to renew
        ("10", "7", "0", "retry period must be positive"),
        ("1", "0.5", "0.2", "at least 2 seconds"),
        ("10.5", "7", "2", "invalid literal"),  # whole seconds, as leaseDurationSeconds
    ],
)
def test_lease_timings_keep_two_leaders_apart(
    duration: str, renew_deadline: str, retry: str, error: str | None
) -> None:
    env = {
        "OPERATOR_LEASE_DURATION": duration,
        "OPERATOR_LEASE_RENEW_DEADLINE": renew_deadline,
        "OPERATOR_LEASE_RETRY_PERIOD": retry,
    }
    if error is None:
        settings = settings_from_env(env)
        assert settings.lease_duration == int(duration)
        return
    with pytest.raises(ValueError, match=error):
        settings_from_env(env)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        (" on ", True),
        ("false", False),
        ("0", False),
        ("no", False),
    ],
)
def test_bool_from_env(raw: str, expected: bool) -> None:
    settings = settings_from_env({"KAPACITOR_INSECURE_SKIP_VERIFY": raw})
    assert settings.kapacitor_insecure_skip_verify is expected


@pytest.mark.parametrize("raw", ["ture", "enabled", "2"])
def test_unrecognised_bool_is_an_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="KAPACITOR_INSECURE_SKIP_VERIFY"):
        settings_from_env({"KAPACITOR_INSECURE_SKIP_VERIFY": raw})


def test_int_from_env() -> None:
    env = {
        "OPERATOR_HEALTH_PORT": "8181",
        "OPERATOR_METRICS_PORT": "0",
        "OPERATOR_WORKER_LIMIT": "4",
    }
    settings = settings_from_env(env)
    assert (settings.health_port, settings.metrics_port, settings.worker_limit) == (8181, 0, 4)
    assert isinstance(settings.health_port, int)


def test_float_from_env() -> None:
    env = {
        "KAPACITOR_TIMEOUT": "2.5",
        "OPERATOR_DRIFT_INTERVAL": "30",
        "OPERATOR_RUN_POLL_INTERVAL": "1.5",
        "OPERATOR_DEFAULT_RUN_TIMEOUT": "600",
    }
    settings = settings_from_env(env)
    assert settings.kapacitor_timeout == 2.5
    assert settings.drift_interval == 30.0
    assert settings.run_poll_interval == 1.5
    assert settings.default_run_timeout == 600.0
    assert isinstance(settings.drift_interval, float)


def test_tuple_from_env() -> None:
    settings = settings_from_env({"OPERATOR_NAMESPACES": " team-a, team-b,,team-c "})
    assert settings.namespaces == ("team-a", "team-b", "team-c")
    assert not settings.cluster_wide


def test_empty_variable_keeps_the_default() -> None:
    settings = settings_from_env({"OPERATOR_HEALTH_PORT": "", "KAPACITOR_URL": ""})
    assert (settings.health_port, settings.kapacitor_url) == (8080, "http://kapacitor:9092")


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("OPERATOR_HEALTH_PORT", "eighty"),
        ("KAPACITOR_TIMEOUT", "10s"),
        ("OPERATOR_WORKER_LIMIT", "1.5"),
    ],
)
def test_unparsable_variable_names_itself(var: str, raw: str) -> None:
    with pytest.raises(ValueError, match=f"^{var}: "):
        settings_from_env({var: raw})


def test_os_environ_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPACITOR_URL", "http://from-env:9092")
    assert settings_from_env().kapacitor_url == "http://from-env:9092"


# --- flags --------------------------------------------------------------------------------


def test_flags_override_env() -> None:
    env = {
        "KAPACITOR_URL": "http://env:9092",
        "OPERATOR_DRIFT_INTERVAL": "600",
        "OPERATOR_NAMESPACES": "a",
        "OPERATOR_LOG_LEVEL": "DEBUG",
    }
    args = parse_flags(
        [
            "--kapacitor-url",
            "http://flag:9092",
            "--drift-interval",
            "45",
            "--namespaces",
            "b,c",
            "--health-port",
            "9000",
            "--kapacitor-insecure-skip-verify",
        ]
    )
    settings = apply_arguments(settings_from_env(env), args)
    assert settings.kapacitor_url == "http://flag:9092"
    assert settings.drift_interval == 45.0
    assert settings.namespaces == ("b", "c")
    assert settings.health_port == 9000
    assert settings.kapacitor_insecure_skip_verify is True
    assert settings.log_level == "DEBUG"  # no flag given: env stays


def test_no_flags_change_nothing() -> None:
    base = settings_from_env({"KAPACITOR_INSECURE_SKIP_VERIFY": "true", "KAPACITOR_TIMEOUT": "3"})
    assert apply_arguments(base, parse_flags([])) == base


def test_bad_flag_value_is_an_error() -> None:
    with pytest.raises(ValueError, match="eighty"):
        apply_arguments(Settings(), parse_flags(["--health-port", "eighty"]))


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPERATOR_LOG_FORMAT": "xml"}, "log format must be text or json"),
        ({"KAPACITOR_PASSWORD": PASSWORD}, "KAPACITOR_PASSWORD needs KAPACITOR_USERNAME"),
        ({"OPERATOR_DRIFT_INTERVAL": "0.5"}, "drift interval must be at least 1 second"),
        ({"OPERATOR_RUN_POLL_INTERVAL": "0"}, "run poll interval must be at least 1 second"),
    ],
)
def test_invalid_env_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        settings_from_env(env)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--log-format", "yaml"], "log format"),
        (["--kapacitor-password", PASSWORD], "KAPACITOR_USERNAME"),
        (["--drift-interval", "0"], "drift interval"),
    ],
)
def test_invalid_flags_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_arguments(Settings(), parse_flags(argv))


def test_valid_edge_values() -> None:
    validate(Settings(log_format="json", drift_interval=1, run_poll_interval=1))
    validate(Settings(kapacitor_username="alice", kapacitor_password=PASSWORD))
    validate(Settings(kapacitor_token=TOKEN))


def test_repr_hides_secrets() -> None:
    settings = settings_from_env(
        {
            "KAPACITOR_USERNAME": "alice",
            "KAPACITOR_PASSWORD": PASSWORD,
            "KAPACITOR_TOKEN": TOKEN,
        }
    )
    assert (settings.kapacitor_password, settings.kapacitor_token) == (PASSWORD, TOKEN)
    text = repr(settings)
    assert PASSWORD not in text
    assert TOKEN not in text
    assert "kapacitor_url='http://kapacitor:9092'" in text
    assert PASSWORD not in str(settings)


# --- Kapacitor URLs (issue 12) -------------------------------------------------------------

URL_PASSWORD = "url-pw-Jd83Kq"


@pytest.mark.parametrize(
    "url", [f"http://alice:{URL_PASSWORD}@k:9092", f"https://{URL_PASSWORD}@k", "http://alice@k"]
)
def test_credentials_in_kapacitor_url_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="KAPACITOR_URL") as caught:
        settings_from_env({"KAPACITOR_URL": url})
    assert "must not contain credentials" in str(caught.value)
    assert URL_PASSWORD not in str(caught.value)
    assert "alice" not in str(caught.value)


def test_credentials_in_the_kapacitor_url_flag_are_refused() -> None:
    args = parse_flags(["--kapacitor-url", f"http://u:{URL_PASSWORD}@k"])
    with pytest.raises(ValueError, match="KAPACITOR_URL") as caught:
        apply_arguments(Settings(), args)
    assert URL_PASSWORD not in str(caught.value)


def test_run_refuses_a_url_with_credentials_without_printing_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAPACITOR_URL", f"http://alice:{URL_PASSWORD}@kapacitor:9092")
    with pytest.raises(SystemExit) as caught:
        main(["run"])
    assert caught.value.code == 2
    captured = capsys.readouterr()
    assert "KAPACITOR_URL" in captured.err
    assert URL_PASSWORD not in captured.err + captured.out


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAPACITOR_URL": "kapacitor:9092"}, "KAPACITOR_URL: not a URL"),
        ({"KAPACITOR_URL": "ftp://kapacitor"}, "KAPACITOR_URL: scheme 'ftp'"),
        ({"OPERATOR_ALLOWED_KAPACITOR_URLS": "http://k/path"}, "OPERATOR_ALLOWED_KAPACITOR_URLS"),
        (
            {"OPERATOR_ALLOWED_KAPACITOR_URLS": f"http://u:{URL_PASSWORD}@k"},
            "OPERATOR_ALLOWED_KAPACITOR_URLS must not contain credentials",
        ),
        ({"OPERATOR_REQUIRE_HTTPS": "true"}, "OPERATOR_REQUIRE_HTTPS is on, but KAPACITOR_URL"),
        (
            {
                "OPERATOR_REQUIRE_HTTPS": "true",
                "KAPACITOR_URL": "https://k",
                "OPERATOR_ALLOWED_KAPACITOR_URLS": "https://a,http://b:9092",
            },
            "allows http: http://b:9092",
        ),
    ],
)
def test_inconsistent_url_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        settings_from_env(env)
    assert URL_PASSWORD not in str(caught.value)


def test_url_policy_from_env() -> None:
    settings = settings_from_env(
        {
            "KAPACITOR_URL": "https://k.monitoring:9092",
            "OPERATOR_ALLOWED_KAPACITOR_URLS": "https://*.team-a.svc:9092, https://k2:*",
            "OPERATOR_REQUIRE_HTTPS": "yes",
        }
    )
    assert settings.allowed_kapacitor_urls == ("https://*.team-a.svc:9092", "https://k2:*")
    policy = settings.url_policy
    assert policy.refusal("https://k.monitoring:9092") is None
    assert policy.refusal("https://kapacitor.team-a.svc:9092") is None
    assert policy.refusal("https://k2:1") is None
    assert policy.refusal("https://kapacitor.team-b.svc:9092") is not None


def test_default_policy_allows_only_the_default_connection() -> None:
    policy = Settings().url_policy
    assert policy.refusal("http://kapacitor:9092") is None
    assert policy.refusal("http://kapacitor.other:9092") is not None


def test_repr_redacts_the_url() -> None:
    settings = Settings(kapacitor_url=f"http://u:{URL_PASSWORD}@k")  # never validated
    assert URL_PASSWORD not in repr(settings)


# --- command line -------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == __version__


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    assert main([flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: kapacitor-operator")
    for command in ("run", "version"):
        assert f"  {command} " in out
    assert "emulator" not in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: kapacitor-operator" in capsys.readouterr().out


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err
    assert "usage: kapacitor-operator" in err


def test_run_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--standalone" in out
    for name, var in ENV.items():
        assert "--" + name.replace("_", "-") in out
        assert var in out


def test_run_with_invalid_setting_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAPACITOR_PASSWORD", PASSWORD)
    with pytest.raises(SystemExit) as caught:
        main(["run", "--drift-interval", "5"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "KAPACITOR_PASSWORD needs KAPACITOR_USERNAME" in err
    assert PASSWORD not in err


def test_run_with_unknown_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "--no-such-flag"])
    assert caught.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err


def test_the_production_cli_has_no_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--help"]) == 2
    assert "unknown command 'emulator'" in capsys.readouterr().err
