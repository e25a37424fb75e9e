"""The Helm chart: lint, rendered hardening, installs into the test cluster, RBAC.

The RBAC matrix impersonates the chart's ServiceAccount with `kubectl auth can-i`: every
call the operator makes (see k8s/api.py and the kopf handlers) must be allowed, and a set
of neighbouring permissions it does not need must be denied. The installs here keep the
chart's default image with `pullPolicy: Never`, which the node does not hold: their Pods
are created (admission, Pod Security "restricted") but never start, so several releases
never act on the same objects. That the operator really runs as a Pod from its chart
(the locally built image, in-cluster config, liveness, reconciling) is
test_operator_pod.py's subject.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kapacitor_operator.config import ENV
from kapacitor_testkit import ControlPlane
from kapacitor_testkit.processes import wait_until
from tests.e2e.helm import CHART, Doc, Helm, unique, values_file

GROUP = "kapacitor.operator.dev"
DEFAULT_IMAGE = "ghcr.io/kapacitor-operator/kapacitor-operator:0.1.0"


# --- helpers ------------------------------------------------------------------------------


def render(
    helm: Helm, directory: Path, values: Doc, namespace: str = "ops", *extra: str
) -> list[Doc]:
    """`helm template` of the chart, as parsed documents."""
    out = helm.run(
        "template", "rel", str(CHART), "-n", namespace,
        "-f", str(values_file(directory, values)), *extra,
    ).stdout  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc.get("kind") == kind]


def the_deployment(docs: list[Doc]) -> Doc:
    deployments = of_kind(docs, "Deployment")
    assert len(deployments) == 1
    return deployments[0]


def the_container(docs: list[Doc]) -> Doc:
    containers = the_deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Doc = containers[0]
    return result


def env_of(container: Doc) -> dict[str, Doc]:
    return {item["name"]: item for item in container.get("env", [])}


def wildcards(rules: list[Doc]) -> list[str]:
    found = []
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            if any("*" in value for value in rule.get(field) or []):
                found.append(f"{field}: {rule[field]}")
    return found


# --- fixtures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    service_account: str
    watched: tuple[str, ...] = ()
    unwatched: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def fullname(self) -> str:
        return f"{self.name}-kapacitor-operator"


def create_namespace(cp: ControlPlane, name: str, *, restricted: bool = False) -> None:
    cp.kubectl("create", "namespace", name)
    if restricted:
        # The Pod Security "restricted" level is enforced at Pod admission: the Pods the
        # ReplicaSet controller creates prove the pod template complies.
        cp.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")


def install(
    helm: Helm, tmp_path: Path, release: Release, values: Doc
) -> subprocess.CompletedProcess[str]:
    # The default image is not on the node, and must not be pulled (see the docstring).
    values = {**values, "image": {"pullPolicy": "Never"}}
    return helm.run(
        "install",
        release.name,
        str(CHART),
        "-n",
        release.namespace,
        "-f",
        str(values_file(tmp_path, values)),
        "--timeout=2m",
    )


def teardown(cp: ControlPlane, helm: Helm, release: Release) -> None:
    helm.run("uninstall", release.name, "-n", release.namespace, "--timeout=1m", check=False)
    for ns in (release.namespace, *release.watched, *release.unwatched):
        cp.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def cluster_wide(
    control_plane: ControlPlane, cluster_helm: Helm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Release, subprocess.CompletedProcess[str]]]:
    """A cluster-wide release with two peered replicas; a tenant namespace to check in."""
    name = unique("ko-cw")
    release = Release(
        name=name,
        namespace=name,
        service_account=f"{name}-kapacitor-operator",
        unwatched=(unique("tenant"),),
    )
    create_namespace(control_plane, release.namespace, restricted=True)
    create_namespace(control_plane, release.unwatched[0])
    try:
        result = install(
            cluster_helm,
            tmp_path_factory.mktemp("cw"),
            release,
            {"replicaCount": 2},
        )
        yield release, result
    finally:
        teardown(control_plane, cluster_helm, release)


@pytest.fixture(scope="module")
def namespaced(
    control_plane: ControlPlane, cluster_helm: Helm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Release, subprocess.CompletedProcess[str]]]:
    """A namespaced release serving two namespaces; a third one it must not touch."""
    name = unique("ko-ns")
    release = Release(
        name=name,
        namespace=name,
        service_account=f"{name}-kapacitor-operator",
        watched=(unique("team-a"), unique("team-b")),
        unwatched=(unique("team-c"),),
    )
    for ns in (release.namespace, *release.watched, *release.unwatched):
        create_namespace(control_plane, ns, restricted=ns == release.namespace)
    try:
        result = install(
            cluster_helm,
            tmp_path_factory.mktemp("ns"),
            release,
            {
                "rbac": {"clusterWide": False},
                "watchNamespaces": list(release.watched),
            },
        )
        yield release, result
    finally:
        teardown(control_plane, cluster_helm, release)


@pytest.fixture(scope="module")
def unrelated_crd(control_plane: ControlPlane) -> str:
    """A CRD the operator has no business with (kept: cluster-scoped and shared)."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.helmtest.example.com"},
        "spec": {
            "group": "helmtest.example.com",
            "scope": "Namespaced",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    control_plane.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(crd))
    return "gadgets.helmtest.example.com"


