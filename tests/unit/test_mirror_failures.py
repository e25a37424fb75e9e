"""Every failure mapped once to a reason (table), and the status of a deletion that waits."""

from __future__ import annotations

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.models.resources import parse_kapacitortask
from kapacitor_operator.reconcile.desired import DesiredStateError
from kapacitor_operator.reconcile.mirror.failures import classify
from kapacitor_operator.reconcile.mirror.status import mark_deleting

URL = "http://kapacitor:9092"

CASES: list[tuple[str, Exception, str, str, bool]] = [
    (
        "hanging",
        KapacitorUnavailable("timed out", timed_out=True),
        c.KAPACITOR_TIMEOUT,
        "temporary",
        False,
    ),
    (
        "refused",
        KapacitorUnavailable("cannot reach", never_sent=True, unreachable=True),
        c.KAPACITOR_UNREACHABLE,
        "temporary",
        False,
    ),
    ("503", KapacitorUnavailable("busy", status=503), c.UNAVAILABLE, "temporary", False),
    ("400", KapacitorRejected("invalid TICKscript", status=400), c.REJECTED, "permanent", True),
    ("401", KapacitorAuthError("nope", status=401), c.UNAUTHORIZED, "temporary", False),
    ("bad spec", DesiredStateError("no script"), c.INVALID_SPEC, "permanent", True),
    ("forbidden", KubeForbidden("no", status=403), c.FORBIDDEN, "temporary", False),
]


@pytest.mark.parametrize(
    ("exc", "reason", "retry", "stalled"), [x[1:] for x in CASES], ids=[x[0] for x in CASES]
)
def test_each_failure_has_its_own_reason(
    exc: Exception, reason: str, retry: str, stalled: bool
) -> None:
    failure = classify(exc, url=URL, what="task")
    assert (failure.reason, failure.retry, failure.stalled) == (reason, retry, stalled)
    assert failure.message


def test_an_unknown_exception_is_a_bug_and_raised() -> None:
    with pytest.raises(ZeroDivisionError):
        classify(ZeroDivisionError(), url=URL, what="task")


def test_a_deletion_that_waits_never_claims_the_task_matches() -> None:
    synced = {"type": "Synced", "status": "True", "reason": "Synced", "message": "matches"}
    ready = {"type": "Ready", "status": "True", "reason": "Executing", "message": "ok"}
    task = parse_kapacitortask(
        {
            "metadata": {"namespace": "ns", "name": "t", "uid": "u", "generation": 1},
            "spec": {"type": "stream", "script": "stream|from()", "dbrps": []},
            "status": {"conditions": [ready, synced], "observedGeneration": 1},
        }
    )
    failure = classify(KapacitorUnavailable("cannot reach", unreachable=True), url=URL, what="task")
    status = mark_deleting(
        task.status,
        generation=1,
        what="task ns.t",
        reason=failure.reason,
        message=failure.message,
        now="t1",
    )
    conds = {x.type: x for x in status.conditions or []}
    assert (conds["Ready"].status, conds["Ready"].reason) == ("False", c.DELETING)
    assert "unreachable" in conds["Ready"].message
    assert "deletionPolicy: Orphan" in conds["Ready"].message
    assert (conds["Synced"].status, conds["Synced"].reason) == ("False", c.KAPACITOR_UNREACHABLE)
    assert conds["Reconciling"].status == "True"
