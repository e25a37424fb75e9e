"""The e2e control plane is a real Kubernetes 1.35 control plane, not a mock.

Each test pins down one piece of API machinery the operator depends on: the version
(Helm's kubeVersion checks), RBAC, CRD CEL validation, server-side apply and
ownerReference garbage collection. What the node adds (Pods that really run, Jobs,
logs, in-cluster networking) is tested in test_node.py.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from kapacitor_testkit import ControlPlane, KubectlError, MissingBinaryError
from kapacitor_testkit.binaries import DEFAULT_BIN_DIR, find_binaries
from kapacitor_testkit.processes import wait_until

EXPECTED_VERSION = "v1.35.4"
WIDGET_GROUP = "cptest.kapacitor-operator.test"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{WIDGET_GROUP}"},
    "spec": {
        "group": WIDGET_GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "min": {"type": "integer"},
                                    "max": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.min <= self.max",
                                        "message": "min must not exceed max",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def _get_json(cp: ControlPlane, *args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(cp.kubectl("get", *args, "-o", "json").stdout)
    return doc


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == ctype:
            found: dict[str, Any] = cond
            return found
    return None


@pytest.fixture(scope="module")
def widget_crd(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A throwaway CRD with a CEL rule, installed through ControlPlane.install_crds."""
    path = tmp_path_factory.mktemp("crd") / "widgets.yaml"
    path.write_text(yaml.safe_dump(WIDGET_CRD))
    names = control_plane.install_crds([path])
    assert names == [f"widgets.{WIDGET_GROUP}"]
    return names[0]


def test_version_is_the_provisioned_kubernetes(control_plane: ControlPlane) -> None:
    version = control_plane.version
    print(f"\nkube-apiserver /version: {json.dumps(version)}")
    assert version["gitVersion"] == EXPECTED_VERSION
    assert (version["major"], version["minor"]) == ("1", "35")
    client = control_plane.kubectl("version", "--client", "-o", "json").stdout
    print(f"kubectl: {json.loads(client)['clientVersion']['gitVersion']}")


def test_operator_credentials_default_to_the_test_kubeconfig(control_plane: ControlPlane) -> None:
    """setup_kube_env's $KUBECONFIG is what the operator's credential loader reads."""
    from kapacitor_operator.k8s.credentials import load_credentials

    creds = load_credentials()
    assert creds.server == control_plane.server_url
    assert str(control_plane.kubeconfig_path) in creds.source
    assert (creds.token, creds.insecure) == (None, False)
    assert "BEGIN" in (creds.client_cert_data or "")


def test_rbac_denies_unprivileged_identities(control_plane: ControlPlane, namespace: str) -> None:
    cp = control_plane
    cp.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    who = f"system:serviceaccount:{namespace}:nobody"

    can_i = cp.kubectl(
        "auth", "can-i", "create", "pods", "-n", namespace, f"--as={who}", check=False
    )
    assert (can_i.returncode, can_i.stdout.strip()) == (1, "no")

    denied = cp.kubectl("get", "pods", "-n", namespace, f"--as={who}", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()

    # No client certificate at all: system:anonymous may read /version but not the API.
    context = ssl.create_default_context(cafile=str(cp.ca_path))
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(f"{cp.server_url}/api/v1/namespaces", context=context, timeout=5)
    assert excinfo.value.code in (401, 403)


def test_crd_is_established_and_cel_rule_rejects_bad_objects(
    control_plane: ControlPlane, widget_crd: str, namespace: str
) -> None:
    cp = control_plane
    crd = _get_json(cp, "crd", widget_crd)
    established = _condition(crd, "Established")
    assert established is not None
    assert established["status"] == "True"
    discovery = cp.api.get_json(f"/apis/{WIDGET_GROUP}/v1")
    assert "widgets" in [r["name"] for r in discovery["resources"]]

    def widget(name: str, lo: int, hi: int) -> str:
        return json.dumps(
            {
                "apiVersion": f"{WIDGET_GROUP}/v1",
                "kind": "Widget",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"min": lo, "max": hi},
            }
        )

    cp.kubectl("create", "-f", "-", input=widget("good", 1, 2))
    bad = cp.kubectl("create", "-f", "-", input=widget("bad", 3, 2), check=False)
    assert bad.returncode != 0
    assert "min must not exceed max" in bad.stderr
    assert "Invalid" in bad.stderr


