"""KapacitorAlertHandler end to end: the real kube-apiserver, the operator process and a
real kapacitord (no fault is injected here, so no emulator).

Define, update, an option from a Secret (its value reaches Kapacitor and nowhere else:
not the resource, its Events, the operator's log or metrics), rotation of that Secret,
drift (a handler changed behind the operator's back; a handler lost with its topic,
which was then recreated), an error Kapacitor quotes the secret in, and deletion.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kapacitor_testkit import ControlPlane
from kapacitor_testkit.kapacitord import KapacitordHandle, running_kapacitord
from kapacitor_testkit.operator_process import OperatorProcess
from tests.e2e.kube import Kube, condition
from tests.e2e.operator_fixtures import make_operator
from tests.e2e.test_kapacitortask import wait_until

API = "kapacitor.operator.dev/v1alpha1"
KIND = "kapacitoralerthandler"


@pytest.fixture(scope="module")
def kapacitord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KapacitordHandle]:
    with running_kapacitord(workdir=tmp_path_factory.mktemp("kapacitord")) as server:
        yield server


@pytest.fixture
def operator(
    control_plane: ControlPlane,
    crds: list[str],
    kapacitord: KapacitordHandle,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator against the real kapacitord, with a 2 s drift check."""
    op = make_operator(
        control_plane,
        namespace,
        kapacitord.base_url,
        tmp_path / "operator",
        OPERATOR_DRIFT_INTERVAL="2",
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print(f"--- operator log tail ({op.log_path}) ---\n{op.log_tail(80)}")


def handler_manifest(name: str, **spec: Any) -> str:
    return yaml.safe_dump({"apiVersion": API, "kind": "KapacitorAlertHandler",
                           "metadata": {"name": name}, "spec": spec})  # fmt: skip


def secret_manifest(name: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                           "type": "Opaque", "stringData": data})  # fmt: skip


class Server:
    """The handlers of one topic on the real kapacitord."""

    def __init__(self, kapacitord: KapacitordHandle, topic: str) -> None:
        self.topic_url = f"{kapacitord.base_url}/kapacitor/v1/alerts/topics/{topic}"

    def handler(self, handler_id: str) -> dict[str, Any] | None:
        resp = httpx.get(f"{self.topic_url}/handlers/{handler_id}")
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        found: dict[str, Any] = resp.json()
        return found

    def wait_handler(self, handler_id: str, check: Any, what: str) -> dict[str, Any]:
        wait_until(lambda: (h := self.handler(handler_id)) is not None and check(h), 30, what)
        found = self.handler(handler_id)
        assert found is not None
        return found


