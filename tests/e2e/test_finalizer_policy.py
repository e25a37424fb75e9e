"""The chart's finalizer policy (templates/finalizer-policy.yaml) on the real API server.

The test control plane serves MutatingAdmissionPolicy (admissionregistration.k8s.io
v1beta1, testkit/flags.py), as a 1.34 or 1.35 cluster with the feature gate does, and
1.36+ does by default. `helm template` renders what a release would install there
(bench/admission.py, shared with the benchmark); only the policy and its binding are
applied, as admin. What is checked: every kind the operator holds gets its finalizer in
the create request itself, once, in the namespaces the release serves and nowhere else;
nothing but a create is touched, so the operator's own removal of the finalizer on
deletion stands; and an operator serving such a namespace writes no finalizer patch of
its own, yet still deletes what it wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench import admission
from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.admission import installed_policy
from tests.e2e.helm import unique
from tests.e2e.kube import OUR_FINALIZER, Kube
from tests.e2e.operator_fixtures import started
from tests.e2e.test_kapacitortask import kapacitor_task, task_manifest

API = "kapacitor.operator.dev/v1alpha1"
SERVED_API = "admissionregistration.k8s.io/v1beta1"

#: One valid object of each kind the operator holds with its finalizer.
HELD: dict[str, dict[str, Any]] = {
    "KapacitorTask": {
        "type": "stream",
        "dbrps": [{"db": "telegraf", "rp": "autogen"}],
        "script": "stream\n    |from()\n        .measurement('cpu')\n    |log()\n",
    },
    "KapacitorTemplate": {"type": "stream", "script": "var m string\nstream\n    |from()\n"},
    "KapacitorAlertHandler": {"topic": "cpu", "kind": "log", "options": {"path": "/tmp/x"}},
    "Kapacitor": {"url": "http://kapacitor.monitoring:9092"},
}


@dataclass(frozen=True)
class Setup:
    cp: ControlPlane
    served: str
    unserved: str

    def create(self, ns: str, kind: str, name: str, **meta: Any) -> dict[str, Any]:
        obj = {"apiVersion": API, "kind": kind, "metadata": {"name": name, **meta},
               "spec": HELD[kind]}  # fmt: skip
        out = self.cp.kubectl("-n", ns, "create", "-o", "json", "-f", "-", input=json.dumps(obj))
        created: dict[str, Any] = json.loads(out.stdout)
        return created


def finalizers(obj: dict[str, Any]) -> list[str]:
    return list(obj["metadata"].get("finalizers") or [])


@pytest.fixture(scope="module")
def policy(
    control_plane: ControlPlane,
    crds: list[str],
) -> Iterator[Setup]:
    setup = Setup(control_plane, unique("held"), unique("other"))
    for ns in (setup.served, setup.unserved):
        control_plane.kubectl("create", "namespace", ns)
    # The benchmark's rendering: the chart as a namespaced release serving `served`.
    docs = admission.render([setup.served], SERVED_API)
    try:
        with installed_policy(control_plane, docs):
            admission.wait_in_force(control_plane, setup.served)
            yield setup
    finally:
        for ns in (setup.served, setup.unserved):
            # No operator serves these: take the finalizers off so the namespaces can go.
            for kind in HELD:
                names = control_plane.kubectl(
                    "-n", ns, "get", kind.lower(), "-o", "name", check=False
                ).stdout.split()
                for name in names:
                    control_plane.kubectl(
                        "-n", ns, "patch", name, "--type=merge",
                        "-p", '{"metadata":{"finalizers":null}}', check=False,
                    )  # fmt: skip
            control_plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.mark.parametrize("kind", sorted(HELD))
def test_every_held_kind_is_created_with_the_finalizer(policy: Setup, kind: str) -> None:
    created = policy.create(policy.served, kind, unique("obj"))
    assert finalizers(created) == [OUR_FINALIZER]


def test_namespaces_the_release_does_not_serve_are_left_alone(policy: Setup) -> None:
    created = policy.create(policy.unserved, "KapacitorTask", unique("obj"))
    assert finalizers(created) == []


def test_a_finalizer_already_there_is_neither_doubled_nor_displaced(policy: Setup) -> None:
    ours = policy.create(policy.served, "KapacitorTask", unique("a"), finalizers=[OUR_FINALIZER])
    theirs = policy.create(
        policy.served, "KapacitorTask", unique("b"), finalizers=["example.com/keep"]
    )
    assert finalizers(ours) == [OUR_FINALIZER]
    assert finalizers(theirs) == ["example.com/keep", OUR_FINALIZER]


def test_taskruns_are_not_held(policy: Setup) -> None:
    run = {"apiVersion": API, "kind": "TaskRun", "metadata": {"name": unique("run")},
           "spec": {"taskRef": {"name": "t"}}}  # fmt: skip
    out = policy.cp.kubectl(
        "-n", policy.served, "create", "--dry-run=server", "-o", "json", "-f", "-",
        input=json.dumps(run),
    )  # fmt: skip
    assert finalizers(json.loads(out.stdout)) == []


def test_only_creates_are_mutated_so_removing_the_finalizer_stands(policy: Setup) -> None:
    """The operator takes its finalizer off when a deletion is done: an update must not
    put it back, or nothing held by it could ever be deleted."""
    name = unique("obj")
    policy.create(policy.served, "KapacitorTask", name, finalizers=[OUR_FINALIZER, "x.io/y"])
    policy.cp.kubectl(
        "-n", policy.served, "patch", "kapacitortask", name, "--type=json",
        "-p", '[{"op": "remove", "path": "/metadata/finalizers/0"}]',
    )  # fmt: skip
    policy.cp.kubectl(
        "-n", policy.served, "label", "kapacitortask", name, "touched=yes"
    )  # another update
    got = json.loads(
        policy.cp.kubectl("-n", policy.served, "get", "kapacitortask", name, "-o", "json").stdout
    )
    assert finalizers(got) == ["x.io/y"]


@pytest.fixture
def served_operator(
    policy: Setup, emulator: EmulatorHandle, tmp_path: Path
) -> Iterator[OperatorProcess]:
    # Serving the namespace the policy covers and one it does not, where the operator
    # has to add the finalizer itself.
    op = OperatorProcess(
        kubeconfig=policy.cp.kubeconfig_path,
        kapacitor_url=emulator.base_url,
        namespaces=[policy.served, policy.unserved],
        log_dir=tmp_path / "operator",
        env={"OPERATOR_DRIFT_INTERVAL": "3600"},
    )
    with started(op):
        yield op


def writers(cp: ControlPlane, ns: str, name: str) -> list[tuple[str, str, str, bool]]:
    """(manager, operation, subresource, owns metadata.finalizers) of each managedFields
    entry of a KapacitorTask. A field set by admission is owned by nobody."""
    obj = json.loads(
        cp.kubectl(
            "-n", ns, "get", "kapacitortask", name, "-o", "json", "--show-managed-fields"
        ).stdout
    )  # fmt: skip
    return [
        (
            str(entry.get("manager")),
            str(entry.get("operation")),
            str(entry.get("subresource", "")),
            "f:finalizers" in json.dumps(entry.get("fieldsV1") or {}),
        )
        for entry in obj["metadata"].get("managedFields") or []
    ]


def test_the_operator_writes_no_finalizer_where_the_policy_holds_its_resources(
    policy: Setup, served_operator: OperatorProcess, emulator: EmulatorHandle
) -> None:
    ids = {}
    for ns in (policy.served, policy.unserved):
        kube = Kube(policy.cp, ns)
        name, ids[ns] = unique("t"), unique("fin").replace("-", "_")
        kube.apply(task_manifest(name, taskID=ids[ns]))
        kube.wait_held("kapacitortask", name)
        ready = kube.wait_condition("kapacitortask", name, "Ready", "True")
        assert finalizers(ready) == [OUR_FINALIZER]
        assert kapacitor_task(emulator, ids[ns]) is not None
        if ns == policy.served:
            # The finalizer came with the create: the operator wrote the status only.
            assert writers(policy.cp, ns, name) == [
                ("e2e", "Apply", "", False),
                ("kapacitor-operator", "Update", "status", False),
            ]
        else:
            # Elsewhere the operator adds it: one write more, its own.
            assert ("kapacitor-operator", "Update", "", True) in writers(policy.cp, ns, name)
        kube.delete("kapacitortask", name)
        kube.wait_gone("kapacitortask", name)
        assert kapacitor_task(emulator, ids[ns]) is None