# --- RBAC matrix --------------------------------------------------------------------------

# (verb, resource, subresource or ""): what the operator does in a namespace it serves.
NEEDED_IN_NAMESPACE = [
    *[(verb, f"kapacitortasks.{GROUP}", "") for verb in ("get", "list", "watch", "patch")],
    *[
        (verb, f"taskruns.{GROUP}", "")
        for verb in ("get", "list", "watch", "patch", "create", "delete")
    ],
    ("patch", f"kapacitortasks.{GROUP}", "status"),
    *[(verb, f"kapacitoralerthandlers.{GROUP}", "") for verb in ("get", "list", "watch", "patch")],
    ("patch", f"kapacitoralerthandlers.{GROUP}", "status"),
    ("patch", f"taskruns.{GROUP}", "status"),
    ("update", f"kapacitortasks.{GROUP}", "finalizers"),
    ("update", f"taskruns.{GROUP}", "finalizers"),
    *[
        (verb, f"{plural}.{GROUP}", "")
        for plural in ("kapacitors", "kapacitortemplates")
        for verb in ("get", "list", "watch", "patch")
    ],
    ("patch", f"kapacitors.{GROUP}", "status"),
    ("patch", f"kapacitortemplates.{GROUP}", "status"),
    *[(verb, "jobs.batch", "") for verb in ("get", "list", "watch", "create", "delete")],
    ("list", "pods", ""),
    ("watch", "pods", ""),
    ("get", "pods", "log"),
    ("get", "configmaps", ""),
    ("get", "secrets", ""),
    ("create", "events", ""),
    ("list", "events", ""),
]

# Close to what is needed, but not needed: each must be denied everywhere.
DENIED_IN_NAMESPACE = [
    ("list", "secrets", ""),
    ("watch", "secrets", ""),
    ("create", "secrets", ""),
    ("update", "secrets", ""),
    ("delete", "secrets", ""),
    ("create", "pods", ""),
    ("delete", "pods", ""),
    ("get", "pods", ""),
    ("create", "pods", "exec"),
    ("list", "configmaps", ""),
    ("update", "configmaps", ""),
    ("create", "deployments.apps", ""),
    ("delete", "deployments.apps", ""),
    ("update", "jobs.batch", ""),
    ("patch", "jobs.batch", ""),
    ("create", f"kapacitortasks.{GROUP}", ""),
    ("update", f"kapacitortasks.{GROUP}", ""),
    ("delete", f"kapacitortasks.{GROUP}", ""),
    ("create", f"kapacitoralerthandlers.{GROUP}", ""),
    ("update", f"kapacitoralerthandlers.{GROUP}", "status"),
    ("update", f"taskruns.{GROUP}", ""),
    ("update", f"taskruns.{GROUP}", "status"),
    ("create", f"kapacitors.{GROUP}", ""),
    ("delete", f"kapacitors.{GROUP}", ""),
    ("create", f"kapacitortemplates.{GROUP}", ""),
    ("delete", f"kapacitortemplates.{GROUP}", ""),
    ("patch", "events", ""),
    ("delete", "events", ""),
    ("create", "serviceaccounts", "token"),
    ("create", "rolebindings.rbac.authorization.k8s.io", ""),
    ("create", "roles.rbac.authorization.k8s.io", ""),
    ("*", "*", ""),
]

NEEDED_CLUSTER = [
    ("list", "namespaces", ""),
    ("watch", "namespaces", ""),
    ("list", "customresourcedefinitions.apiextensions.k8s.io", ""),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", ""),
]

