"""Replay TaskRuns through the whole engine (worker, decide, ReplayHandle) against the
emulator, with an in-memory Kubernetes: an operator that stops while an attempt records
is followed by one that finishes it without a second recording or replay; a replay that
fails (an emulator fault) is retried with new IDs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.timeutil import format_time, parse_time
from tests.integration.runs.world import NS, EngineWorld, until

V1 = "/kapacitor/v1"


class World(EngineWorld):
    """One synced stream KapacitorTask (``cpu``) in the fake cluster and in Kapacitor."""

    def __init__(self, emulator: EmulatorHandle, pool: ClientPool) -> None:
        self.measurement = f"m{uuid.uuid4().hex[:8]}"
        self.task_id = f"rt-{self.measurement}"
        script = f"stream|from().measurement('{self.measurement}')"
        body = {
            "id": self.task_id,
            "dbrps": [{"db": "telegraf", "rp": "autogen"}],
            "script": script,
        }
        httpx.post(f"{emulator.base_url}{V1}/tasks", json=body).raise_for_status()
        task = {
            "metadata": {"name": "cpu"},
            "spec": {"type": "stream", "script": script, "dbrps": body["dbrps"]},
            "status": {"taskID": self.task_id},
        }
        super().__init__(emulator, pool, task)

    def create(self, name: str, **spec: Any) -> None:
        self.put_run(name, spec)

    def posts(self, path: str) -> int:
        return sum(
            1 for r in self.emulator.requests() if r["method"] == "POST" and r["path"] == path
        )

    def recording(self, *seconds: int) -> str:
        """A finished stream recording (made directly in Kapacitor) of points at `seconds`."""
        recording_id = f"rec-{self.measurement}"
        body = {"id": recording_id, "task": self.task_id, "stop": "1970-01-01T00:01:00Z"}
        httpx.post(f"{self.emulator.base_url}{V1}/recordings/stream", json=body).raise_for_status()
        self.write(*seconds, 3600)
        return recording_id

    def replay_code(self, replay_id: str) -> int:
        return httpx.get(f"{self.emulator.base_url}{V1}/replays/{replay_id}").status_code

    def write(self, *seconds: int) -> None:
        lines = "\n".join(f"{self.measurement} v={i} {s}" for i, s in enumerate(seconds))
        params = {"db": "telegraf", "rp": "autogen", "precision": "s"}
        resp = httpx.post(f"{self.emulator.base_url}{V1}/write", params=params, content=lines)
        resp.raise_for_status()


RECORD = {"taskRef": {"name": "cpu"}, "record": {"type": "stream", "duration": "1s"}}


async def test_a_restart_while_recording_resumes_without_duplicates(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    emulator.clear_requests()
    world.create("try", replay=RECORD)
    st = await until(lambda: (world.status("try").get("replay") or {}).get("stage") == "Recording")
    await world.engine.drain(5)  # the operator stops; the recording goes on in Kapacitor
    st = world.status("try")
    assert st["phase"] == "Running"
    assert not st["attempts"][0].get("finishedAt")
    world.engine = world.new_engine()
    obj = world.kube.get("taskruns", NS, "try")
    assert obj is not None
    world.engine.on_taskrun(None, obj)
    start = int(parse_time(st["attempts"][0]["startedAt"]).timestamp())
    world.write(start, start + 3600)
    st = await until(lambda: world.ended("try"))
    assert (st["phase"], st["replay"]["stage"]) == ("Succeeded", "Finished")
    assert world.posts(f"{V1}/recordings/stream") == 1
    assert world.posts(f"{V1}/replays") == 1
    assert st["replay"]["nodes"]
    await world.engine.drain(5)


async def test_a_failing_replay_is_retried_with_new_ids(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    # An existing recording, and a fault on the first replay only.
    recording = world.recording(1, 2)
    emulator.queue_data_outcomes("replays", [{"status": "failed", "error": "disk full"}])
    spec = {"taskRef": {"name": "cpu"}, "recordingID": recording}
    world.create("flaky", replay=spec, retry={"limit": 2, "delays": ["100ms"]})
    st = await until(lambda: world.ended("flaky"))
    first, second = st["attempts"]
    assert (first["endReason"], second["endReason"]) == ("failed", "success")
    assert "disk full" in first["message"]
    assert first["externalID"] != second["externalID"]
    assert first["recordingID"] == second["recordingID"] == recording
    assert st["phase"] == "Succeeded"
    await world.engine.drain(5)


async def test_cancel_deletes_a_hanging_replay(emulator: EmulatorHandle, pool: ClientPool) -> None:
    world = World(emulator, pool)
    recording = world.recording(1)
    emulator.queue_data_outcomes("replays", [{"status": "hang"}])
    spec = {"taskRef": {"name": "cpu"}, "recordingID": recording}
    world.create("stuck", replay=spec)
    await until(lambda: (world.status("stuck").get("replay") or {}).get("stage") == "Replaying")
    replay_id = world.status("stuck")["runID"]
    obj = world.kube.get("taskruns", NS, "stuck")
    assert obj is not None
    obj["spec"]["cancel"] = True
    obj["metadata"]["resourceVersion"] = str(int(obj["metadata"].get("resourceVersion", "1")) + 1)
    world.engine.on_taskrun("MODIFIED", world.kube.put("taskruns", obj))
    st = await until(lambda: world.ended("stuck"))
    assert (st["phase"], st["endReason"]) == ("Cancelled", "stopped")
    assert world.replay_code(replay_id) == 404
    await world.engine.drain(5)


async def test_an_open_attempt_is_followed_by_the_ids_in_status(
    emulator: EmulatorHandle, pool: ClientPool
) -> None:
    world = World(emulator, pool)
    recording = world.recording(1)
    emulator.clear_requests()
    started = format_time(datetime.now(UTC) - timedelta(seconds=1), millis=True)
    open_attempt = {"number": 1, "method": "replay", "startedAt": started}
    status = {"phase": "Running", "attempt": 1, "taskID": world.task_id}
    spec = {"taskRef": {"name": "cpu"}, "recordingID": recording}
    # Recorded by an older version under other IDs: those are the ones looked up.
    ours = {**open_attempt, "externalID": "older-scheme-1", "recordingID": recording}
    body = {
        "metadata": {"name": "found", "namespace": NS},
        "spec": {"replay": spec},
        "status": {**status, "attempts": [ours]},
    }
    world.engine.on_taskrun(None, world.kube.put("taskruns", body))
    st = await until(lambda: world.ended("found"))
    assert (st["phase"], st["runID"]) == ("Succeeded", "older-scheme-1")
    # Its task gone: the attempt ends crashed (how its replay ended cannot be known).
    gone = {
        "metadata": {"name": "orphan", "namespace": NS},
        "spec": {"replay": {**spec, "taskRef": {"name": "missing"}}},
        "status": {**status, "attempts": [{**ours, "externalID": "x-1"}]},
    }
    world.engine.on_taskrun(None, world.kube.put("taskruns", gone))
    st = await until(lambda: world.ended("orphan"))
    assert (st["phase"], st["endReason"]) == ("Failed", "crashed")
    await world.engine.drain(5)
