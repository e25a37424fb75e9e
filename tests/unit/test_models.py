"""Spec models accept what the CRD accepts and reject what Kapacitor would."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kapacitor_operator.models.common import parse_duration
from kapacitor_operator.models.kapacitortask import KapacitorTaskSpec
from kapacitor_operator.models.resources import parse_kapacitortask, parse_taskrun


def test_tickscript_spec_round_trips_with_aliases() -> None:
    spec = KapacitorTaskSpec.model_validate(
        {
            "type": "stream",
            "taskID": "cpu_alert",
            "script": "stream|from()",
            "dbrps": [{"db": "telegraf", "rp": "autogen"}],
        }
    )
    assert spec.enabled is True
    assert spec.deletionPolicy == "Delete"
    assert spec.dump()["taskID"] == "cpu_alert"


@pytest.mark.parametrize("task_id", ["cpu-alert", "a.b_c", "tásk7", "0"])
def test_task_id_accepts_kapacitor_ids(task_id: str) -> None:
    KapacitorTaskSpec.model_validate({"type": "stream", "taskID": task_id, "script": "x"})


@pytest.mark.parametrize("task_id", ["has space", "slash/id", "", "emoji😀"])
def test_task_id_rejects_what_kapacitor_rejects(task_id: str) -> None:
    with pytest.raises(ValidationError):
        KapacitorTaskSpec.model_validate({"type": "stream", "taskID": task_id, "script": "x"})


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError):
        KapacitorTaskSpec.model_validate({"type": "stream", "script": "x", "scirpt": "y"})


def test_parse_resource_reads_metadata_and_status() -> None:
    task = parse_kapacitortask(
        {
            "metadata": {
                "namespace": "ns",
                "name": "t",
                "uid": "u1",
                "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {"type": "flux", "flux": 'from(bucket: "b")', "every": "1m"},
            "status": {"taskID": "0000000000000001", "unknownFromNewerOperator": 1},
        }
    )
    assert (task.namespace, task.name, task.generation) == ("ns", "t", 3)
    assert task.status.taskID == "0000000000000001"
    assert task.key == "ns/t"


def test_taskrun_spec_parses_job_and_retry() -> None:
    run = parse_taskrun(
        {
            "metadata": {"namespace": "ns", "name": "r"},
            "spec": {
                "job": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
                "retry": {
                    "limit": 3,
                    "backoff": {"base": "1s", "factor": 2, "max": "1m"},
                    "jitter": 0.1,
                },
            },
        }
    )
    assert run.spec.retry is not None
    assert run.spec.retry.limit == 3
    assert run.spec.job is not None


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10), ("1m30s", 90), ("2h", 7200), ("250ms", 0.25), ("1d", 86400)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "s", "1x", "1m 2s"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "url",
    ["http://user:pw-x1@kapacitor:9092", "http://token@kapacitor", "http://evil\\@kapacitor"],
)
def test_kapacitor_url_with_credentials_is_rejected(url: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        KapacitorTaskSpec.model_validate(
            {"type": "stream", "script": "x", "kapacitor": {"url": url}}
        )
    assert "must not contain credentials" in str(excinfo.value)


@pytest.mark.parametrize("url", ["http://k.monitoring:9092", "https://[fd00::1]:9092/base"])
def test_kapacitor_url_accepts_hosts(url: str) -> None:
    spec = KapacitorTaskSpec.model_validate(
        {"type": "stream", "script": "x", "kapacitor": {"url": url}}
    )
    assert spec.kapacitor is not None
    assert spec.kapacitor.url == url


def test_validation_errors_never_repeat_the_input() -> None:
    body = {
        "metadata": {"name": "t", "namespace": "ns", "uid": "u"},
        "spec": {"type": "stream", "script": "x", "kapacitor": {"url": "http://u:pw-Zq81@k"}},
    }
    with pytest.raises(ValidationError) as excinfo:
        parse_kapacitortask(body)
    assert "pw-Zq81" not in str(excinfo.value)
    assert "pw-Zq81" not in repr(excinfo.value)


@pytest.mark.parametrize(
    "replay",
    [
        {"taskRef": {"name": "cpu"}},
        {"taskRef": {"name": "cpu"}, "recordingID": "r", "record": {"duration": "1m"}},
    ],
)
def test_a_replay_needs_exactly_one_source(replay: dict[str, object]) -> None:
    from kapacitor_operator.models.taskrun import ReplayTarget

    with pytest.raises(ValidationError, match=r"exactly one of replay\.recordingID"):
        ReplayTarget.model_validate(replay)


def test_a_replay_spec_parses() -> None:
    from kapacitor_operator.models.taskrun import ReplayTarget

    parsed = ReplayTarget.model_validate(
        {"taskRef": {"name": "cpu"}, "record": {"type": "stream", "duration": "10m"}}
    )
    assert (parsed.clock, parsed.recordingTime, parsed.record is not None) == ("fast", False, True)
