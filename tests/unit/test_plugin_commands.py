"""kubectl kapacitor: the decisions inside the commands, without a cluster.

Which failed runs retry-failed retries and what it creates, how a URL maps to a Service
for the API server's proxy, that validate always deletes its throw-away task (also when
Kapacitor errs or the command is interrupted), how show and logs render, and how the
operator's default connection and a forbidden Secret are handled. Kapacitor and the API
server are `httpx.MockTransport` handlers.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.k8s.client import KubeClient
from kapacitor_operator.k8s.credentials import KubeCredentials
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.schemas import FluxRun
from kapacitor_operator.models.common import KapacitorConnection
from kapacitor_operator.models.resources import parse_kapacitortask
from kapacitor_operator.models.taskrun import Attempt
from kapacitor_operator.plugin import service_proxy, validate
from kapacitor_operator.plugin.connect import resolve_target
from kapacitor_operator.plugin.errors import PluginError
from kapacitor_operator.plugin.logs import AttemptLog, _from_status
from kapacitor_operator.plugin.manifests import Manifest
from kapacitor_operator.plugin.operator_default import operator_default
from kapacitor_operator.plugin.options import GlobalOptions
from kapacitor_operator.plugin.retry_failed import build_manifest, choose
from kapacitor_operator.plugin.session import Session
from kapacitor_operator.plugin.show import render
from kapacitor_operator.reconcile.flux_runs import LABEL_TRIGGER, retry_taskrun_name

Handler = Callable[[httpx.Request], httpx.Response]

# --- retry-failed ---------------------------------------------------------------------


def run(run_id: str, status: str, at: str, requested: str = "") -> FluxRun:
    return FluxRun.model_validate(
        {"id": run_id, "status": status, "scheduledFor": at, "requestedAt": requested}
    )


SINCE = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
RUNS = [
    run("a" * 16, "failed", "2024-04-30T23:00:00Z"),  # before the window
    run("b" * 16, "failed", "2024-05-01T01:00:00Z"),
    run("c" * 16, "success", "2024-05-01T02:00:00Z"),
    run("d" * 16, "failed", "2024-05-01T03:00:00Z"),
    run("e" * 16, "failed", "2024-05-01T04:00:00Z", requested="2024-05-01T04:10:00Z"),
    run("f" * 16, "failed", "2024-05-01T05:00:00Z"),
    run("0" * 15 + "1", "success", "2024-05-01T05:00:00Z", requested="2024-05-01T05:30:00Z"),
    run("0" * 15 + "2", "started", "2024-05-01T06:00:00Z"),
]


def ids(runs: list[FluxRun]) -> list[str]:
    return [r.id[0] if r.id[0] != "0" else r.id[-1] for r in runs]


def test_by_default_only_failures_after_the_latest_success() -> None:
    retry, superseded = choose(RUNS, SINCE, after_success=True, include_manual=False)
    assert (ids(retry), ids(superseded)) == ([], [])  # the latest success is at 05:00
    without_late_success = [r for r in RUNS if r.id != "0" * 15 + "1"]
    retry, _ = choose(without_late_success, SINCE, after_success=True, include_manual=False)
    assert ids(retry) == ["d", "f"]  # after c (02:00), scheduled runs only, oldest first


def test_an_explicit_since_counts_every_failure_and_flags_superseded_ones() -> None:
    retry, superseded = choose(RUNS, SINCE, after_success=False, include_manual=False)
    assert ids(retry) == ["b", "d"]
    assert ids(superseded) == ["f"]  # its retry (requested) succeeded for the same time
    retry, _ = choose(RUNS, SINCE, after_success=False, include_manual=True)
    assert ids(retry) == ["b", "d", "e"]


def test_the_retry_taskrun_is_the_operators_but_asked_for_by_a_person() -> None:
    body = {
        "metadata": {"name": "hourly", "namespace": "ns", "uid": "u-1"},
        "spec": {"type": "flux", "every": "1h", "flux": "x", "retry": {"limit": 2}},
    }
    task = parse_kapacitortask(body)
    manifest = build_manifest(task, RUNS[1])
    meta = manifest["metadata"]
    assert meta["name"] == retry_taskrun_name("hourly", "b" * 16) == f"hourly-retry-{'b' * 16}"
    assert manifest["spec"]["retryOf"] == "b" * 16
    assert manifest["spec"]["retry"]["limit"] == 2  # the task's retry policy, as the operator
    assert manifest["spec"]["taskRef"] == {"name": "hourly"}
    assert LABEL_TRIGGER not in meta["labels"]
    assert "annotations" not in meta
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "kubectl-kapacitor"
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("KapacitorTask", "hourly", "u-1")
    assert owner["controller"] is False
    assert "blockOwnerDeletion" not in owner


# --- service proxy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://kapacitor:9092", ("http", "kapacitor", "ops", 9092)),
        ("http://kapacitor.monitoring:9092", ("http", "kapacitor", "monitoring", 9092)),
        ("http://kapacitor.monitoring.svc:9092/", ("http", "kapacitor", "monitoring", 9092)),
        ("https://k.mon.svc.cluster.local", ("https", "k", "mon", 443)),
        ("http://k.mon.svc.corp.example", ("http", "k", "mon", 80)),
        ("http://10.0.0.5:9092", None),
        ("http://[fd00::1]:9092", None),
        ("http://kapacitor.example.com:9092", None),
    ],
)
def test_service_names_in_urls(url: str, expected: tuple[str, str, str, int] | None) -> None:
    ref = service_proxy.service_ref(url, "ops")
    assert (None if ref is None else (ref.scheme, ref.name, ref.namespace, ref.port)) == expected


def test_proxy_paths() -> None:
    plain = service_proxy.ServiceRef("http", "kapacitor", "mon", 9092)
    assert plain.proxy_base("https://api:6443/") == (
        "https://api:6443/api/v1/namespaces/mon/services/kapacitor:9092/proxy"
    )
    tls = service_proxy.ServiceRef("https", "kapacitor", "mon", 9092)
    assert tls.proxy_base("https://api:6443").endswith("/services/https:kapacitor:9092/proxy")


async def test_proxy_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    resolvable: set[str] = {"kapacitor.mon"}

    async def resolves(host: str) -> bool:
        return host in resolvable

    monkeypatch.setattr(service_proxy, "resolves", resolves)
    use = service_proxy.use_proxy
    assert await use("auto", "http://kapacitor.mon:9092", "x") is None  # it resolves here
    assert await use("auto", "http://kapacitor.other:9092", "x") is not None
    assert await use("auto", "http://10.1.2.3:9092", "x") is None
    assert await use("never", "http://kapacitor.other:9092", "x") is None
    assert await use("always", "http://kapacitor.mon:9092", "x") is not None
    with pytest.raises(PluginError, match="does not name a Service"):
        await use("always", "http://10.1.2.3:9092", "x")


# --- validate -------------------------------------------------------------------------


class Kapacitor:
    """A scripted Kapacitor: records requests, answers from `answer(request)`."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str]] = []

    def client(self) -> KapacitorClient:
        def handler(request: httpx.Request) -> httpx.Response:
            self.requests.append((request.method, request.url.path))
            return self.answer(request)

        http = httpx.AsyncClient(base_url="http://k:9092", transport=httpx.MockTransport(handler))
        return KapacitorClient(http, quick_retries=0)


