"""Contract: the topic-handler facts KapacitorAlertHandler's reconcile relies on.

- POST and PUT answer the handler exactly as a later GET returns it, options verbatim
  (nested objects, secret-looking strings), so a fingerprint of the write's answer is
  a fingerprint of what GET will show until someone changes it;
- an unknown handler, or a handler on a topic that never existed, is a 404 (absent);
- deleting a topic keeps its handlers listed but detaches them; the topic is absent
  (404) until recreated, and a recreated topic's `collected` count starts again;
- a PUT of a detached handler with its own spec recreates the topic if needed and
  attaches it again: the next alert reaches it.

Every test runs against each kind of server (emulator and kapacitord).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.integration.contract.test_alert_topics import TOPICS, Wait, _delivered, _fire


def _post(api: httpx.Client, topic: str, spec: dict[str, Any]) -> Any:
    resp = api.post(f"{TOPICS}/{topic}/handlers", json=spec)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_writes_answer_what_get_returns(api: httpx.Client, uid: str) -> None:
    topic = f"f-{uid}"
    options = {
        "url": "https://hooks.example/services/T0/B0/s3cr3t",
        "headers": {"Authorization": "Bearer abc.def", "Content-Type": "application/json"},
        "timeout": 5000000000,
    }
    spec = {"id": "h", "kind": "post", "match": "changed()", "options": options}
    created = _post(api, topic, spec)
    assert created == api.get(f"{TOPICS}/{topic}/handlers/h").json()
    assert created["options"] == options
    replaced = api.put(f"{TOPICS}/{topic}/handlers/h", json={**spec, "match": ""})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == api.get(f"{TOPICS}/{topic}/handlers/h").json()
    assert replaced.json()["match"] == ""


def test_absent_handlers_are_404(api: httpx.Client, uid: str) -> None:
    assert api.get(f"{TOPICS}/never-{uid}/handlers/h").status_code == 404
    _post(api, f"f-{uid}", {"id": "a", "kind": "tcp"})
    assert api.get(f"{TOPICS}/f-{uid}/handlers/b").status_code == 404
    assert (
        api.put(f"{TOPICS}/f-{uid}/handlers/b", json={"id": "b", "kind": "tcp"}).status_code == 404
    )


def test_a_recreated_topic_counts_again(
    api: httpx.Client, contract_kind: str, uid: str, wait_for: Wait
) -> None:
    topic = f"rc-{uid}"
    _post(api, topic, {"id": "h", "kind": "tcp", "options": {"address": "x:1"}})
    _fire(api, contract_kind, topic, "e1", wait_for)
    _fire(api, contract_kind, topic, "e2", wait_for)
    assert api.get(f"{TOPICS}/{topic}").json()["collected"] == 2
    assert api.delete(f"{TOPICS}/{topic}").status_code == 204
    assert api.get(f"{TOPICS}/{topic}").status_code == 404
    assert api.get(f"{TOPICS}/{topic}/handlers/h").status_code == 200  # listed, detached
    _fire(api, contract_kind, topic, "e3", wait_for)
    assert api.get(f"{TOPICS}/{topic}").json()["collected"] == 1


def test_put_of_a_detached_handler_recreates_its_topic_and_attaches_it(
    api: httpx.Client, contract_kind: str, uid: str, wait_for: Wait, tmp_path: Path
) -> None:
    topic, log = f"ra-{uid}", tmp_path / "alerts.log"
    spec = {"id": "log", "kind": "log", "options": {"path": str(log)}}
    _post(api, topic, spec)

    def delivered() -> int:
        return _delivered(api, contract_kind, topic, "log", log)

    _fire(api, contract_kind, topic, "e1", wait_for)
    wait_for(lambda: delivered() == 1)
    assert api.delete(f"{TOPICS}/{topic}").status_code == 204
    assert api.put(f"{TOPICS}/{topic}/handlers/log", json=spec).status_code == 200
    assert api.get(f"{TOPICS}/{topic}").json()["collected"] == 0  # the PUT recreated it
    _fire(api, contract_kind, topic, "e2", wait_for)
    wait_for(lambda: delivered() == 2)
