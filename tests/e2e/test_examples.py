"""Every file in examples/ applied with `kubectl apply --server-side` to the operator as
users run it (a Pod installed by the chart, its image built from the Dockerfile) and the
real kapacitord, reaching its expected condition, with data flowing into the stream
examples and the Job-backed example a real Pod on the node; the retry examples again
where finished runs are kept (the emulator); admission rejects malformed manifests;
`kubectl explain` documents fields; a second apply of the same files changes nothing
(the operator never writes spec)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_operator.timeutil import parse_time
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.datawriter import DataWriter, Shape
from kapacitor_testkit.example_setup import prepare_kapacitor
from kapacitor_testkit.http_gate import HttpGate, gated_flux
from kapacitor_testkit.kapacitord import KapacitordHandle
from kapacitor_testkit.node import Node
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.helm_fixtures import OperatorPod
from tests.e2e.kapacitord_fixtures import kd_flux_task, kd_task
from tests.e2e.kube import Kube, condition
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.taskruns import finished, in_flight, status, taskrun
from tests.e2e.test_kapacitortask import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str, **replace: str) -> str:
    text = (EXAMPLES / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def with_flux(manifest: str, flux: str) -> str:
    """The manifest of a Flux KapacitorTask with another script."""
    doc = yaml.safe_load(manifest)
    doc["spec"]["flux"] = flux
    return yaml.safe_dump(doc)


def test_every_example_is_covered() -> None:
    covered = {
        "01-stream-alert.yaml",
        "02-batch-task.yaml",
        "03-template-task.yaml",
        "04-flux-every.yaml",
        "05-flux-cron-retry.yaml",
        "06-taskrun-manual.yaml",
        "07-taskrun-retry-of.yaml",
        "08-taskrun-job.yaml",
        "09-kapacitor-with-auth.yaml",
        "10-taskrun-replay.yaml",
        "12-alert-handlers-webhooks.yaml",
        "13-shared-kapacitor.yaml",
        "14-template-with-tasks.yaml",
    }
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == covered


def alert_stats(kd: KapacitordHandle, task_id: str) -> dict[str, int]:
    stats = ((kd_task(kd, task_id) or {}).get("stats") or {}).get("node-stats") or {}
    alerts = [v for k, v in stats.items() if k.startswith("alert")]
    return alerts[0] if alerts else {}


@pytest.mark.kapacitord
def test_examples_reach_their_conditions(
    control_plane: ControlPlane,
    crds: list[str],
    node: Node,
    kapacitord_operator_pod: OperatorPod,
    node_kapacitord: KapacitordHandle,
    tmp_path: Path,
) -> None:
    """On the real kapacitord, through the chart's operator Pod; data flows into the
    stream examples; 07 retries a real failed run, which this Kapacitor has dropped.
    The examples' alert logs go to the test's directory, not the machine's /tmp."""
    kube = Kube(control_plane, kapacitord_operator_pod.watched)
    kd = node_kapacitord
    # The examples' Job image; the node has no registry, so its busybox stands in.
    node.alias_image("busybox", "docker.io/library/busybox:1.36")
    prepare_kapacitor(kd.base_url, log_dir=str(tmp_path))
    cpu_alert = f"{kube.ns}-cpu_alert"
    # Task IDs in this namespace; alert logs in this test's directory.
    ours = {"cpu_alert": cpu_alert, "'/tmp/": f"'{tmp_path}/"}
    for name in (
        "01-stream-alert.yaml",
        "02-batch-task.yaml",
        "03-template-task.yaml",
        "04-flux-every.yaml",
        "05-flux-cron-retry.yaml",
    ):
        kube.apply(example(name, **ours))
    for task in ("cpu-alert", "mem-report", "disk-alert", "downsample-cpu", "hourly-rollup"):
        kube.kubectl_wait("kapacitortask", task, "Ready")
    assert kube.get("kapacitortask", "mem-report")["status"]["status"] == "disabled"  # type: ignore[index]

    # Alert handlers on a topic, their secret options from a Secret.
    kube.apply(
        example("12-alert-handlers-webhooks.yaml", **{"topic: cpu-alerts": f"topic: {kube.ns}-cpu"})
    )
    for handler in ("cpu-alerts-to-teams", "cpu-alerts-to-pagerduty", "cpu-alerts-to-slack"):
        kube.kubectl_wait("kapacitoralerthandler", handler, "Ready")
    handlers = f"{kd.base_url}/kapacitor/v1/alerts/topics/{kube.ns}-cpu/handlers"
    teams = httpx.get(f"{handlers}/{kube.ns}.cpu-alerts-to-teams").json()
    assert teams["options"]["channel-url"].startswith("https://example.webhook.office.com/")
    shown = json.dumps(kube.get("kapacitoralerthandler", "cpu-alerts-to-teams"))
    assert "webhook.office.com" not in shown
    disk_alert = f"{kube.ns}.disk-alert"
    for task_id in (cpu_alert, disk_alert):
        assert (kd_task(kd, task_id) or {}).get("executing") is True, task_id
    # Data flows: the stream examples count the writer's points and alert on its spikes
    # (every 2 s here, every 3 minutes in the playground).
    fast = Shape(spike_period=2.0, spike_seconds=1.0)
    with DataWriter(kd.base_url, interval=0.2, shape=fast, seed=5) as writer:
        wait_until(
            lambda: (
                alert_stats(kd, cpu_alert).get("alerts_triggered", 0) >= 2
                and alert_stats(kd, disk_alert).get("crits_triggered", 0) >= 1
            ),
            timeout=30,
            what="the examples' alerts fire",
        )
    wait_until(
        lambda: (
            (kd_task(kd, cpu_alert) or {})["stats"]["node-stats"]["from1"]["collected"]
            == writer.written["cpu"]
        ),
        what="every cpu point written counted by examples/01",
    )

    # A manual run of the every-10m Flux task, really run by Kapacitor.
    kube.apply(example("06-taskrun-manual.yaml"))
    kube.kubectl_wait("taskrun", "downsample-cpu-now", "Succeeded")
    downsample = kube.get("kapacitortask", "downsample-cpu")["status"]["taskID"]  # type: ignore[index]
    assert (kd_flux_task(kd, downsample) or {})["lastRunStatus"] == "success"

    # Retry a given run: first make hourly-rollup fail one (its upstream answers 503
    # through the gate while the run is in flight, so its ID is known), then restore it.
    rollup = example("05-flux-cron-retry.yaml")
    with HttpGate() as gate:
        kube.apply(with_flux(rollup, gated_flux(gate.url)))
        kube.wait_for(
            "kapacitortask",
            "hourly-rollup",
            lambda o: (
                o["status"].get("observedGeneration") == 2
                and (condition(o, "Ready") or {}).get("status") == "True"
            ),
            what="the gated script in Kapacitor",
        )
        taskrun(kube, "hourly-rollup-now", taskRef={"name": "hourly-rollup"})
        failed_run = status(in_flight(kube, "hourly-rollup-now"))["attempts"][0]["externalID"]
        gate.open(503)
        st = status(finished(kube, "hourly-rollup-now"))
    assert st["phase"] == "Failed"
    assert "upstream answered 503" in st["attempts"][0]["message"]
    kube.apply(rollup)
    kube.wait_condition("kapacitortask", "hourly-rollup", "Ready")
    # The task has run: the operator sees that Kapacitor keeps no finished runs, so
    # automatic retries cannot work here (they need stored runs: see the emulator test).
    kube.wait_condition(
        "kapacitortask", "hourly-rollup", "AutoRetry", "False", reason="RunHistoryUnavailable"
    )
    kube.apply(example("07-taskrun-retry-of.yaml", **{"0000000000000001": failed_run}))
    obj = finished(kube, "hourly-rollup-retry")
    cond = condition(obj, "Succeeded") or {}
    assert (cond.get("status"), cond.get("reason")) == ("False", "Failed")
    assert f"Kapacitor no longer has run {failed_run}" in cond["message"]

    # A Job-backed TaskRun: its attempt runs as a real Pod on the node.
    kube.apply(example("08-taskrun-job.yaml"))
    kube.kubectl_wait("taskrun", "hourly-backup", "Succeeded", timeout=120)
    attempt = kube.get("taskrun", "hourly-backup")["status"]["attempts"][0]  # type: ignore[index]
    assert (attempt["exitCode"], attempt["logTail"]) == (0, ["backing up Kapacitor"])

    # A replay of cpu-alert on a stream recording of what is written while it records.
    kube.apply(example("10-taskrun-replay.yaml", **{"duration: 10m": "duration: 3s"}))
    recording = kube.wait_for(
        "taskrun",
        "cpu-alert-replay",
        lambda o: (o.get("status") or {}).get("replay", {}).get("stage") == "Recording",
        timeout=60,
        what="recording",
    )["status"]
    # Points are recorded by their time stamps: two inside the window (the attempt's start
    # plus 3 s), then one after it, which ends the recording.
    start = int(parse_time(recording["attempts"][-1]["startedAt"]).timestamp())
    write = f"{kd.base_url}/kapacitor/v1/write?db=telegraf&rp=autogen&precision=s"
    lines = f"cpu usage_idle=5 {start + 1}\ncpu usage_idle=50 {start + 2}\n"
    httpx.post(write, content=lines + f"cpu usage_idle=70 {start + 3600}").raise_for_status()
    kube.kubectl_wait("taskrun", "cpu-alert-replay", "Succeeded", timeout=60)
    replayed = kube.get("taskrun", "cpu-alert-replay")["status"]["replay"]  # type: ignore[index]
    assert (replayed["recordingID"], replayed["stage"]) == (
        recording["replay"]["recordingID"],
        "Finished",
    )
    assert replayed["nodes"]

    # The same files applied again: nothing changes (no spec field is owned by the operator).
    before = generations(kube)
    for name in sorted(p.name for p in EXAMPLES.glob("0[1-6]*.yaml")):
        result = kube.apply(example(name, **ours))
        assert "conflict" not in result.stderr.lower()
    assert generations(kube) == before