def result() -> validate.Result:
    return validate.Result(Manifest("f.yaml", {}), "cpu", "ns", "stream", "error")


def native_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message, "message": message})


async def test_tick_valid_then_deleted() -> None:
    fake = Kapacitor(lambda r: httpx.Response(200 if r.method == "POST" else 204, json={"id": "x"}))
    outcome = result()
    await validate._check_tick(fake.client(), {"id": "kubectl-kapacitor-validate-1"}, outcome)
    assert outcome.result == "valid"
    assert fake.requests == [
        ("POST", "/kapacitor/v1/tasks"),
        ("DELETE", "/kapacitor/v1/tasks/kubectl-kapacitor-validate-1"),
    ]


async def test_tick_invalid_reports_kapacitors_exact_text_and_still_deletes() -> None:
    text = 'invalid TICKscript: parser: unexpected ")" line 5 char 30'

    def answer(request: httpx.Request) -> httpx.Response:
        return native_error(400, text) if request.method == "POST" else httpx.Response(204)

    fake = Kapacitor(answer)
    outcome = result()
    await validate._check_tick(fake.client(), {"id": "t"}, outcome)
    assert (outcome.result, outcome.message) == ("invalid", text)
    assert fake.requests[-1] == ("DELETE", "/kapacitor/v1/tasks/t")


