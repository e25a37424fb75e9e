"""TaskRuns of Flux tasks end to end: the operator process, the real kube-apiserver, and
the Kapacitor emulator (these cases script run outcomes, durations and crashes; the same
calls against the real kapacitord are in test_kapacitord_e2e.py)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_operator.timeutil import parse_time
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.operator_process import OperatorProcess
from kapacitor_testkit.processes import wait_until
from tests.e2e.kube import Kube, condition
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.taskruns import (
    API,
    finished,
    flux_task,
    in_flight,
    kapacitor_run,
    run_posts,
    status,
    taskrun,
)


def test_manual_run_succeeds_first_time(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 300}])
    taskrun(kube, "once", taskRef={"name": "job"})
    kube.kubectl_wait("taskrun", "once", "Succeeded")
    obj = kube.get("taskrun", "once")
    assert obj is not None
    st = status(obj)
    assert (st["phase"], st["endReason"], st["attempt"], st["triggeredBy"]) == (
        "Succeeded",
        "success",
        1,
        "api",
    )
    (attempt,) = st["attempts"]
    assert attempt["method"] == "manual"
    assert st["runID"] == attempt["externalID"]
    record = kapacitor_run(emulator, task_id, attempt["externalID"])
    assert record["scheduledFor"] == attempt["scheduledFor"]
    assert st["target"] == "KapacitorTask/job"
    assert st["runHistory"] == "Available"
    assert any("Completed(success)" in line for line in attempt["logTail"])
    assert st["observedGeneration"] == obj["metadata"]["generation"]
    assert len(run_posts(emulator, task_id)) == 1


def test_concurrent_manual_runs_of_one_task_each_record_their_own_run(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    outcomes = [
        {"status": "failed" if i % 4 == 0 else "success", "message": f"e{i}", "durationMs": 300}
        for i in range(20)
    ]
    emulator.queue_outcomes(task_id, outcomes)
    names = [f"burst-{i}" for i in range(20)]
    kube.apply(
        yaml.safe_dump_all(
            {
                "apiVersion": API,
                "kind": "TaskRun",
                "metadata": {"name": n},
                "spec": {"taskRef": {"name": "job"}},
            }
            for n in names
        )
    )
    finals = [status(finished(kube, n, timeout=120)) for n in names]
    run_ids = [st["runID"] for st in finals]
    assert len(set(run_ids)) == 20, run_ids
    for st in finals:
        record = kapacitor_run(emulator, task_id, st["runID"])
        assert st["phase"] == ("Succeeded" if record["status"] == "success" else "Failed")
    assert [st["phase"] for st in finals].count("Failed") == 5
    assert len(run_posts(emulator, task_id)) == 20


def test_fail_then_succeed_uses_the_retry_endpoint_after_the_full_delay(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(
        task_id, [{"status": "failed", "message": "bucket missing"}, {"status": "success"}]
    )
    taskrun(kube, "flaky", taskRef={"name": "job"}, retry={"limit": 2, "delays": ["1s"]})
    st = status(finished(kube, "flaky"))
    assert (st["phase"], st["endReason"]) == ("Succeeded", "success")
    first, second = st["attempts"]
    assert first["endReason"] == "failed"
    assert "bucket missing" in first["message"]
    assert (second["method"], second["retryOfRunID"]) == ("retry", first["externalID"])
    assert second["endReason"] == "success"
    gap = parse_time(second["startedAt"]) - parse_time(first["finishedAt"])
    assert gap >= timedelta(seconds=1), "a retry delay is a minimum"
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
    st = status(obj)
    assert (st["phase"], st["endReason"]) == ("Failed", "failed")
    assert [a["endReason"] for a in st["attempts"]] == ["failed", "failed"]
    cond = condition(obj, "Succeeded") or {}
    assert (cond["status"], cond["reason"]) == ("False", "Failed")
    assert len(run_posts(emulator, task_id)) == 2


def test_timeout_cancels_the_run(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 20000}])
    taskrun(kube, "slow", taskRef={"name": "job"}, timeout="2s")
    obj = finished(kube, "slow")
    st = status(obj)
    assert (st["phase"], st["endReason"]) == ("Failed", "timeout")
    assert (condition(obj, "Succeeded") or {})["reason"] == "TimedOut"
    run_id = st["attempts"][0]["externalID"]
    assert run_id, "the run ID is captured while the run is in flight"
    assert kapacitor_run(emulator, task_id, run_id)["status"] == "canceled"


def test_cancel_stops_a_running_attempt_and_settles_the_generation(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 30000}])
    taskrun(kube, "stopme", taskRef={"name": "job"}, retry={"limit": 3})
    run_id = status(in_flight(kube, "stopme"))["attempts"][0]["externalID"]
    kube.patch("taskrun", "stopme", {"spec": {"cancel": True}})
    obj = finished(kube, "stopme", timeout=30)
    st = status(obj)
    assert (st["phase"], st["endReason"]) == ("Cancelled", "stopped")
    assert len(st["attempts"]) == 1
    assert st["observedGeneration"] == obj["metadata"]["generation"] == 2
    assert kapacitor_run(emulator, task_id, run_id)["status"] == "canceled"


def test_retry_of_a_stored_run(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(
        task_id, [{"status": "failed", "message": "scheduled failure"}, {"status": "success"}]
    )
    failed_run = emulator.trigger_scheduled_run(task_id)
    wait_until(
        lambda: kapacitor_run(emulator, task_id, failed_run["id"]).get("status") == "failed",
        timeout=30,
    )
    taskrun(kube, "again", taskRef={"name": "job"}, retryOf=failed_run["id"])
    st = status(finished(kube, "again"))
    assert (st["phase"], st["triggeredBy"]) == ("Succeeded", "retry")
    (attempt,) = st["attempts"]
    assert (attempt["method"], attempt["retryOfRunID"]) == ("retry", failed_run["id"])
    assert attempt["externalID"] != failed_run["id"]


def test_operator_killed_mid_attempt_resolves_it_from_kapacitors_record(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    emulator.queue_outcomes(
        task_id,
        [{"status": "success", "durationMs": 8000}, {"status": "success", "durationMs": 200}],
    )
    taskrun(kube, "survivor", taskRef={"name": "job"}, retry={"limit": 2, "delays": ["1s"]})
    run_id = status(in_flight(kube, "survivor"))["attempts"][0]["externalID"]
    operator.stop(kill=True)  # as a crash: the connection drops, Kapacitor cancels the run
    operator.start()
    st = status(finished(kube, "survivor"))
    assert st["phase"] == "Succeeded"
    first, second = st["attempts"]
    assert (first["externalID"], first["endReason"]) == (run_id, "crashed")
    assert (second["number"], second["endReason"]) == (2, "success")
    assert "cancels a run whose connection closes" in first["message"]
    assert [a["number"] for a in st["attempts"]] == [1, 2]
    assert len(run_posts(emulator, task_id)) == 2, "exactly one Kapacitor call per attempt"


def test_a_rollout_during_runs_in_flight_lets_them_finish(
    control_plane: ControlPlane, kube: Kube, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    op = make_operator(
        control_plane, kube.ns, emulator.base_url, tmp_path / "op", OPERATOR_DRAIN_TIMEOUT="60"
    )
    op.start()
    try:
        task_id = flux_task(kube)
        emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 4000}] * 20)
        names = [f"roll-{i}" for i in range(20)]
        kube.apply(
            yaml.safe_dump_all(
                {
                    "apiVersion": API,
                    "kind": "TaskRun",
                    "metadata": {"name": n},
                    "spec": {"taskRef": {"name": "job"}},
                }
                for n in names
            )
        )
        for name in names:
            in_flight(kube, name, timeout=60)
        op.stop(timeout=90)  # SIGTERM, as a rollout does: the drain lets the runs finish
        op.start()
        finals = [status(finished(kube, n, timeout=60)) for n in names]
    finally:
        op.stop(timeout=90)
    assert all(st["phase"] == "Succeeded" for st in finals), [st["phase"] for st in finals]
    assert all(len(st["attempts"]) == 1 for st in finals)
    assert len(run_posts(emulator, task_id)) == 20, "exactly one run POST per attempt"


def test_automatic_retry_of_failed_scheduled_runs_is_exactly_once(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(
        kube,
        "nightly",
        retryFailedRuns=True,
        retry={"limit": 1},
        runHistoryLimit=0,
        retryHistoryLimit=0,
    )
    emulator.queue_outcomes(
        task_id, [{"status": "failed", "message": "nightly broke"}, {"status": "success"}]
    )
    # A scheduler runs a task only for times after its latestCompleted (its creation, to
    # the second): a run "now" may fall in the same second when Ready comes fast.
    created = kube.get("kapacitortask", "nightly") or {}
    first = parse_time(status(created)["latestCompleted"]) + timedelta(seconds=1)
    failed_run = emulator.trigger_scheduled_run(task_id, first.isoformat().replace("+00:00", "Z"))
    name = f"nightly-retry-{failed_run['id']}"
    st = status(finished(kube, name))
    assert (st["phase"], st["triggeredBy"]) == ("Succeeded", "schedule")
    # retryHistoryLimit 0 prunes the finished retry; later polls (every 2 s here) and a
    # restart must not bring it back.
    kube.wait_gone("taskrun", name, timeout=30)
    operator.restart()
    # A later scheduled run that succeeds moves the mark past it: polls happened since.
    later = (parse_time(failed_run["scheduledFor"]) + timedelta(seconds=1)).isoformat()
    success = emulator.trigger_scheduled_run(task_id, later.replace("+00:00", "Z"))
    kube.wait_for(
        "kapacitortask",
        "nightly",
        lambda o: (
            bool(status(o).get("runsCheckedThrough"))
            and parse_time(status(o)["runsCheckedThrough"]) >= parse_time(success["scheduledFor"])
        ),
        timeout=60,
        what="the mark past the later run",
    )
    task = kube.get("kapacitortask", "nightly") or {}
    assert (condition(task, "AutoRetry") or {}).get("status") == "True"
    assert kube.get("taskrun", name) is None
    assert len(run_posts(emulator, task_id)) == 1, "the failed run was retried once"


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
        st = status(finished(kube, "ephemeral"))
    assert (st["phase"], st["runHistory"]) == ("Failed", "Unavailable")
    (attempt,) = st["attempts"]
    assert attempt["externalID"], "run ID captured while in flight"
    assert "no such bucket" in attempt["message"]
    assert any("Started task" in line for line in attempt["logTail"] or [])


def test_scheduled_for_is_passed_and_ttl_deletes_the_finished_run(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    task_id = flux_task(kube)
    # Kapacitor lists stored runs of the last 14 days only: backfill yesterday.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    when = yesterday.isoformat().replace("+00:00", "Z")
    taskrun(kube, "backfill", taskRef={"name": "job"}, scheduledFor=when, ttlSecondsAfterFinished=2)
    obj = kube.wait_for(
        "taskrun", "backfill", lambda o: status(o).get("phase") == "Succeeded", what="done"
    )
    run = kapacitor_run(emulator, task_id, status(obj)["runID"])
    assert run["scheduledFor"].startswith(when[:19])
    kube.wait_gone("taskrun", "backfill", timeout=30)


def test_a_missing_task_is_said_at_once_and_waited_for(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    taskrun(kube, "early", taskRef={"name": "later"})
    obj = kube.wait_condition("taskrun", "early", "Succeeded", "Unknown", reason="TaskNotFound")
    assert status(obj)["phase"] == "Pending"
    assert "KapacitorTask later does not exist" in (condition(obj, "Succeeded") or {})["message"]
    flux_task(kube, "later")
    assert status(finished(kube, "early"))["phase"] == "Succeeded"


def test_a_task_kapacitor_rejected_is_named_in_the_condition(
    kube: Kube, operator: OperatorProcess
) -> None:
    kube.apply(
        yaml.safe_dump(
            {
                "apiVersion": API,
                "kind": "KapacitorTask",
                "metadata": {"name": "broken"},
                "spec": {"type": "flux", "every": "1h", "flux": 'from(bucket: "x") |>'},
            }
        )
    )
    kube.wait_condition("kapacitortask", "broken", "Ready", "False", reason="Rejected")
    taskrun(kube, "hopeful", taskRef={"name": "broken"})
    obj = kube.wait_condition("taskrun", "hopeful", "Succeeded", "Unknown", reason="TaskNotReady")
    message = (condition(obj, "Succeeded") or {})["message"]
    assert "has no Kapacitor task yet (Rejected:" in message


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
                    "script": "stream|from()|log()",
                    "dbrps": [{"db": "a", "rp": "b"}],
                },
            }
        )
    )
    taskrun(kube, "wrong", taskRef={"name": "tick"})
    obj = finished(kube, "wrong")
    assert status(obj)["phase"] == "Failed"
    cond = condition(obj, "Succeeded") or {}
    assert (cond["status"], cond["reason"]) == ("False", "NotFluxTask")
    assert "TaskRuns run Flux tasks" in cond["message"]


def test_runs_beyond_the_per_server_limit_wait_with_a_reason(
    control_plane: ControlPlane, kube: Kube, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    with make_operator(
        control_plane,
        kube.ns,
        emulator.base_url,
        tmp_path / "op",
        OPERATOR_MAX_RUNS_PER_SERVER="2",
    ):
        task_id = flux_task(kube)
        emulator.queue_outcomes(task_id, [{"status": "success", "durationMs": 3000}] * 4)
        names = [f"q-{i}" for i in range(4)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: taskrun(kube, n, taskRef={"name": "job"}), names))

        def someone_waits() -> bool:
            for name in names:
                obj = kube.get("taskrun", name) or {}
                if (condition(obj, "Succeeded") or {}).get("reason") == "Waiting":
                    return True
            return False

        assert wait_until(someone_waits, timeout=20, interval=0.2), "two of four wait for a slot"
        finals = [status(finished(kube, n)) for n in names]
    assert all(st["phase"] == "Succeeded" for st in finals)
    assert len(run_posts(emulator, task_id)) == 4
