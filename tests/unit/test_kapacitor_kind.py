"""The `Kapacitor` connection kind on the work-queue controller: Events on a changed Ready
reason, the nudge of dependents after the status write, a re-check each interval that
writes nothing when nothing changed, and a deletion held while resources name it. The
pure parts are tables; the rest runs the real controller over an in-memory API server,
with the server observation scripted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import KapacitorUnavailable
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.models.kapacitor import KapacitorStatus
from kapacitor_operator.models.status import Condition
from kapacitor_operator.reconcile import kapacitor_kind
from kapacitor_operator.reconcile.kapacitor_check import ServerObservation
from kapacitor_operator.reconcile.kapacitor_kind import (
    Dependents,
    KapacitorKind,
    dependents_token,
    in_use_message,
    ready_events,
)
from kapacitor_operator.reconcile.template_users import REFS_ANNOTATION
from kapacitor_operator.sync.controller import SyncController
from tests.unit.fake_kube import FakeKube
from tests.unit.test_sync_controller import until

NS = "ns"
URL = "http://127.0.0.1:9092"
FINALIZER = "kapacitor.operator.dev/finalizer"
SEEN = ServerObservation("1.8.3", ("a",), None, ("t",), (("cpu", "slack"), ("cpu", "log")))


def ready(status: str, reason: str, message: str = "m") -> KapacitorStatus:
    cond = Condition(
        type=c.READY, status=status, reason=reason, message=message, lastTransitionTime="t"
    )
    return KapacitorStatus(observedGeneration=1, conditions=[cond])


NONE = KapacitorStatus()


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (NONE, ready("True", c.REACHABLE), [("Normal", c.REACHABLE)]),
        (ready("True", c.REACHABLE), ready("True", c.REACHABLE, "other counts"), []),
        (ready("True", c.REACHABLE), ready("False", c.UNREACHABLE), [("Warning", c.UNREACHABLE)]),
        (ready("False", c.UNREACHABLE), ready("False", c.UNREACHABLE, "another error"), []),
        (ready("False", c.UNREACHABLE), ready("True", c.REACHABLE), [("Normal", c.REACHABLE)]),
        (NONE, ready("False", c.INVALID_SPEC), [("Warning", c.INVALID_SPEC)]),
        (ready("False", c.INVALID_SPEC), ready("False", c.INVALID_SPEC), []),
        # Another invalid spec: told again, with its own message.
        (ready("False", c.INVALID_SPEC), ready("False", c.INVALID_SPEC, "x"), [("Warning", "x")]),
        (NONE, NONE, []),
    ],
)
def test_events_tell_a_changed_ready_reason(
    before: KapacitorStatus, after: KapacitorStatus, expected: list[tuple[str, str]]
) -> None:
    notes = ready_events(before, after)
    got = [(n.type, n.message if n.message == "x" else n.reason) for n in notes]
    assert got == expected


@pytest.mark.parametrize(
    ("before", "after", "nudged"),
    [
        (NONE, ready("True", c.REACHABLE), True),  # became Ready
        (ready("True", c.REACHABLE), ready("True", c.REACHABLE, "new counts"), False),
        (ready("True", c.REACHABLE), ready("False", c.UNREACHABLE), True),
        (ready("False", c.UNREACHABLE), ready("False", c.UNAUTHORIZED), False),
        (
            ready("True", c.REACHABLE),
            ready("True", c.REACHABLE).model_copy(update={"observedGeneration": 2}),
            True,
        ),
    ],
)
def test_dependents_are_nudged_when_generation_or_readiness_changes(
    before: KapacitorStatus, after: KapacitorStatus, nudged: bool
) -> None:
    assert (dependents_token(before) != dependents_token(after)) is nudged


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        ({"kapacitortasks": [], "kapacitortemplates": [], "kapacitoralerthandlers": []}, None),
        (
            {
                "kapacitortasks": ["cpu", "mem"],
                "kapacitortemplates": [],
                "kapacitoralerthandlers": [],
            },
            "KapacitorTask cpu, KapacitorTask mem",
        ),
        (
            {
                "kapacitortasks": ["cpu"],
                "kapacitortemplates": ["tpl"],
                "kapacitoralerthandlers": ["slack"],
            },
            "KapacitorTask cpu, KapacitorTemplate tpl, KapacitorAlertHandler slack",
        ),
    ],
)
def test_a_deletion_waits_naming_who_still_names_the_connection(
    users: dict[str, list[str]], expected: str | None
) -> None:
    message = in_use_message(users)
    if expected is None:
        assert message is None
    else:
        assert message is not None
        assert message.startswith(f"Deletion waits: {expected} still name this connection")


# --- on the controller -----------------------------------------------------------------------


@dataclass
class Listed:
    """A task or template controller's view: listed, with its bodies."""

    bodies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    primed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.primed.set()


