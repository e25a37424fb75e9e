"""The chart's ValidatingAdmissionPolicy on the real API server (issue 12): nothing the
operator does for a resource may exceed what its author may do.

Users are impersonated (`kubectl --as`) with exactly the rights each case needs: a
TaskRun with `spec.job` needs `create jobs`, a KapacitorTask naming a Secret needs `get`
on that Secret, on create and on update, but an update that keeps someone else's
references needs neither; the operator's own retry TaskRuns need no special right.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from kapacitor_testkit import ControlPlane
from tests.e2e.admission import as_user, installed_policy, render_policy, wait_enforced
from tests.e2e.helm import Helm, unique

API = "kapacitor.operator.dev/v1alpha1"
WRITER = "alice"  # may write KapacitorTasks and TaskRuns, nothing else
TRUSTED = "bob"  # also may create Jobs, and get the Secrets `creds` and `ca`
OPERATOR = "op"  # a ServiceAccount with the operator's rights on TaskRuns only


@dataclass(frozen=True)
class Setup:
    cp: ControlPlane
    ns: str
    policy: str

    @property
    def operator(self) -> str:
        return f"system:serviceaccount:{self.ns}:{OPERATOR}"

    def create(self, user: str, obj: dict[str, Any], *, dry_run: bool = False) -> Any:
        args = ["create", "-f", "-"] + (["--dry-run=server"] if dry_run else [])
        return as_user(self.cp, user, self.ns, *args, input=json.dumps(obj))

    def patch(self, user: str, kind: str, name: str, patch: dict[str, Any]) -> Any:
        return as_user(
            self.cp, user, self.ns, "patch", kind, name, "--type=merge", "-p", json.dumps(patch)
        )


def role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name},
        "rules": rules,
    }


def binding(role_name: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": subjects,
    }


def user(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def rbac(ns: str) -> list[dict[str, Any]]:
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
    sa = {"kind": "ServiceAccount", "name": OPERATOR, "namespace": ns}
    return [
        role("writer", [{"apiGroups": [API.split("/")[0]], "resources": ["*"], "verbs": verbs}]),
        binding("writer", [user(WRITER), user(TRUSTED)]),
        # As the chart grants it (no Job or Secret right is needed for what follows).
        role("operator", [
            {"apiGroups": [API.split("/")[0]], "resources": ["kapacitortasks"],
             "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": [API.split("/")[0]], "resources": ["taskruns"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
        ]),
        binding("operator", [sa]),
        role("job-creator", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}]),
        binding("job-creator", [user(TRUSTED)]),
        role("secret-reader", [{"apiGroups": [""], "resources": ["secrets"],
                                "resourceNames": ["creds", "ca"], "verbs": ["get"]}]),
        binding("secret-reader", [user(TRUSTED)]),
        role("configmap-reader", [{"apiGroups": [""], "resources": ["configmaps"],
                                   "resourceNames": ["opts"], "verbs": ["get"]}]),
        binding("configmap-reader", [user(TRUSTED)]),
    ]  # fmt: skip


def job_taskrun(name: str) -> dict[str, Any]:
    container = {"name": "main", "image": "busybox", "command": ["true"]}
    return {
        "apiVersion": API,
        "kind": "TaskRun",
        "metadata": {"name": name},
        "spec": {"job": {"template": {"spec": {"containers": [container]}}}},
    }


def task(name: str, **kapacitor: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "KapacitorTask",
        "metadata": {"name": name},
        "spec": {
            "type": "stream",
            "script": "stream|from()",
            "kapacitor": {"url": "http://kapacitor.monitoring:9092", **kapacitor},
        },
    }


@pytest.fixture(scope="module")
def setup(
    control_plane: ControlPlane,
    crds: list[str],
    helm: Helm,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Setup]:
    cp = control_plane
    ns = unique("e2e-vap")
    cp.kubectl("create", "namespace", ns)
    cp.kubectl("create", "serviceaccount", OPERATOR, "-n", ns)
    for name in ("creds", "ca", "other"):
        cp.kubectl("create", "secret", "generic", name, "-n", ns, "--from-literal=k=v")
    cp.kubectl("create", "configmap", "opts", "-n", ns, "--from-literal=k=v")
    text = "\n---\n".join(yaml.safe_dump(d) for d in rbac(ns))
    cp.kubectl("apply", "-n", ns, "-f", "-", input=text)
    docs = render_policy(helm, tmp_path_factory.mktemp("vap"), [ns])
    policy = next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicy")
    setup = Setup(cp, ns, policy["metadata"]["name"])
    try:
        with installed_policy(cp, docs):
            wait_enforced(lambda: setup.create(WRITER, job_taskrun("probe"), dry_run=True), 30)
            yield setup
    finally:
        cp.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def refused(result: Any, *fragments: str) -> None:
    assert result.returncode != 0, f"admitted: {result.stdout}"
    assert "ValidatingAdmissionPolicy" in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def admitted(result: Any) -> None:
    assert result.returncode == 0, result.stderr


def test_the_policy_compiles_without_warnings(setup: Setup) -> None:
    out = setup.cp.kubectl("get", "validatingadmissionpolicy", setup.policy, "-o", "json")
    status = json.loads(out.stdout).get("status") or {}
    assert (status.get("typeChecking") or {}).get("expressionWarnings") in (None, [])
    assert not [c for c in status.get("conditions") or [] if c.get("status") != "True"]


def test_a_job_taskrun_needs_the_right_to_create_jobs(setup: Setup) -> None:
    refused(
        setup.create(WRITER, job_taskrun("by-alice")),
        f"{WRITER} may not create jobs.batch in namespace {setup.ns}",
        "missing right: create jobs",
    )
    admitted(setup.create(TRUSTED, job_taskrun("by-bob")))
    # Updates that leave the Job template alone need nothing more: alice may cancel it.
    admitted(setup.patch(WRITER, "taskrun", "by-bob", {"spec": {"cancel": True}}))


def test_taskref_taskruns_need_no_special_right(setup: Setup) -> None:
    run = {
        "apiVersion": API,
        "kind": "TaskRun",
        "metadata": {"name": "manual"},
        "spec": {"taskRef": {"name": "nightly"}},
    }
    admitted(setup.create(WRITER, run))
    # What the operator's run-history timer creates (build_retry_taskrun), as its account.
    retry: dict[str, Any] = {
        "apiVersion": API,
        "kind": "TaskRun",
        "metadata": {
            "name": "nightly-retry-0000000000000001",
            "labels": {"kapacitor.operator.dev/trigger": "schedule"},
            "annotations": {"kapacitor.operator.dev/trigger": "schedule"},
        },
        "spec": {"taskRef": {"name": "nightly"}, "retryOf": "0000000000000001"},
    }
    admitted(setup.create(setup.operator, retry))
    admitted(setup.patch(setup.operator, "taskrun", retry["metadata"]["name"], {
        "metadata": {"annotations": {"kapacitor.operator.dev/seen": "yes"}}
    }))  # fmt: skip
    # ...but even the operator's account may not hand itself a Job it may not create.
    refused(setup.create(setup.operator, job_taskrun("by-operator")), "may not create jobs")


CREDENTIALS = {"credentialsSecretRef": {"name": "creds"}}
CA = {"tls": {"caSecretRef": {"name": "ca", "key": "k"}}}


@pytest.mark.parametrize(
    ("kapacitor", "field", "secret"),
    [
        (CREDENTIALS, "spec.kapacitor.credentialsSecretRef", "creds"),
        (CA, "spec.kapacitor.tls.caSecretRef", "ca"),
    ],
    ids=["credentials", "ca"],
)
def test_naming_a_secret_needs_the_right_to_read_it(
    setup: Setup, kapacitor: dict[str, Any], field: str, secret: str
) -> None:
    name = unique("t")
    refused(
        setup.create(WRITER, task(name, **kapacitor)),
        f"the operator reads the Secret named in {field}",
        f"{WRITER} may not get Secret {secret} in namespace {setup.ns}",
        "missing right: get secrets",
    )
    admitted(setup.create(TRUSTED, task(name, **kapacitor)))


def test_a_right_on_one_secret_is_not_a_right_on_another(setup: Setup) -> None:
    both = {
        "credentialsSecretRef": {"name": "other"},
        "tls": {"caSecretRef": {"name": "ca", "key": "k"}},
    }
    result = setup.create(TRUSTED, task("bob-other", **both))
    refused(result, "credentialsSecretRef", "may not get Secret other")
    assert "Secret ca" not in result.stderr, "bob may read ca: only other is named"


def test_an_update_checks_only_new_or_changed_references(setup: Setup) -> None:
    admitted(setup.create(TRUSTED, task("shared", credentialsSecretRef={"name": "creds"})))
    # Alice may not read `creds`, yet may disable the task that names it...
    admitted(setup.patch(WRITER, "kapacitortask", "shared", {"spec": {"enabled": False}}))
    # ...but not point it at a Secret, or add one, she may not read.
    refused(
        setup.patch(
            WRITER, "kapacitortask", "shared",
            {"spec": {"kapacitor": {"credentialsSecretRef": {"name": "other"}}}},
        ),
        "may not get Secret other",
    )  # fmt: skip
    refused(
        setup.patch(
            WRITER, "kapacitortask", "shared",
            {"spec": {"kapacitor": {"tls": {"caSecretRef": {"name": "ca", "key": "k"}}}}},
        ),
        "tls.caSecretRef",
        "may not get Secret ca in",
    )  # fmt: skip
    # Nor send the credentials it keeps to another server.
    refused(
        setup.patch(
            WRITER, "kapacitortask", "shared",
            {"spec": {"kapacitor": {"url": "http://kapacitor.team-a:9092"}}},
        ),
        "credentialsSecretRef",
        "may not get Secret creds in",
    )  # fmt: skip
    # Dropping a reference needs nothing.
    admitted(
        setup.patch(
            WRITER, "kapacitortask", "shared",
            {"spec": {"kapacitor": {"credentialsSecretRef": None}}},
        )
    )  # fmt: skip
    # Bob may change it to what he may read.
    admitted(
        setup.patch(
            TRUSTED, "kapacitortask", "shared",
            {"spec": {"kapacitor": {"credentialsSecretRef": {"name": "creds"}}}},
        )
    )  # fmt: skip


def connection(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Kapacitor",
        "metadata": {"name": name},
        "spec": {"url": "http://kapacitor.monitoring:9092", **spec},
    }


def template(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "KapacitorTemplate",
        "metadata": {"name": name},
        "spec": {"type": "stream", "script": "stream|from()", **spec},
    }


@pytest.mark.parametrize(
    ("spec", "field", "secret"),
    [
        (CREDENTIALS, "spec.credentialsSecretRef", "creds"),
        (CA, "spec.tls.caSecretRef", "ca"),
    ],
    ids=["credentials", "ca"],
)
def test_a_kapacitor_object_naming_a_secret_needs_the_right_to_read_it(
    setup: Setup, spec: dict[str, Any], field: str, secret: str
) -> None:
    name = unique("k")
    refused(
        setup.create(WRITER, connection(name, **spec)),
        f"the operator reads the Secret named in {field}",
        f"{WRITER} may not get Secret {secret} in namespace {setup.ns}",
    )
    admitted(setup.create(TRUSTED, connection(name, **spec)))


def test_a_template_naming_a_secret_needs_the_right_to_read_it(setup: Setup) -> None:
    kapacitor = {"url": "http://kapacitor.monitoring:9092", **CREDENTIALS}
    refused(
        setup.create(WRITER, template("tpl", kapacitor=kapacitor)),
        "the operator reads the Secret named in spec.kapacitor.credentialsSecretRef",
        f"{WRITER} may not get Secret creds",
    )
    admitted(setup.create(TRUSTED, template("tpl", kapacitor=kapacitor)))


def test_kapacitor_ref_needs_the_right_to_read_the_object(setup: Setup) -> None:
    """A kapacitorRef lends the object's credentials: its author must be able to get it.
    `carol` may write KapacitorTasks and KapacitorTemplates but not read Kapacitors."""
    carol = "carol@example.com"
    group = API.split("/")[0]
    docs = [
        role("task-writer", [{"apiGroups": [group],
                              "resources": ["kapacitortasks", "kapacitortemplates"],
                              "verbs": ["create", "get", "patch"]}]),
        binding("task-writer", [user(carol)]),
    ]  # fmt: skip
    setup.cp.kubectl(
        "apply", "-n", setup.ns, "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in docs)
    )
    ref_task = {
        "apiVersion": API,
        "kind": "KapacitorTask",
        "metadata": {"name": "by-ref"},
        "spec": {"type": "stream", "script": "stream|from()", "kapacitorRef": {"name": "shared"}},
    }
    refused(
        setup.create(carol, ref_task),
        "spec.kapacitorRef makes the operator use the connection",
        f"{carol} may not get Kapacitor shared in namespace {setup.ns}",
        "missing right: get kapacitors",
    )
    refused(
        setup.create(carol, template("by-ref", kapacitorRef={"name": "shared"})), "get kapacitors"
    )
    admitted(setup.create(WRITER, ref_task))  # alice may read kapacitors
    # Editing the rest of a task that keeps its reference needs nothing more.
    admitted(setup.patch(carol, "kapacitortask", "by-ref", {"spec": {"enabled": False}}))


def test_the_operators_own_writes_pass(setup: Setup) -> None:
    """kopf patches finalizers and annotations of KapacitorTasks that name Secrets: those
    updates change no reference, so they pass whatever the account may read."""
    admitted(setup.create(TRUSTED, task("finalized", credentialsSecretRef={"name": "creds"})))
    patch = {
        "metadata": {
            "finalizers": ["kapacitor.operator.dev/finalizer"],
            "annotations": {"kapacitor.operator.dev/last-handled": "x"},
        }
    }
    admitted(setup.patch(setup.operator, "kapacitortask", "finalized", patch))


def test_other_namespaces_are_not_bound(setup: Setup, namespace: str) -> None:
    """Namespaced mode binds the policy to the served namespaces only."""
    writer = rbac(namespace)[:2]  # alice may write TaskRuns there, and may not create Jobs
    text = "\n---\n".join(yaml.safe_dump(d) for d in writer)
    setup.cp.kubectl("apply", "-n", namespace, "-f", "-", input=text)
    run = job_taskrun("elsewhere")
    result = setup.cp.kubectl(
        "-n", namespace, f"--as={WRITER}", "create", "--dry-run=server", "-f", "-",
        input=json.dumps(run), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def alert_handler(name: str, *sources: dict[str, Any], **kapacitor: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"topic": "ops", "kind": "post", "optionsFrom": list(sources)}
    if kapacitor:
        spec["kapacitor"] = {"url": "http://kapacitor.monitoring:9092", **kapacitor}
    return {"apiVersion": API, "kind": "KapacitorAlertHandler", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


URL_FROM_SECRET = {"path": "url", "secretKeyRef": {"name": "creds", "key": "k"}}
URL_FROM_OTHER = {"path": "url", "secretKeyRef": {"name": "other", "key": "k"}}
HEADER_FROM_CONFIGMAP = {"path": "headers.X-Team", "configMapKeyRef": {"name": "opts", "key": "k"}}


def test_alert_handler_option_sources_need_the_right_to_read_them(setup: Setup) -> None:
    """KapacitorAlertHandler optionsFrom: the operator reads the Secret or ConfigMap and
    sends the value to Kapacitor, so its author must be able to read it."""
    refused(
        setup.create(WRITER, alert_handler("h1", URL_FROM_SECRET)),
        "spec.optionsFrom[].secretKeyRef",
        f"{WRITER} may not get Secret creds in namespace {setup.ns}",
    )
    refused(
        setup.create(WRITER, alert_handler("h1", HEADER_FROM_CONFIGMAP)),
        "spec.optionsFrom[].configMapKeyRef",
        f"{WRITER} may not get ConfigMap opts in namespace {setup.ns}",
        "missing right: get configmaps",
    )
    refused(
        setup.create(WRITER, alert_handler("h1", credentialsSecretRef={"name": "creds"})),
        "spec.kapacitor.credentialsSecretRef",
    )
    admitted(setup.create(WRITER, alert_handler("h0")))
    admitted(setup.create(TRUSTED, alert_handler("h1", URL_FROM_SECRET, HEADER_FROM_CONFIGMAP)))
    refused(setup.create(TRUSTED, alert_handler("h2", URL_FROM_OTHER)), "may not get Secret other")
    # Alice may change what does not touch the references, not where the values go.
    admitted(setup.patch(WRITER, "kapacitoralerthandler", "h1", {"spec": {"match": "changed()"}}))
    refused(
        setup.patch(
            WRITER, "kapacitoralerthandler", "h1",
            {"spec": {"kapacitor": {"url": "http://kapacitor.team-a:9092"}}},
        ),
        "may not get Secret creds in",
    )  # fmt: skip