DENIED_CLUSTER = [
    ("create", "namespaces", ""),
    ("delete", "namespaces", ""),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", ""),
    ("update", "customresourcedefinitions.apiextensions.k8s.io", ""),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io", ""),
    ("list", "nodes", ""),
    ("create", "clusterroles.rbac.authorization.k8s.io", ""),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", ""),
    ("bind", "clusterroles.rbac.authorization.k8s.io", ""),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", ""),
    ("impersonate", "users", ""),
    ("impersonate", "serviceaccounts", ""),
    # Leases only in the release namespace (leader election), never cluster-wide.
    ("get", "leases.coordination.k8s.io", ""),
    ("create", "leases.coordination.k8s.io", ""),
    ("update", "leases.coordination.k8s.io", ""),
    ("*", "*", ""),
]

Check = tuple[str, str, str]


def lease_rights(release: Release) -> list[Check]:
    """Leader election, in the release namespace only: its own Lease (named after the
    release by default)."""
    lease = f"leases.coordination.k8s.io/{release.fullname}"
    return [("create", "leases.coordination.k8s.io", ""), ("get", lease, ""), ("update", lease, "")]


LEASES_DENIED = [
    ("get", "leases.coordination.k8s.io/someone-else", ""),
    ("update", "leases.coordination.k8s.io/someone-else", ""),
    ("list", "leases.coordination.k8s.io", ""),
    ("delete", "leases.coordination.k8s.io", ""),
]


def can_i(cp: ControlPlane, subject: str, check: Check, namespace: str | None) -> bool:
    """`kubectl auth can-i` as `subject`; namespace None means all namespaces/cluster."""
    verb, resource, subresource = check
    args = ["auth", "can-i", verb, resource, f"--as={subject}"]
    if subresource:
        args.append(f"--subresource={subresource}")
    args.extend(["--all-namespaces"] if namespace is None else ["-n", namespace])
    result = cp.kubectl(*args, check=False)
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, f"kubectl {' '.join(args)}: {result.stdout}{result.stderr}"
    return answer == "yes"


def answers(
    cp: ControlPlane, subject: str, checks: list[Check], namespace: str | None
) -> dict[Check, bool]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda c: can_i(cp, subject, c, namespace), checks)
        return dict(zip(checks, results, strict=True))


def denied(cp: ControlPlane, subject: str, checks: list[Check], ns: str | None) -> list[Check]:
    return [check for check, ok in answers(cp, subject, checks, ns).items() if not ok]


def allowed(cp: ControlPlane, subject: str, checks: list[Check], ns: str | None) -> list[Check]:
    return [check for check, ok in answers(cp, subject, checks, ns).items() if ok]


def on_unrelated_crd(crd: str) -> list[Check]:
    verbs = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
    return [(verb, crd, "") for verb in verbs]


# --- lint and template --------------------------------------------------------------------

LINT_VALUES: dict[str, Doc] = {
    "default": {},
    "replicated": {"replicaCount": 3},
    "namespaced": {"rbac": {"clusterWide": False}, "watchNamespaces": ["team-a", "team-b"]},
    "standalone": {"leaderElection": {"enabled": False}},
    "everything": {
        "kapacitor": {"existingSecret": "kapacitor-auth", "ca": {"configMapName": "kapacitor-ca"}},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    },
}


@pytest.mark.parametrize("case", sorted(LINT_VALUES))
def test_helm_lint_is_clean(helm: Helm, tmp_path: Path, case: str) -> None:
    result = helm.run(
        "lint", str(CHART), "--strict", "-f", str(values_file(tmp_path, LINT_VALUES[case]))
    )
    output = result.stdout + result.stderr
    assert "[WARNING]" not in output, output
    assert "[ERROR]" not in output, output
    assert "0 chart(s) failed" in output, output