def test_retry_examples_on_a_kapacitor_that_keeps_runs(
    control_plane: ControlPlane,
    crds: list[str],
    operator_pod: OperatorPod,
    node_emulator: EmulatorHandle,
) -> None:
    """05 and 07 where finished runs are kept (the emulator's memory storage stands in for
    `task-run-influxdb`): a failed scheduled run is retried on request and automatically."""
    kube = Kube(control_plane, operator_pod.watched)
    emulator = node_emulator
    kube.apply(example("05-flux-cron-retry.yaml"))
    kube.kubectl_wait("kapacitortask", "hourly-rollup", "Ready")
    rollup_id = kube.get("kapacitortask", "hourly-rollup")["status"]["taskID"]  # type: ignore[index]
    # Failures scheduled no later than the task's creation (whole seconds) predate the
    # operator and are not retried automatically: fail a run scheduled after it.
    task_url = f"{emulator.base_url}/kapacitor/v1/api/v2/tasks/{rollup_id}"
    created = parse_time(httpx.get(task_url).json()["latestCompleted"])
    wait_until(
        lambda: datetime.now(UTC) >= created + timedelta(seconds=1),
        what="a second after the task's creation",
    )
    emulator.queue_outcomes(rollup_id, [{"status": "failed", "message": "example failure"}])
    failed = emulator.trigger_scheduled_run(rollup_id)
    wait_until(
        lambda: httpx.get(f"{task_url}/runs/{failed['id']}").json().get("status") == "failed"
    )
    kube.apply(example("07-taskrun-retry-of.yaml", **{"0000000000000001": failed["id"]}))
    kube.kubectl_wait("taskrun", "hourly-rollup-retry", "Succeeded")
    # retryFailedRuns on the same task retries the failure automatically too.
    auto = f"hourly-rollup-retry-{failed['id']}"
    kube.wait_for("taskrun", auto, lambda o: True, timeout=120, what="automatic retry created")
    kube.kubectl_wait("taskrun", auto, "Succeeded")


