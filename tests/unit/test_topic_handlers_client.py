"""TopicHandlers over ``httpx.MockTransport``: paths, bodies and how errors are classified
(a handler Kapacitor cannot build is a 500 that means "rejected", not "unavailable")."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.topic_handlers import HandlerExists, TopicHandler, TopicHandlers

BASE = "http://kapacitor.test:9092"
HANDLERS = "/kapacitor/v1/alerts/topics/ops/handlers"


def api(
    handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> TopicHandlers:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(record))
    return TopicHandlers(KapacitorClient(http, quick_retries=0))


def native(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": message, "message": message})


def stored(**fields: object) -> httpx.Response:
    body = {
        "link": {"rel": "self", "href": f"{HANDLERS}/h"},
        "id": "h",
        "kind": "tcp",
        "match": "",
        "options": None,
        **fields,
    }
    return httpx.Response(200, json=body)


async def test_get_create_replace_delete_paths_and_bodies() -> None:
    seen: list[httpx.Request] = []
    handlers = api(lambda r: httpx.Response(204) if r.method == "DELETE" else stored(), seen)
    got = await handlers.get("ops", "h")
    assert got is not None
    assert got.definition() == {
        "id": "h",
        "kind": "tcp",
        "match": "",
        "options": None,
    }
    await handlers.create("ops", {"id": "h", "kind": "tcp"})
    await handlers.replace("ops", {"id": "h", "kind": "tcp", "match": ""})
    await handlers.delete("ops", "h")
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", f"{HANDLERS}/h"),
        ("POST", HANDLERS),
        ("PUT", f"{HANDLERS}/h"),
        ("DELETE", f"{HANDLERS}/h"),
    ]
    assert json.loads(seen[1].content) == {"id": "h", "kind": "tcp"}


async def test_ids_are_path_escaped() -> None:
    seen: list[httpx.Request] = []
    await api(lambda r: native(404, 'unknown topic: "a/b"'), seen).get("a/b", "x y")
    assert seen[0].url.raw_path.decode() == "/kapacitor/v1/alerts/topics/a%2Fb/handlers/x%20y"


async def test_absent_handler_or_topic_is_none_and_delete_is_idempotent() -> None:
    seen: list[httpx.Request] = []
    handlers = api(lambda r: native(404, 'unknown handler: "h"'), seen)
    assert await handlers.get("ops", "h") is None
    await handlers.delete("ops", "h")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ('failed to create handler: unsupported action kind "nope"', KapacitorRejected),
        (
            'failed to create handler: cannot register handler, handler with ID "h" already exists',
            HandlerExists,
        ),
        ("some other failure", KapacitorUnavailable),
    ],
)
async def test_create_500s(message: str, error: type[Exception]) -> None:
    handlers = api(lambda r: native(500, message), [])
    with pytest.raises(error) as err:
        await handlers.create("ops", {"id": "h", "kind": "nope"})
    assert type(err.value) is error


async def test_replace_errors() -> None:
    handlers = api(lambda r: native(500, "failed to update handler: bad match"), [])
    with pytest.raises(KapacitorRejected):
        await handlers.replace("ops", {"id": "h", "kind": "tcp"})
    handlers = api(lambda r: native(404, 'unknown handler: "h"'), [])
    with pytest.raises(KapacitorNotFound):
        await handlers.replace("ops", {"id": "h", "kind": "tcp"})


async def test_lists_of_topics_and_of_a_topics_handlers() -> None:
    topics = {
        "topics": [
            {"id": "ops", "level": "OK", "collected": 3},
            {"id": "a/b", "level": "CRITICAL", "collected": 1e0},
        ]
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/kapacitor/v1/alerts/topics":
            return httpx.Response(200, json=topics)
        if request.url.raw_path.decode() == "/kapacitor/v1/alerts/topics/gone/handlers":
            return native(404, 'unknown topic: "gone"')
        listed = {"id": "h", "kind": "tcp", "match": "", "options": {"address": "a:1"}}
        return httpx.Response(200, json={"topic": "ops", "handlers": [listed]})

    seen: list[httpx.Request] = []
    handlers = api(answer, seen)
    assert await handlers.list_topics() == {"ops": 3, "a/b": 1}
    listed = await handlers.list_handlers("a/b")
    assert [(h.id, h.options) for h in listed] == [("h", {"address": "a:1"})]
    assert seen[-1].url.raw_path.decode() == "/kapacitor/v1/alerts/topics/a%2Fb/handlers"
    assert await handlers.list_handlers("gone") == []


def test_an_answer_that_does_not_validate_is_not_quoted() -> None:
    with pytest.raises(ValidationError) as err:
        TopicHandler.model_validate({"id": "h", "options": "https://hooks.example/secret-value"})
    assert "secret-value" not in str(err.value)
