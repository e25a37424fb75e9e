"""``/kapacitor/v1/alerts/topics``: topics, their events and topic handlers.

Routing follows ``services/alert/api.go``: ``GET /alerts/topics`` lists topics; every
method on ``/alerts/topics/<rest>`` takes the topic from the first path segment. GET
matches ``*/events``, ``*/events/*``, ``*/handlers``, ``*/handlers/*`` and otherwise
shows the topic (so ``/alerts/topics/t/anything`` is topic ``t``); POST anywhere below a
topic creates a handler on it; PUT/PATCH need ``.../handlers/<id>`` (else ``unknown
handler: ""``); DELETE removes a handler for ``.../handlers/<id>`` and the topic for any
other path. Handler options are stored and echoed verbatim, secrets included.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from aiohttp import web

from kapacitor_emulator.alert_kinds import HandlerCrash, handler_error
from kapacitor_emulator.alert_state import LEVEL_NAMES, EventState, HandlerSpec, Topic, parse_level
from kapacitor_emulator.core import Emulator
from kapacitor_emulator.goformat import go_duration, interface_dumps, sorted_maps
from kapacitor_emulator.gojson import format_rfc3339nano
from kapacitor_emulator.gostruct import Field, GoDecodeError, decode_struct
from kapacitor_emulator.ids import is_valid_tick_id
from kapacitor_emulator.jsonpatch_go import PatchDecodeError, PatchError, apply_patch, decode_patch
from kapacitor_emulator.responses import JSON_CONTENT_TYPE, NativeError, empty
from kapacitor_emulator.routing import Call
from kapacitor_emulator.tick_list import glob_regex

TOPICS = "/kapacitor/v1/alerts/topics"
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
_SPEC_FIELDS = (
    Field("id", "string", "string"),
    Field("topic", "string", "string"),
    Field("kind", "string", "string"),
    Field("options", "map[string]interface {}", "map"),
    Field("match", "string", "string"),
)


class DropConnection(Exception):
    """Answer nothing and close the connection (the real server crashed)."""


def _respond(value: Any, status: int = 200) -> web.Response:
    resp = web.Response(status=status, body=interface_dumps(value, pretty=True).encode())
    resp.headers["Content-Type"] = JSON_CONTENT_TYPE
    return resp


def _link(href: str, rel: str = "self") -> dict[str, str]:
    return {"rel": rel, "href": href}


def _self_href(call: Call) -> str:
    raw_path, sep, query = call.request.raw_path.partition("?")
    return raw_path + (sep + query if query else "")


def _topic_json(topic: Topic) -> dict[str, Any]:
    base = f"{TOPICS}/{topic.id}"
    return {
        "link": _link(base),
        "id": topic.id,
        "level": LEVEL_NAMES[topic.level],
        "collected": topic.collected,
        "events-link": _link(f"{base}/events", "events"),
        "handlers-link": _link(f"{base}/handlers", "handlers"),
    }


def handler_json(spec: HandlerSpec) -> dict[str, Any]:
    """The API's handler object ``{link, id, kind, options, match}``."""
    return {
        "link": _link(posixpath.join(TOPICS, spec.topic, "handlers", spec.id)),
        "id": spec.id,
        "kind": spec.kind,
        "options": sorted_maps(spec.options),
        "match": spec.match,
    }


def _event_json(topic: str, event: EventState) -> dict[str, Any]:
    return {
        "link": _link(f"{TOPICS}/{topic}/events/{event.id}"),
        "id": event.id,
        "state": {
            "message": event.message,
            "details": event.details,
            "time": format_rfc3339nano(event.time),
            "duration": go_duration(event.duration_ns),
            "level": LEVEL_NAMES[event.level],
        },
    }


def _pattern(call: Call) -> str:
    pattern = call.query.get("pattern", "")
    if pattern and glob_regex(pattern) is None:
        raise NativeError(400, "invalid pattern: syntax error in pattern")
    return pattern


def _matches(pattern: str, name: str) -> bool:
    regex = glob_regex(pattern) if pattern else None
    return not pattern or (regex is not None and regex.fullmatch(name) is not None)


def _min_level(call: Call) -> int:
    try:
        return parse_level(call.query.get("min-level", ""))
    except ValueError as exc:
        raise NativeError(400, str(exc)) from exc


async def list_topics(emu: Emulator, call: Call) -> web.StreamResponse:
    """GET /alerts/topics?pattern=&min-level=."""
    pattern, level = _pattern(call), _min_level(call)
    topics = [
        _topic_json(t)
        for tid, t in sorted(emu.state.alerts.topics.items(), key=lambda i: i[0].encode())
        if _matches(pattern, tid) and t.level >= level
    ]
    return _respond({"link": _link(_self_href(call)), "topics": topics})


def _decode_spec(raw: bytes, topic: str, prefix: str) -> HandlerSpec:
    try:
        body = decode_struct(raw, "alert.HandlerSpec", _SPEC_FIELDS)
    except GoDecodeError as exc:
        raise NativeError(400, prefix + str(exc)) from exc
    return HandlerSpec(body["id"], topic, body["kind"], body["options"], body["match"])


def _valid_topic(topic: str) -> bool:
    """``^[-:\\._\\p{L}0-9]+$``: letters, ASCII digits and ``-:._``."""
    return bool(topic) and all(ch.isalpha() or ch in "0123456789-:._" for ch in topic)


