"""Contract: alert topics and events (``/kapacitor/v1/alerts/topics``), and what deleting a
topic does to its handlers.

Every test runs against each kind of server. Alerts are fired the only way each server
allows: on kapacitord by an enabled task with an ``alert()`` node and a point written to
``/write``; on the emulator (which does not run TICKscript) through its control API. What
a handler received is read from its log file (kapacitord) or from the emulator's state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import EMULATOR
from tests.integration.contract.helpers import DBRPS, assert_native_error

TOPICS = "/kapacitor/v1/alerts/topics"
Wait = Callable[..., Any]


def _handler(api: httpx.Client, topic: str, **spec: Any) -> None:
    resp = api.post(f"{TOPICS}/{topic}/handlers", json=spec)
    assert resp.status_code == 200, resp.text


def _topic_json(topic: str, level: str = "OK", collected: int = 0) -> dict[str, Any]:
    base = f"{TOPICS}/{topic}"
    return {
        "link": {"rel": "self", "href": base},
        "id": topic,
        "level": level,
        "collected": collected,
        "events-link": {"rel": "events", "href": f"{base}/events"},
        "handlers-link": {"rel": "handlers", "href": f"{base}/handlers"},
    }


def _fire(api: httpx.Client, kind: str, topic: str, event: str, wait_for: Wait) -> None:
    """Make one CRITICAL event ``event`` happen on ``topic`` and wait until it is collected."""
    before = api.get(f"{TOPICS}/{topic}")
    collected = before.json()["collected"] if before.status_code == 200 else 0
    if kind == EMULATOR:
        body: dict[str, Any] = {"id": event, "level": "CRITICAL", "message": "hi"}
        assert api.post(f"/emulator/v1/alerts/topics/{topic}/events", json=body).is_success
    else:
        task = f"alert-{topic}"
        if api.get(f"/kapacitor/v1/tasks/{task}").status_code == 404:
            script = (
                f"stream|from().measurement('{topic}')|alert().id('{{{{ index .Tags \"e\" }}}}')"
                f".message('hi').crit(lambda: \"v\" > 1).topic('{topic}')"
            )
            body = {
                "id": task,
                "dbrps": DBRPS,
                "script": script,
                "status": "enabled",
            }
            assert api.post("/kapacitor/v1/tasks", json=body).status_code == 200
        params = {"db": "telegraf", "rp": "autogen"}
        assert api.post("/kapacitor/v1/write", params=params, content=f"{topic},e={event} v=2")
    wait_for(lambda: api.get(f"{TOPICS}/{topic}").json().get("collected", 0) > collected)


def _delivered(api: httpx.Client, kind: str, topic: str, handler: str, log: Path) -> int:
    """How many events a ``log`` handler has received so far."""
    if kind == EMULATOR:
        state = api.get("/emulator/v1/state").json()
        return int(state["alerts"]["handlers"][topic][handler]["delivered"])
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_handler_creates_its_topic(api: httpx.Client, uid: str) -> None:
    topic = f"t-{uid}"
    assert_native_error(api.get(f"{TOPICS}/{topic}"), 404, f'unknown topic: "{topic}"')
    _handler(api, topic, id="h", kind="tcp")
    assert api.get(f"{TOPICS}/{topic}").json() == _topic_json(topic)
    listed = api.get(TOPICS, params={"pattern": f"t-{uid}*"}).json()
    assert listed == {
        "link": {"rel": "self", "href": f"{TOPICS}?pattern=t-{uid}%2A"},
        "topics": [_topic_json(topic)],
    }


@pytest.mark.parametrize(
    ("level", "shown"), [("", True), ("ok", True), ("OKINFO", True), ("crit", False)]
)
def test_min_level_is_matched_by_position(
    api: httpx.Client, uid: str, level: str, shown: bool
) -> None:
    _handler(api, f"t-{uid}", id="h", kind="tcp")
    resp = api.get(TOPICS, params={"pattern": f"t-{uid}", "min-level": level})
    assert resp.status_code == 200, resp.text
    assert bool(resp.json()["topics"]) is shown


def test_topic_list_errors(api: httpx.Client) -> None:
    assert_native_error(api.get(TOPICS, params={"min-level": "k"}), 400, "unknown alert level 'K'")
    bad = api.get(TOPICS, params={"pattern": "["})
    assert_native_error(bad, 400, "invalid pattern: syntax error in pattern")


def test_unknown_topics_events_and_handlers(api: httpx.Client, uid: str) -> None:
    topic = f"none-{uid}"
    assert_native_error(api.get(f"{TOPICS}/"), 404, 'unknown topic: ""')
    events = api.get(f"{TOPICS}/{topic}/events")
    assert_native_error(events, 500, f'failed to get topic events: unknown topic "{topic}"')
    handlers = api.get(f"{TOPICS}/{topic}/handlers").json()
    assert handlers["topic"] == topic
    assert handlers["handlers"] == []
    _handler(api, f"t-{uid}", id="h", kind="tcp")
    empty = api.get(f"{TOPICS}/t-{uid}/events").json()
    assert empty == {
        "link": {"rel": "self", "href": f"{TOPICS}/t-{uid}/events"},
        "topic": f"t-{uid}",
        "events": [],
    }
    missing = api.get(f"{TOPICS}/t-{uid}/events/e1")
    assert_native_error(missing, 404, f'unknown event "e1" in topic "t-{uid}"')
    bad = api.get(f"{TOPICS}/t-{uid}/handlers", params={"pattern": "["})
    assert_native_error(bad, 400, "invalid pattern: syntax error in pattern")


def test_paths_below_a_topic(api: httpx.Client, uid: str) -> None:
    # POST anywhere below a topic creates a handler on it; GET of an unknown sub-path
    # shows the topic; DELETE of any path that is not a handler's deletes the topic.
    resp = api.post(f"{TOPICS}/t-{uid}/events/x", json={"id": "h", "kind": "tcp"})
    assert resp.json()["link"]["href"] == f"{TOPICS}/t-{uid}/handlers/h"
    assert api.get(f"{TOPICS}/t-{uid}/anything").json() == _topic_json(f"t-{uid}")
    assert api.delete(f"{TOPICS}/t-{uid}/events/x").status_code == 204
    assert api.get(f"{TOPICS}/t-{uid}").status_code == 404
    assert_native_error(api.post(TOPICS, json={}), 404, "Not Found")
    assert api.delete(f"{TOPICS}/never-{uid}").status_code == 204


def test_deleting_a_topic_keeps_its_handlers(api: httpx.Client, uid: str) -> None:
    topic = f"t-{uid}"
    _handler(api, topic, id="a", kind="tcp", options={"address": "x:1"})
    assert api.delete(f"{TOPICS}/{topic}").status_code == 204
    assert api.get(f"{TOPICS}/{topic}").status_code == 404
    assert [h["id"] for h in api.get(f"{TOPICS}/{topic}/handlers").json()["handlers"]] == ["a"]
    assert api.get(f"{TOPICS}/{topic}/handlers/a").json()["options"] == {"address": "x:1"}
    _handler(api, topic, id="b", kind="tcp")  # recreates the topic
    assert api.get(f"{TOPICS}/{topic}").json() == _topic_json(topic)
    ids = [h["id"] for h in api.get(f"{TOPICS}/{topic}/handlers").json()["handlers"]]
    assert ids == ["a", "b"]


def test_alert_events(api: httpx.Client, contract_kind: str, uid: str, wait_for: Wait) -> None:
    topic = f"ev-{uid}"
    _fire(api, contract_kind, topic, "host1", wait_for)
    assert api.get(f"{TOPICS}/{topic}").json() == _topic_json(topic, "CRITICAL", 1)
    assert api.get(TOPICS, params={"pattern": topic, "min-level": "critical"}).json()["topics"]
    events = api.get(f"{TOPICS}/{topic}/events").json()
    assert [e["id"] for e in events["events"]] == ["host1"]
    event = api.get(f"{TOPICS}/{topic}/events/host1").json()
    assert event["link"] == {"rel": "self", "href": f"{TOPICS}/{topic}/events/host1"}
    assert event["state"]["level"] == "CRITICAL"
    assert event["state"]["message"] == "hi"
    assert event["state"]["duration"] == "0s"
    assert set(event["state"]) == {"message", "details", "time", "duration", "level"}


def test_topic_deletion_detaches_handlers_until_they_are_updated(
    api: httpx.Client, contract_kind: str, uid: str, wait_for: Wait, tmp_path: Path
) -> None:
    topic, log = f"dt-{uid}", tmp_path / "alerts.log"
    spec = {"id": "log", "kind": "log", "options": {"path": str(log)}}
    _handler(api, topic, **spec)

    def delivered() -> int:
        return _delivered(api, contract_kind, topic, "log", log)

    _fire(api, contract_kind, topic, "e1", wait_for)
    wait_for(lambda: delivered() == 1)
    assert api.delete(f"{TOPICS}/{topic}").status_code == 204
    # An alert recreates the topic (its count starts again) but reaches no handler...
    _fire(api, contract_kind, topic, "e2", wait_for)
    assert api.get(f"{TOPICS}/{topic}").json()["collected"] == 1
    assert delivered() == 1
    # ...though the handler is still listed; replacing it with itself attaches it again.
    assert api.get(f"{TOPICS}/{topic}/handlers/log").status_code == 200
    assert api.put(f"{TOPICS}/{topic}/handlers/log", json=spec).status_code == 200
    _fire(api, contract_kind, topic, "e3", wait_for)
    wait_for(lambda: delivered() == 2)
    if contract_kind != EMULATOR:
        assert json.loads(log.read_text().splitlines()[-1])["id"] == "e3"
