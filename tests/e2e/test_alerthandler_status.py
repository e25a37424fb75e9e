"""KapacitorAlertHandler's status when Kapacitor does not cooperate, as KapacitorTask's
(the shared driver): a Kapacitor that accepts connections and never answers, and a
deletion that waits for a hanging or unreachable one. Each shows its own reason within
the configured timeout (KAPACITOR_TIMEOUT)."""

from __future__ import annotations

import time

import httpx
import pytest

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube, condition
from tests.e2e.test_alerthandler import handler_manifest
from tests.e2e.test_kapacitortask_status import HANG_MS, MARGIN, TIMEOUT, op, reasons

__all__ = ["op"]  # the operator fixture, with KAPACITOR_TIMEOUT=TIMEOUT
KIND = "kapacitoralerthandler"


def wait_reasons(kube: Kube, name: str, want: dict[str, tuple[str, str]]) -> float:
    """Seconds until the conditions say `want`, at most TIMEOUT + MARGIN."""
    started = time.monotonic()
    kube.wait_for(
        KIND,
        name,
        lambda o: all(reasons(o).get(t) == w for t, w in want.items()),
        timeout=TIMEOUT + MARGIN,
        what=str(want),
    )
    return time.monotonic() - started


def held(emulator: EmulatorHandle, topic: str, handler_id: str) -> bool:
    url = f"{emulator.base_url}/kapacitor/v1/alerts/topics/{topic}/handlers/{handler_id}"
    return httpx.get(url, timeout=10.0).status_code == 200


def test_a_hanging_kapacitor_is_reported_as_timing_out(
    kube: Kube, op: OperatorProcess, emulator: EmulatorHandle
) -> None:
    emulator.set_faults(latency_ms=HANG_MS)
    kube.apply(handler_manifest("hung", topic=f"{kube.ns}-hung", kind="tcp"))
    wait_reasons(kube, "hung", {"Synced": ("False", "KapacitorTimeout")})
    obj = kube.get(KIND, "hung") or {}
    assert "did not answer in time" in condition(obj, "Synced")["message"]  # type: ignore[index]
    assert condition(obj, "Ready")["status"] == "Unknown"  # type: ignore[index]
    emulator.clear_faults()
    kube.wait_condition(KIND, "hung", "Ready", timeout=90)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("down", "KapacitorUnreachable"), ("hang", "KapacitorTimeout")],
)
def test_a_deletion_that_waits_for_kapacitor_says_so(
    kube: Kube, op: OperatorProcess, emulator: EmulatorHandle, fault: str, reason: str
) -> None:
    topic = f"{kube.ns}-doomed"
    kube.apply(handler_manifest("doomed", topic=topic, kind="tcp"))
    kube.wait_condition(KIND, "doomed", "Ready")
    kube.wait_held(KIND, "doomed")
    assert held(emulator, topic, f"{kube.ns}.doomed")
    if fault == "down":
        emulator.down()
    else:
        emulator.set_faults(latency_ms=HANG_MS)
    kube.delete(KIND, "doomed")
    wait_reasons(kube, "doomed", {"Ready": ("False", "Deleting"), "Synced": ("False", reason)})
    obj = kube.get(KIND, "doomed") or {}
    assert "deletionPolicy: Orphan" in condition(obj, "Ready")["message"]  # type: ignore[index]
    assert obj["metadata"].get("deletionTimestamp"), "the finalizer holds it"
    emulator.clear_faults()
    emulator.up()
    kube.wait_gone(KIND, "doomed", timeout=90)
    assert not held(emulator, topic, f"{kube.ns}.doomed")
