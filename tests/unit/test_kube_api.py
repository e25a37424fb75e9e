"""KubeAPI over ``httpx.MockTransport``: paths, params, bodies, and which answers mean
"absent" or "exists" instead of an error.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.client import KubeClient
from kapacitor_operator.k8s.credentials import KubeCredentials
from kapacitor_operator.k8s.errors import KubeConflict, KubeInvalid

SERVER = "https://kube.test:6443"
CR = "/apis/kapacitor.operator.dev/v1alpha1/namespaces/ns"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


def status(code: int, reason: str, message: str = "") -> httpx.Response:
    return httpx.Response(
        code, json={"kind": "Status", "reason": reason, "message": message, "code": code}
    )


class Server:
    """Answers by (method, path); records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], httpx.Response] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, response: httpx.Response) -> None:
        self.routes[(method, path)] = response

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get((request.method, request.url.path), status(404, "NotFound"))

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
async def api(server: Server) -> AsyncIterator[KubeAPI]:
    creds = KubeCredentials(server=SERVER, source="test", token="t")
    kube = KubeAPI(KubeClient(creds, transport=httpx.MockTransport(server)))
    yield kube
    await kube.aclose()


# --- ConfigMaps, Secrets ------------------------------------------------------------------


async def test_configmap_key(server: Server, api: KubeAPI) -> None:
    server.on(
        "GET",
        "/api/v1/namespaces/ns/configmaps/cm",
        httpx.Response(200, json={"data": {"script": "stream"}}),
    )
    assert await api.configmap_key("ns", "cm", "script") == "stream"
    assert await api.configmap_key("ns", "cm", "other") is None
    assert await api.configmap_key("ns", "gone", "script") is None


async def test_secret_data_is_decoded(server: Server, api: KubeAPI) -> None:
    data = {"token": base64.b64encode(b"s3cret").decode()}
    server.on("GET", "/api/v1/namespaces/ns/secrets/s", httpx.Response(200, json={"data": data}))
    assert await api.secret_data("ns", "s") == {"token": "s3cret"}
    assert await api.secret_data("ns", "gone") is None


# --- Jobs, Pods, logs ---------------------------------------------------------------------

JOBS = "/apis/batch/v1/namespaces/ns/jobs"


async def test_create_job_answers_none_when_it_exists(server: Server, api: KubeAPI) -> None:
    server.on("POST", JOBS, httpx.Response(201, json={"metadata": {"name": "j"}}))
    assert await api.create_job("ns", {"metadata": {"name": "j"}}) == {"metadata": {"name": "j"}}
    assert server.last_json() == {"metadata": {"name": "j"}}
    server.on("POST", JOBS, status(409, "AlreadyExists", 'jobs.batch "j" already exists'))
    assert await api.create_job("ns", {}) is None


async def test_create_job_keeps_the_servers_invalid_message(server: Server, api: KubeAPI) -> None:
    message = 'Job.batch "j" is invalid: spec.template.spec.containers[0].image: Required value'
    server.on("POST", JOBS, status(422, "Invalid", message))
    with pytest.raises(KubeInvalid) as excinfo:
        await api.create_job("ns", {})
    assert excinfo.value.message == message


async def test_get_and_delete_job(server: Server, api: KubeAPI) -> None:
    server.on("GET", f"{JOBS}/j", httpx.Response(200, json={"kind": "Job"}))
    assert await api.get_job("ns", "j") == {"kind": "Job"}
    assert await api.get_job("ns", "gone") is None
    server.on("DELETE", f"{JOBS}/j", httpx.Response(200, json={"kind": "Job"}))
    await api.delete_job("ns", "j")
    assert server.last_json() == {"propagationPolicy": "Background"}
    await api.delete_job("ns", "gone")  # absent is fine


async def test_pods_by_selector(server: Server, api: KubeAPI) -> None:
    pods = {"items": [{"metadata": {"name": "p"}}]}
    server.on("GET", "/api/v1/namespaces/ns/pods", httpx.Response(200, json=pods))
    assert await api.list_pods("ns", "a=b,c") == pods["items"]
    assert server.last.url.params["labelSelector"] == "a=b,c"
    await api.job_pods("ns", "j")
    assert server.last.url.params["labelSelector"] == "batch.kubernetes.io/job-name=j"


async def test_pod_log(server: Server, api: KubeAPI) -> None:
    path = "/api/v1/namespaces/ns/pods/p/log"
    server.on("GET", path, httpx.Response(200, content="line 1\nlast \xe2\x82".encode("latin-1")))
    log = await api.pod_log("ns", "p", container="main", tail_lines=20, limit_bytes=4096)
    assert log == "line 1\nlast \N{REPLACEMENT CHARACTER}"  # a character cut by limitBytes
    params = server.last.url.params
    assert (params["container"], params["tailLines"], params["limitBytes"]) == (
        "main",
        "20",
        "4096",
    )
    assert server.last.headers["Accept"] == "application/json, */*"
    await api.pod_log("ns", "p", container=None, tail_lines=1, limit_bytes=1)
    assert "container" not in server.last.url.params
    assert await api.pod_log("ns", "gone", container=None, tail_lines=1, limit_bytes=1) is None


# --- custom objects -----------------------------------------------------------------------


async def test_get_custom(server: Server, api: KubeAPI) -> None:
    obj = {"metadata": {"name": "t", "resourceVersion": "42"}}
    server.on("GET", f"{CR}/kapacitortasks/t", httpx.Response(200, json=obj))
    assert await api.get_custom("ns", "kapacitortasks", "t") == obj
    assert await api.get_custom("ns", "kapacitortasks", "gone") is None