def test_template_renders_a_hardened_deployment(helm: Helm, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {})
    pod = the_deployment(docs)["spec"]["template"]["spec"]
    container = the_container(docs)
    ctx = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx["runAsNonRoot"] is True
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["privileged"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx["runAsUser"] != 0


def test_template_mounts_a_writable_tmp(helm: Helm, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {})
    pod = the_deployment(docs)["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in the_container(docs)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_template_probes_liveness_and_readiness_on_the_health_port(
    helm: Helm, tmp_path: Path
) -> None:
    container = the_container(render(helm, tmp_path, {"operator": {"healthPort": 8181}}))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    assert (liveness["path"], readiness["path"]) == ("/healthz", "/readyz")
    assert ports[liveness["port"]] == ports[readiness["port"]] == 8181
    assert env_of(container)["OPERATOR_HEALTH_PORT"]["value"] == "8181"


def test_template_defaults(helm: Helm, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {})
    deployment = the_deployment(docs)
    env = env_of(the_container(docs))
    assert deployment["spec"]["replicas"] == 1
    # The new Pod stands by until the old one releases the Lease.
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert the_container(docs)["image"] == DEFAULT_IMAGE
    assert env["OPERATOR_STANDALONE"]["value"] == "false"
    assert env["OPERATOR_LEASE_NAME"]["value"] == "rel-kapacitor-operator"
    assert env["OPERATOR_LEASE_NAMESPACE"]["value"] == "ops"
    lease_timings = [
        env[f"OPERATOR_LEASE_{name}"]["value"]
        for name in ("DURATION", "RENEW_DEADLINE", "RETRY_PERIOD")
    ]
    assert lease_timings == ["10", "7", "2"]
    assert "OPERATOR_NAMESPACES" not in env
    assert of_kind(docs, "ServiceMonitor") == []


def test_the_grace_period_follows_the_drain_timeout(helm: Helm, tmp_path: Path) -> None:
    def grace(values: Doc) -> int:
        spec = the_deployment(render(helm, tmp_path, values))["spec"]["template"]["spec"]
        result: int = spec["terminationGracePeriodSeconds"]
        return result

    assert grace({}) == 330
    assert grace({"operator": {"drainTimeout": 60}}) == 90
    assert grace({"operator": {"drainTimeout": 60}, "terminationGracePeriodSeconds": 45}) == 45
    env = env_of(the_container(render(helm, tmp_path, {"operator": {"drainTimeout": 60}})))
    assert env["OPERATOR_DRAIN_TIMEOUT"]["value"] == "60"


def test_every_operator_setting_is_exposed(helm: Helm, tmp_path: Path) -> None:
    docs = render(
        helm,
        tmp_path,
        {
            "rbac": {"clusterWide": False},
            "watchNamespaces": ["team-a", "team-b"],
            "kapacitor": {"existingSecret": "kapacitor-auth", "ca": {"secretName": "k-ca"}},
        },
    )
    env = env_of(the_container(docs))
    assert sorted(set(ENV.values()) - set(env)) == []
    assert env["OPERATOR_NAMESPACES"]["value"] == "team-a,team-b"


def test_credentials_come_from_the_existing_secret(helm: Helm, tmp_path: Path) -> None:
    values = {"kapacitor": {"existingSecret": "kapacitor-auth", "secretKeys": {"token": "jwt"}}}
    env = env_of(the_container(render(helm, tmp_path, values)))
    refs = {
        name: env[name]["valueFrom"]["secretKeyRef"]
        for name in ("KAPACITOR_USERNAME", "KAPACITOR_PASSWORD", "KAPACITOR_TOKEN")
    }
    assert {ref["name"] for ref in refs.values()} == {"kapacitor-auth"}
    assert [refs[n]["key"] for n in sorted(refs)] == ["password", "jwt", "username"]
    assert all(ref["optional"] is True for ref in refs.values())


def test_ca_bundle_is_mounted_as_a_file(helm: Helm, tmp_path: Path) -> None:
    values = {"kapacitor": {"ca": {"configMapName": "kapacitor-ca", "key": "bundle.pem"}}}
    docs = render(helm, tmp_path, values)
    container = the_container(docs)
    ca_file = env_of(container)["KAPACITOR_CA_FILE"]["value"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in the_deployment(docs)["spec"]["template"]["spec"]["volumes"]}
    mount = next(m for m in mounts.values() if ca_file.startswith(m["mountPath"] + "/"))
    source = volumes[mount["name"]]["configMap"]
    assert mount["readOnly"] is True
    assert source["name"] == "kapacitor-ca"
    assert source["items"] == [{"key": "bundle.pem", "path": Path(ca_file).name}]


@pytest.mark.parametrize("case", sorted(LINT_VALUES))
def test_no_role_has_wildcards(helm: Helm, tmp_path: Path, case: str) -> None:
    docs = render(helm, tmp_path, LINT_VALUES[case])
    roles = of_kind(docs, "Role") + of_kind(docs, "ClusterRole")
    assert roles, "the chart renders no Role or ClusterRole"
    found = {doc["metadata"]["name"]: wildcards(doc["rules"]) for doc in roles}
    assert {name: rules for name, rules in found.items() if rules} == {}


def test_namespaced_mode_renders_a_role_per_namespace(helm: Helm, tmp_path: Path) -> None:
    values = {"rbac": {"clusterWide": False}, "watchNamespaces": ["team-a", "team-b"]}
    docs = render(helm, tmp_path, values)
    roles = sorted(doc["metadata"]["namespace"] for doc in of_kind(docs, "Role"))
    bindings = sorted(doc["metadata"]["namespace"] for doc in of_kind(docs, "RoleBinding"))
    # ... and the leader election Role in the release namespace ("ops").
    cluster_resources = {
        resource
        for doc in of_kind(docs, "ClusterRole")
        for rule in doc["rules"]
        for resource in rule["resources"]
    }
    assert roles == ["ops", "team-a", "team-b"]
    assert bindings == ["ops", "team-a", "team-b"]
    assert cluster_resources == {"namespaces", "customresourcedefinitions"}


def test_namespaced_mode_without_namespaces_is_refused(helm: Helm, tmp_path: Path) -> None:
    path = values_file(tmp_path, {"rbac": {"clusterWide": False}})
    result = helm.run("template", "rel", str(CHART), "-f", str(path), check=False)
    assert result.returncode != 0
    assert "watchNamespaces" in result.stderr


def test_schema_rejects_bad_values(helm: Helm, tmp_path: Path) -> None:
    path = values_file(tmp_path, {"operator": {"logFormat": "xml"}})
    result = helm.run("template", "rel", str(CHART), "-f", str(path), check=False)
    assert result.returncode != 0
    assert "logFormat" in result.stderr


def test_leader_election_rbac_is_one_lease_in_the_release_namespace(
    helm: Helm, tmp_path: Path
) -> None:
    docs = render(helm, tmp_path, {"replicaCount": 2, "leaderElection": {"leaseName": "ko"}})
    assert env_of(the_container(docs))["OPERATOR_LEASE_NAME"]["value"] == "ko"
    (role,) = [r for r in of_kind(docs, "Role") if r["metadata"]["name"].endswith("-election")]
    assert role["metadata"]["namespace"] == "ops"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["ko"],
            "verbs": ["get", "update"],
        },
    ]
    (binding,) = [
        b for b in of_kind(docs, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]
    ]
    assert binding["metadata"]["namespace"] == "ops"
    assert the_deployment(docs)["spec"]["strategy"]["type"] == "RollingUpdate"