def test_shared_kapacitor_and_template_examples(
    control_plane: ControlPlane,
    crds: list[str],
    operator_pod: OperatorPod,
    node_emulator: EmulatorHandle,
) -> None:
    """13 and 14 with the chart-installed operator: the shared connection is Ready, the
    template is defined and both tasks made from it run; deleting them all at once (as
    `kubectl delete -f` does) lets the tasks go first, then the template and the
    connection."""
    kube = Kube(control_plane, operator_pod.watched)
    url = {"http://kapacitor.monitoring:9092": node_emulator.base_url}
    for name in ("14-template-with-tasks.yaml", "13-shared-kapacitor.yaml"):
        kube.apply(example(name, **url))
    kube.kubectl_wait("kapacitors", "shared", "Ready")
    kube.kubectl_wait("kapacitortemplate", "threshold", "Ready")
    for task in ("cpu-threshold", "mem-threshold"):
        kube.kubectl_wait("kapacitortask", task, "Ready")
    template_id = f"{kube.ns}.threshold"
    tpl = kube.get("kapacitortemplate", "threshold")
    assert tpl is not None
    assert tpl["status"]["templateID"] == template_id
    assert set(tpl["status"]["vars"]) == {"crit", "measurement"}
    kube.wait_for(
        "kapacitortemplate",
        "threshold",
        lambda o: (
            o["status"].get("tasks") == [f"{kube.ns}.cpu-threshold", f"{kube.ns}.mem-threshold"]
        ),
        what="both tasks listed",
    )
    shared = kube.get("kapacitors", "shared")
    assert shared is not None
    assert shared["status"]["reachable"] is True
    for name in ("14-template-with-tasks.yaml", "13-shared-kapacitor.yaml"):
        kube.kubectl("delete", "--wait=false", "-f", "-", input=example(name, **url))
    for kind, name in (
        ("kapacitortask", "cpu-threshold"),
        ("kapacitortask", "mem-threshold"),
        ("kapacitortemplate", "threshold"),
        ("kapacitors", "shared"),
    ):
        kube.wait_gone(kind, name, timeout=60)
    gone = httpx.get(f"{node_emulator.base_url}/kapacitor/v1/templates/{template_id}")
    assert gone.status_code == 404


