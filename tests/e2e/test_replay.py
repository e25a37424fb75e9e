"""Replay TaskRuns end to end: the operator process, the real kube-apiserver and the real
kapacitord (no fault is injected: a replay fails the way Kapacitor makes it fail, a
timeout is a real-clock replay that takes longer than allowed).

kapacitord records a stream offline: the test writes points to /write, stamped inside
the recording window and then one after it, which ends the recording.
"""

from __future__ import annotations

from typing import Any

import httpx

from kapacitor_operator.timeutil import parse_time
from kapacitor_testkit.kapacitord import KapacitordHandle
from kapacitor_testkit.operator_process import OperatorProcess
from kapacitor_testkit.processes import wait_until
from tests.e2e.kapacitord_fixtures import ALERT, V1, tick_task, write
from tests.e2e.kube import Kube
from tests.e2e.taskruns import finished, status, taskrun


def ready_task(kube: Kube, name: str, task_type: str = "stream", **spec: Any) -> str:
    """A TICKscript KapacitorTask on kapacitord; its Kapacitor ID once Ready."""
    tick_task(kube, name, task_type, **spec)
    task_id: str = kube.wait_condition("kapacitortask", name, "Ready")["status"]["taskID"]
    return task_id


def recording_of(kapacitord: KapacitordHandle, kube: Kube, seconds: list[int]) -> str:
    """A finished stream recording (made directly in Kapacitor) of points at `seconds`."""
    base = kapacitord.base_url
    helper = f"{kube.ns}-recorder"
    script = ALERT.format(m=f"cpu_{kube.ns}")
    task = {"id": helper, "dbrps": [{"db": "telegraf", "rp": "autogen"}], "script": script}
    assert httpx.post(f"{base}{V1}/tasks", json=task).status_code == 200
    body = {"id": f"{kube.ns}-rec", "task": helper, "stop": "1970-01-02T00:00:00Z"}
    assert httpx.post(f"{base}{V1}/recordings/stream", json=body).status_code == 201
    lines = [f"cpu_{kube.ns} usage_idle={i} {s}" for i, s in enumerate(seconds)]
    write(kapacitord, "\n".join([*lines, f"cpu_{kube.ns} usage_idle=99 86401"]))

    def done() -> bool:
        resp = httpx.get(f"{base}{V1}/recordings/{kube.ns}-rec")
        return resp.status_code == 200 and resp.json()["status"] == "finished"

    wait_until(done, timeout=30, interval=0.1)
    return f"{kube.ns}-rec"


