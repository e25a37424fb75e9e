"""Kapacitor connection objects: the status one check produces (pure), as a table."""

from __future__ import annotations

from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.models.kapacitor import KapacitorSpec, KapacitorStatus, ObjectCounts
from kapacitor_operator.models.resources import KapacitorServer, parse_resource
from kapacitor_operator.reconcile.kapacitor_check import (
    Managed,
    ServerObservation,
    managed_on,
    status_for,
)
from kapacitor_operator.reconcile.template_users import naming

URL = "http://kapacitor.test:9092"
T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:01:00Z"
LATER = "2026-01-01T00:20:00Z"
SEEN = ServerObservation(
    version="1.8.3",
    tasks=("a", "b", "c"),
    flux_tasks=None,
    templates=("t1", "t2"),
    handlers=(("cpu", "slack"), ("cpu", "log"), ("mem", "slack"), ("disk", "pager")),
)
MANAGED = Managed(
    tasks=frozenset({"a"}),
    templates=frozenset({"t1", "t9"}),
    # The same handler ID on another topic is another handler; one gone from Kapacitor
    # (disk/gone) is not counted at all.
    handlers=frozenset({("cpu", "slack"), ("disk", "gone")}),
)


def server(status: dict[str, Any] | None = None, generation: int = 1) -> KapacitorServer:
    body = {
        "metadata": {"namespace": "ns", "name": "k", "uid": "u", "generation": generation},
        "spec": {"url": URL},
        "status": status or {},
    }
    return parse_resource(body, KapacitorSpec, KapacitorStatus)


def check(
    prev: KapacitorStatus | None,
    seen: ServerObservation | None,
    now: str,
    problem: tuple[str, str] | None = None,
) -> KapacitorStatus:
    previous = prev.model_dump(by_alias=True, exclude_none=True, mode="json") if prev else None
    return status_for(
        server(previous), seen, url=URL, now=now, interval=60, managed=MANAGED, problem=problem
    )


def ready(st: KapacitorStatus) -> tuple[str, str]:
    cond = c.get_condition(st.conditions, c.READY)
    assert cond is not None
    return cond.status, cond.reason


def test_reachable_server_shows_version_counts_and_unmanaged() -> None:
    st = check(None, SEEN, T0)
    assert ready(st) == ("True", c.REACHABLE)
    assert (st.reachable, st.version, st.lastCheckedAt) == (True, "1.8.3", T0)
    assert st.tasks == ObjectCounts(total=3, unmanaged=2)
    assert st.templates == ObjectCounts(total=2, unmanaged=1)
    assert st.handlers == ObjectCounts(total=4, unmanaged=3)
    assert st.fluxTasks is None
    assert st.kapacitorURL == URL
    assert st.observedGeneration == 1


@pytest.mark.parametrize(
    ("second", "now", "moves"),
    [
        (SEEN, T1, False),  # nothing changed, lastCheckedAt fresh: no write at all
        (SEEN, LATER, True),  # nothing changed but ten intervals passed: refresh it
        (ServerObservation("1.8.3", ("a",), None, (), ()), T1, True),  # counts changed
        (ServerObservation("1.8.4", SEEN.tasks, None, SEEN.templates, SEEN.handlers), T1, True),
        # a handler of the operator's replaced by a hand-made one: the totals stay
        (
            ServerObservation(
                "1.8.3", SEEN.tasks, None, SEEN.templates, (*SEEN.handlers[1:], ("x", "y"))
            ),
            T1,
            True,
        ),
    ],
)
def test_last_checked_at_moves_only_with_a_change_or_when_stale(
    second: ServerObservation, now: str, moves: bool
) -> None:
    first = check(None, SEEN, T0)
    st = check(first, second, now)
    assert (st.lastCheckedAt == now) is moves
    if not moves:
        assert st == first


@pytest.mark.parametrize(
    ("reason", "reachable"),
    [
        (c.UNREACHABLE, False),
        (c.UNAUTHORIZED, False),
        (c.SECRET_NOT_FOUND, None),  # never tried: nothing known about the server
        (c.KAPACITOR_URL_NOT_ALLOWED, None),
    ],
)
def test_a_failed_check_keeps_the_last_counts(reason: str, reachable: bool | None) -> None:
    first = check(None, SEEN, T0)
    st = check(first, None, T1, problem=(reason, "Kapacitor at x could not be checked"))
    assert ready(st) == ("False", reason)
    assert st.reachable is reachable
    assert st.tasks == first.tasks
    assert st.version == "1.8.3"
    assert st.lastCheckedAt == T1
    cond = c.get_condition(st.conditions, c.READY)
    assert cond is not None
    assert cond.message.endswith(".")
    assert cond.lastTransitionTime == T1


URL = "http://k:9092"


def body(ns: str, name: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec, "status": status}


def test_managed_ids_come_from_the_statuses_of_the_resources_on_that_server() -> None:
    tasks = [
        body("a", "t1", {"type": "stream"}, {"kapacitorURL": URL, "taskID": "a.t1"}),
        body("a", "f1", {"type": "flux"}, {"kapacitorURL": URL, "taskID": "0abc"}),
        body("b", "t2", {"type": "batch"}, {"kapacitorURL": "http://other", "taskID": "b.t2"}),
        body("b", "new", {"type": "stream"}, {}),  # not synced yet: claims nothing
    ]
    templates = [
        body("a", "tpl", {}, {"kapacitorURL": URL, "templateID": "a.tpl"}),
        body("a", "far", {}, {"kapacitorURL": "http://other", "templateID": "a.far"}),
    ]
    handlers = [
        body("a", "h1", {}, {"kapacitorURL": URL, "topic": "cpu", "handlerID": "slack"}),
        body("a", "h2", {}, {"kapacitorURL": "http://other", "topic": "cpu", "handlerID": "x"}),
        body("a", "h3", {}, {"kapacitorURL": URL, "topic": "cpu"}),  # not defined yet
    ]
    assert managed_on(URL, tasks, templates, handlers) == Managed(
        tasks=frozenset({"a.t1"}),
        flux_tasks=frozenset({"0abc"}),
        templates=frozenset({"a.tpl"}),
        handlers=frozenset({("cpu", "slack")}),
    )


@pytest.mark.parametrize(
    ("field", "namespace", "target", "expected"),
    [
        ("kapacitorRef", "a", "prod", ["t1", "t3"]),
        ("kapacitorRef", "b", "prod", ["t2"]),  # the same name in another namespace is another
        ("kapacitorRef", "a", "none", []),
        ("templateRef", "a", "tpl", ["t3"]),
    ],
)
def test_who_names_an_object_is_read_from_a_controllers_bodies(
    field: str, namespace: str, target: str, expected: list[str]
) -> None:
    bodies = {
        ("a", "t3"): body(
            "a", "t3", {"kapacitorRef": {"name": "prod"}, "templateRef": {"name": "tpl"}}, {}
        ),
        ("a", "t1"): body("a", "t1", {"kapacitorRef": {"name": "prod"}}, {}),
        ("b", "t2"): body("b", "t2", {"kapacitorRef": {"name": "prod"}}, {}),
        ("a", "t4"): body("a", "t4", {"kapacitor": {"url": URL}}, {}),
    }
    assert naming(bodies, field, namespace, target) == expected
