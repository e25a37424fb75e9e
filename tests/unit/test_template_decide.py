"""KapacitorTemplate decisions, as tables: (desired, observed, last hash) -> plan; the
claim key; which tasks use a template; which KapacitorTasks name it."""

from __future__ import annotations

from typing import Any

import pytest

from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.reconcile.mirror.plan import Create, Nothing, Plan, Update
from kapacitor_operator.reconcile.template_decide import (
    DesiredTemplate,
    decide,
    default_template_id,
    tasks_using,
    template_hash,
)
from kapacitor_operator.reconcile.template_mirror import claim_key
from kapacitor_operator.reconcile.template_users import template_users

SCRIPT = "var m string\nstream|from().measurement(m)"
OTHER = "var m string\nvar x = 1\nstream|from().measurement(m)"
WANT = DesiredTemplate(template_id="ns.t", type="stream", script=SCRIPT)
SAME = TickTemplate(id="ns.t", type="stream", script=SCRIPT)
EDITED = TickTemplate(id="ns.t", type="stream", script=OTHER)
RETYPED = TickTemplate(id="ns.t", type="batch", script=SCRIPT)
BOTH = {"type": "stream", "script": SCRIPT}
H = WANT.definition_hash
GONE = "Template ns.t was deleted in Kapacitor; defined it again."
CHANGED = "Template ns.t was changed in Kapacitor; restored the spec."


@pytest.mark.parametrize(
    ("observed", "last_hash", "expected"),
    [
        # new resource, template absent: define it (not drift)
        (None, None, Create()),
        # defined before with this very spec, now gone: drift repair
        (None, H, Create(drift=GONE)),
        # spec changed since and template gone: a plain create
        (None, "old", Create()),
        # matches: nothing to write
        (SAME, H, Nothing()),
        (SAME, None, Nothing()),
        # edited behind our back, spec unchanged: drift, both fields sent
        (EDITED, H, Update(BOTH, drift=CHANGED)),
        # spec changed: an ordinary update
        (EDITED, "old", Update(BOTH)),
        # type changed in Kapacitor only
        (RETYPED, H, Update(BOTH, drift=CHANGED)),
    ],
)
def test_decide(observed: TickTemplate | None, last_hash: str | None, expected: Plan) -> None:
    assert decide(WANT, observed, last_hash=last_hash) == expected


LINKED = {"a": "ns.t", "b": "", "c": "ns.t", "d": "other"}


@pytest.mark.parametrize(
    ("linked", "template_id", "expected"),
    [
        ({}, "ns.t", []),
        ({"b": "", "d": "other"}, "ns.t", []),
        (LINKED, "ns.t", ["a", "c"]),
        (LINKED, "other", ["d"]),
    ],
)
def test_tasks_using(linked: dict[str, str], template_id: str, expected: list[str]) -> None:
    assert tasks_using(linked, template_id) == expected


def test_defaults_and_hashes() -> None:
    assert default_template_id("ns", "t") == "ns.t"
    assert WANT.create_body() == {"id": "ns.t", "type": "stream", "script": SCRIPT}
    assert DesiredTemplate("ns.t", "batch", SCRIPT).definition_hash != H
    assert template_hash("stream", SCRIPT) == H  # a list page hashes as the spec does


DEFAULT = "http://kapacitor:9092"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, (DEFAULT, "template", "ns.t")),
        ({"templateID": "shared"}, (DEFAULT, "template", "shared")),
        ({"kapacitor": {"url": "http://k:9092/"}}, ("http://k:9092", "template", "ns.t")),
        ({"kapacitorRef": {"name": "prod"}}, ("ref:ns/prod", "template", "ns.t")),
    ],
)
def test_claim_key(spec: dict[str, Any], expected: tuple[str, str, str]) -> None:
    assert claim_key(spec, "ns", "t", DEFAULT) == expected


def _task(ref: Any) -> dict[str, Any]:
    return {"spec": {"type": "stream", "templateRef": ref} if ref is not None else {}}


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ({}, []),
        ({("ns", "b"): _task({"name": "t"}), ("ns", "a"): _task({"name": "t"})}, ["a", "b"]),
        ({("other", "a"): _task({"name": "t"})}, []),  # another namespace
        ({("ns", "a"): _task({"name": "u"}), ("ns", "b"): _task(None)}, []),
    ],
)
def test_template_users(tasks: dict[tuple[str, str], dict[str, Any]], expected: list[str]) -> None:
    assert template_users(tasks, "ns", "t") == expected