def _validate(spec: HandlerSpec) -> None:
    error = None
    if not _valid_topic(spec.topic):
        error = f"handler topic must contain only letters, numbers, '-', '.' and '_'. \"{spec.id}\""
    elif not is_valid_tick_id(spec.id):
        error = f"handler ID must contain only letters, numbers, '-', '.' and '_'. \"{spec.id}\""
    elif not spec.kind:
        error = "handler Kind must not be empty"
    if error:
        raise NativeError(400, "invalid handler spec: " + error)


def _build(spec: HandlerSpec, prefix: str) -> None:
    try:
        error = handler_error(spec.kind, spec.options, spec.match)
    except HandlerCrash as exc:
        raise DropConnection(str(exc)) from exc
    if error:
        raise NativeError(500, prefix + error)


async def _create(emu: Emulator, call: Call, topic: str) -> web.StreamResponse:
    spec = _decode_spec(await call.body(), topic, "invalid handler json: ")
    _validate(spec)
    _build(spec, "failed to create handler: ")
    if spec.id in emu.state.alerts.handlers.get(topic, {}):
        message = f'cannot register handler, handler with ID "{spec.id}" already exists'
        raise NativeError(500, "failed to create handler: " + message)
    emu.state.alerts.register(spec)
    return _respond(handler_json(spec))


def _existing(emu: Emulator, topic: str, handler: str) -> HandlerSpec:
    entry = emu.state.alerts.handlers.get(topic, {}).get(handler)
    if entry is None:
        raise NativeError(404, f'unknown handler: "{handler}"')
    return entry.spec


def _update(emu: Emulator, old: HandlerSpec, new: HandlerSpec) -> web.StreamResponse:
    _validate(new)
    _build(new, "failed to update handler: ")
    if new.topic != old.topic:
        raise NativeError(500, "failed to update handler: cannot change topic in update")
    emu.state.alerts.replace(old.id, new)
    return _respond(handler_json(new))


async def _put(emu: Emulator, call: Call, topic: str, handler: str) -> web.StreamResponse:
    old = _existing(emu, topic, handler)
    new = _decode_spec(await call.body(), topic, "failed to unmarshal JSON: ")
    return _update(emu, old, new)


async def _patch(emu: Emulator, call: Call, topic: str, handler: str) -> web.StreamResponse:
    old = _existing(emu, topic, handler)
    try:
        ops = decode_patch(await call.body())
    except PatchDecodeError as exc:
        raise NativeError(400, f"invalid patch json: {exc}") from exc
    try:
        patched = apply_patch(old.doc(), ops)
    except PatchError as exc:
        raise NativeError(400, f"failed to apply patch: {exc}") from exc
    try:
        body = decode_struct(json.dumps(patched).encode(), "alert.HandlerSpec", _SPEC_FIELDS)
    except GoDecodeError as exc:
        raise NativeError(500, f"failed to unmarshal patched json: {exc}") from exc
    new_topic = patched.get("topic")
    new = HandlerSpec(
        body["id"],
        new_topic if isinstance(new_topic, str) else topic,
        body["kind"],
        body["options"],
        body["match"],
    )
    return _update(emu, old, new)


def _split(rest: str) -> tuple[str, str | None]:
    """``(topic, handler id or None)`` the way api.go reads a path below a topic."""
    topic = rest.split("/", 1)[0]
    directory, _, handler = rest.rpartition("/")
    if (directory + "/").endswith("handlers/") and "/" in rest:
        return topic, handler
    return topic, None


def _glob(pattern: str, rest: str) -> bool:
    regex = glob_regex(pattern)
    return regex is not None and regex.fullmatch(rest) is not None


async def _get(emu: Emulator, call: Call, rest: str, topic: str) -> web.StreamResponse:
    store = emu.state.alerts
    if _glob("*/events", rest):
        level = _min_level(call)
        target = store.topics.get(topic)
        if target is None:
            raise NativeError(500, f'failed to get topic events: unknown topic "{topic}"')
        events = [
            _event_json(topic, e) for _, e in sorted(target.events.items()) if e.level >= level
        ]
        body = {"link": _link(f"{TOPICS}/{topic}/events"), "topic": topic, "events": events}
        return _respond(body)
    if _glob("*/events/*", rest):
        event_id = posixpath.basename(rest.rstrip("/"))
        event = store.topics[topic].events.get(event_id) if topic in store.topics else None
        if event is None:
            raise NativeError(404, f'unknown event "{event_id}" in topic "{topic}"')
        return _respond(_event_json(topic, event))
    if _glob("*/handlers", rest):
        pattern = _pattern(call)
        entries = store.handlers.get(topic, {})
        handlers = [
            handler_json(entries[h].spec)
            for h in sorted(entries, key=str.encode)
            if _matches(pattern, h)
        ]
        body = {"link": _link(_self_href(call)), "topic": topic, "handlers": handlers}
        return _respond(body)
    if _glob("*/handlers/*", rest):
        return _respond(handler_json(_existing(emu, topic, rest.rpartition("/")[2])))
    found = store.topics.get(topic)
    if found is None:
        raise NativeError(404, f'unknown topic: "{topic}"')
    return _respond(_topic_json(found))


async def route(emu: Emulator, call: Call) -> web.StreamResponse:
    """Every method on ``/alerts/topics/<rest>``."""
    rest = call.params["rest"]
    topic, handler = _split(rest)
    method = call.method
    if method == "GET":
        return await _get(emu, call, rest, topic)
    if method == "POST":
        return await _create(emu, call, topic)
    if method in ("PUT", "PATCH"):
        if method == "PUT":
            return await _put(emu, call, topic, handler or "")
        return await _patch(emu, call, topic, handler or "")
    if handler is None:
        emu.state.alerts.delete_topic(topic)
    else:
        emu.state.alerts.handlers.get(topic, {}).pop(handler, None)
    return empty(204)