def test_define_update_secret_option_rotation_and_delete(
    kube: Kube, operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    url = f"https://hooks.example.test/services/{secrets.token_hex(12)}"
    token = f"Bearer {secrets.token_hex(10)}"
    topic = f"{kube.ns}-ops"
    server = Server(kapacitord, topic)
    kube.apply(secret_manifest("webhook", url=url, auth=token))
    spec: dict[str, Any] = {
        "topic": topic,
        "kind": "post",
        "options": {"headers": {"Content-Type": "application/json"}, "timeout": 5000000000},
        "optionsFrom": [
            {"path": "url", "secretKeyRef": {"name": "webhook", "key": "url"}},
            {"path": "headers.Authorization", "secretKeyRef": {"name": "webhook", "key": "auth"}},
        ],
    }
    kube.apply(handler_manifest("hook", **spec))
    kube.kubectl_wait(KIND, "hook", "Ready")
    handler_id = f"{kube.ns}.hook"
    held = server.handler(handler_id)
    assert held is not None
    assert (held["kind"], held["match"]) == ("post", "")
    assert held["options"] == {
        "url": url,
        "headers": {"Content-Type": "application/json", "Authorization": token},
        "timeout": 5000000000,
    }
    obj = kube.wait_condition(KIND, "hook", "Synced")
    assert obj["status"]["handlerID"] == handler_id
    assert obj["status"]["topic"] == topic
    assert obj["status"]["optionsFromPaths"] == ["headers.Authorization", "url"]
    kube.wait_event("hook", "Created")

    # Update: Kapacitor's PUT replaces the handler.
    kube.patch(KIND, "hook", {"spec": {"match": "level() >= WARNING"}})
    kube.wait_condition(KIND, "hook", "Synced")
    server.wait_handler(handler_id, lambda h: h["match"] == "level() >= WARNING", "match updated")
    kube.wait_event("hook", "Updated")

    # Rotation: the drift check reads the Secret again and replaces the handler.
    rotated = f"https://hooks.example.test/services/{secrets.token_hex(12)}"
    kube.patch("secret", "webhook", {"stringData": {"url": rotated}})
    server.wait_handler(handler_id, lambda h: h["options"]["url"] == rotated, "rotated URL")

    # The values reached Kapacitor, and nothing else.
    texts = {
        "resource": json.dumps(kube.get(KIND, "hook")),
        "events": json.dumps(kube.events("hook")),
        "operator log": operator.log_text(),
        "metrics": operator.metrics(),
    }
    for where, text in texts.items():
        for value in (url, rotated, token):
            assert value not in text, f"{where} holds a secret option value"

    kube.delete(KIND, "hook")
    kube.wait_gone(KIND, "hook")
    assert server.handler(handler_id) is None


def test_drift_is_repaired_even_after_the_topic_was_recreated(
    kube: Kube, operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    topic = f"{kube.ns}-drift"
    server = Server(kapacitord, topic)
    kube.apply(handler_manifest("tcp", topic=topic, id="tcp", kind="tcp",
                                options={"address": "alerts.example.test:9000"}))  # fmt: skip
    kube.kubectl_wait(KIND, "tcp", "Ready")

    # Changed behind the operator's back: restored.
    changed = {"id": "tcp", "kind": "tcp", "options": {"address": "elsewhere:1"}}
    httpx.put(f"{server.topic_url}/handlers/tcp", json=changed).raise_for_status()
    server.wait_handler(
        "tcp", lambda h: h["options"]["address"] == "alerts.example.test:9000", "restored"
    )
    kube.wait_event("tcp", "DriftRepaired")

    # The topic is deleted (Kapacitor deletes its handlers with it) and recreated by
    # someone else's handler: ours comes back.
    assert httpx.delete(server.topic_url).status_code == 204
    assert server.handler("tcp") is None
    other = {"id": "someone-elses", "kind": "tcp", "options": {"address": "other:1"}}
    httpx.post(f"{server.topic_url}/handlers", json=other).raise_for_status()
    server.wait_handler("tcp", lambda h: h["kind"] == "tcp", "handler re-created")
    events = [e for e in kube.events("tcp") if e["reason"] == "DriftRepaired"]
    assert any("topic was deleted" in e["message"] for e in events), events
    obj = kube.wait_condition(KIND, "tcp", "Ready")
    assert condition(obj, "Synced")["status"] == "True"  # type: ignore[index]
    assert server.handler("someone-elses") is not None, "the other handler is left alone"


def test_an_error_quoting_the_secret_shows_it_masked(
    kube: Kube, operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    value = f"not-a-duration-{secrets.token_hex(6)}"
    kube.apply(secret_manifest("bad", timeout=value))
    # A string where Kapacitor wants a duration: its decode error quotes the value.
    ref = {"path": "timeout", "secretKeyRef": {"name": "bad", "key": "timeout"}}
    options = {"url": "http://x.example.test"}
    kube.apply(
        handler_manifest(
            "bad", topic=f"{kube.ns}-bad", kind="post", options=options, optionsFrom=[ref]
        )
    )
    obj = kube.wait_condition(KIND, "bad", "Ready", "False", reason="Rejected", timeout=60)
    ready = condition(obj, "Ready")
    assert ready is not None
    assert "expected type 'time.Duration'" in ready["message"]
    assert "***" in ready["message"]
    assert condition(obj, "Stalled")["status"] == "True"  # type: ignore[index]
    kube.wait_event("bad", "Rejected")
    for text in (json.dumps(obj), json.dumps(kube.events("bad")), operator.log_text()):
        assert value not in text


def test_a_missing_secret_is_explained(kube: Kube, operator: OperatorProcess) -> None:
    ref = {"path": "url", "secretKeyRef": {"name": "absent", "key": "url"}}
    kube.apply(handler_manifest("orphan", topic=f"{kube.ns}-x", kind="post", optionsFrom=[ref]))
    obj = kube.wait_condition(KIND, "orphan", "Ready", "False", reason="SecretNotFound")
    assert f"Secret {kube.ns}/absent not found" in condition(obj, "Ready")["message"]  # type: ignore[index]


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("unknown kind", {"topic": "t", "kind": "carrier-pigeon"}, "Unsupported value"),
    ("aggregate without interval", {"topic": "t", "kind": "aggregate"}, "options.interval"),
    (
        "aggregate with zero interval",
        {"topic": "t", "kind": "aggregate", "options": {"interval": 0}},
        "options.interval",
    ),
    (
        "option from two sources",
        {"topic": "t", "kind": "post", "optionsFrom": [
            {"path": "url", "secretKeyRef": {"name": "s", "key": "k"},
             "configMapKeyRef": {"name": "c", "key": "k"}}]},
        "exactly one of secretKeyRef or configMapKeyRef",
    ),
    (
        "same path twice",
        {"topic": "t", "kind": "post", "optionsFrom": [
            {"path": "url", "secretKeyRef": {"name": "s", "key": "a"}},
            {"path": "url", "secretKeyRef": {"name": "s", "key": "b"}}]},
        "Duplicate value",
    ),
    ("bad path", {"topic": "t", "kind": "post", "optionsFrom": [
        {"path": "a..b", "secretKeyRef": {"name": "s", "key": "k"}}]}, "path"),
    ("bad topic", {"topic": "has space", "kind": "tcp"}, "spec.topic"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "spec", "message"), BAD, ids=[b[0] for b in BAD])
def test_admission_rejects_bad_alert_handlers(
    kube: Kube, case: str, spec: dict[str, Any], message: str
) -> None:
    result = kube.apply(handler_manifest("bad", **spec), check=False)
    assert result.returncode != 0, f"{case} was admitted"
    assert message in result.stderr, result.stderr


def test_aggregate_with_interval_is_admitted_and_ids_are_immutable(kube: Kube) -> None:
    spec = {"topic": "t", "id": "one", "kind": "aggregate", "options": {"interval": 60000000000}}
    kube.apply(handler_manifest("agg", **spec))
    for field, value in (("topic", "t2"), ("id", "two")):
        result = kube.apply(handler_manifest("agg", **{**spec, field: value}), check=False)
        assert result.returncode != 0
        assert f"spec.{field} is immutable" in result.stderr


def test_kubectl_explain_and_get(kube: Kube) -> None:
    out = kube.kubectl("explain", "kapacitoralerthandler.spec.optionsFrom.path").stdout
    assert "headers.Authorization" in out
    out = kube.kubectl("explain", "kah.spec.kind").stdout
    assert "pagerduty2" in out
    kube.apply(handler_manifest("shown", topic="t", kind="tcp"))
    table = kube.kubectl("get", "kah").stdout
    assert table.split("\n")[0].split() == [
        "NAME", "TOPIC", "HANDLER", "ID", "KIND", "READY", "REASON", "AGE"
    ]  # fmt: skip
    names = kube.kubectl("api-resources", "--categories=kapacitor", "-o", "name").stdout.split()
    assert "kapacitoralerthandlers.kapacitor.operator.dev" in names