@pytest.mark.parametrize(("status", "verdict"), [(401, "error"), (403, "error"), (503, "error")])
async def test_auth_and_server_errors_say_nothing_about_the_script(
    status: int, verdict: str
) -> None:
    fake = Kapacitor(
        lambda r: native_error(status, "nope") if r.method == "POST" else httpx.Response(204)
    )
    outcome = result()
    await validate._check_tick(fake.client(), {"id": "t"}, outcome)
    assert outcome.result == verdict
    assert fake.requests[-1][0] == "DELETE"


async def test_an_interrupted_validation_still_deletes() -> None:
    started = asyncio.Event()
    deleted: list[str] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            started.set()
            await asyncio.sleep(30)
        deleted.append(request.url.path)
        return httpx.Response(204)

    http = httpx.AsyncClient(base_url="http://k", transport=httpx.MockTransport(slow))
    client = KapacitorClient(http, quick_retries=0)
    task = asyncio.create_task(validate._check_tick(client, {"id": "t"}, result()))
    await started.wait()
    task.cancel()  # what Ctrl-C does to asyncio.run's main task
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deleted == ["/kapacitor/v1/tasks/t"]


async def test_flux_valid_then_deleted_by_id() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            assert body["status"] == "inactive"
            return httpx.Response(201, json={"id": "0123456789abcdef", "name": "n"})
        return httpx.Response(204)

    fake = Kapacitor(answer)
    outcome = result()
    await validate._check_flux(fake.client(), "option task = {}", "n", "", outcome)
    assert outcome.result == "valid"
    assert fake.requests[-1] == ("DELETE", "/kapacitor/v1/api/v2/tasks/0123456789abcdef")


async def test_flux_lost_answer_is_cleaned_up_by_name() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadTimeout("lost")
        if request.method == "GET":
            assert request.url.params["name"] == "n"
            return httpx.Response(200, json={"tasks": [{"id": "00000000000000aa", "name": "n"}]})
        return httpx.Response(204)

    fake = Kapacitor(answer)
    outcome = result()
    await validate._check_flux(fake.client(), "x", "n", "", outcome)
    assert outcome.result == "error"
    assert fake.requests[-1] == ("DELETE", "/kapacitor/v1/api/v2/tasks/00000000000000aa")


async def test_a_task_left_behind_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"id": "t"})
        return native_error(500, "disk full")

    outcome = result()
    await validate._check_tick(Kapacitor(answer).client(), {"id": "t"}, outcome)
    assert (outcome.result, outcome.message) == ("error", "throw-away task t left behind")
    assert "Warning: could not delete the throw-away task t" in capsys.readouterr().err


def test_throwaway_ids_are_unique_and_valid_kapacitor_ids() -> None:
    made = {validate.throwaway_id() for _ in range(100)}
    assert len(made) == 100
    assert all(i.startswith("kubectl-kapacitor-validate-") for i in made)


# --- show and logs rendering ------------------------------------------------------------


def test_show_renders_tickscript() -> None:
    doc = {
        "metadata": {"name": "cpu", "namespace": "ns"},
        "type": "stream",
        "kapacitorURL": "http://k:9092",
        "via": "service-proxy mon/kapacitor:9092",
        "taskID": "ns.cpu",
        "task": {
            "type": "stream",
            "status": "enabled",
            "executing": True,
            "dbrps": [{"db": "telegraf", "rp": "autogen"}],
            "dot": "digraph cpu {\nstream0 -> from1;\n}\n",
            "stats": {
                "task-stats": {"throughput": 0},
                "node-stats": {"from1": {"emitted": 3, "errors": 0}, "stream0": {"emitted": 3}},
            },
            "script": "stream|from()",
        },
    }
    text = render(doc)
    assert "Kapacitor:     http://k:9092 (service-proxy mon/kapacitor:9092)\n" in text
    assert 'DBRPs:         "telegraf"."autogen"\n' in text
    assert "DOT:           digraph cpu {\n               stream0 -> from1;\n" in text
    assert (
        "  NODE      EMITTED   ERRORS\n  from1     3         0\n  stream0   3         <none>\n"
        in text
    )
    assert "Script:" not in text
    assert "Script:        stream|from()" in render(doc, wide=True)