def generations(kube: Kube) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind in ("kapacitortasks", "taskruns"):
        items = json.loads(kube.kubectl("get", kind, "-o", "json").stdout)["items"]
        out.update({f"{kind}/{i['metadata']['name']}": i["metadata"]["generation"] for i in items})
    return out


def test_credentials_example_against_a_kapacitor_with_auth(
    control_plane: ControlPlane, kube: Kube, tmp_path: Path
) -> None:
    auth = ["--username", "operator", "--password", "change-me"]
    with (
        running_emulator("memory", auth) as emu,
        # The example's server is not the default connection: the operator must be told
        # that resources may name it (OPERATOR_ALLOWED_KAPACITOR_URLS, issue 12).
        make_operator(
            control_plane,
            kube.ns,
            "http://127.0.0.1:1",
            tmp_path / "op",
            OPERATOR_ALLOWED_KAPACITOR_URLS=emu.base_url,
        ) as op,
    ):
        kube.apply(
            example(
                "09-kapacitor-with-auth.yaml",
                **{"http://kapacitor-secure.monitoring:9092": emu.base_url},
            )
        )
        kube.kubectl_wait("kapacitortask", "secured-cpu-alert", "Ready")
        # Wrong password: a readable Unauthorized condition, and no secret anywhere.
        kube.kubectl(
            "patch",
            "secret",
            "kapacitor-credentials",
            "--type=merge",
            "-p",
            json.dumps({"stringData": {"password": "wrong-secret-value"}}),
        )
        # Any spec change makes the operator read the Secret again.
        kube.patch("kapacitortask", "secured-cpu-alert", {"spec": {"enabled": False}})
        obj = kube.wait_condition(
            "kapacitortask", "secured-cpu-alert", "Synced", "False", reason="Unauthorized"
        )
        events = json.dumps(kube.events("secured-cpu-alert"))
        for text in (json.dumps(obj), events, op.log_text()):
            assert "wrong-secret-value" not in text
            assert "change-me" not in text


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown type", {"type": "python", "script": "x"}, "Unsupported value"),
    ("bad task id", {"type": "stream", "script": "x", "taskID": "has space"}, "taskID"),
    ("tick without script", {"type": "stream"}, "exactly one of spec.script"),
    (
        "script and template",
        {"type": "stream", "script": "x", "templateID": "t"},
        "exactly one of spec.script",
    ),
    (
        "script and templateRef",
        {"type": "stream", "script": "x", "templateRef": {"name": "t"}},
        "exactly one of spec.script",
    ),
    (
        "inline connection and ref",
        {
            "type": "stream",
            "script": "x",
            "kapacitor": {"url": "http://kapacitor:9092"},
            "kapacitorRef": {"name": "k"},
        },
        "set spec.kapacitor or spec.kapacitorRef, not both",
    ),
    (
        "flux with templateRef",
        {"type": "flux", "flux": "x", "every": "1m", "templateRef": {"name": "t"}},
        "stream/batch tasks only",
    ),
    ("flux without schedule", {"type": "flux", "flux": "x"}, "exactly one of spec.every"),
    (
        "flux with both",
        {"type": "flux", "flux": "x", "every": "1m", "cron": "* * * * *"},
        "exactly one of spec.every",
    ),
    (
        "flux option task",
        {"type": "flux", "every": "1m", "flux": 'option task = {name: "x", every: 1m}\nx'},
        "option task",
    ),
    ("tick with every", {"type": "stream", "script": "x", "every": "1m"}, "flux tasks only"),
    ("bad duration", {"type": "flux", "flux": "x", "every": "soon"}, "spec.every"),
    (
        "bad policy",
        {"type": "stream", "script": "x", "deletionPolicy": "Keep"},
        "Unsupported value",
    ),
]

