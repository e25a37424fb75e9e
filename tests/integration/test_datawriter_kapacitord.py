"""The data writer against a real kapacitord: the examples' own stream tasks (examples/01
and the template task of examples/03) count every point it writes in their execution
stats, and their alerts fire on its spikes, as they do in the playground.

A missing binary FAILS these tests (never a skip), naming hack/provision-kapacitord.sh.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_testkit.datawriter import NS, DataWriter, Shape, spiking
from kapacitor_testkit.example_setup import prepare_kapacitor
from kapacitor_testkit.kapacitord import (
    KapacitordHandle,
    KapacitordNotFoundError,
    find_kapacitord,
    running_kapacitord,
)
from kapacitor_testkit.processes import wait_until

pytestmark = pytest.mark.kapacitord

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DBRPS = [{"db": "telegraf", "rp": "autogen"}]


@pytest.fixture(scope="module")
def kapacitord() -> Iterator[KapacitordHandle | KapacitordNotFoundError]:
    try:
        binary = find_kapacitord()
    except KapacitordNotFoundError as exc:
        yield exc
        return
    with running_kapacitord(str(binary)) as handle:
        yield handle


@pytest.fixture
def server(kapacitord: KapacitordHandle | KapacitordNotFoundError) -> KapacitordHandle:
    if isinstance(kapacitord, KapacitordNotFoundError):
        pytest.fail(f"kapacitord is not available: {kapacitord}", pytrace=False)
    return kapacitord


def example_spec(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]
    spec: dict[str, Any] = docs[-1]["spec"]
    return spec


def define_example_tasks(client: httpx.Client, log_dir: Path) -> tuple[str, str]:
    """examples/01 and examples/03 as the operator defines them, enabled; 01 logs its
    alerts under ``log_dir`` instead of the playground's /tmp."""
    cpu, disk = example_spec("01-stream-alert.yaml"), example_spec("03-template-task.yaml")
    cpu_script = cpu["script"].replace("'/tmp/", f"'{log_dir}/")
    bodies = [
        {"id": "cpu_alert", "dbrps": DBRPS, "script": cpu_script, "status": "enabled"},
        {
            "id": "disk_alert",
            "template-id": disk["templateID"],
            "dbrps": DBRPS,
            "vars": disk["vars"],
            "status": "enabled",
        },
    ]
    for body in bodies:
        resp = client.post("/kapacitor/v1/tasks", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["executing"] is True
    return "cpu_alert", "disk_alert"


def read_alerts(path: Path) -> list[dict[str, Any]]:
    """The alerts a log() handler appended to ``path`` (one JSON object per line)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def node_stats(client: httpx.Client, task_id: str) -> dict[str, dict[str, int]]:
    task = client.get(f"/kapacitor/v1/tasks/{task_id}").json()
    stats: dict[str, dict[str, int]] = task["stats"]["node-stats"]
    return stats


def alert_node(stats: dict[str, dict[str, int]]) -> dict[str, int]:
    (name,) = [n for n in stats if n.startswith("alert")]
    return stats[name]


def last_spike_start(host: str, shape: Shape, before: float) -> float:
    """The start (whole second) of the host's latest spike that began before ``before``."""
    t = float(int(before))
    while not (spiking(t, host, shape) and not spiking(t - 1, host, shape)):
        t -= 1
    return t


def test_stream_tasks_count_written_points_and_alerts_fire(
    server: KapacitordHandle, tmp_path: Path
) -> None:
    prepare_kapacitor(server.base_url, log_dir=str(tmp_path))
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        cpu_task, disk_task = define_example_tasks(client, tmp_path)
        assert alert_node(node_stats(client, cpu_task))["alerts_triggered"] == 0
        shape = Shape()
        host = shape.hosts[0]
        # Replay a minute of data around one of the host's spikes, in the past, at the
        # writer's 5 s pace: stream tasks run on the points' own timestamps.
        spike = last_spike_start(host, shape, time.time() - 120)
        writer = DataWriter(server.base_url, seed=11, shape=shape)
        stamps = [int((spike + offset) * NS) for offset in range(-30, 35, 5)]
        for stamp in stamps:
            writer.write_once(stamp)
        batches = len(stamps)
        per_host_cpus = 1 + shape.cores
        assert writer.written["cpu"] == batches * len(shape.hosts) * per_host_cpus

        def cpu_counted() -> bool:
            # Counted by from() and passed on to the alert node (which counts a moment later).
            stats = node_stats(client, cpu_task)
            return stats["from1"]["collected"] == writer.written["cpu"] and alert_node(stats)[
                "collected"
            ] == batches * len(shape.hosts)

        assert wait_until(cpu_counted, timeout=10.0), node_stats(client, cpu_task)
        stats = node_stats(client, cpu_task)
        # from() keeps the cpu-total series only, and the alert node sees each of them.
        assert stats["from1"]["emitted"] == batches * len(shape.hosts)
        cpu_alert = alert_node(stats)
        assert cpu_alert["collected"] == batches * len(shape.hosts)
        assert cpu_alert["crits_triggered"] >= 1, stats
        assert cpu_alert["alerts_triggered"] >= 2, "CRIT during the spike, OK after it"
        # ... and the alerts reach the example's log handler, as users `tail -f` it.
        alert_log = tmp_path / "cpu_alert.log"

        def both_levels_logged() -> bool:
            return {"CRITICAL", "OK"} <= {a["level"] for a in read_alerts(alert_log)}

        assert wait_until(both_levels_logged, timeout=10.0), read_alerts(alert_log)

        def disk_alerted() -> bool:
            return alert_node(node_stats(client, disk_task))["crits_triggered"] >= 1

        assert wait_until(disk_alerted, timeout=10.0), node_stats(client, disk_task)
        disk_stats = node_stats(client, disk_task)
        disk_points = batches * len(shape.hosts) * len(shape.paths)
        assert writer.written["disk"] == disk_points
        assert disk_stats["from1"]["collected"] == disk_points

        # Live: the thread keeps data flowing, stamped now; with spikes every 2 s (the
        # playground's come every 3 minutes) the alert keeps firing as the data arrives.
        before = node_stats(client, cpu_task)["from1"]["collected"]
        alerts_before = cpu_alert["alerts_triggered"]
        fast = Shape(spike_period=2.0, spike_seconds=1.0)
        live = DataWriter(server.base_url, interval=0.2, seed=12, shape=fast)
        with live:
            assert wait_until(lambda: live.batches >= 15, timeout=30.0), live.last_error

        def live_counted() -> bool:
            collected = node_stats(client, cpu_task)["from1"]["collected"]
            return collected == before + live.written["cpu"]

        assert wait_until(live_counted, timeout=10.0), node_stats(client, cpu_task)
        assert live.errors == 0, live.last_error
        alerts = alert_node(node_stats(client, cpu_task))["alerts_triggered"]
        assert alerts >= alerts_before + 2, (alerts_before, alerts)
