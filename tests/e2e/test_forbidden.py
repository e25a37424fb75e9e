"""Missing RBAC is explained, not swallowed (issue 12): the operator runs with the chart's
namespaced rights minus `get secrets` and `get configmaps`, and a KapacitorTask whose
Secret or ConfigMap it may not read gets reason Forbidden with the API server's message
and a Warning Event, while a task that needs neither still works."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.helm import CHART, Helm, unique, values_file
from tests.e2e.kube import Kube

API = "kapacitor.operator.dev/v1alpha1"
SCRIPT = "stream\n    |from()\n        .measurement('cpu')\n    |log()\n"


def chart_rules(helm: Helm, directory: Path, namespace: str) -> tuple[list[Any], list[Any]]:
    """The namespaced Role's rules and the observer ClusterRole's, as the chart renders them."""
    values = {"rbac": {"clusterWide": False}, "watchNamespaces": [namespace]}
    out = helm.run("template", "rel", str(CHART), "-f", str(values_file(directory, values))).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    # The Role of the watched namespace (the other one holds the leader election Lease).
    (role,) = [
        d
        for d in docs
        if d["kind"] == "Role"
        and any("kapacitortasks" in r.get("resources", []) for r in d.get("rules") or [])
    ]
    (observer,) = [d for d in docs if d["kind"] == "ClusterRole"]
    return role["rules"], observer["rules"]


def without(rules: list[dict[str, Any]], *resources: str) -> list[dict[str, Any]]:
    kept = []
    for rule in rules:
        left = [r for r in rule["resources"] if r not in resources]
        if left:
            kept.append({**rule, "resources": left})
    return kept


@pytest.fixture
def restricted_kubeconfig(
    control_plane: ControlPlane, kube: Kube, helm: Helm, tmp_path: Path
) -> Iterator[Path]:
    """A kubeconfig for a ServiceAccount with the chart's rights but Secrets and ConfigMaps."""
    cp, ns = control_plane, kube.ns
    rules, observer = chart_rules(helm, tmp_path, ns)
    cluster_role = unique("e2e-observer")
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "op"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "op"},
            "rules": without(rules, "secrets", "configmaps"),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "op"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "op"},
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": ns}],
        },
    ]
    kube.apply("\n---\n".join(yaml.safe_dump(o) for o in objects))
    cluster = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": cluster_role},
            "rules": observer,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": cluster_role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": ns}],
        },
    ]
    cp.kubectl("apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(o) for o in cluster))
    token = cp.kubectl("create", "token", "op", "-n", ns, "--duration=1h").stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": cp.server_url,
                    "certificate-authority-data": base64.b64encode(
                        cp.ca_path.read_bytes()
                    ).decode(),
                },
            }
        ],
        "users": [{"name": "op", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "op", "namespace": ns}}],
        "current-context": "c",
    }
    path = tmp_path / "op.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    try:
        yield path
    finally:
        for kind in ("clusterrolebinding", "clusterrole"):
            cp.kubectl("delete", kind, cluster_role, "--ignore-not-found", check=False)


def task(name: str, **spec: Any) -> str:
    body = {"type": "stream", "dbrps": [{"db": "telegraf", "rp": "autogen"}], **spec}
    return yaml.safe_dump(
        {"apiVersion": API, "kind": "KapacitorTask", "metadata": {"name": name}, "spec": body}
    )


def test_missing_rbac_is_a_forbidden_condition_with_the_api_servers_message(
    kube: Kube, emulator: EmulatorHandle, restricted_kubeconfig: Path, tmp_path: Path
) -> None:
    kube.kubectl("create", "secret", "generic", "creds", "--from-literal=token=t0ken-value")
    kube.kubectl("create", "configmap", "script", f"--from-literal=tick={SCRIPT}")
    op = OperatorProcess(
        kubeconfig=restricted_kubeconfig,
        kapacitor_url=emulator.base_url,
        namespaces=[kube.ns],
        log_dir=tmp_path / "op",
    )
    with op:
        kube.apply(task("plain", taskID=f"{kube.ns}.plain", script=SCRIPT))
        connection = {"url": emulator.base_url, "credentialsSecretRef": {"name": "creds"}}
        kube.apply(task("secret", taskID=f"{kube.ns}.s", script=SCRIPT, kapacitor=connection))
        script_from = {"configMapKeyRef": {"name": "script", "key": "tick"}}
        kube.apply(task("configmap", taskID=f"{kube.ns}.c", scriptFrom=script_from))
        kube.wait_condition("kapacitortask", "plain", "Ready")
        for name, resource in (("secret", "secrets"), ("configmap", "configmaps")):
            obj = kube.wait_condition(
                "kapacitortask", name, "Ready", "False", reason="Forbidden", timeout=60
            )
            ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
            assert f'cannot get resource "{resource}"' in ready["message"], ready
            assert f"system:serviceaccount:{kube.ns}:op" in ready["message"]
            event = kube.wait_event(name, "Forbidden")
            assert event["type"] == "Warning"
        # Retried slowly (every 2 minutes), never in a storm.
        events = json.loads(kube.kubectl("get", "events", "-o", "json").stdout)["items"]
        forbidden = [e for e in events if e.get("reason") == "Forbidden"]
        assert sum(e.get("count") or 1 for e in forbidden) <= 4, forbidden
    assert "Traceback" not in op.log_text()
