"""KapacitorAlertHandler end to end: the real kube-apiserver, the operator process and a
real kapacitord (no fault is injected here, so no emulator).

Define, update, an option from a Secret (its value reaches Kapacitor and nowhere else:
not the resource, its Events, the operator's log or metrics), rotation of that Secret,
drift (a handler changed or deleted behind the operator's back; a handler detached by
the deletion of its topic, recreated or not: delivery checked with a real alert reaching a
`log` handler), an error Kapacitor quotes the secret in, and deletion.
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
from tests.e2e.operator_fixtures import make_operator, started
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
    with started(op):
        yield op


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


def fire(kapacitord: KapacitordHandle, topic: str, event: str) -> None:
    """One CRITICAL alert event `event` on `topic`, by a real TICKscript alert node."""
    base = f"{kapacitord.base_url}/kapacitor/v1"
    task = f"alert-{topic}"
    if httpx.get(f"{base}/tasks/{task}").status_code == 404:
        script = (
            f"stream|from().measurement('{topic}')|alert().id('{{{{ index .Tags \"e\" }}}}')"
            f".message('hi').crit(lambda: \"v\" > 1).topic('{topic}')"
        )
        body = {"id": task, "dbrps": [{"db": "telegraf", "rp": "autogen"}], "script": script,
                "status": "enabled"}  # fmt: skip
        httpx.post(f"{base}/tasks", json=body).raise_for_status()
    params = {"db": "telegraf", "rp": "autogen"}
    httpx.post(f"{base}/write", params=params, content=f"{topic},e={event} v=2").raise_for_status()


def delivered(log: Path) -> list[str]:
    """IDs of the events a `log` handler wrote."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line)["id"] for line in lines]


def drift_repairs(kube: Kube, name: str, fragment: str) -> int:
    return sum(
        int(e.get("count") or 1)
        for e in kube.events(name)
        if e["reason"] == "DriftRepaired" and fragment in e["message"]
    )


def test_drift_is_repaired_even_after_the_topic_was_recreated(
    kube: Kube, operator: OperatorProcess, kapacitord: KapacitordHandle, tmp_path: Path
) -> None:
    topic = f"{kube.ns}-drift"
    log = tmp_path / "alerts.log"
    server = Server(kapacitord, topic)
    path = {"path": str(log)}
    kube.apply(handler_manifest("log", topic=topic, id="log", kind="log", options=path))
    kube.kubectl_wait(KIND, "log", "Ready")
    fire(kapacitord, topic, "e1")
    wait_until(lambda: delivered(log) == ["e1"], 30, "e1 delivered")

    # Changed behind the operator's back: restored.
    changed = {"id": "log", "kind": "log", "options": {"path": str(tmp_path / "elsewhere.log")}}
    httpx.put(f"{server.topic_url}/handlers/log", json=changed).raise_for_status()
    server.wait_handler("log", lambda h: h["options"] == path, "restored")
    wait_until(lambda: drift_repairs(kube, "log", "changed in Kapacitor") == 1, 30, "Event")

    # Deleted behind the operator's back: re-created.
    httpx.delete(f"{server.topic_url}/handlers/log").raise_for_status()
    server.wait_handler("log", lambda h: h["options"] == path, "re-created")
    wait_until(lambda: drift_repairs(kube, "log", "re-created") == 1, 30, "Event")

    # The topic deleted: Kapacitor keeps the handler listed, unchanged, but detached (it
    # would never see another alert). The operator notices the topic is gone and
    # replaces the handler, which attaches it again (and recreates the topic).
    assert httpx.delete(server.topic_url).status_code == 204
    assert server.handler("log") is not None
    wait_until(lambda: drift_repairs(kube, "log", "detached") == 1, 30, "re-attached")
    fire(kapacitord, topic, "e2")
    wait_until(lambda: delivered(log) == ["e1", "e2"], 30, "e2 delivered")

    # Deleted and at once recreated by an alert (which reaches no handler): the topic's
    # count went down since the operator last looked, so it re-attaches the handler.
    for event in ("e3", "e4", "e5"):
        fire(kapacitord, topic, event)
    kube.wait_for(KIND, "log", lambda o: o["status"].get("topicCollected") == 4, what="count 4")
    assert httpx.delete(server.topic_url).status_code == 204
    fire(kapacitord, topic, "lost")
    wait_until(lambda: drift_repairs(kube, "log", "detached") == 2, 30, "re-attached again")
    fire(kapacitord, topic, "e6")
    wait_until(lambda: delivered(log)[-1:] == ["e6"], 30, "e6 delivered")
    assert delivered(log)[:5] == ["e1", "e2", "e3", "e4", "e5"]
    obj = kube.wait_condition(KIND, "log", "Ready")
    assert condition(obj, "Synced")["status"] == "True"  # type: ignore[index]


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