BAD_RUNS: list[tuple[str, dict[str, Any], str]] = [
    ("neither", {}, "exactly one of spec.taskRef, spec.job or spec.replay"),
    (
        "both",
        {"taskRef": {"name": "a"}, "job": {"template": {"spec": {"containers": [{}]}}}},
        "exactly one of spec.taskRef, spec.job or spec.replay",
    ),
    (
        "replay and taskRef",
        {"taskRef": {"name": "a"}, "replay": {"taskRef": {"name": "a"}, "recordingID": "r"}},
        "exactly one of spec.taskRef, spec.job or spec.replay",
    ),
    (
        "replay without data",
        {"replay": {"taskRef": {"name": "a"}}},
        "exactly one of replay.recordingID or replay.record",
    ),
    (
        "replay with both",
        {
            "replay": {
                "taskRef": {"name": "a"},
                "recordingID": "r",
                "record": {"duration": "1m"},
            }
        },
        "exactly one of replay.recordingID or replay.record",
    ),
    (
        "bad clock",
        {"replay": {"taskRef": {"name": "a"}, "recordingID": "r", "clock": "slow"}},
        "spec.replay.clock",
    ),
    (
        "retryOf with job",
        {"retryOf": "0000000000000001", "job": {"template": {"spec": {"containers": [{}]}}}},
        "need spec.taskRef",
    ),
    ("bad run id", {"taskRef": {"name": "a"}, "retryOf": "xyz"}, "spec.retryOf"),
    ("no containers", {"job": {"template": {"spec": {"containers": []}}}}, "containers"),
    (
        "delays and backoff",
        {"taskRef": {"name": "a"}, "retry": {"limit": 1, "delays": ["1s"], "backoff": {}}},
        "either delays or backoff",
    ),
    ("negative limit", {"taskRef": {"name": "a"}, "retry": {"limit": -1}}, "spec.retry.limit"),
]


