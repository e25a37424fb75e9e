"""The chart's security settings, rendered (issue 12): the admission policy and its
binding in each mode, the Kapacitor URL policy values, and values the schema refuses.
The policy's behaviour on the API server is test_admission_policy.py's subject."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helm import CHART, Doc, Helm, values_file
from tests.e2e.test_helm import env_of, of_kind, render, the_container

NAMESPACED = {"rbac": {"clusterWide": False}, "watchNamespaces": ["team-a", "team-b"]}


def policy_and_binding(docs: list[Doc]) -> tuple[Doc, Doc]:
    (policy,) = of_kind(docs, "ValidatingAdmissionPolicy")
    (binding,) = of_kind(docs, "ValidatingAdmissionPolicyBinding")
    return policy, binding


def test_the_admission_policy_is_on_by_default(helm: Helm, tmp_path: Path) -> None:
    policy, binding = policy_and_binding(render(helm, tmp_path, {}))
    spec = policy["spec"]
    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["kapacitor.operator.dev"]
    assert sorted(rule["resources"]) == [
        "kapacitoralerthandlers",
        "kapacitors",
        "kapacitortasks",
        "kapacitortemplates",
        "taskruns",
    ]
    assert sorted(rule["operations"]) == ["CREATE", "UPDATE"]
    checks = " ".join(v["expression"] for v in spec["validations"] + spec["variables"])
    assert "resource('jobs')" in checks
    assert "check('create')" in checks
    assert "resource('secrets')" in checks
    assert "check('get')" in checks
    assert all(v.get("reason") == "Forbidden" for v in spec["validations"])
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "matchResources" not in binding["spec"], "cluster-wide mode binds every namespace"


def test_namespaced_mode_binds_the_served_namespaces(helm: Helm, tmp_path: Path) -> None:
    _, binding = policy_and_binding(render(helm, tmp_path, NAMESPACED))
    (expression,) = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert expression == {
        "key": "kubernetes.io/metadata.name",
        "operator": "In",
        "values": ["team-a", "team-b"],
    }


def test_the_admission_policy_can_be_turned_off(helm: Helm, tmp_path: Path) -> None:
    docs = render(helm, tmp_path, {"admissionPolicy": {"enabled": False}})
    assert of_kind(docs, "ValidatingAdmissionPolicy") == []
    assert of_kind(docs, "ValidatingAdmissionPolicyBinding") == []


def test_url_policy_values(helm: Helm, tmp_path: Path) -> None:
    env = env_of(the_container(render(helm, tmp_path, {})))
    assert env["OPERATOR_ALLOWED_KAPACITOR_URLS"]["value"] == ""
    assert env["OPERATOR_REQUIRE_HTTPS"]["value"] == "false"
    values = {
        "kapacitor": {
            "url": "https://kapacitor.monitoring:9092",
            "allowedURLs": ["https://*.team-a.svc:9092", "https://k.example:*"],
            "requireHTTPS": True,
        }
    }
    env = env_of(the_container(render(helm, tmp_path, values)))
    assert env["OPERATOR_ALLOWED_KAPACITOR_URLS"]["value"] == (
        "https://*.team-a.svc:9092,https://k.example:*"
    )
    assert env["OPERATOR_REQUIRE_HTTPS"]["value"] == "true"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kapacitor": {"url": "http://user:pw@kapacitor:9092"}}, "url"),
        ({"kapacitor": {"allowedURLs": ["http://k:9092/path"]}}, "allowedURLs"),
        ({"kapacitor": {"allowedURLs": ["http://u:p@k:9092"]}}, "allowedURLs"),
        ({"admissionPolicy": {"enabled": "yes"}}, "enabled"),
    ],
)
def test_the_schema_refuses(helm: Helm, tmp_path: Path, values: Doc, field: str) -> None:
    path = values_file(tmp_path, values)
    result = helm.run("template", "rel", str(CHART), "-f", str(path), check=False)
    assert result.returncode != 0
    assert field in result.stderr