def test_show_renders_flux_runs() -> None:
    doc = {
        "metadata": {"name": "h", "namespace": "ns"},
        "type": "flux",
        "kapacitorURL": "http://k:9092",
        "via": "direct",
        "taskID": "0123456789abcdef",
        "task": {"name": "ns.h", "status": "active", "cron": "0 * * * *", "offset": "5m"},
        "runs": [{"id": "r1", "status": "failed", "scheduledFor": "2024-05-01T01:00:00Z"}],
    }
    text = render(doc)
    assert "Schedule:          cron '0 * * * *', offset 5m\n" in text
    assert text.endswith("Recent Runs:\n  ID   STATUS   SCHEDULED FOR          STARTED   FINISHED\n"
                         "  r1   failed   2024-05-01T01:00:00Z   <none>    <none>\n")  # fmt: skip
    doc["runs"] = []
    assert "Recent Runs:       <none> (none yet, or Kapacitor keeps no finished runs)" in render(
        doc
    )


def test_logs_from_status_carry_the_message_once() -> None:
    attempt = Attempt(
        number=2,
        method="retry",
        externalID="0123456789abcdef",
        endReason="failed",
        message="bucket missing",
        logTail=["Started task", "bucket missing", "Completed(failed)"],
    )
    entry = _from_status(attempt, "status (Kapacitor no longer has the run)")
    assert entry.lines == ["Started task", "bucket missing", "Completed(failed)"]
    assert entry.header() == (
        "--- attempt 2 (retry, run 0123456789abcdef, failed): status (Kapacitor no longer has "
        "the run) ---"
    )
    job = Attempt(number=1, method="job", externalID="nightly-1", message="OOMKilled")
    entry = _from_status(job, "status")
    assert entry.lines == ["message: OOMKilled"]
    assert entry.header() == "--- attempt 1 (job, job nightly-1, running): status ---"
    assert AttemptLog(job, "pod", "log of pod p").as_dict()["source"] == "pod"


# --- the user's rights: Secrets and the operator's default ------------------------------


def kube(routes: dict[str, Any]) -> KubeAPI:
    """A KubeAPI over a MockTransport answering GETs by path (a dict, or a status code)."""

    def handler(request: httpx.Request) -> httpx.Response:
        answer = routes.get(request.url.path, 404)
        if isinstance(answer, int):
            status = {"kind": "Status", "code": answer, "reason": "Forbidden" if answer == 403
                      else "NotFound", "message": f"{request.url.path} says {answer}"}  # fmt: skip
            return httpx.Response(answer, json=status)
        return httpx.Response(200, json=answer)

    creds = KubeCredentials(server="https://api", source="test")
    return KubeAPI(KubeClient(creds, transport=httpx.MockTransport(handler)))


def secret(**data: str) -> dict[str, Any]:
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def session(api: KubeAPI, **options: Any) -> Session:
    creds = KubeCredentials(server="https://api", source="test")
    return Session(creds, api, "ns", GlobalOptions(**options), [])


async def test_a_forbidden_credentials_secret_stops_with_a_clear_message() -> None:
    api = kube({"/api/v1/namespaces/ns/secrets/creds": 403})
    spec = KapacitorConnection.model_validate(
        {"url": "http://k:9092", "credentialsSecretRef": {"name": "creds"}}
    )
    with pytest.raises(PluginError) as caught:
        await resolve_target(session(api), spec, "ns")
    message = str(caught.value)
    assert message.startswith("you may not read Secret ns/creds, which holds this resource's")
    assert "never the operator's" in message


