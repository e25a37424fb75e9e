"""KubeAPI against the real kube-apiserver of the test control plane: the answers the
MockTransport tests assume (Status reasons and messages, preconditions, 401/403) are the
ones the server really gives.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.client import KubeClient
from kapacitor_operator.k8s.credentials import KubeCredentials, load_credentials
from kapacitor_operator.k8s.errors import (
    KubeConflict,
    KubeForbidden,
    KubeInvalid,
    KubeUnauthorized,
)
from kapacitor_testkit import ControlPlane

API_VERSION = "kapacitor.operator.dev/v1alpha1"


@pytest.fixture
async def api(control_plane: ControlPlane, crds: list[str]) -> AsyncIterator[KubeAPI]:
    """The operator's client, from the same credentials the operator process loads."""
    kube = KubeAPI(KubeClient(load_credentials()))
    yield kube
    await kube.aclose()


def taskrun(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "metadata": {"name": name},
        "spec": {"taskRef": {"name": "nothing"}},
    }


def fresh_version(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["resourceVersion"])


def micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_status_patch_on_a_stale_resource_version_conflicts(
    api: KubeAPI, namespace: str
) -> None:
    assert await api.create_taskrun(namespace, taskrun("r")) is True
    assert await api.create_taskrun(namespace, taskrun("r")) is False
    seen = await api.get_custom(namespace, "taskruns", "r")
    assert seen is not None
    stale = seen["metadata"]["resourceVersion"]

    updated = await api.patch_status(
        namespace, "taskruns", "r", {"phase": "Pending"}, resource_version=stale
    )
    assert updated is not None
    assert updated["status"]["phase"] == "Pending"
    fresh = updated["metadata"]["resourceVersion"]
    assert fresh != stale

    with pytest.raises(KubeConflict) as excinfo:
        await api.patch_status(
            namespace, "taskruns", "r", {"phase": "Running"}, resource_version=stale
        )
    assert (excinfo.value.status, excinfo.value.reason) == (409, "Conflict")
    assert not excinfo.value.already_exists
    assert "the object has been modified" in excinfo.value.message

    again = await api.patch_status(
        namespace, "taskruns", "r", {"phase": "Running"}, resource_version=fresh
    )
    assert again is not None
    assert again["status"]["phase"] == "Running"
    assert await api.patch_status(namespace, "taskruns", "gone", {"phase": "Running"}) is None


async def test_delete_with_a_stale_uid_spares_the_new_object(api: KubeAPI, namespace: str) -> None:
    await api.create_taskrun(namespace, taskrun("r"))
    old = await api.get_custom(namespace, "taskruns", "r")
    assert old is not None
    assert await api.delete_custom(namespace, "taskruns", "r") is True
    await api.create_taskrun(namespace, taskrun("r"))
    new = await api.get_custom(namespace, "taskruns", "r")
    assert new is not None

    assert await api.delete_custom(namespace, "taskruns", "r", uid=old["metadata"]["uid"]) is False
    assert await api.get_custom(namespace, "taskruns", "r") is not None
    assert await api.delete_custom(namespace, "taskruns", "r", uid=new["metadata"]["uid"]) is True
    assert await api.delete_custom(namespace, "taskruns", "r", uid=new["metadata"]["uid"]) is False