async def test_patch_status_with_and_without_a_precondition(server: Server, api: KubeAPI) -> None:
    path = f"{CR}/taskruns/r/status"
    updated = {"metadata": {"resourceVersion": "43"}, "status": {"phase": "Running"}}
    server.on("PATCH", path, httpx.Response(200, json=updated))
    answer = await api.patch_status("ns", "taskruns", "r", {"phase": "Running"})
    assert answer == updated
    assert server.last.headers["Content-Type"] == "application/merge-patch+json"
    assert server.last_json() == {"status": {"phase": "Running"}}
    await api.patch_status("ns", "taskruns", "r", {"phase": "Running"}, resource_version="42")
    assert server.last_json() == {
        "status": {"phase": "Running"},
        "metadata": {"resourceVersion": "42"},
    }
    server.on("PATCH", path, status(409, "Conflict", "the object has been modified"))
    with pytest.raises(KubeConflict):
        await api.patch_status("ns", "taskruns", "r", {}, resource_version="41")
    assert await api.patch_status("ns", "taskruns", "gone", {}) is None


async def test_taskruns(server: Server, api: KubeAPI) -> None:
    server.on("POST", f"{CR}/taskruns", httpx.Response(201, json={}))
    assert await api.create_taskrun("ns", {"metadata": {"name": "r"}}) is True
    server.on("POST", f"{CR}/taskruns", status(409, "AlreadyExists"))
    assert await api.create_taskrun("ns", {"metadata": {"name": "r"}}) is False
    server.on("GET", f"{CR}/taskruns", httpx.Response(200, json={"items": [{"a": 1}]}))
    assert await api.list_taskruns("ns", "x=y") == [{"a": 1}]
    assert server.last.url.params["labelSelector"] == "x=y"
    server.on("DELETE", f"{CR}/taskruns/r", httpx.Response(200, json={}))
    await api.delete_taskrun("ns", "r")
    await api.delete_taskrun("ns", "gone")


async def test_delete_custom_with_a_uid_precondition(server: Server, api: KubeAPI) -> None:
    path = f"{CR}/taskruns/r"
    server.on("DELETE", path, httpx.Response(200, json={}))
    assert await api.delete_custom("ns", "taskruns", "r", uid="u-1") is True
    assert server.last_json() == {"preconditions": {"uid": "u-1"}}
    assert await api.delete_custom("ns", "taskruns", "gone", uid="u-1") is False
    # Another object took the name: the server refuses, and ours is gone anyway.
    server.on("DELETE", path, status(409, "Conflict", "Precondition failed: UID in precondition"))
    assert await api.delete_custom("ns", "taskruns", "r", uid="u-1") is False
    with pytest.raises(KubeConflict):
        await api.delete_custom("ns", "taskruns", "r")


# --- Events -------------------------------------------------------------------------------


async def test_create_event(server: Server, api: KubeAPI) -> None:
    server.on("POST", "/api/v1/namespaces/ns/events", httpx.Response(201, json={"kind": "Event"}))
    involved = {
        "apiVersion": "kapacitor.operator.dev/v1alpha1",
        "kind": "TaskRun",
        "name": "r",
        "namespace": "ns",
        "uid": "u-1",
        "ignored": "x",
    }
    await api.create_event(
        "ns", involved, "Warning", "Failed", "m" * 2000, component="kapacitor-operator"
    )
    body = server.last_json()
    assert body["involvedObject"] == {k: v for k, v in involved.items() if k != "ignored"}
    assert (body["type"], body["reason"], len(body["message"])) == ("Warning", "Failed", 1024)
    assert body["metadata"] == {"generateName": "r.", "namespace": "ns"}
    assert body["source"] == {"component": "kapacitor-operator"}
    assert body["firstTimestamp"] == body["lastTimestamp"]
    assert body["firstTimestamp"].endswith("Z")


# --- Leases -------------------------------------------------------------------------------


async def test_leases(server: Server, api: KubeAPI) -> None:
    lease = {"metadata": {"name": "l", "resourceVersion": "7"}, "spec": {"holderIdentity": "a"}}
    assert await api.get_lease("ns", "l") is None
    server.on("POST", LEASES, httpx.Response(201, json=lease))
    assert await api.create_lease("ns", lease) == lease
    server.on("POST", LEASES, status(409, "AlreadyExists"))
    assert await api.create_lease("ns", lease) is None
    server.on("GET", f"{LEASES}/l", httpx.Response(200, json=lease))
    assert await api.get_lease("ns", "l") == lease
    server.on("PUT", f"{LEASES}/l", httpx.Response(200, json=lease))
    assert await api.replace_lease("ns", "l", lease) == lease
    assert server.last_json() == lease
    server.on("PUT", f"{LEASES}/l", status(409, "Conflict", "the object has been modified"))
    with pytest.raises(KubeConflict):
        await api.replace_lease("ns", "l", lease)


async def test_names_are_quoted(server: Server, api: KubeAPI) -> None:
    await api.get_job("ns", "a/b")
    assert server.last.url.raw_path.endswith(b"/jobs/a%2Fb")


def test_the_operator_works_without_the_kubernetes_package() -> None:
    """Importable and registrable with `kubernetes` unimportable, as in the image.

    (kopf imports the package whenever it is installed, so only its absence saves the
    memory; the import-linter contract keeps our own code off it.)
    """
    code = (
        "import sys; sys.modules['kubernetes'] = None; "
        "import kapacitor_operator.cli, kapacitor_operator.main as main; "
        "from kapacitor_operator.config import Settings; main.build_registry(Settings())"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