async def test_the_resources_secret_is_used_and_the_flag_only_moves_the_url() -> None:
    api = kube({"/api/v1/namespaces/ns/secrets/creds": secret(username="u", password="pw-123")})
    spec = KapacitorConnection.model_validate(
        {"url": "http://k.mon:9092", "credentialsSecretRef": {"name": "creds"}}
    )
    target = await resolve_target(session(api, kapacitor_url="http://localhost:9092"), spec, "ns")
    assert (target.connection.url, target.source) == ("http://localhost:9092", "flag")
    assert (target.connection.username, target.connection.password) == ("u", "pw-123")
    assert "pw-123" not in repr(target)


DEPLOYMENT = {
    "metadata": {"name": "kapacitor-operator", "namespace": "ops"},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "operator",
                        "env": [
                            {"name": "KAPACITOR_URL", "value": "http://kapacitor.mon:9092"},
                            {"name": "KAPACITOR_INSECURE_SKIP_VERIFY", "value": "true"},
                            {
                                "name": "KAPACITOR_TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": "kapa", "key": "token"}},
                            },
                        ],
                    }
                ]
            }
        }
    },
}
DEPLOYMENTS = "/apis/apps/v1/namespaces/kapacitor-operator/deployments"


async def test_the_operators_default_comes_from_its_deployment() -> None:
    api = kube({DEPLOYMENTS: {"items": [DEPLOYMENT]},
                "/api/v1/namespaces/ops/secrets/kapa": secret(token="jwt")})  # fmt: skip
    found = await operator_default(api, None)
    assert (found.namespace, found.connection.url) == ("ops", "http://kapacitor.mon:9092")
    assert (found.connection.token, found.connection.insecure_skip_verify) == ("jwt", True)


async def test_the_operators_secret_is_read_with_the_users_rights_too() -> None:
    api = kube({DEPLOYMENTS: {"items": [DEPLOYMENT]}, "/api/v1/namespaces/ops/secrets/kapa": 403})
    with pytest.raises(PluginError, match="you may not read Secret ops/kapa"):
        await operator_default(api, None)


async def test_no_operator_found_names_the_flag() -> None:
    api = kube({DEPLOYMENTS: {"items": []}, "/apis/apps/v1/deployments": 403})
    with pytest.raises(PluginError, match="pass --kapacitor-url") as caught:
        await operator_default(api, None)
    assert "says 403" in str(caught.value)
    two = {"items": [DEPLOYMENT, DEPLOYMENT]}
    with pytest.raises(PluginError, match="several kapacitor-operator Deployments"):
        await operator_default(kube({DEPLOYMENTS: two}), None)


async def test_logs_fall_back_when_the_taskruns_task_is_gone() -> None:
    from kapacitor_operator.plugin.log_sources import Sources, Unavailable

    sources = Sources(session(kube({})), container=None, tail=-1)
    attempt = Attempt(number=1, method="manual", externalID="0123456789abcdef")
    body = {"spec": {"taskRef": {"name": "hourly"}}, "status": {"taskID": "00000000000000aa"}}
    with pytest.raises(Unavailable, match="kapacitortask/hourly no longer exists"):
        await sources.run_log(body, attempt)
    with pytest.raises(Unavailable, match="no Kapacitor run ID yet"):
        await sources.run_log(body, Attempt(number=2, method="retry"))
    await sources.aclose()


async def test_logs_of_a_replay_attempt_come_from_status() -> None:
    from kapacitor_operator.plugin.log_sources import Sources
    from kapacitor_operator.plugin.logs import _fetch

    sources = Sources(session(kube({})), container=None, tail=-1)
    attempt = Attempt(
        number=1,
        method="replay",
        externalID="taskrun-u-1",
        message="Replay taskrun-u-1 failed: zip: not a valid zip file",
    )
    body = {"spec": {"replay": {"taskRef": {"name": "cpu"}, "recordingID": "r"}}}
    entry = await _fetch(sources, body, attempt, "auto")
    assert entry.source == "status"
    assert entry.detail == "status (a replay has no run log in Kapacitor)"
    assert entry.lines == ["message: Replay taskrun-u-1 failed: zip: not a valid zip file"]
    await sources.aclose()