def test_without_leader_election_one_replica_recreated(helm: Helm, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {"leaderElection": {"enabled": False}})
    assert env_of(the_container(docs))["OPERATOR_STANDALONE"]["value"] == "true"
    assert the_deployment(docs)["spec"]["strategy"]["type"] == "Recreate"
    assert [r for r in of_kind(docs, "Role") if r["metadata"]["name"].endswith("-election")] == []
    path = values_file(tmp_path, {"leaderElection": {"enabled": False}, "replicaCount": 2})
    result = helm.run("template", "rel", str(CHART), "-f", str(path), check=False)
    assert result.returncode != 0
    assert "one replica only" in result.stderr


MAP_V1 = "admissionregistration.k8s.io/v1"
MAP_V1BETA1 = "admissionregistration.k8s.io/v1beta1"
FINALIZER_KINDS = ["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"]


def served(*apis: str) -> list[str]:
    """`helm template` flags for a cluster serving MutatingAdmissionPolicy under `apis`."""
    return [arg for api in apis for arg in ("--api-versions", f"{api}/MutatingAdmissionPolicy")]


@pytest.mark.parametrize(
    ("apis", "expected"),
    [
        ((), None),  # Kubernetes before 1.34, or 1.34/1.35 without the feature gate
        ((MAP_V1BETA1,), MAP_V1BETA1),
        ((MAP_V1, MAP_V1BETA1), MAP_V1),
        ((MAP_V1,), MAP_V1),
    ],
)
def test_finalizer_policy_follows_the_api_the_cluster_serves(
    helm: Helm, tmp_path: Path, apis: tuple[str, ...], expected: str | None
) -> None:
    docs = render(helm, tmp_path, {}, "ops", *served(*apis))
    found = [d for d in docs if d["kind"] in FINALIZER_KINDS]
    if expected is None:
        assert found == []
        return
    assert sorted(d["kind"] for d in found) == FINALIZER_KINDS
    assert {d["apiVersion"] for d in found} == {expected}
    policy = of_kind(found, "MutatingAdmissionPolicy")[0]["spec"]
    # Never in the way of a create: without it the operator adds the finalizer itself.
    assert policy["failurePolicy"] == "Ignore"
    assert policy["matchConstraints"]["resourceRules"][0]["operations"] == ["CREATE"]
    assert sorted(policy["matchConstraints"]["resourceRules"][0]["resources"]) == [
        "kapacitoralerthandlers", "kapacitors", "kapacitortasks", "kapacitortemplates",
    ]  # fmt: skip