@dataclass
class Server:
    """The scripted Kapacitor: what observe_server returns (or raises)."""

    seen: ServerObservation | Exception = SEEN
    checks: int = 0


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    scripted = Server()

    async def observe(client: KapacitorClient) -> ServerObservation:
        scripted.checks += 1
        if isinstance(scripted.seen, Exception):
            raise scripted.seen
        return scripted.seen

    monkeypatch.setattr(kapacitor_kind, "observe_server", observe)
    monkeypatch.setattr(kapacitor_kind, "IN_USE_RETRY", 0.05)
    return scripted


def connection(name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "Kapacitor",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"url": URL} if spec is None else spec,
    }


def task(name: str, ref: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS}, "spec": {"kapacitorRef": {"name": ref}}}


def cond(kube: FakeKube, name: str) -> tuple[str, str, str]:
    obj = kube.get("kapacitors", NS, name) or {}
    found = c.get_condition(
        KapacitorStatus.model_validate(obj.get("status") or {}).conditions, c.READY
    )
    return ("", "", "") if found is None else (found.status, found.reason, found.message)


async def started(
    kube: FakeKube, tasks: Listed, recheck: float = 0.1, interval: float | None = None
) -> SyncController:
    """The kind on a controller that rechecks every `recheck` seconds; `interval` is the
    kind's (its retry delay, lastCheckedAt's refresh), `recheck` unless given."""
    settings = Settings(kapacitor_url=URL, kapacitor_check_interval=interval or recheck)
    kind = KapacitorKind(settings, kube, ClientPool(), Dependents(tasks, Listed(), Listed()))  # type: ignore[arg-type]
    ctl = SyncController(kind, kube, settled_on=("Ready",), recheck=recheck)
    ctl.start()
    await until(lambda: ctl.primed.is_set())
    return ctl


async def test_a_reachable_server_is_ready_its_users_nudged_after_the_status_then_rechecked(
    server: Server,
) -> None:
    kube, tasks = FakeKube(), Listed()
    kube.put("kapacitortasks", task("cpu", "shared"))
    tasks.bodies[(NS, "cpu")] = task("cpu", "shared")
    tasks.bodies[(NS, "other")] = task("other", "elsewhere")
    # lastCheckedAt is refreshed after ten intervals of the kind's (60 s), not of these.
    ctl = await started(kube, tasks, interval=60.0)
    ctl.on_event("ADDED", kube.put("kapacitors", connection("shared")))
    await until(lambda: cond(kube, "shared")[1] == c.REACHABLE)
    await until(
        lambda: (
            REFS_ANNOTATION
            in (kube.get("kapacitortasks", NS, "cpu") or {})["metadata"].get("annotations", {})
        )
    )
    obj = kube.get("kapacitors", NS, "shared") or {}
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    st = obj["status"]
    assert (st["reachable"], st["version"], st["kapacitorURL"]) == (True, "1.8.3", URL)
    assert st["tasks"] == {"total": 1, "unmanaged": 1}
    calls = [x[:2] for x in kube.calls if x[0] in ("patch_status", "patch_metadata")]
    assert calls.index(("patch_status", "shared")) < calls.index(("patch_metadata", "cpu"))
    # Rechecks each interval: an unchanged server writes nothing, tells nothing, nudges nobody.
    checks = server.checks
    await until(lambda: server.checks >= checks + 3)
    assert len(kube.status_writes()) == 1
    assert [e["reason"] for e in kube.events] == [c.REACHABLE]
    assert sum(1 for x in kube.calls if x[:2] == ("patch_metadata", "cpu")) == 1
    await ctl.stop()


