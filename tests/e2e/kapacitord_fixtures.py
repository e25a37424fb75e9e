"""Fixtures for e2e tests against the real kapacitord: the server, the operator talking
to it, and TICKscript tasks on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_testkit import ControlPlane
from kapacitor_testkit.kapacitord import KapacitordHandle, running_kapacitord
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube
from tests.e2e.operator_fixtures import make_operator

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
