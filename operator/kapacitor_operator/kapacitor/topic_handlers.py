"""Kapacitor's alert topic handlers (`/kapacitor/v1/alerts/topics/{topic}/handlers`).

Kept beside `client.py` rather than in it: one small surface per kind of Kapacitor
object. Facts from Kapacitor (and the contract tests) that shape it:

- POST creates a handler and, with it, its topic; PUT replaces the whole handler; both
  answer the stored handler, which GET returns unchanged: options are echoed as sent
  (numbers as Go floats), `options` is null when there are none, `match` "" when unset.
- Deleting a topic keeps its handlers listed and readable but detaches them: they get
  no alert, even from a recreated topic, until replaced (PUT), which also recreates the
  topic. A recreated topic's `collected` count starts from zero.
- A handler Kapacitor cannot build (unknown option, bad match expression, an option of
  the wrong type) is answered with a **500** whose message starts `failed to create
  handler:` / `failed to update handler:`. That is the spec's fault, not an outage, so it
  is reported as `KapacitorRejected`; `HandlerExists` is the duplicate-ID case of POST.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import ConfigDict, Field

from kapacitor_operator.kapacitor.client import BASE, KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.schemas import Wire

TOPICS = f"{BASE}/alerts/topics"
_BUILD_FAILURES = ("failed to create handler: ", "failed to update handler: ")
_EXISTS = "already exists"


class TopicHandler(Wire):
    """A topic handler as Kapacitor returns it. An answer that does not validate is not
    quoted in the error: its options may hold secret values."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)
    id: str
    kind: str = ""
    match: str = ""
    options: dict[str, Any] | None = Field(default=None)

    def definition(self) -> dict[str, Any]:
        """What defines the handler (the self link aside)."""
        return {"id": self.id, "kind": self.kind, "match": self.match, "options": self.options}


class HandlerExists(KapacitorRejected):
    """POST of an ID the topic already has (Kapacitor answers 500)."""


def _path(topic: str, handler_id: str | None = None) -> str:
    base = f"{TOPICS}/{quote(topic, safe='')}/handlers"
    return base if handler_id is None else f"{base}/{quote(handler_id, safe='')}"


def _build_failure(exc: KapacitorUnavailable) -> KapacitorRejected | None:
    """The 500s that mean "this handler cannot be built": permanent, not an outage."""
    if exc.status != 500 or not exc.message.startswith(_BUILD_FAILURES):
        return None
    cls = HandlerExists if _EXISTS in exc.message else KapacitorRejected
    return cls(exc.message, status=exc.status, code=exc.code, endpoint=exc.endpoint)


class TopicHandlers:
    """Typed calls for topic handlers, over a server's `KapacitorClient`."""

    def __init__(self, client: KapacitorClient) -> None:
        self.client = client

    @property
    def base_url(self) -> str:
        return self.client.base_url

    async def get(self, topic: str, handler_id: str) -> TopicHandler | None:
        """The handler; None when it (or its topic) does not exist.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self.client._request(
                "GET", _path(topic, handler_id), endpoint="alerts/topics/{topic}/handlers/{id}"
            )
        except KapacitorNotFound:
            return None
        return TopicHandler.model_validate(response.json())

    async def topic_collected(self, topic: str) -> int | None:
        """How many alert events the topic has collected; None when it does not exist.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self.client._request(
                "GET", f"{TOPICS}/{quote(topic, safe='')}", endpoint="alerts/topics/{topic}"
            )
        except KapacitorNotFound:
            return None
        collected = response.json().get("collected", 0)
        return int(collected) if isinstance(collected, int | float) else 0

    async def create(self, topic: str, definition: dict[str, Any]) -> TopicHandler:
        """POST a new handler (creating the topic if needed).

        Raises:
            HandlerExists: the topic already has a handler with this ID.
            KapacitorRejected: Kapacitor cannot build the handler.
            KapacitorError: any other failure.
        """
        try:
            response = await self.client._request(
                "POST", _path(topic), endpoint="alerts/topics/{topic}/handlers", json=definition
            )
        except KapacitorUnavailable as exc:
            raise _build_failure(exc) or exc from exc
        return TopicHandler.model_validate(response.json())

    async def replace(self, topic: str, definition: dict[str, Any]) -> TopicHandler:
        """PUT the whole handler (same ID: the ID in the body is the one in the path).

        Raises:
            KapacitorNotFound: the handler does not exist (any more).
            KapacitorRejected: Kapacitor cannot build the handler.
            KapacitorError: any other failure.
        """
        try:
            response = await self.client._request(
                "PUT",
                _path(topic, str(definition["id"])),
                endpoint="alerts/topics/{topic}/handlers/{id}",
                json=definition,
            )
        except KapacitorUnavailable as exc:
            raise _build_failure(exc) or exc from exc
        return TopicHandler.model_validate(response.json())

    async def delete(self, topic: str, handler_id: str) -> None:
        """DELETE the handler: idempotent (204 whether or not it existed).

        Raises:
            KapacitorError: any failure.
        """
        try:
            await self.client._request(
                "DELETE",
                _path(topic, handler_id),
                endpoint="alerts/topics/{topic}/handlers/{id}",
            )
        except KapacitorNotFound:
            return

    async def list_topics(self) -> dict[str, int]:
        """Every topic Kapacitor has, with how many alert events it has collected.

        Raises:
            KapacitorError: any failure.
        """
        response = await self.client._request("GET", TOPICS, endpoint="alerts/topics")
        topics: dict[str, int] = {}
        for topic in response.json().get("topics") or []:
            collected = topic.get("collected", 0)
            topics[str(topic.get("id", ""))] = (
                int(collected) if isinstance(collected, int | float) else 0
            )
        return topics

    async def list_handlers(self, topic: str) -> list[TopicHandler]:
        """The handlers of one topic (Kapacitor does not page them); [] when the topic
        does not exist.

        Raises:
            KapacitorError: any other failure.
        """
        try:
            response = await self.client._request(
                "GET", _path(topic), endpoint="alerts/topics/{topic}/handlers"
            )
        except KapacitorNotFound:
            return []
        return [TopicHandler.model_validate(h) for h in response.json().get("handlers") or []]
