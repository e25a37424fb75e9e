"""Fixtures for e2e tests against the real kapacitord v1.8.3 (hack/provision-kapacitord.sh).

One kapacitord per session, bound to the node IP so the operator's Pod reaches it as well
as processes on the host; configured as the playground's (Flux tasks on, ``task-run-
influxdb = "none"``, no InfluxDB, every request logged). Tests share it through unique
task IDs (the namespace is part of each). :func:`kapacitord_operator_pod` is the chart
installed against it; :func:`kd_operator` an operator process for one test's namespace.

A missing binary is a setup error naming the provisioning script, never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_testkit import ControlPlane
from kapacitor_testkit.kapacitord import KapacitordHandle, running_kapacitord
from kapacitor_testkit.kapacitord_log import HttpRequest
from kapacitor_testkit.node import Node
from kapacitor_testkit.node.layout import NODE_IP
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.helm import Helm
from tests.e2e.helm_fixtures import OperatorPod, installed_operator_pod
from tests.e2e.kube import Kube
from tests.e2e.operator_fixtures import make_operator, started

#: The operator's User-Agent, as kapacitord logs it.
OPERATOR_AGENT = "kapacitor-operator"


@pytest.fixture(scope="session")
def node_kapacitord(
    node: Node, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KapacitordHandle]:
    """The session's kapacitord on the node IP (Pods and the host reach it)."""
    workdir = tmp_path_factory.mktemp("kapacitord")
    with running_kapacitord(workdir=workdir, host=NODE_IP) as handle:
        try:
            yield handle
        finally:
            print(f"--- kapacitord log tail ({handle.log_path}) ---\n{handle.log_tail(30)}")


@pytest.fixture(scope="session")
def kapacitord_operator_pod(
    control_plane: ControlPlane,
    crds: list[str],
    node: Node,
    node_kapacitord: KapacitordHandle,
    cluster_helm: Helm,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorPod]:
    """The chart's operator Pod, its default Kapacitor the session's kapacitord; Flux run
    history polled every 2 s (the chart's default is 60 s)."""
    with installed_operator_pod(
        control_plane,
        node,
        cluster_helm,
        node_kapacitord.base_url,
        tmp_path_factory.mktemp("kapacitord-operator-pod"),
        operator_values={"runPollInterval": 2},
    ) as pod:
        yield pod


@pytest.fixture
def kd_operator(
    control_plane: ControlPlane,
    crds: list[str],
    node_kapacitord: KapacitordHandle,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator process for this test's namespace, talking to the session kapacitord."""
    op = make_operator(
        control_plane,
        namespace,
        node_kapacitord.base_url,
        tmp_path / "operator",
        OPERATOR_DRIFT_INTERVAL="3600",
    )
    with started(op):
        yield op


def kd_task(kd: KapacitordHandle, task_id: str, **params: str) -> dict[str, Any] | None:
    """A TICKscript task as kapacitord shows it (None if it does not exist)."""
    resp = httpx.get(f"{kd.base_url}/kapacitor/v1/tasks/{task_id}", params=params, timeout=10.0)
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def kd_flux_task(kd: KapacitordHandle, task_id: str) -> dict[str, Any] | None:
    """A Flux task as kapacitord shows it (None if it does not exist)."""
    resp = httpx.get(f"{kd.base_url}/kapacitor/v1/api/v2/tasks/{task_id}", timeout=10.0)
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def operator_requests(kd: KapacitordHandle, since: int, *marks: str) -> list[HttpRequest]:
    """The operators' requests logged after the first ``since`` (a count of logged
    requests), whose URI names any of ``marks`` (task IDs, a namespace), or all of them
    without marks. The tests run one at a time; between them the only other operator is
    the idle one of :func:`kapacitord_operator_pod`, which writes nothing unless its own
    resources change."""
    return [
        r
        for r in kd.http_requests()[since:]
        if r.user_agent == OPERATOR_AGENT and (not marks or any(m in r.uri for m in marks))
    ]


def operator_writes(kd: KapacitordHandle, since: int) -> list[tuple[str, str]]:
    """Every write (POST, PUT, PATCH, DELETE) an operator made after ``since``: method and
    path. Unfiltered, since a create names no task in its URI."""
    return [(r.method, r.path) for r in operator_requests(kd, since) if r.is_write]


# --- a kapacitord per test module (replay and watchdog tests) -----------------------

API = "kapacitor.operator.dev/v1alpha1"
V1 = "/kapacitor/v1"
DBRPS = [{"db": "telegraf", "rp": "autogen"}]
ALERT = (
    "stream\n    |from()\n        .measurement('{m}')\n"
    '    |alert()\n        .crit(lambda: "usage_idle" < 10)\n'
)


@pytest.fixture(scope="module")
def kapacitord() -> Iterator[KapacitordHandle]:
    """A real kapacitord shared by a test module."""
    with running_kapacitord() as handle:
        yield handle


def operator_on(
    control_plane: ControlPlane,
    kapacitord: KapacitordHandle,
    namespace: str,
    tmp_path: Path,
    **env: str,
) -> OperatorProcess:
    """The operator watching `namespace`, with kapacitord as its default connection."""
    return make_operator(
        control_plane,
        namespace,
        kapacitord.base_url,
        tmp_path / "operator",
        **{"OPERATOR_DRIFT_INTERVAL": "3600", **env},
    )


@pytest.fixture
def kapacitord_operator(
    control_plane: ControlPlane,
    crds: list[str],
    kapacitord: KapacitordHandle,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    op = operator_on(control_plane, kapacitord, namespace, tmp_path)
    op.start()
    try:
        yield op
    finally:
        op.stop()


def tick_task(kube: Kube, name: str, task_type: str = "stream", **spec: Any) -> None:
    """Apply a TICKscript KapacitorTask (Kapacitor ID `<namespace>-<name>`)."""
    body = {
        "type": task_type,
        "taskID": f"{kube.ns}-{name}",
        "dbrps": DBRPS,
        "script": ALERT.format(m=f"cpu_{kube.ns}"),
        **spec,
    }
    manifest = {"apiVersion": API, "kind": "KapacitorTask", "metadata": {"name": name}}
    kube.apply(yaml.safe_dump({**manifest, "spec": body}))


def write(kapacitord: KapacitordHandle, lines: str) -> None:
    """Write points (line protocol, seconds) to kapacitord's telegraf.autogen."""
    params = {"db": "telegraf", "rp": "autogen", "precision": "s"}
    resp = httpx.post(f"{kapacitord.base_url}{V1}/write", params=params, content=lines)
    assert resp.status_code == 204, resp.text
