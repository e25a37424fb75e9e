"""Fixtures for the e2e suite: one real control plane per session, a namespace per test.

The control plane is started once (seconds, not per test) and always stopped, even when
tests fail. Its binaries must exist: a missing one is an error telling you to run
hack/provision.sh, never a skip.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kapacitor_testkit import ControlPlane, restore_kube_env, setup_kube_env
from kapacitor_testkit.processes import wait_until

_E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e as ``e2e`` (this hook sees the whole session)."""
    for item in items:
        if _E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager, with KUBECONFIG pointing at it."""
    # Under pytest's basetemp, so even a SIGKILLed run's leftovers get rotated away.
    with ControlPlane(parent_dir=tmp_path_factory.mktemp("control-plane")) as cp:
        print(
            f"\ncontrol plane {cp.version.get('gitVersion')} at {cp.server_url} "
            f"from {cp.bin_dir}; start-up seconds: {cp.startup_seconds}"
        )
        snapshot = setup_kube_env(cp.kubeconfig_path)
        try:
            yield cp
        finally:
            restore_kube_env(snapshot)


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"e2e-{slug}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace whose ``default`` ServiceAccount exists (so Pods are admitted).

    Deletion is requested but never awaited: names are unique, and a namespace with
    custom resources may take long to finalize.
    """
    name = _namespace_name(request.node.name)
    control_plane.kubectl("create", "namespace", name)

    def has_default_sa() -> bool:
        return control_plane.api.status(f"/api/v1/namespaces/{name}/serviceaccounts/default") == 200

    assert wait_until(has_default_sa, timeout=30.0, interval=0.1), (
        f"kube-controller-manager did not create the default ServiceAccount in {name}"
    )
    try:
        yield name
    finally:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)
