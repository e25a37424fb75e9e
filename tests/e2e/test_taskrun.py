"""TaskRun end to end: API-backed runs against the emulator, Job-backed runs through the
real Job controller (the test plays the kubelet), retries, cancel, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.fake_kubelet import JOB_NAME_LABEL, finish_pod
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube, condition
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.test_kapacitortask import wait_until

API = "kapacitor.operator.dev/v1alpha1"
FLUX = 'import "array"\narray.from(rows: [{_time: now(), _value: 1}])\n    |> yield()\n'


def flux_task(kube: Kube, name: str = "job", **spec: Any) -> str:
    """Apply a Flux KapacitorTask and return its Kapacitor ID once Ready."""
    body = {"type": "flux", "every": "1h", "flux": FLUX, **spec}
    kube.apply(
        yaml.safe_dump(
            {"apiVersion": API, "kind": "KapacitorTask", "metadata": {"name": name}, "spec": body}
        )
    )
    obj = kube.wait_condition("kapacitortask", name, "Ready")
    task_id: str = obj["status"]["taskID"]
    return task_id


def taskrun(kube: Kube, name: str, **spec: Any) -> None:
    kube.apply(
        yaml.safe_dump(
            {"apiVersion": API, "kind": "TaskRun", "metadata": {"name": name}, "spec": spec}
        )
    )


def finished(kube: Kube, name: str, timeout: float = 60.0) -> dict[str, Any]:
    return kube.wait_for(
        "taskrun",
        name,
        lambda o: (o.get("status") or {}).get("phase") in {"Succeeded", "Failed", "Cancelled"},
        timeout=timeout,
        what="end",
    )


def run_posts(emulator: EmulatorHandle, task_id: str) -> list[str]:
    return [
        r["path"]
        for r in emulator.requests()
        if r["method"] == "POST"
        and r["path"].startswith(f"/kapacitor/v1/api/v2/tasks/{task_id}/runs")
    ]


def test_manual_run_succeeds_first_time(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 300}])
    taskrun(kube, "once", taskRef={"name": "job"})
    kube.kubectl_wait("taskrun", "once", "Succeeded")
    st = kube.get("taskrun", "once")["status"]  # type: ignore[index]
    assert (st["phase"], st["endReason"], st["attempt"], st["triggeredBy"]) == (
        "Succeeded",
        "success",
        1,
        "api",
    )
    (attempt,) = st["attempts"]
    assert attempt["method"] == "manual"
    assert len(attempt["externalID"]) == 16
    assert st["runID"] == attempt["externalID"]
    assert st["target"] == "KapacitorTask/job"
    assert st["runHistory"] == "Available"
    assert any("Completed(success)" in line for line in attempt["logTail"])
    assert len(run_posts(emulator, task_id)) == 1


def test_fail_then_succeed_uses_the_retry_endpoint(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(
        task_id, [{"status": "failed", "message": "bucket missing"}, {"status": "success"}]
    )
    taskrun(kube, "flaky", taskRef={"name": "job"}, retry={"limit": 2, "delays": ["1s"]})
    st = finished(kube, "flaky")["status"]
    assert (st["phase"], st["endReason"]) == ("Succeeded", "success")
    first, second = st["attempts"]
    assert first["endReason"] == "failed"
    assert "bucket missing" in first["message"]
    assert (second["method"], second["retryOfRunID"]) == ("retry", first["externalID"])
    assert second["endReason"] == "success"
    reasons = [e["reason"] for e in kube.events("flaky")]
    assert {"AttemptStarted", "AttemptFailed", "Retrying", "Succeeded"} <= set(reasons)


def test_retries_exhausted(kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(
        task_id, [{"status": "failed", "message": f"boom {i}"} for i in range(3)]
    )
    taskrun(
        kube,
        "doomed",
        taskRef={"name": "job"},
        retry={"limit": 1, "backoff": {"base": "1s", "factor": 2, "max": "2s"}},
    )
    obj = finished(kube, "doomed")
    st = obj["status"]
    assert (st["phase"], st["endReason"]) == ("Failed", "failed")
    assert [a["endReason"] for a in st["attempts"]] == ["failed", "failed"]
    assert condition(obj, "Succeeded")["status"] == "False"  # type: ignore[index]
    assert condition(obj, "Succeeded")["reason"] == "Failed"  # type: ignore[index]
    assert len(run_posts(emulator, task_id)) == 2


def test_timeout_cancels_the_run(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 20000}])
    taskrun(kube, "slow", taskRef={"name": "job"}, timeout="2s")
    obj = finished(kube, "slow")
    st = obj["status"]
    assert (st["phase"], st["endReason"]) == ("Failed", "timeout")
    assert condition(obj, "Succeeded")["reason"] == "TimedOut"  # type: ignore[index]
    run_id = st["attempts"][0]["externalID"]
    assert run_id, "the run ID is captured while the run is in flight"
    run = httpx.get(f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{task_id}/runs/{run_id}")
    assert run.json()["status"] == "canceled"


def test_cancel_stops_a_running_attempt(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 30000}])
    taskrun(kube, "stopme", taskRef={"name": "job"}, retry={"limit": 3})
    kube.wait_for(
        "taskrun",
        "stopme",
        lambda o: bool(((o.get("status") or {}).get("attempts") or [{}])[0].get("externalID")),
        what="run in flight",
    )
    kube.patch("taskrun", "stopme", {"spec": {"cancel": True}})
    st = finished(kube, "stopme", timeout=30)["status"]
    assert (st["phase"], st["endReason"]) == ("Cancelled", "stopped")
    assert len(st["attempts"]) == 1


def test_retry_of_a_stored_run(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(
        task_id, [{"status": "failed", "message": "scheduled failure"}, {"status": "success"}]
    )
    failed_run = emulator.trigger_scheduled_run(task_id)
    wait_until(
        lambda: (
            httpx.get(
                f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{task_id}/runs/{failed_run['id']}"
            )
            .json()
            .get("status")
            == "failed"
        ),
        what="scheduled run failed",
    )
    taskrun(kube, "again", taskRef={"name": "job"}, retryOf=failed_run["id"])
    st = finished(kube, "again")["status"]
    assert (st["phase"], st["triggeredBy"]) == ("Succeeded", "retry")
    (attempt,) = st["attempts"]
    assert (attempt["method"], attempt["retryOfRunID"]) == ("retry", failed_run["id"])
    assert attempt["externalID"] != failed_run["id"]


def test_operator_killed_mid_attempt_neither_loses_nor_doubles(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(
        task_id,
        [{"status": "success", "durationMs": 8000}, {"status": "success", "durationMs": 200}],
    )
    taskrun(kube, "survivor", taskRef={"name": "job"}, retry={"limit": 2, "delays": ["1s"]})
    # Kill once the run is in flight in Kapacitor (its ID captured), not merely recorded.
    kube.wait_for(
        "taskrun",
        "survivor",
        lambda o: bool(((o.get("status") or {}).get("attempts") or [{}])[0].get("externalID")),
        what="run in flight",
    )
    operator.stop(kill=True)  # as a crash: no cleanup, the connection just drops
    operator.start()
    st = finished(kube, "survivor")["status"]
    assert st["phase"] == "Succeeded"
    assert [a["endReason"] for a in st["attempts"]] == ["crashed", "success"]
    assert [a["number"] for a in st["attempts"]] == [1, 2]
    assert len(run_posts(emulator, task_id)) == 2, "exactly one Kapacitor call per attempt"


def test_automatic_retry_of_failed_scheduled_runs(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube, "nightly", retryFailedRuns=True, retry={"limit": 1})
    emulator.queue_outcomes(
        task_id, [{"status": "failed", "message": "nightly broke"}, {"status": "success"}]
    )
    failed_run = emulator.trigger_scheduled_run(task_id)
    name = f"nightly-retry-{failed_run['id']}"
    st = finished(kube, name)["status"]
    assert (st["phase"], st["triggeredBy"]) == ("Succeeded", "schedule")
    tr = kube.get("taskrun", name)
    assert tr is not None
    assert tr["metadata"]["ownerReferences"][0]["name"] == "nightly"
    runs = kube.wait_for(
        "kapacitortask",
        "nightly",
        lambda o: len((o.get("status") or {}).get("recentRuns") or []) >= 2,
        what="recent runs",
    )["status"]["recentRuns"]
    assert failed_run["id"] in {r["id"] for r in runs}
    assert {r["status"] for r in runs} >= {"failed", "success"}


@pytest.fixture
def none_storage_emulator() -> Iterator[EmulatorHandle]:
    with running_emulator("none") as handle:
        yield handle


def test_none_storage_is_reported_and_logs_captured_in_flight(
    control_plane: ControlPlane,
    kube: Kube,
    none_storage_emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    emu = none_storage_emulator
    with make_operator(control_plane, kube.ns, emu.base_url, tmp_path / "op"):
        task_id = flux_task(kube)
        emu.queue_outcomes(
            task_id, [{"status": "failed", "message": "no such bucket", "durationMs": 1500}]
        )
        taskrun(kube, "ephemeral", taskRef={"name": "job"})
        st = finished(kube, "ephemeral")["status"]
    assert (st["phase"], st["runHistory"]) == ("Failed", "Unavailable")
    (attempt,) = st["attempts"]
    assert attempt["externalID"], "run ID captured while in flight"
    assert "no such bucket" in attempt["message"]
    assert any("Started task" in line for line in attempt["logTail"] or [])


def test_job_backed_run_retries_through_the_job_controller(
    control_plane: ControlPlane, kube: Kube, operator: OperatorProcess
) -> None:
    taskrun(
        kube,
        "backup",
        retry={"limit": 2, "delays": ["1s"]},
        timeout="10m",
        job={"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}},
    )

    def pod_of(job: str) -> str:
        found: list[str] = []

        def check() -> bool:
            out = kube.kubectl(
                "get",
                "pods",
                "-l",
                f"{JOB_NAME_LABEL}={job}",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ).stdout.split()
            found[:] = out
            return bool(out)

        wait_until(check, what=f"pod of {job}")
        return found[0]

    finish_pod(control_plane, kube.ns, pod_of("backup-1"), exit_code=3, message="disk full")
    finish_pod(control_plane, kube.ns, pod_of("backup-2"), exit_code=0)
    kube.kubectl_wait("taskrun", "backup", "Succeeded")
    st = kube.get("taskrun", "backup")["status"]  # type: ignore[index]
    first, second = st["attempts"]
    assert (first["externalID"], first["endReason"], first["exitCode"]) == ("backup-1", "failed", 3)
    assert first["message"] == "disk full"
    assert (second["externalID"], second["endReason"], second["exitCode"]) == (
        "backup-2",
        "success",
        0,
    )
    job = kube.get("job", "backup-1")
    assert job is not None
    assert job["spec"]["backoffLimit"] == 0
    assert job["metadata"]["ownerReferences"][0]["kind"] == "TaskRun"


def test_job_cancel_deletes_the_running_job(
    control_plane: ControlPlane, kube: Kube, operator: OperatorProcess
) -> None:
    taskrun(
        kube,
        "halt",
        job={"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}},
    )
    kube.wait_for("job", "halt-1", lambda o: True, what="job created")
    kube.patch("taskrun", "halt", {"spec": {"cancel": True}})
    st = finished(kube, "halt")["status"]
    assert (st["phase"], st["endReason"]) == ("Cancelled", "stopped")
    kube.wait_gone("job", "halt-1")


def test_scheduled_for_is_passed_and_ttl_deletes_the_finished_run(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    # Kapacitor lists stored runs of the last 14 days only: backfill yesterday.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    when = yesterday.isoformat().replace("+00:00", "Z")
    taskrun(
        kube,
        "backfill",
        taskRef={"name": "job"},
        scheduledFor=when,
        ttlSecondsAfterFinished=2,
    )
    kube.wait_for(
        "taskrun",
        "backfill",
        lambda o: (o.get("status") or {}).get("phase") == "Succeeded",
        what="done",
    )
    status = kube.get("taskrun", "backfill")["status"]  # type: ignore[index]
    run_id = status["runID"]
    run = httpx.get(f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{task_id}/runs/{run_id}")
    assert run.json()["scheduledFor"].startswith(when[:19])
    kube.wait_gone("taskrun", "backfill", timeout=30)


def test_a_taskrun_on_a_tickscript_task_fails_clearly(
    kube: Kube, operator: OperatorProcess
) -> None:
    kube.apply(
        yaml.safe_dump(
            {
                "apiVersion": API,
                "kind": "KapacitorTask",
                "metadata": {"name": "tick"},
                "spec": {
                    "type": "stream",
                    "script": "stream|from()",
                    "dbrps": [{"db": "a", "rp": "b"}],
                },
            }
        )
    )
    taskrun(kube, "wrong", taskRef={"name": "tick"})
    obj = finished(kube, "wrong")
    assert obj["status"]["phase"] == "Failed"
    cond = condition(obj, "Succeeded")
    assert cond is not None
    assert cond["reason"] == "TaskNotFound"
    assert "flux" in cond["message"]