def test_finalizer_policy_is_bound_to_the_served_namespaces(helm: Helm, tmp_path: Path) -> None:
    values = {"rbac": {"clusterWide": False}, "watchNamespaces": ["team-a", "team-b"]}
    namespaced = of_kind(
        render(helm, tmp_path, values, "ops", *served(MAP_V1)), "MutatingAdmissionPolicyBinding"
    )
    cluster_wide = of_kind(
        render(helm, tmp_path, {}, "ops", *served(MAP_V1)), "MutatingAdmissionPolicyBinding"
    )
    expressions = namespaced[0]["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert expressions == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}
    ]
    assert "matchResources" not in cluster_wide[0]["spec"]


def test_finalizer_policy_can_be_turned_off(helm: Helm, tmp_path: Path) -> None:
    values = {"finalizerPolicy": {"enabled": False}}
    docs = render(helm, tmp_path, values, "ops", *served(MAP_V1))
    assert [d for d in docs if d["kind"] in FINALIZER_KINDS] == []


def test_service_monitor_is_opt_in(helm: Helm, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {"metrics": {"serviceMonitor": {"enabled": True}}})
    (monitor,) = of_kind(docs, "ServiceMonitor")
    (service,) = of_kind(docs, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert selector.items() <= service["metadata"]["labels"].items()


# --- install ------------------------------------------------------------------------------


def pods_of(cp: ControlPlane, release: Release) -> list[Doc]:
    out = cp.kubectl(
        "get",
        "pods",
        "-n",
        release.namespace,
        "-l",
        f"app.kubernetes.io/instance={release.name}",
        "-o",
        "json",
    ).stdout
    items: list[Doc] = yaml.safe_load(out)["items"]
    return items


def test_cluster_wide_install_succeeds(
    control_plane: ControlPlane,
    cluster_helm: Helm,
    cluster_wide: tuple[Release, subprocess.CompletedProcess[str]],
) -> None:
    release, _ = cluster_wide
    status = cluster_helm.run("status", release.name, "-n", release.namespace, "-o", "json")
    assert yaml.safe_load(status.stdout)["info"]["status"] == "deployed"


def test_cluster_wide_pods_pass_restricted_pod_security(
    control_plane: ControlPlane, cluster_wide: tuple[Release, subprocess.CompletedProcess[str]]
) -> None:
    release, _ = cluster_wide
    # The image is never pulled, so the Pods never start; they exist only if admission
    # (Pod Security "restricted" in this namespace) accepted them.
    assert wait_until(lambda: len(pods_of(control_plane, release)) == 2, timeout=60.0), (
        control_plane.kubectl("get", "events", "-n", release.namespace, check=False).stdout
    )


def test_install_prints_the_crd_upgrade_notes(
    cluster_wide: tuple[Release, subprocess.CompletedProcess[str]],
) -> None:
    _, result = cluster_wide
    assert "kubectl apply --server-side" in result.stdout


def test_documented_crd_upgrade_applies_over_helm_installed_crds(
    control_plane: ControlPlane, cluster_wide: tuple[Release, subprocess.CompletedProcess[str]]
) -> None:
    result = control_plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds")
    )
    assert result.stdout.count("serverside-applied") == len(list((CHART / "crds").glob("*.yaml")))


