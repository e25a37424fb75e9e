"""Job builder and Job/Pod result reader."""

from __future__ import annotations

from typing import Any

from kapacitor_operator.models.resources import parse_taskrun
from kapacitor_operator.reconcile.taskrun_job import build_job, job_name, job_result

RUN = parse_taskrun(
    {
        "metadata": {"namespace": "ns", "name": "backup", "uid": "uid-1", "generation": 1},
        "spec": {
            "timeout": "2m",
            "job": {
                "metadata": {"labels": {"team": "sre"}},
                "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}},
            },
        },
    }
)


def test_build_job_is_owned_has_no_job_retries_and_maps_timeout() -> None:
    job = build_job(RUN, 2)
    assert job["metadata"]["name"] == "backup-2"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert job["metadata"]["ownerReferences"][0]["controller"] is True
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 120
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["kapacitor.operator.dev/taskrun"] == "backup"
    assert labels["kapacitor.operator.dev/attempt"] == "2"
    assert job["metadata"]["labels"]["team"] == "sre"
    assert RUN.spec.job is not None
    assert RUN.spec.job.template.metadata is None, "the spec must not be mutated"


def test_long_names_fit_in_63_characters_and_stay_distinct() -> None:
    long = "x" * 80
    assert len(job_name(long, 12)) <= 63
    assert job_name(long, 1) != job_name(long, 2)
    assert job_name(long + "a", 1) != job_name(long + "b", 1)


def job(cond: str | None, reason: str = "") -> dict[str, Any]:
    conds = [{"type": cond, "status": "True", "reason": reason}] if cond else []
    return {"metadata": {"name": "backup-1"}, "status": {"conditions": conds}}


def pod(exit_code: int, message: str = "") -> dict[str, Any]:
    return {
        "status": {
            "containerStatuses": [
                {
                    "state": {
                        "terminated": {"exitCode": exit_code, "message": message, "reason": "Error"}
                    }
                }
            ]
        }
    }


def test_running_job_has_no_result() -> None:
    assert job_result(job(None), []) is None
    assert job_result(job("FailureTarget"), []) is None


def test_complete_job_is_success() -> None:
    result = job_result(job("Complete"), [pod(0)])
    assert result is not None
    assert (result.end_reason, result.exit_code) == ("success", 0)


def test_failed_job_reads_exit_code_and_termination_message() -> None:
    result = job_result(job("Failed", "BackoffLimitExceeded"), [pod(3, "disk full\n")])
    assert result is not None
    assert (result.end_reason, result.exit_code, result.message) == ("failed", 3, "disk full")


def test_deadline_exceeded_is_timeout() -> None:
    result = job_result(job("Failed", "DeadlineExceeded"), [])
    assert result is not None
    assert result.end_reason == "timeout"