def test_a_deletion_waiting_for_kapacitor_says_so(
    control_plane: ControlPlane, kube: Kube, kapacitord: KapacitordHandle, tmp_path: Path
) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens: connection refused at once
    with make_operator(
        control_plane,
        kube.ns,
        kapacitord.base_url,
        tmp_path / "op",
        OPERATOR_ALLOWED_KAPACITOR_URLS=dead,
    ):
        kube.apply(handler_manifest("far", topic="t", kind="tcp", kapacitor={"url": dead}))
        # Nothing listens: unreachable (the shared failure reasons, reconcile/mirror).
        kube.wait_condition(KIND, "far", "Synced", "False", reason="KapacitorUnreachable")
        kube.wait_held(KIND, "far")
        kube.delete(KIND, "far")
        obj = kube.wait_condition(KIND, "far", "Ready", "False", reason="Deleting")
        message = (condition(obj, "Ready") or {})["message"]
        assert f"Deleting: handler {kube.ns}.far (topic t) is not yet deleted" in message
        assert "Kapacitor at http://127.0.0.1:9 is unreachable" in message
        assert "deletionPolicy: Orphan" in message
        assert condition(obj, "Synced")["reason"] == "KapacitorUnreachable"  # type: ignore[index]
        assert kube.get(KIND, "far") is not None, "the finalizer holds the resource"
        # Orphan lets it go without Kapacitor.
        kube.patch(KIND, "far", {"spec": {"deletionPolicy": "Orphan"}})
        kube.wait_gone(KIND, "far", timeout=60)


def test_two_resources_naming_one_handler(
    kube: Kube, operator: OperatorProcess, kapacitord: KapacitordHandle
) -> None:
    """The older manages it; the other is told Conflict, and deleting it deletes nothing.
    Deleting the older hands the handler over."""
    topic = f"{kube.ns}-shared"
    server = Server(kapacitord, topic)
    spec = {"topic": topic, "id": "shared", "kind": "tcp", "options": {"address": "a:1"}}
    kube.apply(handler_manifest("first", **spec))
    kube.kubectl_wait(KIND, "first", "Ready")
    kube.apply(handler_manifest("second", **{**spec, "options": {"address": "b:2"}}))
    obj = kube.wait_condition(KIND, "second", "Ready", "False", reason="Conflict")
    assert f"KapacitorAlertHandler {kube.ns}/first" in condition(obj, "Ready")["message"]  # type: ignore[index]
    assert server.wait_handler("shared", lambda h: True, "held")["options"] == {"address": "a:1"}
    kube.delete(KIND, "second")
    kube.wait_gone(KIND, "second")
    assert server.handler("shared") is not None, "the loser deleted nothing"
    kube.apply(handler_manifest("second", **{**spec, "options": {"address": "b:2"}}))
    kube.wait_condition(KIND, "second", "Ready", "False", reason="Conflict")
    kube.delete(KIND, "first")
    kube.wait_gone(KIND, "first")
    kube.kubectl_wait(KIND, "second", "Ready")
    server.wait_handler("shared", lambda h: h["options"] == {"address": "b:2"}, "handed over")


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
        "duplicate entries for key",
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