@pytest.mark.parametrize(("case", "spec", "message"), BAD, ids=[b[0] for b in BAD])
def test_admission_rejects_bad_kapacitortasks(
    kube: Kube, case: str, spec: dict[str, Any], message: str
) -> None:
    manifest = {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "KapacitorTask",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    result = kube.apply(yaml.safe_dump(manifest), check=False)
    assert result.returncode != 0, f"{case} was admitted"
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(("case", "spec", "message"), BAD_RUNS, ids=[b[0] for b in BAD_RUNS])
def test_admission_rejects_bad_taskruns(
    kube: Kube, case: str, spec: dict[str, Any], message: str
) -> None:
    manifest = {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "TaskRun",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    result = kube.apply(yaml.safe_dump(manifest), check=False)
    assert result.returncode != 0, f"{case} was admitted"
    assert message in result.stderr, result.stderr


def test_immutable_fields(kube: Kube) -> None:
    base: dict[str, Any] = {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "KapacitorTask",
        "metadata": {"name": "fixed"},
        "spec": {"type": "stream", "script": "x", "taskID": "one"},
    }
    kube.apply(yaml.safe_dump(base))
    base["spec"]["taskID"] = "two"
    result = kube.apply(yaml.safe_dump(base), check=False)
    assert result.returncode != 0
    assert "spec.taskID is immutable" in result.stderr


def test_kubectl_explain_shows_descriptions(kube: Kube) -> None:
    out = kube.kubectl("explain", "kapacitortask.spec.deletionPolicy").stdout
    assert "removes the task from Kapacitor" in out
    out = kube.kubectl("explain", "taskrun.spec.retry.jitter").stdout
    assert "jitter" in out.lower()
    out = kube.kubectl("explain", "taskrun.status.attempts").stdout
    assert "exitCode" in out
    names = kube.kubectl("api-resources", "--categories=kapacitor", "-o", "name").stdout.split()
    assert set(names) == {
        "kapacitortasks.kapacitor.operator.dev",
        "taskruns.kapacitor.operator.dev",
        "kapacitoralerthandlers.kapacitor.operator.dev",
        "kapacitors.kapacitor.operator.dev",
        "kapacitortemplates.kapacitor.operator.dev",
    }
    out = kube.kubectl("explain", "kapacitortemplate.status.vars").stdout
    assert "as Kapacitor reports them" in out
    out = kube.kubectl("explain", "kapacitors.status.tasks.unmanaged").stdout
    assert "no resource of this operator manages" in out
    out = kube.kubectl("explain", "kapacitortask.spec.templateRef").stdout
    assert "KapacitorTemplate in this namespace" in out


def test_metrics_are_scraped(
    kube: Kube, operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    kube.apply(example("01-stream-alert.yaml", cpu_alert=f"{kube.ns}-metrics"))
    kube.kubectl_wait("kapacitortask", "cpu-alert", "Ready")
    text = operator.metrics()
    assert 'kapacitor_operator_reconciles_total{kind="KapacitorTask",result="ok"}' in text
    assert "kapacitor_operator_kapacitor_request_duration_seconds_bucket" in text
    # Endpoint labels are templates (`tasks`, `tasks/{id}`), never a task ID.
    assert 'endpoint="tasks",method="POST"' in text
    assert kube.ns not in text, "no namespace or task name in any label"


def test_json_logs_carry_no_secrets(
    control_plane: ControlPlane, kube: Kube, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    with make_operator(
        control_plane,
        kube.ns,
        emulator.base_url,
        tmp_path / "op",
        OPERATOR_LOG_FORMAT="json",
        KAPACITOR_PASSWORD="default-secret-pw",
        KAPACITOR_USERNAME="operator",
    ) as op:
        kube.apply(example("01-stream-alert.yaml", cpu_alert=f"{kube.ns}-json"))
        kube.kubectl_wait("kapacitortask", "cpu-alert", "Ready")
        lines = [line for line in op.log_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) >= 3, lines[:5]
    assert all("message" in r for r in records)
    assert "default-secret-pw" not in "\n".join(lines)