async def test_a_server_that_goes_away_is_told_and_its_users_nudged(server: Server) -> None:
    kube, tasks = FakeKube(), Listed()
    kube.put("kapacitortasks", task("cpu", "shared"))
    tasks.bodies[(NS, "cpu")] = task("cpu", "shared")
    ctl = await started(kube, tasks)
    ctl.on_event("ADDED", kube.put("kapacitors", connection("shared")))
    await until(lambda: cond(kube, "shared")[1] == c.REACHABLE)
    server.seen = KapacitorUnavailable("ConnectError: refused", unreachable=True)
    await until(lambda: cond(kube, "shared")[1] == c.UNREACHABLE)
    assert "ConnectError" in cond(kube, "shared")[2]
    assert (kube.get("kapacitors", NS, "shared") or {})["status"]["reachable"] is False
    await until(lambda: [e["reason"] for e in kube.events] == [c.REACHABLE, c.UNREACHABLE])
    await until(lambda: sum(1 for x in kube.calls if x[:2] == ("patch_metadata", "cpu")) == 2)
    # Still failing: checked again each interval (a temporary retry), told once.
    checks = server.checks
    await until(lambda: server.checks >= checks + 2)
    assert [e["reason"] for e in kube.events] == [c.REACHABLE, c.UNREACHABLE]
    server.seen = SEEN
    await until(lambda: cond(kube, "shared")[1] == c.REACHABLE)
    await ctl.stop()


async def test_a_url_outside_the_allow_list_is_not_called(server: Server) -> None:
    kube = FakeKube()
    ctl = await started(kube, Listed())
    ctl.on_event("ADDED", kube.put("kapacitors", connection("far", {"url": "http://far:9092"})))
    await until(lambda: cond(kube, "far")[1] == c.KAPACITOR_URL_NOT_ALLOWED)
    assert server.checks == 0
    await ctl.stop()


async def test_an_invalid_spec_says_so_once(server: Server) -> None:
    kube = FakeKube()
    ctl = await started(kube, Listed())
    ctl.on_event("ADDED", kube.put("kapacitors", connection("bad", {})))
    await until(lambda: cond(kube, "bad")[1] == c.INVALID_SPEC)
    assert "url" in cond(kube, "bad")[2]
    await asyncio.sleep(0.3)  # a few intervals: a spec only its change can fix
    assert [e["reason"] for e in kube.events] == [c.INVALID_SPEC]
    assert server.checks == 0
    await ctl.stop()


async def test_deletion_waits_while_a_resource_names_it_then_lets_go(server: Server) -> None:
    kube, tasks = FakeKube(), Listed()
    tasks.bodies[(NS, "cpu")] = task("cpu", "shared")
    ctl = await started(kube, tasks)
    ctl.on_event("ADDED", kube.put("kapacitors", connection("shared")))
    await until(lambda: cond(kube, "shared")[1] == c.REACHABLE)
    obj = kube.objects[("kapacitors", NS, "shared")]
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ctl.on_event("MODIFIED", kube.put("kapacitors", obj))
    await until(lambda: cond(kube, "shared")[1] == c.IN_USE)
    status, _, message = cond(kube, "shared")
    assert status == "False"
    assert "KapacitorTask cpu still name this connection" in message
    assert (kube.get("kapacitors", NS, "shared") or {})["status"]["version"] == "1.8.3"
    writes = len(kube.status_writes())
    await asyncio.sleep(0.3)  # several looks: one Event, no more status writes
    assert [e["reason"] for e in kube.events] == [c.REACHABLE, c.IN_USE]
    assert len(kube.status_writes()) == writes
    del tasks.bodies[(NS, "cpu")]
    await until(lambda: kube.get("kapacitors", NS, "shared") is None)
    await ctl.stop()


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (KapacitorUnavailable("refused", unreachable=True, never_sent=True), c.UNREACHABLE),
        (KapacitorUnavailable("read timeout", timed_out=True), c.KAPACITOR_TIMEOUT),
        (KapacitorUnavailable("503", status=503), c.UNREACHABLE),
    ],
)
def test_a_server_that_hangs_is_told_apart_from_one_that_is_down(
    exc: Exception, reason: str
) -> None:
    got, message = kapacitor_kind.problem_of(exc, "http://k:9092")
    assert got == reason
    assert message.startswith("Kapacitor at http://k:9092 ")
