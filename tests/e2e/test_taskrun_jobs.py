"""Job-backed TaskRuns on the real node: the containers run, and exit codes, termination
messages, log tails, timeouts, cancels, missing images and OOM kills come from the
kubelet, not from the test."""

from __future__ import annotations

import json
from typing import Any

from kapacitor_testkit.node import Node
from kapacitor_testkit.operator_process import OperatorProcess
from kapacitor_testkit.processes import wait_until
from tests.e2e.kube import Kube, condition
from tests.e2e.taskruns import finished, status, taskrun

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
ATTEMPT_LABEL = "kapacitor.operator.dev/attempt"


def job(image: str, script: str, **container: Any) -> dict[str, Any]:
    """A Job template running `script` in busybox, with the attempt number in $ATTEMPT."""
    env = [
        {
            "name": "ATTEMPT",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{ATTEMPT_LABEL}']"}},
        }
    ]
    main = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
        "env": env,
        **container,
    }
    return {"template": {"spec": {"containers": [main], "terminationGracePeriodSeconds": 1}}}


def pods(kube: Kube, job_name: str) -> list[dict[str, Any]]:
    out = kube.kubectl("get", "pods", "-l", f"{JOB_NAME_LABEL}={job_name}", "-o", "json")
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


def test_a_failing_attempt_is_retried_with_the_containers_own_exit_code_message_and_log(
    kube: Kube, operator: OperatorProcess, node: Node
) -> None:
    script = (
        'echo "attempt $ATTEMPT starting"; '
        'if [ "$ATTEMPT" = 1 ]; then echo "disk full" > /dev/termination-log; exit 3; fi; '
        'echo "copied 42 rows"'
    )
    taskrun(
        kube,
        "backup",
        retry={"limit": 2, "delays": ["1s"]},
        job=job(node.images.busybox.ref, script),
    )
    obj = finished(kube, "backup", timeout=120)
    st = status(obj)
    assert (st["phase"], st["endReason"]) == ("Succeeded", "success")
    first, second = st["attempts"]
    assert (first["externalID"], first["endReason"], first["exitCode"]) == ("backup-1", "failed", 3)
    assert first["message"] == "disk full"
    assert first["logTail"] == ["attempt 1 starting"]
    assert (second["externalID"], second["endReason"], second["exitCode"]) == (
        "backup-2",
        "success",
        0,
    )
    assert second["logTail"] == ["attempt 2 starting", "copied 42 rows"]
    created = kube.get("job", "backup-1")
    assert created is not None
    assert created["spec"]["backoffLimit"] == 0
    assert created["metadata"]["ownerReferences"][0]["kind"] == "TaskRun"
    kube.kubectl_wait("taskrun", "backup", "Succeeded")


def test_a_job_the_api_server_refuses_ends_the_run_with_its_message(
    kube: Kube, operator: OperatorProcess
) -> None:
    taskrun(
        kube,
        "noimage",
        retry={"limit": 3},
        job={"template": {"spec": {"containers": [{"name": "main"}]}}},
    )
    obj = finished(kube, "noimage", timeout=30)
    cond = condition(obj, "Succeeded") or {}
    assert (status(obj)["phase"], cond["status"], cond["reason"]) == (
        "Failed",
        "False",
        "JobRejected",
    )
    assert "image: Required value" in cond["message"]
    assert len(status(obj)["attempts"]) == 1, "a refused Job is not retried"


def test_an_image_that_is_not_on_the_node_ends_the_attempt(
    kube: Kube, operator: OperatorProcess
) -> None:
    spec = job("kapacitor-operator.test/not-there:1", "true")
    taskrun(kube, "ghost", job=spec)
    obj = finished(kube, "ghost", timeout=60)
    (attempt,) = status(obj)["attempts"]
    assert attempt["endReason"] == "failed"
    assert "ErrImageNeverPull" in attempt["message"]
    kube.wait_gone("job", "ghost-1", timeout=30)


def test_an_oom_killed_container_ends_the_attempt_with_the_kernels_reason(
    kube: Kube, operator: OperatorProcess, node: Node
) -> None:
    hog = "head -c 200000000 /dev/zero | tail"  # tail keeps the whole line in memory
    limits = {"resources": {"limits": {"memory": "32Mi"}, "requests": {"memory": "32Mi"}}}
    taskrun(kube, "hog", job=job(node.images.busybox.ref, hog, **limits))
    obj = finished(kube, "hog", timeout=120)
    (attempt,) = status(obj)["attempts"]
    assert (attempt["endReason"], attempt["exitCode"]) == ("failed", 137)
    assert "OOMKilled" in attempt["message"]


def test_the_timeout_is_enforced_by_the_kubelet(
    kube: Kube, operator: OperatorProcess, node: Node
) -> None:
    taskrun(kube, "forever", timeout="3s", job=job(node.images.busybox.ref, "sleep 600"))
    obj = finished(kube, "forever", timeout=90)
    st = status(obj)
    assert (st["phase"], st["endReason"]) == ("Failed", "timeout")
    assert (condition(obj, "Succeeded") or {})["reason"] == "TimedOut"
    assert "deadline of 3s" in st["attempts"][0]["message"]

    def stopped() -> bool:
        return all(
            (p.get("status") or {}).get("phase") in {"Failed", "Succeeded"}
            or bool(p["metadata"].get("deletionTimestamp"))
            for p in pods(kube, "forever-1")
        )

    assert wait_until(stopped, timeout=60, interval=0.5), "the container was stopped"


def test_cancel_kills_the_running_container(
    kube: Kube, operator: OperatorProcess, node: Node
) -> None:
    taskrun(kube, "halt", job=job(node.images.busybox.ref, "echo started; sleep 600"))
    assert wait_until(
        lambda: any(
            (p.get("status") or {}).get("phase") == "Running" for p in pods(kube, "halt-1")
        ),
        timeout=60,
        interval=0.5,
    ), "the container runs"
    kube.patch("taskrun", "halt", {"spec": {"cancel": True}})
    st = status(finished(kube, "halt"))
    assert (st["phase"], st["endReason"]) == ("Cancelled", "stopped")
    kube.wait_gone("job", "halt-1")
    assert wait_until(lambda: pods(kube, "halt-1") == [], timeout=60, interval=0.5), "pod gone"


def test_a_restart_reattaches_to_the_running_job(
    kube: Kube, operator: OperatorProcess, node: Node
) -> None:
    taskrun(kube, "steady", job=job(node.images.busybox.ref, "sleep 4; echo done"))
    kube.wait_for("job", "steady-1", lambda o: True, timeout=30, what="Job created")
    operator.stop(kill=True)
    operator.start()
    st = status(finished(kube, "steady", timeout=90))
    assert st["phase"] == "Succeeded"
    assert [a["externalID"] for a in st["attempts"]] == ["steady-1"]
    assert kube.get("job", "steady-2") is None


def test_ttl_deletes_the_taskrun_and_its_jobs_and_pods_go_with_it(
    kube: Kube, operator: OperatorProcess, node: Node
) -> None:
    taskrun(kube, "brief", ttlSecondsAfterFinished=1, job=job(node.images.busybox.ref, "true"))
    kube.wait_gone("taskrun", "brief", timeout=90)
    kube.wait_gone("job", "brief-1", timeout=60)
    assert wait_until(lambda: pods(kube, "brief-1") == [], timeout=60, interval=0.5), "pods gone"
