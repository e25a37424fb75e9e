"""The TaskRun executor (runs/) with Job attempts, on an in-memory Kubernetes.

These check what the executor adds to decide(): status written (with a resourceVersion
precondition) before the Job exists, conflicts re-read instead of overwritten, Jobs the
API server refuses end the run with its message, stuck Pods end the attempt, cancel,
TTL, the drain, and that a quiet TaskRun does not wake up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.errors import KubeConflict, KubeInvalid, KubeUnavailable
from kapacitor_operator.reconcile.run_registry import second_of
from kapacitor_operator.reconcile.taskrun_job import LABEL_TASKRUN_UID
from kapacitor_operator.runs.engine import RunEngine
from kapacitor_operator.runs.ports import EngineDeps
from tests.unit.fake_kube import FakeKube

NS = "ns"


def taskrun(name: str = "backup", **spec: Any) -> dict[str, Any]:
    job = {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}
    return {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "TaskRun",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"job": job, **spec},
    }


async def no_connection(task: Any) -> Any:
    raise AssertionError("Job runs need no Kapacitor")


def engine_for(kube: FakeKube) -> RunEngine:
    deps = EngineDeps(
        kube=kube,
        clients=None,  # type: ignore[arg-type]
        settings=Settings(),
        resolve_connection=no_connection,
        jitter=lambda: 0.0,
    )
    engine = RunEngine(deps)
    engine.primed.set()  # nothing to read first: the tests feed every TaskRun themselves
    return engine


async def until(check: Callable[[], Any], limit: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy, or fail after `limit` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = check()
        if result:
            return result
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def status(kube: FakeKube, name: str = "backup") -> dict[str, Any]:
    obj = kube.get("taskruns", NS, name)
    assert obj is not None
    result: dict[str, Any] = obj.get("status") or {}
    return result


def finish_job(
    kube: FakeKube, engine: RunEngine, name: str, *, exit_code: int, message: str = ""
) -> None:
    job = kube.jobs[(NS, name)]
    kind = "Complete" if exit_code == 0 else "Failed"
    job["status"] = {
        "conditions": [{"type": kind, "status": "True", "reason": "BackoffLimitExceeded"}]
    }
    kube.pods[(NS, name)] = [
        {
            "metadata": {
                "name": f"{name}-abc",
                "labels": job["spec"]["template"]["metadata"]["labels"],
            },
            "status": {
                "containerStatuses": [
                    {
                        "name": "main",
                        "state": {"terminated": {"exitCode": exit_code, "message": message}},
                    }
                ]
            },
        }
    ]
    kube.logs[(NS, f"{name}-abc")] = "starting\ndone\n"
    engine.on_owned(job)


async def stop(engine: RunEngine) -> None:
    await engine.drain(1.0)


async def test_the_attempt_is_written_before_its_job_exists_and_success_is_recorded() -> None:
    kube, body = FakeKube(), taskrun()
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", body))
    await until(lambda: (NS, "backup-1") in kube.jobs)
    first_write = next(
        i for i, c in enumerate(kube.calls) if c[0] == "patch_status" and c[2] == "Running"
    )
    create = kube.calls.index(("create_job", "backup-1"))
    assert first_write < create
    job = kube.jobs[(NS, "backup-1")]
    assert job["metadata"]["labels"][LABEL_TASKRUN_UID] == "uid-backup"
    finish_job(kube, engine, "backup-1", exit_code=0, message="42 rows")
    st = await until(lambda: status(kube) if status(kube).get("phase") == "Succeeded" else None)
    attempt = st["attempts"][0]
    assert (attempt["exitCode"], attempt["message"]) == (0, "42 rows")
    assert attempt["logTail"] == ["starting", "done"]
    assert all(c[3] != "None" for c in kube.status_writes()), "every write has a precondition"
    assert {e["reason"] for e in kube.events} >= {"AttemptStarted", "Succeeded"}
    await stop(engine)


async def test_a_job_the_api_server_refuses_ends_the_run_with_its_message() -> None:
    kube = FakeKube()
    kube.job_error = KubeInvalid(
        'Job.batch "backup-1" is invalid: spec.template.spec.containers[0].image: Required value',
        status=422,
    )
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun(retry={"limit": 3})))
    st = await until(lambda: status(kube) if status(kube).get("phase") == "Failed" else None)
    (cond,) = st["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "JobRejected")
    assert "Required value" in cond["message"]
    assert len(st["attempts"]) == 1
    await stop(engine)


async def test_an_unreachable_api_server_withdraws_the_attempt_and_tries_again() -> None:
    kube = FakeKube()
    kube.job_error = KubeUnavailable("connection refused", never_sent=True)
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun()))
    st = await until(lambda: status(kube) if status(kube).get("nextRetryAt") else None)
    assert (st["phase"], st["attempts"]) == ("Pending", [])
    assert st["conditions"][0]["reason"] == "KapacitorUnavailable"
    kube.job_error = None
    await until(lambda: (NS, "backup-1") in kube.jobs, limit=10)
    await stop(engine)


async def test_an_image_that_can_never_be_pulled_ends_the_attempt_and_deletes_its_job() -> None:
    kube = FakeKube()
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun()))
    await until(lambda: (NS, "backup-1") in kube.jobs)
    kube.pods[(NS, "backup-1")] = [
        {
            "metadata": {"name": "backup-1-x", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {
                "containerStatuses": [
                    {
                        "name": "main",
                        "state": {
                            "waiting": {
                                "reason": "ErrImageNeverPull",
                                "message": 'Container image "nope" is not present',
                            }
                        },
                    }
                ]
            },
        }
    ]
    engine.on_owned(kube.jobs[(NS, "backup-1")])
    st = await until(lambda: status(kube) if status(kube).get("phase") == "Failed" else None)
    assert "ErrImageNeverPull" in st["attempts"][0]["message"]
    assert (NS, "backup-1") not in kube.jobs
    await stop(engine)


async def test_a_conflicting_write_is_reread_not_overwritten() -> None:
    kube = FakeKube()
    kube.status_errors = [KubeConflict("modified", status=409)]
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun()))
    await until(lambda: (NS, "backup-1") in kube.jobs)
    assert ("get_custom", "taskruns", "backup") in kube.calls
    assert [c[0] for c in kube.calls].count("create_job") == 1
    assert len(status(kube)["attempts"]) == 1
    await stop(engine)


async def test_cancel_deletes_the_job_and_observed_generation_follows() -> None:
    kube = FakeKube()
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun()))
    await until(lambda: (NS, "backup-1") in kube.jobs)
    engine.on_taskrun("MODIFIED", kube.edit_spec("taskruns", NS, "backup", cancel=True))
    st = await until(lambda: status(kube) if status(kube).get("phase") == "Cancelled" else None)
    assert (NS, "backup-1") not in kube.jobs
    assert st["observedGeneration"] == 2
    assert st["conditions"][0]["observedGeneration"] == 2
    await stop(engine)


async def test_ttl_deletes_the_finished_run() -> None:
    kube = FakeKube()
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun(ttlSecondsAfterFinished=0)))
    await until(lambda: (NS, "backup-1") in kube.jobs)
    finish_job(kube, engine, "backup-1", exit_code=3)
    await until(lambda: kube.get("taskruns", NS, "backup") is None)
    await stop(engine)


async def test_an_ended_run_costs_nothing_and_a_legacy_finalizer_is_removed() -> None:
    kube = FakeKube()
    engine = engine_for(kube)
    done = taskrun()
    done["status"] = {"phase": "Succeeded", "endReason": "success"}
    engine.on_taskrun(None, kube.put("taskruns", done))
    assert engine.workers == {}
    legacy = taskrun("old")
    legacy["metadata"]["finalizers"] = ["kapacitor.operator.dev/finalizer"]
    legacy["status"] = {"phase": "Failed", "endReason": "failed"}
    engine.on_taskrun(None, kube.put("taskruns", legacy))
    await until(
        lambda: ("remove_finalizer", "old", "kapacitor.operator.dev/finalizer") in kube.calls
    )
    await until(lambda: not engine.workers)
    await stop(engine)


async def test_a_running_job_attempt_does_not_wake_up_by_itself() -> None:
    kube = FakeKube()
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun()))
    await until(lambda: (NS, "backup-1") in kube.jobs)
    await until(lambda: status(kube).get("attempts"))
    # Running: its Pod exists (a Job without a Pod is looked at a few times, in case the
    # API server refuses its Pods: test_job_refusal.py).
    job = kube.jobs[(NS, "backup-1")]
    labels = job["spec"]["template"]["metadata"]["labels"]
    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    kube.pods[(NS, "backup-1")] = [
        {
            "metadata": {"name": "backup-1-abc", "labels": labels},
            "status": {"containerStatuses": [{"name": "main", "state": running}]},
        }
    ]
    seen = len(kube.calls)
    engine.on_owned(job)
    await until(lambda: ("job_pods", "backup-1") in kube.calls[seen:])
    calls = len(kube.calls)
    await asyncio.wait([asyncio.ensure_future(asyncio.sleep(0.5))])
    assert len(kube.calls) == calls, kube.calls[calls:]
    await stop(engine)


async def test_the_drain_leaves_job_attempts_running_for_the_next_operator() -> None:
    kube = FakeKube()
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", taskrun()))
    await until(lambda: status(kube).get("phase") == "Running")
    await asyncio.wait_for(engine.drain(30.0), timeout=5.0)
    assert (NS, "backup-1") in kube.jobs
    assert status(kube)["attempts"][0].get("finishedAt") is None
    # The next operator re-attaches to the same Job instead of creating another.
    again = engine_for(kube)
    again.on_taskrun(None, kube.get("taskruns", NS, "backup") or {})
    await until(lambda: ("get_job", "backup-1") in kube.calls[-5:])
    finish_job(kube, again, "backup-1", exit_code=0)
    await until(lambda: status(kube).get("phase") == "Succeeded")
    assert [c[0] for c in kube.calls].count("create_job") == 1
    await stop(again)


@pytest.mark.parametrize("missing", [True])
async def test_a_job_written_but_never_created_is_created_on_attach(missing: bool) -> None:
    kube = FakeKube()
    body = taskrun()
    body["status"] = {
        "phase": "Running",
        "attempt": 1,
        "attempts": [
            {
                "number": 1,
                "method": "job",
                "externalID": "backup-1",
                "startedAt": "2026-01-01T00:00:00.000Z",
            }
        ],
    }
    engine = engine_for(kube)
    engine.on_taskrun(None, kube.put("taskruns", body))
    await until(lambda: (NS, "backup-1") in kube.jobs)
    assert status(kube)["attempts"][0].get("endReason") is None
    await stop(engine)


def test_a_reservation_is_released_only_by_its_owner() -> None:
    from datetime import UTC, datetime

    from kapacitor_operator.reconcile.run_registry import Reservations

    held = Reservations()
    key = ("http://k", "t")
    assert held.reserve(key, "2026-01-01T00:00:17Z", "a")
    assert held.reserve(key, "2026-01-01T00:00:17Z", "a"), "the owner may ask again"
    assert not held.reserve(key, "2026-01-01T00:00:17Z", "b")
    held.release(key, "2026-01-01T00:00:17Z", "b")  # not b's: nothing happens
    assert not held.reserve(key, "2026-01-01T00:00:17Z", "c")
    now = datetime(2026, 1, 1, 0, 0, 17, tzinfo=UTC)
    assert held.reserve_near(key, now, "c") == "2026-01-01T00:00:16Z"
    held.release(key, "2026-01-01T00:00:17Z", "a")
    assert held.reserve(key, "2026-01-01T00:00:17Z", "b")


def test_a_manual_run_never_takes_a_second_an_earlier_attempt_started_a_run_in() -> None:
    from datetime import UTC, datetime

    from kapacitor_operator.reconcile.run_registry import Reservations

    held = Reservations()
    key = ("http://k", "t")
    now = datetime(2026, 1, 1, 0, 0, 17, tzinfo=UTC)
    assert held.reserve_near(key, now, "a") == "2026-01-01T00:00:17Z"
    # a ran (its run may be retried later, or be unrecorded after a crash): spent
    held.release(key, "2026-01-01T00:00:17Z", "a", spent=True)
    assert held.reserve_near(key, now, "b") == "2026-01-01T00:00:16Z"
    # c was prepared but never started: its second is free again
    assert held.reserve_near(key, now, "c") == "2026-01-01T00:00:15Z"
    held.release(key, "2026-01-01T00:00:15Z", "c")
    assert held.reserve_near(key, now, "d") == "2026-01-01T00:00:15Z"
    # a retry of a's run takes a's exact second, spent or not
    assert held.reserve(key, "2026-01-01T00:00:17Z", "a")


def test_seconds_recorded_in_any_status_are_avoided_after_a_restart() -> None:
    kube = FakeKube()
    engine = engine_for(kube)
    ended = {
        "taskID": "t1",
        "attempts": [
            {
                "number": 1,
                "scheduledFor": "2026-01-01T00:00:17Z",
                "startedAt": "2026-01-01T00:00:17Z",
                "finishedAt": "2026-01-01T00:00:18Z",
            }
        ],
    }
    engine.record(ended, "uid-a")
    opened = {
        "taskID": "t1",
        "attempts": [{"number": 1, "scheduledFor": "2026-01-01T00:00:12Z"}],
    }
    engine.record(opened, "uid-b")
    seconds = {second_of("2026-01-01T00:00:17Z"), second_of("2026-01-01T00:00:12Z")}
    assert engine.busy_seconds("t1", "uid-c") == seconds
    assert engine.busy_seconds("t1", "uid-a") == seconds, "its own earlier run too"
    assert engine.busy_seconds("t2", "uid-c") == set()
