"""The chart's finalizer policy (templates/finalizer-policy.yaml) in the benchmark.

A release on a cluster that serves MutatingAdmissionPolicy puts the operator's finalizer
on each resource at creation, so the operator writes no finalizer patch. The benchmark
measures that install: `helm template` renders exactly what a release would (namespaced
mode, bound to the operator side's namespaces only, so the floor's and the peer's
resources stay as they were), and only the policy and its binding are applied.
`--no-finalizer-policy` measures the other path, where the operator adds the finalizer.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from kapacitor_operator import GROUP
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.binaries import find_tool, search_dirs

CHART = Path(__file__).resolve().parent.parent / "helm" / "kapacitor-operator"
KINDS = ("MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding")
#: What kube-apiserver serves the policy under (v1 from 1.36, v1beta1 before).
API_VERSIONS = ("admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1beta1")
#: What the policy puts on (a dry-run probe shows when the policy is in force).
FINALIZER = f"{GROUP}/finalizer"


def served_api(cp: ControlPlane) -> str | None:
    """The newest admissionregistration version serving MutatingAdmissionPolicy."""
    for version in API_VERSIONS:
        result = cp.kubectl("get", "--raw", f"/apis/{version}", check=False)
        if result.returncode != 0:
            continue
        resources = json.loads(result.stdout).get("resources") or []
        if any(r.get("kind") == "MutatingAdmissionPolicy" for r in resources):
            return version
    return None


def render(namespaces: list[str], api: str) -> list[dict[str, Any]]:
    """The chart's policy and binding for a release serving `namespaces`, as `helm
    install` renders them on a cluster serving `api`."""
    helm = find_tool("helm", search_dirs())
    with tempfile.TemporaryDirectory(prefix="bench-helm-") as home:
        env = {"HELM_CACHE_HOME": home, "HELM_CONFIG_HOME": home, "HELM_DATA_HOME": home}
        out = subprocess.run(
            [
                str(helm), "template", "bench", str(CHART),
                "--set", "rbac.clusterWide=false",
                "--set", f"watchNamespaces={{{','.join(namespaces)}}}",
                "--api-versions", f"{api}/MutatingAdmissionPolicy",
            ],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip
    docs = [d for d in yaml.safe_load_all(out) if d and d.get("kind") in KINDS]
    if sorted(d["kind"] for d in docs) != sorted(KINDS):
        raise RuntimeError("the chart rendered no finalizer policy")
    return docs


def install(cp: ControlPlane, namespaces: list[str]) -> str:
    """Apply the chart's finalizer policy for `namespaces` and wait until it is in force;
    the API version used.

    Raises:
        RuntimeError: the cluster does not serve MutatingAdmissionPolicy, or the policy
            was not in force within 30 s.
    """
    api = served_api(cp)
    if api is None:
        raise RuntimeError(
            "this kube-apiserver does not serve MutatingAdmissionPolicy; "
            "run with --no-finalizer-policy"
        )
    docs = render(namespaces, api)
    text = "\n---\n".join(json.dumps(d) for d in docs)
    cp.kubectl("apply", "--server-side", "--field-manager=bench", "-f", "-", input=text)
    for ns in namespaces:
        cp.kubectl("create", "namespace", ns, check=False)  # may exist: the phases reuse it
    wait_in_force(cp, namespaces[0])
    return api


def wait_in_force(cp: ControlPlane, namespace: str, timeout: float = 30.0) -> None:
    """Until a server-side dry run in `namespace` comes back held: a policy takes effect
    a moment after it is created.

    Raises:
        RuntimeError: not in force within `timeout` seconds.
    """
    probe = {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "KapacitorTask",
        "metadata": {"name": "bench-finalizer-probe", "namespace": namespace},
        "spec": {"type": "stream", "dbrps": [{"db": "x", "rp": "autogen"}],
                 "script": "stream|from().measurement('probe')"},
    }  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = cp.kubectl(
            "create", "--dry-run=server", "-o", "json", "-f", "-",
            input=json.dumps(probe), check=False,
        )  # fmt: skip
        if result.returncode == 0:
            held = json.loads(result.stdout).get("metadata", {}).get("finalizers") or []
            if FINALIZER in held:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the finalizer policy was not in force within {timeout:g} s")
