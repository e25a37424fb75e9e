"""What a KapacitorAlertHandler asks Kapacitor to hold, and fingerprints of handlers.

Pure: option values read from Secrets and ConfigMaps come in as a mapping of option path
to value. A fingerprint is a SHA-256 of the handler's definition in which every value
that came from `optionsFrom` is first replaced by a salted scrypt digest: the status holds
fingerprints, and a fast hash of a short secret could be reversed by guessing.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kapacitor_operator.kapacitor.scrub import Scrubber
from kapacitor_operator.models.alerthandler import KapacitorAlertHandlerSpec
from kapacitor_operator.reconcile.desired import DesiredStateError

MASKED_MARK = "optionsFrom:"


class DesiredHandlerError(DesiredStateError):
    """The spec (with its option values) cannot be turned into a Kapacitor handler
    (reason InvalidSpec). The message names option paths, never values."""


def default_handler_id(namespace: str, name: str) -> str:
    """`<namespace>.<name>`: unique per cluster, and within Kapacitor's ID rules."""
    return f"{namespace}.{name}"


@functools.lru_cache(maxsize=4096)
def _slow_digest(value: str, salt: str) -> str:
    # Deliberately slow (~50 ms, 16 MiB) so a status reader cannot test guesses of a short
    # secret against the fingerprint; cached, so a steady state costs nothing.
    digest = hashlib.scrypt(value.encode(), salt=salt.encode(), n=2**14, r=8, p=1, dklen=16)
    return MASKED_MARK + digest.hex()


def _normalize(value: Any) -> Any:
    """Kapacitor answers numbers as Go float64s: 1e9 comes back as 1000000000."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def _mask(options: Any, path: list[str], salt: str) -> Any:
    if not isinstance(options, dict) or not path:
        return options
    head, rest = path[0], path[1:]
    if head not in options:
        return options
    inner = options[head]
    if rest:
        return {**options, head: _mask(inner, rest, salt)}
    masked = _slow_digest(inner, salt) if isinstance(inner, str) else inner
    return {**options, head: masked}


def fingerprint(
    kind: str,
    match: str,
    options: Mapping[str, Any] | None,
    secret_paths: tuple[str, ...],
    salt: str,
) -> str:
    """A hash of a handler's definition that reveals no value taken from optionsFrom."""
    masked: Any = _normalize(dict(options)) if options is not None else None
    for path in secret_paths:
        masked = _mask(masked, path.split("."), salt)
    text = json.dumps([kind, match, masked], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DesiredHandler:
    """A handler definition ready to send (it may hold secret values: never log it)."""

    topic: str
    handler_id: str
    kind: str
    match: str
    options: dict[str, Any] | None = field(repr=False)
    secret_paths: tuple[str, ...]
    salt: str
    definition_hash: str

    def body(self) -> dict[str, Any]:
        """The POST/PUT body."""
        return {"id": self.handler_id, "kind": self.kind, "match": self.match, **self._opts()}

    def _opts(self) -> dict[str, Any]:
        return {"options": self.options} if self.options is not None else {}

    def fingerprint_of(self, kind: str, match: str, options: Mapping[str, Any] | None) -> str:
        """The fingerprint of what a server holds, masked like this handler's own."""
        return fingerprint(kind, match, options, self.secret_paths, self.salt)

    def scrubber(self) -> Scrubber:
        """Hides the option values taken from optionsFrom (Kapacitor's error texts may
        quote them: a value of the wrong type is echoed in the decode error)."""
        if self.options is None:
            return Scrubber()
        return Scrubber(_values_at(self.options, self.secret_paths))


def _values_at(options: dict[str, Any], paths: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for path in paths:
        node: object = options
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str):
            out.append(node)
    return out


def salt_for(uid: str) -> str:
    """The salt of a resource's fingerprints: its UID (fingerprints differ per object)."""
    return f"kapacitoralerthandler:{uid}"


def merge_options(
    options: Mapping[str, Any] | None, values: Mapping[str, str]
) -> dict[str, Any] | None:
    """`options` with each value set at its dotted path (new nested objects as needed).

    Raises:
        DesiredHandlerError: a path is also set in `options` (Kapacitor matches option
            names case-insensitively, so `URL` and `url` collide), or crosses a value
            that is not an object. The message names paths, never values.
    """
    if not values:
        return dict(options) if options is not None else None
    merged: dict[str, Any] = json.loads(json.dumps(dict(options or {})))
    for path in sorted(values):
        node = merged
        parts = path.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            clash = next((k for k in node if k.lower() == part.lower() and k != part), None)
            if clash is not None or (last and part in node):
                where = ".".join([*parts[:depth], clash or part])
                raise DesiredHandlerError(
                    f"optionsFrom path {path!r} collides with option {where!r} set in "
                    "spec.options (or by another optionsFrom entry)"
                )
            if last:
                node[part] = values[path]
                break
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise DesiredHandlerError(
                    f"optionsFrom path {path!r} goes through option {where!r}, which is not "
                    "an object"
                )
            node = child
    return merged


def _check_kind(kind: str, options: Mapping[str, Any] | None) -> None:
    if kind != "aggregate":
        return
    interval = (options or {}).get("interval")
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 1:
        # Kapacitor panics (the whole server exits) on a non-positive interval.
        raise DesiredHandlerError(
            "aggregate handlers need options.interval, a positive number of nanoseconds"
        )


def build_desired(
    spec: KapacitorAlertHandlerSpec,
    *,
    namespace: str,
    name: str,
    uid: str,
    values: Mapping[str, str],
) -> DesiredHandler:
    """The handler to hold in Kapacitor.

    Raises:
        DesiredHandlerError: the options cannot be assembled or would crash Kapacitor.
    """
    options = merge_options(spec.options, values)
    _check_kind(spec.kind, options)
    paths = tuple(sorted(values))
    salt = salt_for(uid)
    match = spec.match or ""
    return DesiredHandler(
        topic=spec.topic,
        handler_id=spec.id or default_handler_id(namespace, name),
        kind=spec.kind,
        match=match,
        options=options,
        secret_paths=paths,
        salt=salt,
        definition_hash=fingerprint(spec.kind, match, options, paths, salt),
    )