def test_server_side_apply_tracks_field_managers(
    control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane

    def config_map(value: str) -> str:
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "ssa", "namespace": namespace},
                "data": {"key": value},
            }
        )

    def apply(manager: str, value: str, *extra: str) -> Any:
        return cp.kubectl(
            "apply", "--server-side", f"--field-manager={manager}", *extra, "-f", "-",
            input=config_map(value), check=False,
        )  # fmt: skip

    assert apply("alice", "a").returncode == 0
    conflict = apply("bob", "b")
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower()
    assert apply("bob", "b", "--force-conflicts").returncode == 0

    cm = _get_json(cp, "configmap", "ssa", "-n", namespace, "--show-managed-fields")
    assert cm["data"] == {"key": "b"}
    managers = {(m["manager"], m["operation"]) for m in cm["metadata"]["managedFields"]}
    assert ("bob", "Apply") in managers


def _create_owned_config_map(cp: ControlPlane, namespace: str, owner: dict[str, Any]) -> None:
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                }
            ],
        },
    }
    cp.kubectl("create", "-f", "-", input=json.dumps(dependent))


def _gone(cp: ControlPlane, namespace: str, config_map: str) -> bool:
    got = cp.kubectl("get", "configmap", config_map, "-n", namespace, check=False)
    return got.returncode != 0 and "NotFound" in got.stderr


def test_garbage_collector_deletes_dependents_of_deleted_owner(
    control_plane: ControlPlane, namespace: str
) -> None:
    cp = control_plane
    owner = json.loads(
        cp.kubectl("create", "configmap", "owner", "-n", namespace, "-o", "json").stdout
    )
    _create_owned_config_map(cp, namespace, owner)
    cp.kubectl("delete", "configmap", "owner", "-n", namespace)
    assert wait_until(lambda: _gone(cp, namespace, "dependent"), timeout=60.0, interval=0.2)


def test_garbage_collector_follows_custom_resource_owners(
    control_plane: ControlPlane, widget_crd: str, namespace: str
) -> None:
    """A custom resource owning a built-in object, as a TaskRun owns its Job."""
    cp = control_plane
    # The GC re-reads discovery every 30 s; a restarted KCM knows the new CRD at once.
    cp.restart_controller_manager()
    widget = {
        "apiVersion": f"{WIDGET_GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": "owner", "namespace": namespace},
        "spec": {"min": 1, "max": 1},
    }
    owner = json.loads(
        cp.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(widget)).stdout
    )
    _create_owned_config_map(cp, namespace, owner)
    cp.kubectl("delete", "widget", "owner", "-n", namespace)
    assert wait_until(lambda: _gone(cp, namespace, "dependent"), timeout=60.0, interval=0.2)


def test_install_crds_rejects_invalid_manifests(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    broken = dict(WIDGET_CRD, metadata={"name": "not-matching-the-plural"})
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(KubectlError):
        control_plane.install_crds([path])


def test_binary_lookup_prefers_overrides_and_never_skips(tmp_path: Path) -> None:
    """KAPACITOR_OPERATOR_TEST_BIN is final; KUBEBUILDER_ASSETS may supply only some tools."""
    assets = tmp_path / "assets"
    assets.mkdir()
    etcd = assets / "etcd"
    etcd.write_text("#!/bin/sh\n")
    etcd.chmod(0o755)

    found = find_binaries({"KUBEBUILDER_ASSETS": str(assets)})
    assert found.etcd == etcd
    assert found.kube_apiserver.parent == DEFAULT_BIN_DIR  # the rest from the cache

    with pytest.raises(MissingBinaryError, match=r"kube-apiserver.*hack/provision\.sh"):
        find_binaries({"KAPACITOR_OPERATOR_TEST_BIN": str(assets)})