def test_a_replay_taskrun_records_replays_and_reports_counts(
    kube: Kube, kapacitord_operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    task_id = ready_task(kube, "cpu")
    taskrun(
        kube,
        "try-cpu",
        replay={"taskRef": {"name": "cpu"}, "record": {"type": "stream", "duration": "2s"}},
        timeout="2m",
    )
    obj = kube.wait_for(
        "taskrun",
        "try-cpu",
        lambda o: (status(o).get("replay") or {}).get("stage") == "Recording",
        timeout=60,
        what="recording",
    )
    attempt = status(obj)["attempts"][0]
    start = int(parse_time(attempt["startedAt"]).timestamp())
    m = f"cpu_{kube.ns}"
    # Two points inside the window (one crosses the alert's threshold), then one after it.
    write(kapacitord, f"{m} usage_idle=5 {start + 1}\n{m} usage_idle=50 {start + 1}")
    write(kapacitord, f"{m} usage_idle=70 {start + 3600}")
    kube.kubectl_wait("taskrun", "try-cpu", "Succeeded", timeout=90)
    st = status(kube.get("taskrun", "try-cpu") or {})
    assert (st["phase"], st["endReason"], st["target"], st["taskID"]) == (
        "Succeeded",
        "success",
        "Replay/cpu",
        task_id,
    )
    (attempt,) = st["attempts"]
    assert attempt["method"] == "replay"
    assert attempt["externalID"] == st["replay"]["replayID"]
    assert attempt["recordingID"] == st["replay"]["recordingID"]
    assert attempt["finishedAt"]
    replay = st["replay"]
    assert (replay["stage"], replay["progress"]) == ("Finished", 1)
    assert replay["recordingSize"] > 23  # more than an empty recording
    assert {"stream0", "from1", "alert2"} <= set(replay["nodes"])
    assert all("collected" in counts for counts in replay["nodes"].values())
    # Kapacitor's own record agrees, and the live task was never touched.
    seen = httpx.get(f"{kapacitord.base_url}{V1}/replays/{attempt['externalID']}").json()
    assert (seen["status"], seen["task"], seen["recording"]) == (
        "finished",
        task_id,
        attempt["recordingID"],
    )
    replays = httpx.get(
        f"{kapacitord.base_url}{V1}/replays", params={"pattern": "taskrun-*"}
    ).json()["replays"]
    assert sum(r["id"] == attempt["externalID"] for r in replays) == 1


def test_a_failed_replay_is_retried_within_the_limit(
    kube: Kube, kapacitord_operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    recording = recording_of(kapacitord, kube, [1, 2])
    # A stream recording cannot be replayed against a batch task: Kapacitor fails it.
    script = (
        'batch\n    |query(\'SELECT mean(v) FROM "telegraf"."autogen".cpu\')\n'
        "        .period(1m)\n        .every(1m)\n"
    )
    ready_task(kube, "rollup", "batch", script=script, enabled=False)
    taskrun(
        kube,
        "try-rollup",
        replay={"taskRef": {"name": "rollup"}, "recordingID": recording},
        retry={"limit": 1, "delays": ["1s"]},
    )
    obj = finished(kube, "try-rollup", timeout=90)
    st = status(obj)
    assert (st["phase"], st["endReason"], st["attempt"]) == ("Failed", "failed", 2)
    for attempt in st["attempts"]:
        assert attempt["endReason"] == "failed"
        assert attempt["recordingID"] == recording
        assert "zip: not a valid zip file" in attempt["message"]
    assert st["attempts"][0]["externalID"] != st["attempts"][1]["externalID"]
    assert st["replay"]["stage"] == "Failed"


def test_a_replay_past_its_timeout_is_cancelled(
    kube: Kube, kapacitord_operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    # 10 minutes of point time: a real-clock replay of it takes 10 minutes.
    recording = recording_of(kapacitord, kube, [0, 600])
    ready_task(kube, "slow")
    taskrun(
        kube,
        "try-slow",
        replay={"taskRef": {"name": "slow"}, "recordingID": recording, "clock": "real"},
        timeout="4s",
    )
    st = status(finished(kube, "try-slow", timeout=60))
    assert (st["phase"], st["endReason"]) == ("Failed", "timeout")
    (attempt,) = st["attempts"]
    assert "timeout of 4s" in attempt["message"]
    # The replay was deleted in Kapacitor (DELETE /replays/{id}).
    resp = httpx.get(f"{kapacitord.base_url}{V1}/replays/{attempt['externalID']}")
    assert resp.status_code == 404, resp.text


def test_an_operator_restart_while_recording_makes_nothing_twice(
    kube: Kube, kapacitord_operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    ready_task(kube, "cpu")
    replay = {"taskRef": {"name": "cpu"}, "record": {"type": "stream", "duration": "2s"}}
    taskrun(kube, "across", replay=replay, timeout="2m")
    obj = kube.wait_for(
        "taskrun",
        "across",
        lambda o: (status(o).get("replay") or {}).get("stage") == "Recording",
        timeout=60,
        what="recording",
    )
    kapacitord_operator.restart(kill=True)  # no drain: the next process finds the attempt open
    attempt = status(obj)["attempts"][0]
    start = int(parse_time(attempt["startedAt"]).timestamp())
    m = f"cpu_{kube.ns}"
    write(kapacitord, f"{m} usage_idle=5 {start + 1}\n{m} usage_idle=70 {start + 3600}")
    kube.kubectl_wait("taskrun", "across", "Succeeded", timeout=90)
    st = status(kube.get("taskrun", "across") or {})
    (only,) = st["attempts"]
    assert only["externalID"] == attempt["externalID"]
    base = kapacitord.base_url
    for kind, made in (("replays", attempt["externalID"]), ("recordings", attempt["recordingID"])):
        ids = [r["id"] for r in httpx.get(f"{base}{V1}/{kind}").json()[kind]]
        assert ids.count(made) == 1, (kind, ids)
