"""Status tells the truth when Kapacitor does not cooperate (issue 15): a Kapacitor that
refuses connections, one that accepts them and never answers, and a deletion that waits
for either. Each shows its own reason within the configured timeout (KAPACITOR_TIMEOUT)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube, condition
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.test_kapacitortask import kapacitor_task, task_manifest

TIMEOUT = 3.0
"""KAPACITOR_TIMEOUT of the operator under test."""
MARGIN = 10.0
"""Watch delivery, the status write and kubectl polling on a loaded 2-core machine; the
behaviour fixed here took over 30 s."""
HANG_MS = 60_000
"""How long the emulator holds each request: far longer than the timeout."""


@pytest.fixture
def op(
    control_plane: ControlPlane,
    crds: list[str],
    emulator: EmulatorHandle,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    operator = make_operator(
        control_plane,
        namespace,
        emulator.base_url,
        tmp_path / "operator",
        OPERATOR_DRIFT_INTERVAL="3600",
        KAPACITOR_TIMEOUT=str(TIMEOUT),
    )
    operator.start()
    try:
        yield operator
    finally:
        emulator.clear_faults()
        emulator.up()
        operator.stop()
        print(f"--- operator log tail ({operator.log_path}) ---\n{operator.log_tail(80)}")


def reasons(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        t: (c["status"], c["reason"])
        for t in ("Ready", "Synced")
        if (c := condition(obj, t)) is not None
    }


def wait_reasons(kube: Kube, name: str, want: dict[str, tuple[str, str]]) -> float:
    """Seconds until the conditions say `want`, at most TIMEOUT + MARGIN."""
    started = time.monotonic()
    kube.wait_for(
        "kapacitortask",
        name,
        lambda o: all(reasons(o).get(t) == w for t, w in want.items()),
        timeout=TIMEOUT + MARGIN,
        what=str(want),
    )
    return time.monotonic() - started


def test_a_hanging_kapacitor_is_reported_as_timing_out(
    kube: Kube, op: OperatorProcess, emulator: EmulatorHandle
) -> None:
    emulator.set_faults(latency_ms=HANG_MS)
    kube.apply(task_manifest("hung"))
    wait_reasons(kube, "hung", {"Synced": ("False", "KapacitorTimeout")})
    obj = kube.get("kapacitortask", "hung") or {}
    assert "did not answer in time" in condition(obj, "Synced")["message"]  # type: ignore[index]
    assert condition(obj, "Ready")["status"] == "Unknown"  # type: ignore[index]
    emulator.clear_faults()
    kube.wait_condition("kapacitortask", "hung", "Ready", timeout=90)


def test_an_unreachable_kapacitor_has_its_own_reason(
    kube: Kube, op: OperatorProcess, emulator: EmulatorHandle
) -> None:
    emulator.down()
    kube.apply(task_manifest("lonely"))
    wait_reasons(kube, "lonely", {"Synced": ("False", "KapacitorUnreachable")})
    emulator.up()
    kube.wait_condition("kapacitortask", "lonely", "Ready", timeout=90)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("down", "KapacitorUnreachable"), ("hang", "KapacitorTimeout")],
)
def test_a_deletion_that_waits_for_kapacitor_says_so(
    kube: Kube, op: OperatorProcess, emulator: EmulatorHandle, fault: str, reason: str
) -> None:
    task_id = f"{kube.ns}.doomed"
    kube.apply(task_manifest("doomed"))
    kube.wait_condition("kapacitortask", "doomed", "Ready")
    kube.wait_held("kapacitortask", "doomed")
    if fault == "down":
        emulator.down()
    else:
        emulator.set_faults(latency_ms=HANG_MS)
    kube.delete("kapacitortask", "doomed")
    wait_reasons(kube, "doomed", {"Ready": ("False", "Deleting"), "Synced": ("False", reason)})
    obj = kube.get("kapacitortask", "doomed") or {}
    assert "deletionPolicy: Orphan" in condition(obj, "Ready")["message"]  # type: ignore[index]
    assert obj["metadata"].get("deletionTimestamp"), "the finalizer holds it"
    emulator.clear_faults()
    emulator.up()
    kube.wait_gone("kapacitortask", "doomed", timeout=90)
    assert kapacitor_task(emulator, task_id) is None
