"""Building a handler from spec + optionsFrom values, and fingerprints that hide them."""

from __future__ import annotations

from typing import Any

import pytest

from kapacitor_operator.models.alerthandler import KapacitorAlertHandlerSpec
from kapacitor_operator.reconcile.alert_handler_desired import (
    DesiredHandlerError,
    build_desired,
    fingerprint,
    merge_options,
)

SECRET = "https://hooks.example/T000/B000/s3cr3t-token"


def spec(**fields: Any) -> KapacitorAlertHandlerSpec:
    return KapacitorAlertHandlerSpec.model_validate({"topic": "ops", "kind": "post", **fields})


def test_values_land_at_their_paths_nested_included() -> None:
    merged = merge_options(
        {"headers": {"Content-Type": "application/json"}, "timeout": 5},
        {"url": "u", "headers.Authorization": "Bearer x", "a.b.c": "deep"},
    )
    assert merged == {
        "headers": {"Content-Type": "application/json", "Authorization": "Bearer x"},
        "timeout": 5,
        "url": "u",
        "a": {"b": {"c": "deep"}},
    }


def test_no_values_keeps_options_as_they_are() -> None:
    assert merge_options(None, {}) is None
    assert merge_options({"x": 1}, {}) == {"x": 1}


@pytest.mark.parametrize(
    ("options", "values", "message"),
    [
        ({"url": "inline"}, {"url": SECRET}, "collides with option 'url'"),
        ({"URL": "inline"}, {"url": SECRET}, "collides with option 'URL'"),
        ({"headers": "flat"}, {"headers.X": SECRET}, "'headers', which is not an object"),
        ({"headers": {"x": "1"}}, {"headers.X": SECRET}, "collides with option 'headers.x'"),
    ],
)
def test_collisions_are_refused_without_naming_values(
    options: dict[str, Any], values: dict[str, str], message: str
) -> None:
    with pytest.raises(DesiredHandlerError, match=message) as err:
        merge_options(options, values)
    assert SECRET not in str(err.value)


def test_defaults_and_body() -> None:
    desired = build_desired(
        spec(options={"headers": {"A": "b"}}),
        namespace="team",
        name="hook",
        uid="u1",
        values={"url": SECRET},
    )
    assert desired.handler_id == "team.hook"
    assert desired.body() == {
        "id": "team.hook",
        "kind": "post",
        "match": "",
        "options": {"headers": {"A": "b"}, "url": SECRET},
    }
    assert desired.secret_paths == ("url",)
    assert SECRET not in repr(desired)


def test_no_options_sends_none() -> None:
    desired = build_desired(spec(kind="tcp", id="h"), namespace="n", name="x", uid="u", values={})
    assert desired.body() == {"id": "h", "kind": "tcp", "match": ""}


@pytest.mark.parametrize(
    "options", [None, {}, {"interval": 0}, {"interval": "1m"}, {"interval": 0.5}]
)
def test_aggregate_without_a_positive_interval_is_refused(options: Any) -> None:
    # Kapacitor panics and exits on it: the operator must never send one.
    with pytest.raises(DesiredHandlerError, match="interval"):
        build_desired(
            spec(kind="aggregate", options=options), namespace="n", name="x", uid="u", values={}
        )


def test_fingerprint_hides_secret_values_and_tracks_them() -> None:
    opts = {"url": SECRET, "headers": {"A": "b"}}
    one = fingerprint("post", "", opts, ("url",), "salt")
    assert SECRET not in one
    assert len(one) == 32
    assert fingerprint("post", "", opts, ("url",), "salt") == one
    assert fingerprint("post", "", {**opts, "url": SECRET + "x"}, ("url",), "salt") != one
    assert fingerprint("post", "", opts, ("url",), "other-salt") != one
    assert fingerprint("post", "changed()", opts, ("url",), "salt") != one
    assert fingerprint("tcp", "", opts, ("url",), "salt") != one


def test_fingerprint_reads_go_floats_as_the_numbers_sent() -> None:
    assert fingerprint("aggregate", "", {"interval": 6e10}, (), "s") == fingerprint(
        "aggregate", "", {"interval": 60000000000}, (), "s"
    )


def test_server_fingerprint_equals_desired_when_echoed_verbatim() -> None:
    desired = build_desired(
        spec(options={"timeout": 1e9}),
        namespace="n",
        name="x",
        uid="u",
        values={"url": SECRET, "headers.Authorization": "Bearer t0k3n"},
    )
    echoed = {"timeout": 1000000000, "url": SECRET, "headers": {"Authorization": "Bearer t0k3n"}}
    assert desired.fingerprint_of("post", "", echoed) == desired.definition_hash