def test_cluster_wide_rbac_allows_what_the_operator_does(
    control_plane: ControlPlane, cluster_wide: tuple[Release, subprocess.CompletedProcess[str]]
) -> None:
    release, _ = cluster_wide
    tenant = release.unwatched[0]
    assert denied(control_plane, release.subject, NEEDED_IN_NAMESPACE, tenant) == []
    assert denied(control_plane, release.subject, NEEDED_IN_NAMESPACE, None) == []
    assert denied(control_plane, release.subject, NEEDED_CLUSTER, None) == []
    assert denied(control_plane, release.subject, lease_rights(release), release.namespace) == []


def test_cluster_wide_rbac_denies_the_rest(
    control_plane: ControlPlane,
    cluster_wide: tuple[Release, subprocess.CompletedProcess[str]],
    unrelated_crd: str,
) -> None:
    release, _ = cluster_wide
    tenant = release.unwatched[0]
    others = [
        *DENIED_CLUSTER,
        *on_unrelated_crd(unrelated_crd),
    ]
    assert allowed(control_plane, release.subject, DENIED_IN_NAMESPACE, tenant) == []
    assert allowed(control_plane, release.subject, DENIED_IN_NAMESPACE, release.namespace) == []
    assert allowed(control_plane, release.subject, others, None) == []
    assert allowed(control_plane, release.subject, LEASES_DENIED, release.namespace) == []
    assert allowed(control_plane, release.subject, lease_rights(release), tenant) == []


def test_namespaced_install_succeeds(
    control_plane: ControlPlane,
    cluster_helm: Helm,
    namespaced: tuple[Release, subprocess.CompletedProcess[str]],
) -> None:
    release, _ = namespaced
    status = cluster_helm.run("status", release.name, "-n", release.namespace, "-o", "json")
    deployment = control_plane.kubectl(
        "get", "deployment", release.fullname, "-n", release.namespace, "-o", "json"
    ).stdout
    env = env_of(yaml.safe_load(deployment)["spec"]["template"]["spec"]["containers"][0])
    assert yaml.safe_load(status.stdout)["info"]["status"] == "deployed"
    assert env["OPERATOR_NAMESPACES"]["value"] == ",".join(release.watched)


def test_namespaced_rbac_allows_what_the_operator_does(
    control_plane: ControlPlane, namespaced: tuple[Release, subprocess.CompletedProcess[str]]
) -> None:
    release, _ = namespaced
    for ns in release.watched:
        assert denied(control_plane, release.subject, NEEDED_IN_NAMESPACE, ns) == []
    assert denied(control_plane, release.subject, NEEDED_CLUSTER, None) == []
    assert denied(control_plane, release.subject, lease_rights(release), release.namespace) == []


def test_namespaced_rbac_denies_unwatched_namespaces(
    control_plane: ControlPlane, namespaced: tuple[Release, subprocess.CompletedProcess[str]]
) -> None:
    release, _ = namespaced
    everything = NEEDED_IN_NAMESPACE + DENIED_IN_NAMESPACE
    for ns in (*release.unwatched, release.namespace):
        assert allowed(control_plane, release.subject, everything, ns) == []
    # Nothing namespaced is granted across all namespaces either.
    assert allowed(control_plane, release.subject, everything, None) == []


def test_namespaced_rbac_denies_the_rest_in_watched_namespaces(
    control_plane: ControlPlane,
    namespaced: tuple[Release, subprocess.CompletedProcess[str]],
    unrelated_crd: str,
) -> None:
    release, _ = namespaced
    others = [
        *DENIED_IN_NAMESPACE,
        *on_unrelated_crd(unrelated_crd),
        *lease_rights(release),
    ]
    for ns in release.watched:
        assert allowed(control_plane, release.subject, others, ns) == []
    assert allowed(control_plane, release.subject, DENIED_CLUSTER, None) == []
    assert allowed(control_plane, release.subject, LEASES_DENIED, release.namespace) == []


def test_upgrade_to_more_replicas_keeps_the_release_healthy(
    control_plane: ControlPlane,
    cluster_helm: Helm,
    namespaced: tuple[Release, subprocess.CompletedProcess[str]],
) -> None:
    release, _ = namespaced
    cluster_helm.run(
        "upgrade",
        release.name,
        str(CHART),
        "-n",
        release.namespace,
        "--reuse-values",
        "--set",
        "replicaCount=2",
        "--timeout=2m",
    )
    deployment = yaml.safe_load(
        control_plane.kubectl(
            "get", "deployment", release.fullname, "-n", release.namespace, "-o", "json"
        ).stdout
    )
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