async def test_invalid_job_carries_the_servers_message(api: KubeAPI, namespace: str) -> None:
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "x"},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main"}]}}
        },
    }
    with pytest.raises(KubeInvalid) as excinfo:
        await api.create_job(namespace, job)
    message = excinfo.value.message
    assert message.startswith('Job.batch "x" is invalid: ')
    assert "spec.template.spec.containers[0].image: Required value" in message
    assert (excinfo.value.status, excinfo.value.reason) == (422, "Invalid")

    job["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox"
    created = await api.create_job(namespace, job)
    assert created is not None
    assert created["metadata"]["name"] == "x"
    assert await api.create_job(namespace, job) is None  # exists
    assert await api.get_job(namespace, "x") is not None
    await api.delete_job(namespace, "x")
    await api.delete_job(namespace, "x")  # absent is fine


async def test_lease_create_replace_and_conflict(api: KubeAPI, namespace: str) -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader"},
        "spec": {
            "holderIdentity": "replica-a",
            "leaseDurationSeconds": 15,
            "acquireTime": micro_time(),
            "renewTime": micro_time(),
        },
    }
    assert await api.get_lease(namespace, "leader") is None
    created = await api.create_lease(namespace, lease)
    assert created is not None
    assert await api.create_lease(namespace, lease) is None  # someone was first

    current = await api.get_lease(namespace, "leader")
    assert current == created
    renewed = {**current, "spec": {**current["spec"], "renewTime": micro_time()}}
    replaced = await api.replace_lease(namespace, "leader", renewed)
    assert replaced["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]

    # A replica that still holds the first version must not win.
    stolen = {**created, "spec": {**created["spec"], "holderIdentity": "replica-b"}}
    with pytest.raises(KubeConflict):
        await api.replace_lease(namespace, "leader", stolen)
    holder = await api.get_lease(namespace, "leader")
    assert holder is not None
    assert holder["spec"]["holderIdentity"] == "replica-a"
    # Leases allow create-on-update: replacing a deleted Lease takes it afresh, even
    # with a resourceVersion (the holder that deleted it gave it up).
    gone = {**lease, "metadata": {"name": "gone", "resourceVersion": fresh_version(replaced)}}
    retaken = await api.replace_lease(namespace, "gone", gone)
    assert retaken["spec"]["holderIdentity"] == "replica-a"


async def test_pod_log_of_a_missing_pod_is_none(api: KubeAPI, namespace: str) -> None:
    log = await api.pod_log(namespace, "nope", container=None, tail_lines=10, limit_bytes=1024)
    assert log is None
    assert await api.list_pods(namespace, "app=nope") == []


async def test_events_appear(api: KubeAPI, namespace: str) -> None:
    await api.create_taskrun(namespace, taskrun("r"))
    obj = await api.get_custom(namespace, "taskruns", "r")
    assert obj is not None
    involved = {
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "name": "r",
        "namespace": namespace,
        "uid": obj["metadata"]["uid"],
    }
    for _ in range(2):  # identical Events are simply two objects
        await api.create_event(
            namespace, involved, "Warning", "Failed", "x" * 2000, component="kapacitor-operator"
        )
    params = {"fieldSelector": "involvedObject.name=r"}
    listed = await api.client.json("GET", f"/api/v1/namespaces/{namespace}/events", params=params)
    events = listed["items"]
    assert len(events) == 2
    for event in events:
        assert (event["type"], event["reason"]) == ("Warning", "Failed")
        assert event["message"] == "x" * 1024
        assert event["involvedObject"]["uid"] == involved["uid"]
        assert event["source"]["component"] == "kapacitor-operator"


async def test_bad_token_is_unauthorized_and_a_rotated_file_recovers(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    control_plane.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    control_plane.kubectl(
        "create", "rolebinding", "reader", "--clusterrole=view",
        f"--serviceaccount={namespace}:reader", "-n", namespace,
    )  # fmt: skip
    good = control_plane.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    token_file = tmp_path / "token"
    token_file.write_text("not-a-valid-token")
    creds = KubeCredentials(
        server=control_plane.server_url,
        source="test",
        ca_data=control_plane.ca_path.read_text(),
        token="not-a-valid-token",
        token_file=str(token_file),
    )
    kube = KubeAPI(KubeClient(creds))
    try:
        with pytest.raises(KubeUnauthorized) as excinfo:
            await kube.list_pods(namespace, "")
        assert excinfo.value.status == 401
        token_file.write_text(good)  # what the kubelet does when it rotates the token
        assert await kube.list_pods(namespace, "") == []
        with pytest.raises(KubeForbidden) as forbidden:
            await kube.secret_data(namespace, "anything")  # `view` cannot read Secrets
        assert 'secrets "anything" is forbidden' in forbidden.value.message
        assert good not in str(forbidden.value)
    finally:
        await kube.aclose()


async def test_in_cluster_credentials_reach_the_server(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """A Pod's view: service env vars plus a ServiceAccount directory (token, CA, namespace)."""
    control_plane.kubectl("create", "serviceaccount", "op", "-n", namespace)
    control_plane.kubectl(
        "create", "rolebinding", "op", "--clusterrole=view",
        f"--serviceaccount={namespace}:op", "-n", namespace,
    )  # fmt: skip
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    token = control_plane.kubectl("create", "token", "op", "-n", namespace).stdout.strip()
    (sa / "token").write_text(token)
    (sa / "ca.crt").write_bytes(control_plane.ca_path.read_bytes())
    (sa / "namespace").write_text(namespace)
    url = httpx.URL(control_plane.server_url)
    port = url.port or 443  # httpx leaves the scheme's default port out
    environ = {"KUBERNETES_SERVICE_HOST": str(url.host), "KUBERNETES_SERVICE_PORT": str(port)}
    creds = load_credentials(environ=environ, service_account_dir=sa)
    assert (creds.source, creds.namespace, creds.server) == (
        "in-cluster",
        namespace,
        control_plane.server_url,
    )
    kube = KubeAPI(KubeClient(creds))
    try:
        assert await kube.list_pods(creds.namespace, "") == []
    finally:
        await kube.aclose()


async def test_concurrent_calls_share_the_pool(api: KubeAPI, namespace: str) -> None:
    results = await asyncio.gather(*(api.get_job(namespace, f"j{i}") for i in range(100)))
    assert results == [None] * 100
